//! Bad input never panics or answers 5xx: random bodies, identifiers and header values against every
//! API (no fault plan is set, so any 5xx would be the sandbox's own failure).

use axum::body::Body;
use axum::http::Method;
use proptest::prelude::*;

use crate::common::*;

const TARGETS: &[(&str, &str)] = &[
    ("POST", "/oauth2/token"),
    ("GET", "/personal-demographics/FHIR/R4/Patient/{x}"),
    ("GET", "/personal-demographics/FHIR/R4/Patient?family={x}&birthdate={x}"),
    ("POST", "/gpconnect/fhir/Patient/$gpc.getstructuredrecord"),
    ("GET", "/gpconnect/fhir/Slot?start={x}&end={x}&status=free&_include=Slot:schedule"),
    ("POST", "/gpconnect/fhir/Appointment"),
    ("PUT", "/gpconnect/fhir/Appointment/{x}"),
    ("POST", "/record-locator/producer/FHIR/R4/DocumentReference"),
    ("DELETE", "/record-locator/producer/FHIR/R4/DocumentReference/{x}"),
    ("GET", "/record-locator/consumer/FHIR/R4/DocumentReference?subject:identifier={x}"),
    ("POST", "/record-locator/consumer/FHIR/R4/DocumentReference/_search"),
    ("POST", "/messageexchange/X26ABC1/outbox"),
    ("GET", "/messageexchange/X26ABC1/inbox/{x}"),
    ("PUT", "/_admin/faults/pds"),
];

fn url_safe(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn no_input_makes_a_sandbox_fail(
        target in 0..TARGETS.len(),
        x in ".{0,24}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        json_body in any::<bool>(),
        header in "[ -~]{0,40}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (method, path) = TARGETS[target];
        let path = path.replace("{x}", &url_safe(&x));
        let body = if json_body {
            serde_json::json!({"resourceType": x, "parameter": [{"name": header}], "status": x}).to_string().into_bytes()
        } else {
            body
        };
        let gpc = gpc_headers(STRUCTURED, "patient/*.read");
        let mut headers: Vec<(&str, &str)> = gpc.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        headers.push(("x-request-id", header.as_str()));
        headers.push(("nhsd-end-user-organisation-ods", header.as_str()));
        headers.push(("mex-to", header.as_str()));
        headers.push(("mex-workflowid", header.as_str()));
        let status = runtime.block_on(async {
            let app = app_with(sandboxes::SandboxConfig { require_auth: false, ..sandboxes::SandboxConfig::default() });
            let method: Method = method.parse().unwrap();
            send(&app, request(method, &path, &headers, Body::from(body))).await.status
        });
        prop_assert!(!status.is_server_error(), "{} {} answered {}", method, path, status);
    }
}
