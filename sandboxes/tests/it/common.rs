//! Helpers shared by the integration tests: driving the router in-process, signing client assertions with
//! a key pair generated once per test run (no private key is committed), GP Connect headers and JWTs, MESH
//! authorisation.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::BodyExt;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha512;
use rsa::signature::{SignatureEncoding, Signer};
use sandboxes::{router, ClientKey, SandboxConfig, SandboxState, DEMO_API_KEY, DEMO_KID};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const HOST: &str = "sandbox.test";
pub const TOKEN_AUD: &str = "http://sandbox.test/oauth2/token";
pub const REQUEST_ID: &str = "60e0b220-8136-4ca5-ae46-1d97ef59d068";
pub const CORRELATION_ID: &str = "11C46F5F-CDEF-4865-94B2-0EE0EDCC26DA";
pub const ASID: &str = "918999198738";

/// The test application's RSA key pair, generated on first use and shared by every test in the run.
pub fn test_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation"))
}

/// The default configuration with the test application (`DEMO_API_KEY`/`DEMO_KID`, [`test_key`]) registered.
pub fn test_config() -> SandboxConfig {
    let public_key_pem = test_key().to_public_key().to_public_key_pem(LineEnding::LF).expect("SPKI PEM");
    SandboxConfig {
        client_keys: vec![ClientKey { api_key: DEMO_API_KEY.to_owned(), kid: DEMO_KID.to_owned(), public_key_pem }],
        ..SandboxConfig::default()
    }
}

/// A sandbox router with the test configuration.
pub fn app() -> Router {
    router(SandboxState::new(test_config()))
}

pub fn app_with(config: SandboxConfig) -> Router {
    router(SandboxState::new(config))
}

/// The answer to one request: status, headers, raw body and the body as JSON (Null when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `issue[0].details.coding[0].code` of an OperationOutcome.
    pub fn code(&self) -> &str {
        self.json["issue"][0]["details"]["coding"][0]["code"].as_str().unwrap_or("<none>")
    }

    pub fn system(&self) -> &str {
        self.json["issue"][0]["details"]["coding"][0]["system"].as_str().unwrap_or("<none>")
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("router never fails");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, headers, bytes, json }
}

/// Builds a request: method, path, headers and body.
pub fn request(method: Method, path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path).header("host", HOST);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("valid request")
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An RS512 client assertion signed with the test key.
pub fn sign(header: &Value, claims: &Value) -> String {
    let signing = SigningKey::<Sha512>::new(test_key().clone());
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = signing.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

pub fn assertion_header() -> Value {
    json!({"alg": "RS512", "typ": "JWT", "kid": DEMO_KID})
}

pub fn assertion_claims() -> Value {
    json!({
        "iss": DEMO_API_KEY, "sub": DEMO_API_KEY, "aud": TOKEN_AUD,
        "jti": uuid::Uuid::new_v4().to_string(), "exp": now() + 240,
    })
}

pub fn token_form(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    )
}

pub async fn post_token(app: &Router, form: String) -> Answer {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    send(app, request(Method::POST, "/oauth2/token", &headers, form)).await
}

/// A fresh access token from the demo application.
pub async fn token(app: &Router) -> String {
    let answer = post_token(app, token_form(&sign(&assertion_header(), &assertion_claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.json["access_token"].as_str().unwrap().to_owned()
}

/// GET against PDS with a token and both ID headers.
pub async fn pds_get(app: &Router, path: &str, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    let headers =
        [("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID), ("x-correlation-id", CORRELATION_ID)];
    send(app, request(Method::GET, &format!("/personal-demographics/FHIR/R4{path}"), &headers, Body::empty())).await
}

pub const NRL_CONSUMER: &str = "/record-locator/consumer/FHIR/R4/DocumentReference";
pub const NRL_PRODUCER: &str = "/record-locator/producer/FHIR/R4/DocumentReference";

/// A request to NRL with a token, `X-Request-ID` and, when given, the organisation header.
pub async fn nrl(app: &Router, method: Method, path: &str, token: &str, ods: Option<&str>, body: Body) -> Answer {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID)];
    if let Some(ods) = ods {
        headers.push(("nhsd-end-user-organisation-ods", ods));
    }
    send(app, request(method, path, &headers, body)).await
}

/// The consumer search for `nhs`'s mental health crisis plans.
pub fn nrl_search_path(nhs: &str) -> String {
    format!(
        "{NRL_CONSUMER}?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}&type=http://snomed.info/sct|736253002"
    )
}

/// GP Connect JWT claims that pass every rule, for `scope`.
pub fn gpc_claims(scope: &str) -> Value {
    let iat = now();
    json!({
        "iss": "https://consumer.example.org",
        "sub": "1",
        "aud": "https://authorize.fhir.nhs.net/token",
        "exp": iat + 300,
        "iat": iat,
        "reason_for_request": "directcare",
        "requested_scope": scope,
        "requesting_device": {"resourceType": "Device",
            "identifier": [{"system": "https://consumer.example.org/Id/device", "value": "pathwatch"}],
            "model": "pathwatch", "version": "0.1.0"},
        "requesting_organization": {"resourceType": "Organization", "name": "Pathwatch Canary",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}]},
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "1",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "111111111"},
                           {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "22222222"}],
            "name": [{"family": "Canary", "given": ["Path"], "prefix": ["Dr"]}]},
    })
}

pub fn gpc_jwt(claims: &Value) -> String {
    format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(claims))
}

pub const STRUCTURED: &str = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1";
pub const SEARCH_SLOT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1";
pub const CREATE_APPOINTMENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1";
pub const READ_APPOINTMENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1";
pub const CANCEL_APPOINTMENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1";
pub const UPDATE_APPOINTMENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:update:appointment-1";

/// The first free diary slot (a Slot resource) in the next 14 days.
pub async fn first_free_slot(app: &Router) -> Value {
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Duration::days(14);
    let path = format!("/Slot?start=ge{today}&end=le{end}&status=free&_include=Slot:schedule");
    let answer =
        gpc_send(app, Method::GET, &path, &gpc_headers(SEARCH_SLOT, "organization/*.read"), &Value::Null).await;
    let entries = answer.json["entry"].as_array().cloned().unwrap_or_default();
    entries.into_iter().map(|e| e["resource"].clone()).find(|r| r["resourceType"] == "Slot").expect("a free slot")
}

/// The date `offset` days from today (UTC), `YYYY-MM-DD`: test dates move with the clock.
pub fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

/// A booking for `slot` that passes every rule: a Patient and the Schedule's Location, `created`, and the
/// booking organisation contained and named by its extension.
pub fn booking_for(slot: &Value) -> Value {
    json!({
        "resourceType": "Appointment",
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"]},
        "contained": [{
            "resourceType": "Organization", "id": "booking-org",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}],
            "name": "Pathwatch tests", "telecom": [{"system": "phone", "value": "00000000000"}],
        }],
        "extension": [{
            "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1",
            "valueReference": {"reference": "#booking-org"},
        }],
        "status": "booked",
        "start": slot["start"], "end": slot["end"],
        "slot": [{"reference": format!("Slot/{}", slot["id"].as_str().unwrap_or_default())}],
        "created": format!("{}T09:00:00+00:00", day(-1)),
        "participant": [{"actor": {"reference": "Patient/9690937286"}, "status": "accepted"},
                        {"actor": {"reference": "Location/1"}, "status": "accepted"}],
        "description": "Pathwatch canary booking",
    })
}

/// Books the first free slot with a booking that passes every rule; the 201 answer.
pub async fn book_first_free_slot(app: &Router) -> Answer {
    let slot = first_free_slot(app).await;
    let create = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let booked = gpc_send(app, Method::POST, "/Appointment", &create, &booking_for(&slot)).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.json);
    booked
}

/// The SSP headers for `interaction` with a valid JWT for `scope`.
pub fn gpc_headers(interaction: &str, scope: &str) -> Vec<(String, String)> {
    vec![
        ("ssp-traceid".into(), uuid::Uuid::new_v4().to_string()),
        ("ssp-from".into(), "200000000359".into()),
        ("ssp-to".into(), ASID.into()),
        ("ssp-interactionid".into(), interaction.into()),
        ("authorization".into(), format!("Bearer {}", gpc_jwt(&gpc_claims(scope)))),
        ("accept".into(), "application/fhir+json".into()),
        ("content-type".into(), "application/fhir+json".into()),
    ]
}

pub async fn gpc_send(app: &Router, method: Method, path: &str, headers: &[(String, String)], body: &Value) -> Answer {
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = if body.is_null() { Body::empty() } else { Body::from(body.to_string()) };
    send(app, request(method, &format!("/gpconnect/fhir{path}"), &pairs, body)).await
}

/// The structured record with `headers` and `body`.
pub async fn gpc_structured(app: &Router, headers: &[(String, String)], body: &Value) -> Answer {
    gpc_send(app, Method::POST, "/Patient/$gpc.getstructuredrecord", headers, body).await
}

/// Reads appointment `id` with valid read headers.
pub async fn gpc_read_appointment(app: &Router, id: &str) -> Answer {
    let headers = gpc_headers(READ_APPOINTMENT, "patient/*.read");
    gpc_send(app, Method::GET, &format!("/Appointment/{id}"), &headers, &Value::Null).await
}

pub fn structured_parameters(nhs_number: &str) -> Value {
    json!({
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patientNHSNumber",
             "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs_number}},
            {"name": "includeAllergies", "part": [{"name": "includeResolvedAllergies", "valueBoolean": true}]},
            {"name": "includeMedication", "part": [{"name": "includePrescriptionIssues", "valueBoolean": true}]},
        ],
    })
}

/// `NHSMESH` authorisation for `mailbox` with `password` and the default shared key.
pub fn mesh_auth(mailbox: &str, password: &str) -> String {
    let nonce = uuid::Uuid::new_v4().to_string();
    let timestamp = "202611230502";
    let cipher = sandboxes::mesh::auth_cipher("TestKey", mailbox, &nonce, "1", password, timestamp);
    format!("NHSMESH {mailbox}:{nonce}:1:{timestamp}:{cipher}")
}
