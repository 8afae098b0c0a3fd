//! The auditors' own trail as FHIR R4 AuditEvent resources through the API: BALP shapes, the
//! findings' decisions (a decision not saved as a failure), NHS numbers masked, paged by cursor,
//! reading it recorded, organisation scope, and bad parameters named.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;

use crate::findings::{auditor_events, raise, rig, DASHBOARD_URL, PASSWORD, RELATIVE};
use crate::web::{get, send, sign_in};

/// Past the minute the API waits for the trail to settle.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(61);

/// A form POST from a browser at 10.0.0.7.
async fn post_from(app: &axum::Router, path: &str, cookie: &str, form: &[(&str, &str)]) -> StatusCode {
    let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "+"))).collect();
    let mut request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "http://localhost")
        .header(header::HOST, "localhost")
        .body(Body::from(body.join("&")))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([10, 0, 0, 7], 50_000))));
    send(app, request).await.status
}

fn resources(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()).collect()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(String::from)
}

#[tokio::test]
async fn the_auditors_trail_is_a_fhir_bundle_of_balp_shaped_events_with_decisions_masked_and_paged() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let path = format!("/audit/findings/{id}");
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let csrf = get(&rig.app, &path, &ig).await.csrf();
    let decide = |expected: &'static str, to: &'static str| {
        let (app, ig, csrf, path) = (rig.app.clone(), ig.clone(), csrf.clone(), format!("{path}/status"));
        async move {
            post_from(&app, &path, &ig, &[("csrf", &csrf), ("expected", expected), ("to", to), ("note", "")]).await
        }
    };
    assert_eq!(decide("open", "investigating").await, StatusCode::SEE_OTHER);
    assert_eq!(decide("open", "investigating").await, StatusCode::CONFLICT, "a stale decision is not saved");

    // The clock moves on: the export covers what happened before it began.
    rig.clock.advance(SETTLED);
    let reply = get(&rig.app, "/api/v1/audit/fhir/AuditEvent?_count=1000", &ig).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/fhir+json");
    let bundle = reply.json();
    assert_eq!((bundle["resourceType"].as_str(), bundle["type"].as_str()), (Some("Bundle"), Some("searchset")));
    let all = resources(&bundle);
    assert!(all
        .iter()
        .all(|r| r["resourceType"] == "AuditEvent" && r["source"]["observer"]["display"] == "pathwatch-dashboard"));
    assert!(!reply.body.contains(RELATIVE), "NHS numbers are masked in the API");
    let decision = |text: &str| {
        all.iter().find(|r| r["purposeOfEvent"][0]["text"].as_str().is_some_and(|t| t.starts_with(text))).cloned()
    };
    let saved = decision("audit review decision: open → investigating").expect("the decision is in the trail");
    assert_eq!((saved["action"].as_str(), saved["subtype"][0]["code"].as_str()), (Some("U"), Some("update")));
    assert_eq!(saved["outcome"], "0");
    assert!(saved.get("meta").is_none(), "BALP's Update types its user by data source, which a decision does not say");
    let agents = saved["agent"].as_array().unwrap();
    assert!(agents.iter().any(|a| a["network"]["address"] == "10.0.0.7"), "the browser is the client: {saved}");
    assert!(agents.iter().any(|a| a["network"]["address"] == DASHBOARD_URL), "the dashboard is the server");
    let finding = saved["entity"].as_array().unwrap().iter().find(|e| e["type"]["code"] == "2").unwrap().clone();
    assert_eq!(
        finding["what"]["identifier"],
        serde_json::json!({"system": "urn:pathwatch:fhir:AuditFinding", "value": id.to_string()})
    );
    let failed = decision("audit review decision not saved").expect("the refused decision is in the trail");
    assert_eq!(failed["outcome"], "8", "a decision that could not be saved is a failure");
    assert!(failed.get("meta").is_none(), "no BALP profile for a failure");
    let chain = &saved["extension"][0]["extension"];
    assert!(chain
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["url"] == "hash" && e["valueString"].as_str().is_some_and(|h| h.len() == 64)));

    // Reading the trail is itself in the trail.
    let recorded = auditor_events(&rig.store).await;
    assert!(recorded.iter().any(|e| e.0 == "ig" && e.3 == "audit trail export (FHIR API)"), "{recorded:#?}");

    // One at a time through the next links, the clock moving on between pages (each page read is
    // recorded, after the walk's end): the same resources as one page, in the same order, none twice.
    rig.clock.advance(SETTLED);
    let one_page = resources(&get(&rig.app, "/api/v1/audit/fhir/AuditEvent?_count=1000", &ig).await.json());
    let first_ids: Vec<Value> = one_page.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(first_ids.len(), all.len() + 1, "the first read is there now, and not the second's own record");
    let mut walked = Vec::new();
    let mut url = Some("/api/v1/audit/fhir/AuditEvent?_count=1".to_string());
    while let Some(next) = url {
        rig.clock.advance(SETTLED);
        let page = get(&rig.app, &next, &ig).await;
        assert_eq!(page.status, StatusCode::OK, "{next}: {}", page.body);
        let page = page.json();
        walked.extend(resources(&page).iter().map(|r| r["id"].clone()));
        url = next_link(&page);
        assert!(walked.len() < 100, "the walk ends");
    }
    // The walk began a second after the single page: it holds that page's own record too.
    assert_eq!(walked.len(), first_ids.len() + 1, "{walked:?}");
    assert_eq!(walked[..first_ids.len()], first_ids[..], "paging keeps the order");
}

#[tokio::test]
async fn bad_parameters_are_named_other_roles_are_refused_and_scope_holds() {
    let mut rig = rig().await;
    raise(&mut rig).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let cases = [
        ("_count=0", "_count"),
        ("_count=5000", "_count"),
        ("after=soon", "after"),
        ("after=9223372036854775808-1", "after"),
        ("from=yesterday", "from"),
        ("from=2300-01-01", "from"),
    ];
    for (query, named) in cases {
        let reply = get(&rig.app, &format!("/api/v1/audit/fhir/AuditEvent?{query}"), &ig).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.json()["error"].as_str().unwrap().contains(named), "{query}: {}", reply.body);
    }
    let (oncall, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    assert_eq!(get(&rig.app, "/api/v1/audit/fhir/AuditEvent", &oncall).await.status, StatusCode::FORBIDDEN);
    // The unscoped IG lead's own actions are not shown to an IG lead of one organisation.
    assert_eq!(get(&rig.app, "/api/v1/audit/fhir/AuditEvent", &ig).await.status, StatusCode::OK);
    let (b, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let other = get(&rig.app, "/api/v1/audit/fhir/AuditEvent?organisation=A81001", &b).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "another organisation's trail: {}", other.body);
    assert_eq!(get(&rig.app, "/api/v1/audit/fhir/AuditEvent", &b).await.status, StatusCode::OK);
    rig.clock.advance(SETTLED);
    let reply = get(&rig.app, "/api/v1/audit/fhir/AuditEvent", &b).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let theirs = resources(&reply.json());
    assert!(!theirs.is_empty(), "their own first reading of the trail is there");
    assert!(!reply.body.contains("\"ig\""), "nothing of the unscoped IG lead's: {}", reply.body);
    for r in &theirs {
        let orgs: Vec<&Value> =
            r["agent"].as_array().unwrap().iter().filter(|a| a["type"]["coding"][0]["code"] == "PROV").collect();
        assert!(orgs.iter().all(|a| a["who"]["identifier"]["value"] == "B82005") && !orgs.is_empty(), "{r}");
    }
}

#[tokio::test]
async fn an_nhs_number_an_auditor_typed_into_a_reason_is_masked_too() {
    let mut rig = rig().await;
    rig.add(vec![crate::findings::read(1, "recep1", "A81001", RELATIVE)]).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let (from, to) = (crate::findings::fixture_day(-2), crate::findings::fixture_day(28));
    let found = get(&rig.app, &format!("/audit/search?patient={RELATIVE}&from={from}&to={to}"), &ig).await;
    let csrf = found.csrf();
    let seq = found.body.split("name=\"seq\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let reason = format!("complaint about patient {RELATIVE} (999 000 1235 spaced)");
    let revealed =
        crate::web::post(&rig.app, "/audit/reveal", &ig, &[("csrf", &csrf), ("seq", &seq), ("reason", &reason)]).await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.body);
    rig.clock.advance(SETTLED);
    let reply = get(&rig.app, "/api/v1/audit/fhir/AuditEvent", &ig).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.body.contains(RELATIVE) && !reply.body.contains("999 000 1235"), "{}", reply.body);
    assert!(reply.body.contains("complaint about patient *** *** 1235"), "{}", reply.body);
    // The reveal names the record it revealed, by its exported id.
    let bundle = reply.json();
    let reveal = resources(&bundle).into_iter().find(|r| r["action"] == "R").expect("the reveal");
    let data = reveal["entity"].as_array().unwrap().iter().find(|e| e["type"]["code"] == "2").unwrap().clone();
    assert_eq!(data["what"]["reference"], format!("AuditEvent/pw-{seq}"));
}
