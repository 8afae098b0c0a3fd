//! PDS and MESH scenarios `deploy/sandboxes.md` lists that no other module proves: the empty bearer
//! headers, the headers PDS ignores, superseded and invalidated records in search, two documented
//! hosted-sandbox searches and its other rules, the PATCH, POST /Patient and Coverage checks and their
//! order, and MESH's ping, send encodings and chunk ranges, and tracking without a message id.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;
use sandboxes::population::PDS_INVALIDATED;
use sandboxes::{RequireAuth, SandboxConfig};
use serde_json::{json, Value};

use crate::common::*;
use crate::mesh::mesh;

const BASE: &str = "/personal-demographics/FHIR/R4";
/// A token shaped as the hosted sandbox wants one (letters and digits), for PDS without tokens.
const OPEN_TOKEN: &str = "sandbox0token";
const GIVEN: &str = r#"{"patches": [{"op": "replace", "path": "/name/0/given/0", "value": "Janet"}]}"#;
const JSON_PATCH: (&str, &str) = ("content-type", "application/json-patch+json");
const REQUEST_ID_MISSING: &str =
    "Invalid request with error - X-Request-ID header must be supplied to access this resource";
const IF_MATCH_MISSING: &str = "Invalid request with error - If-Match header must be supplied to update this resource";
const MINIMUM: &str = "Invalid search data provided - 'No searches were performed as the search criteria did not meet the minimum requirements'";

/// The sandboxes with PDS's token requirement off, as NHS England's hosted PDS sandbox.
fn open_app() -> Router {
    app_with(SandboxConfig { require_auth: RequireAuth::NONE, ..test_config() })
}

/// A PDS request with exactly these headers.
fn pds<'a>(
    app: &'a Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> impl Future<Output = Answer> + 'a {
    send(app, request(method, &format!("{BASE}{path}"), headers, body.to_owned()))
}

#[track_caller]
fn assert_outcome(answer: &Answer, status: StatusCode, code: &str, diagnostics: Option<&str>, context: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{context}: {}", answer.json);
    assert_eq!(answer.json["issue"][0]["diagnostics"].as_str(), diagnostics, "{context}: {}", answer.json);
}

fn ids(answer: &Answer) -> Vec<&str> {
    answer.json["entry"].as_array().into_iter().flatten().filter_map(|e| e["resource"]["id"].as_str()).collect()
}

/// A name as a query value (`O'Brien`, names with spaces).
fn enc(text: &str) -> String {
    text.replace(' ', "%20").replace('\'', "%27")
}

/// The body without its `timestamp`, which moves with the clock.
fn untimed(answer: &Answer) -> Value {
    let mut body = answer.json.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.remove("timestamp");
    }
    body
}

/// With tokens required, an empty `Authorization` and `Bearer` alone are refused as APIM refuses
/// them, before `X-Request-ID` is looked at.
#[tokio::test]
async fn empty_bearer_headers_are_access_denied() {
    let app = app();
    for (authorization, said) in [("", "Empty Authorization header"), ("Bearer", "Missing access token")] {
        let with_id = vec![("authorization", authorization), ("x-request-id", REQUEST_ID)];
        for headers in [with_id, vec![("authorization", authorization)]] {
            let answer = pds(&app, Method::GET, "/Patient/9000000009", &headers, "").await;
            assert_outcome(&answer, StatusCode::UNAUTHORIZED, "ACCESS_DENIED", Some(said), &format!("{headers:?}"));
        }
    }
}

/// `Prefer`, `NHSD-Session-URID` and `NHSD-End-User-Organisation-ODS` change no answer: a read, a
/// search and related people are the same with them, and `Prefer: return=minimal` still gets the
/// patched record back.
#[tokio::test]
async fn prefer_and_the_session_and_organisation_headers_are_ignored() {
    let app = app();
    let bearer = format!("Bearer {}", token(&app).await);
    let plain = [("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID)];
    let mut extra = plain.to_vec();
    extra.extend([
        ("prefer", "return=minimal"),
        ("nhsd-session-urid", "555254240100"),
        ("nhsd-end-user-organisation-ods", "Y12345"),
    ]);
    let search = "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22";
    for path in ["/Patient/9000000009", search, "/Patient/9000000009/RelatedPerson"] {
        let without = pds(&app, Method::GET, path, &plain, "").await;
        let with = pds(&app, Method::GET, path, &extra, "").await;
        assert_eq!(without.status, StatusCode::OK, "{path}: {}", without.json);
        assert_eq!((with.status, with.header("etag")), (without.status, without.header("etag")), "{path}");
        assert_eq!(untimed(&with), untimed(&without), "{path}");
    }
    extra.extend([("if-match", "W/\"2\""), JSON_PATCH]);
    let patched = pds(&app, Method::PATCH, "/Patient/9000000009", &extra, GIVEN).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    assert_eq!(patched.json["name"][0]["given"][0], "Janet", "the patched copy comes back: {}", patched.json);
}

/// With tokens, a search never answers a superseded number: the patient reading it answers (its
/// successor) is found by its own details under its own number. Without tokens, where one search lists
/// every record of a family name, neither a superseded number nor the invalidated 9990003343 appears.
#[tokio::test]
async fn a_search_finds_a_superseded_patient_as_its_successor_and_never_an_invalidated_record() {
    let mut checked = 0;
    for seed in 0..6u64 {
        let config = || SandboxConfig { seed, synthetic_patients: 200, ..test_config() };
        let app = app_with(config());
        let open = app_with(SandboxConfig { require_auth: RequireAuth::NONE, ..config() });
        let token = token(&app).await;
        let population = sandboxes::patients::generate(seed, 200);
        let superseded: Vec<_> = population.iter().filter(|p| p.superseded_by.is_some()).collect();
        let never: HashSet<&str> = superseded.iter().map(|p| p.nhs_number.as_str()).chain([PDS_INVALIDATED]).collect();
        for old in &superseded {
            let number = old.nhs_number.as_str();
            let successor = old.superseded_by.as_ref().map(|n| n.as_str()).unwrap_or_default();
            let read = pds_get(&app, &format!("/Patient/{number}"), &token).await;
            assert_eq!(read.json["id"], successor, "seed {seed}: reading {number}: {}", read.json);
            let current =
                population.iter().find(|p| p.nhs_number.as_str() == successor).expect("a generated successor");
            let query = format!(
                "/Patient?family={}&given={}&gender={}&birthdate=eq{}",
                enc(&current.family),
                enc(&current.given[0]),
                current.gender.as_fhir(),
                current.birth_date
            );
            let found = pds_get(&app, &query, &token).await;
            assert_eq!(ids(&found), [successor], "seed {seed}: {query}: {}", found.json);
            let query = format!("/Patient?family={}&birthdate=eq{}", enc(&old.family), old.birth_date);
            let answer = pds_get(&app, &query, &token).await;
            assert!(ids(&answer).iter().all(|id| !never.contains(id)), "seed {seed}: {query}: {}", answer.json);
            checked += 1;
        }
        let families: BTreeSet<&str> =
            population.iter().filter(|p| p.superseded_by.is_none()).map(|p| p.family.as_str()).collect();
        for family in families {
            // Every current bearer, and Jane Smith (9000000009) for Smith.
            let expected = population.iter().filter(|p| p.superseded_by.is_none() && p.family == family).count()
                + usize::from(family == "Smith");
            let query = format!("/Patient?family={}&birthdate=ge1900-01-01&_max-results=50", enc(family));
            let answer = pds_get(&open, &query, OPEN_TOKEN).await;
            let found = ids(&answer);
            assert_eq!(found.len(), expected, "seed {seed}: {query}: {}", answer.json);
            assert!(found.iter().all(|id| !never.contains(id)), "seed {seed}: {query}: {found:?}");
        }
    }
    assert!(checked >= 10, "only {checked} superseded patients seen");
}

/// Without tokens, two of the hosted sandbox's documented answers: a fuzzy search with Jane's e-mail
/// and no phone finds her at 0.9124 (whatever the names), and `Sm*` with her phone and no e-mail at 1.
#[tokio::test]
async fn without_tokens_jane_is_found_by_her_email_alone_or_by_a_wildcard_and_her_phone() {
    let open = open_app();
    let jane = |answer: &Answer, score: Value, context: &str| {
        assert_eq!(answer.status, StatusCode::OK, "{context}: {}", answer.json);
        let found = (ids(answer), answer.json["total"].as_u64());
        assert_eq!(found, (vec!["9000000009"], Some(1)), "{context}: {}", answer.json);
        assert_eq!(answer.json["entry"][0]["search"]["score"], score, "{context}: {}", answer.json);
    };
    for names in ["family=Smith&given=Jane", "family=Jones&given=Bob"] {
        let query = format!("/Patient?{names}&birthdate=eq2010-10-22&email=jane.smith@example.com&_fuzzy-match=true");
        jane(&pds_get(&open, &query, OPEN_TOKEN).await, json!(0.9124), &query);
    }
    for rest in ["gender=female&birthdate=eq2010-10-22", "birthdate=2010-10-22"] {
        let query = format!("/Patient?family=Sm*&{rest}&phone=01632960587");
        jane(&pds_get(&open, &query, OPEN_TOKEN).await, json!(1), &query);
    }
}

/// Without tokens, a search no documented case answers breaks our other rules as with tokens (same
/// status, code and diagnostics), except that `_max-results` 2-50 is allowed and a fuzzy search
/// always needs `family`.
#[tokio::test]
async fn without_tokens_other_search_rules_answer_as_with_tokens_except_max_results_and_a_fuzzy_family() {
    let (app, open) = (app(), open_app());
    let token = token(&app).await;
    let base = "family=Nobody&birthdate=2010-10-22";
    let long = "A".repeat(36);
    let value = |v: &str, field: &str| format!("Invalid value - '{v}' in field '{field}'");
    let cases: Vec<(String, &str, String)> = vec![
        (format!("{base}&gender=F"), "INVALID_VALUE", value("F", "gender")),
        (format!("{base}&_exact-match=yes"), "INVALID_VALUE", value("yes", "_exact-match")),
        (format!("{base}&_fuzzy-match=yes"), "INVALID_VALUE", value("yes", "_fuzzy-match")),
        (format!("{base}&_max-results=51"), "INVALID_VALUE", value("51", "_max-results")),
        (format!("{base}&_max-results=0"), "INVALID_VALUE", value("0", "_max-results")),
        ("family=S*&birthdate=2010-10-22".into(), "INVALID_VALUE", value("S*", "family")),
        (format!("{base}&email=j*@example.com"), "INVALID_VALUE", value("j*@example.com", "email")),
        (format!("family={long}&birthdate=2010-10-22"), "INVALID_VALUE", value(&long, "family")),
        (format!("{base}{}", "&given=Jo".repeat(11)), "INVALID_VALUE", value("11 given names (at most 10)", "given")),
        (
            format!("{base}&address-postcode=LS1&address-postalcode=LS1"),
            "INVALID_SEARCH_DATA",
            "Invalid search data provided - 'address-postcode and address-postalcode cannot both be supplied'".into(),
        ),
        (
            "family=Sm*th&given=Jane&birthdate=2010-10-22&phone=0000000000&_fuzzy-match=true".into(),
            "INVALID_SEARCH_DATA",
            "Invalid search data provided - 'wildcards cannot be used in a fuzzy search (family)'".into(),
        ),
        (format!("{base}&phone=0000000000&_fuzzy-match=true"), "INVALID_SEARCH_DATA", MINIMUM.into()),
    ];
    for (query, code, said) in &cases {
        for (mode, app, token) in [("tokens", &app, token.as_str()), ("no tokens", &open, OPEN_TOKEN)] {
            let answer = pds_get(app, &format!("/Patient?{query}"), token).await;
            assert_outcome(&answer, StatusCode::BAD_REQUEST, code, Some(said.as_str()), &format!("{mode}: {query}"));
        }
    }
    let several = "/Patient?family=Smyth&birthdate=eq2010-10-22&_max-results=5";
    let refused = pds_get(&app, several, &token).await;
    let multiple = "Multiple results requested when using the API in application-restricted mode";
    assert_outcome(&refused, StatusCode::FORBIDDEN, "INVALID_VALUE", Some(multiple), "tokens: _max-results=5");
    let allowed = pds_get(&open, several, OPEN_TOKEN).await;
    assert_eq!((allowed.status, ids(&allowed)), (StatusCode::OK, vec!["9000000017"]), "{}", allowed.json);
    let no_family =
        "/Patient?given=Jane&gender=female&birthdate=2010-10-22&address-postalcode=LS1%206AE&_fuzzy-match=true";
    let found = pds_get(&app, no_family, &token).await;
    assert_eq!(ids(&found), ["9000000009"], "with tokens a fuzzy search may leave out family: {}", found.json);
    let refused = pds_get(&open, no_family, OPEN_TOKEN).await;
    assert_outcome(&refused, StatusCode::BAD_REQUEST, "INVALID_SEARCH_DATA", Some(MINIMUM), "no tokens: no family");
}

/// Without tokens, PATCH checks the number, `If-Match` and `Content-Type` first, then `X-Request-ID`
/// and a sent `Authorization` as every PDS operation does, and only then looks for the patient.
#[tokio::test]
async fn without_tokens_a_patch_checks_x_request_id_then_authorization_after_the_hosted_sandbox_checks() {
    let open = open_app();
    let patch = |id: &str, headers: &[(&str, &str)]| {
        send(&open, request(Method::PATCH, &format!("{BASE}/Patient/{id}"), headers, GIVEN.to_owned()))
    };
    let (if_match, id_ok) = (("if-match", "W/\"2\""), ("x-request-id", REQUEST_ID));
    let (bad, missing) = (StatusCode::BAD_REQUEST, StatusCode::PRECONDITION_FAILED);
    assert_outcome(&patch("9000000000", &[]).await, bad, "INVALID_RESOURCE_ID", None, "the number first");
    let answer = patch("9000000009", &[JSON_PATCH]).await;
    assert_outcome(&answer, missing, "PRECONDITION_FAILED", Some(IF_MATCH_MISSING), "If-Match");
    assert_outcome(&patch("9000000009", &[if_match]).await, bad, "UNSUPPORTED_SERVICE", None, "Content-Type");
    for id in ["9000000009", "9111231130"] {
        let answer = patch(id, &[if_match, JSON_PATCH]).await;
        let context = format!("{id}: X-Request-ID before the patient");
        assert_outcome(&answer, bad, "MISSING_VALUE", Some(REQUEST_ID_MISSING), &context);
    }
    let answer = patch("9000000009", &[if_match, JSON_PATCH, ("x-request-id", "1234")]).await;
    let said = Some("Invalid value - '1234' in header 'X-Request-ID'");
    assert_outcome(&answer, bad, "INVALID_VALUE", said, "not a UUID");
    for (authorization, said) in
        [("Bearer", "Missing access token"), ("Bearer HEALTHCARE_WORKER", "Invalid Access Token")]
    {
        let answer = patch("9000000009", &[if_match, JSON_PATCH, id_ok, ("authorization", authorization)]).await;
        assert_outcome(&answer, StatusCode::UNAUTHORIZED, "ACCESS_DENIED", Some(said), authorization);
    }
    let unknown = patch("9111231130", &[if_match, JSON_PATCH, id_ok]).await;
    assert_outcome(&unknown, StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", None, "then the patient");
    for authorization in [None, Some(""), Some("Bearer sandbox0token")] {
        let mut headers = vec![if_match, JSON_PATCH, id_ok];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let answer = patch("9000000009", &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{authorization:?}: {}", answer.json);
        assert_eq!(answer.json["name"][0]["given"][0], "Janet", "{authorization:?}");
    }
}

/// PATCH of the invalidated record 9990003343 is 404 INVALIDATED_RESOURCE, the read's answer.
#[tokio::test]
async fn a_patch_of_the_invalidated_record_is_404_invalidated_resource() {
    let app = app();
    let token = token(&app).await;
    let bearer = format!("Bearer {token}");
    let headers =
        [("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID), ("if-match", "W/\"1\""), JSON_PATCH];
    let answer = pds(&app, Method::PATCH, "/Patient/9990003343", &headers, GIVEN).await;
    assert_outcome(&answer, StatusCode::NOT_FOUND, "INVALIDATED_RESOURCE", None, "PATCH 9990003343");
    assert_eq!(answer.json["issue"][0]["code"], "processing");
    let read = pds_get(&app, "/Patient/9990003343", &token).await;
    assert_eq!(answer.json, read.json, "as GET answers");
}

/// POST /Patient with a body that is not JSON is 400 INVALID_VALUE, after the header rules.
#[tokio::test]
async fn a_new_patient_body_that_is_not_json_is_invalid_value() {
    let app = app();
    let bearer = format!("Bearer {}", token(&app).await);
    let headers =
        [("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID), ("content-type", "application/fhir+json")];
    let said = Some("Invalid value - the body is not JSON");
    for body in ["", "not json", r#"{"name": "#] {
        let answer = pds(&app, Method::POST, "/Patient", &headers, body).await;
        assert_outcome(&answer, StatusCode::BAD_REQUEST, "INVALID_VALUE", said, body);
    }
    let anonymous = pds(&app, Method::POST, "/Patient", &headers[1..], "not json").await;
    let denied = Some("Missing Authorization header");
    assert_outcome(&anonymous, StatusCode::UNAUTHORIZED, "ACCESS_DENIED", denied, "no token: headers first");
}

/// GET /Coverage for a valid number other than 9000000009 and 9000000033 is an empty searchset with
/// no ETag (and no version).
#[tokio::test]
async fn coverage_for_a_valid_number_without_a_card_is_an_empty_searchset_without_etag() {
    let app = app();
    let token = token(&app).await;
    for number in ["9000000017", "9111231130"] {
        let answer = pds_get(&app, &format!("/Coverage?subscriber:identifier={number}"), &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{number}: {}", answer.json);
        let shape = (answer.json["type"].as_str(), answer.json["total"].as_u64());
        assert_eq!(shape, (Some("searchset"), Some(0)), "{number}: {}", answer.json);
        let (entry, meta) = (answer.json.get("entry"), answer.json.get("meta"));
        assert!(entry.is_none() && meta.is_none(), "{number}: {}", answer.json);
        assert_eq!(answer.header("etag"), None, "{number}");
    }
}

/// POST /Coverage with tokens: `If-Match`, then `Content-Type`, then the token and `X-Request-ID`
/// (PATCH answers the token first), then a body that is not JSON is 400 INVALID_VALUE.
#[tokio::test]
async fn a_card_update_checks_if_match_and_content_type_before_the_token_and_refuses_a_body_that_is_not_json() {
    let app = app();
    let bearer = format!("Bearer {}", token(&app).await);
    let (if_match, fhir) = (("if-match", "W/\"2\""), ("content-type", "application/fhir+json"));
    let (auth, denied) = (("authorization", bearer.as_str()), Some("Missing Authorization header"));
    let answer = pds(&app, Method::POST, "/Coverage", &[], "{}").await;
    let precondition = StatusCode::PRECONDITION_FAILED;
    assert_outcome(&answer, precondition, "PRECONDITION_FAILED", Some(IF_MATCH_MISSING), "no If-Match");
    let answer = pds(&app, Method::POST, "/Coverage", &[if_match], "{}").await;
    assert_outcome(&answer, StatusCode::BAD_REQUEST, "UNSUPPORTED_SERVICE", None, "no Content-Type");
    let answer = pds(&app, Method::POST, "/Coverage", &[if_match, fhir], "{}").await;
    assert_outcome(&answer, StatusCode::UNAUTHORIZED, "ACCESS_DENIED", denied, "then the token");
    let answer = pds(&app, Method::POST, "/Coverage", &[if_match, fhir, auth], "{}").await;
    assert_outcome(&answer, StatusCode::BAD_REQUEST, "MISSING_VALUE", Some(REQUEST_ID_MISSING), "then X-Request-ID");
    let answer = pds(&app, Method::PATCH, "/Patient/9000000009", &[], GIVEN).await;
    assert_outcome(&answer, StatusCode::UNAUTHORIZED, "ACCESS_DENIED", denied, "PATCH: the token first");
    let all = [if_match, fhir, auth, ("x-request-id", REQUEST_ID)];
    let said = Some("Invalid value - '(not JSON)' in field 'body'");
    for body in ["", "not json", r#"{"resourceType": "Coverage""#] {
        let answer = pds(&app, Method::POST, "/Coverage", &all, body).await;
        assert_outcome(&answer, StatusCode::BAD_REQUEST, "INVALID_VALUE", said, body);
    }
}

/// X26ABC1 sends a message to `to` with `extra` headers.
async fn mesh_send(app: &Router, to: &str, extra: &[(&str, &str)]) -> Answer {
    let mut headers = vec![("mex-to", to), ("mex-workflowid", "TEST_WORKFLOW"), ("content-type", "text/plain")];
    headers.extend_from_slice(extra);
    mesh(app, Method::POST, "/X26ABC1/outbox", "X26ABC1", &headers, "payload").await
}

/// `GET /messageexchange/_ping` answers that MESH is running, with no authorisation.
#[tokio::test]
async fn the_ping_answers_running_without_authorisation() {
    let app = app();
    let answer = send(&app, request(Method::GET, "/messageexchange/_ping", &[], Body::empty())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.bytes));
    assert_eq!(answer.json, json!({"status": "running", "outcome": "Yes"}));
}

/// A send with a `Content-Encoding` other than gzip is 422 `UnsupportedContentEncoding`, and with a
/// `mex-Chunk-Range` other than `1:1` 417 `InvalidHeaderChunks` (both before the recipient is looked
/// up); neither reaches the inbox, while gzip with `1:1` is accepted.
#[tokio::test]
async fn a_send_with_another_content_encoding_or_chunk_range_is_refused() {
    let app = app();
    let encoding = (StatusCode::UNPROCESSABLE_ENTITY, "UnsupportedContentEncoding", "Unsupported content encoding");
    let chunks =
        (StatusCode::EXPECTATION_FAILED, "InvalidHeaderChunks", "Invalid chunk values sent in mex-Chunk-Range header");
    for (to, extra, (status, code, msg)) in [
        ("X26ABC2", vec![("content-encoding", "br")], encoding),
        ("X26ABC2", vec![("content-encoding", "deflate"), ("mex-chunk-range", "1:1")], encoding),
        ("X99ZZZ9", vec![("content-encoding", "br")], encoding),
        ("X26ABC2", vec![("mex-chunk-range", "1:2")], chunks),
        ("X26ABC2", vec![("content-encoding", "gzip"), ("mex-chunk-range", "2:2")], chunks),
        ("X99ZZZ9", vec![("mex-chunk-range", "1:2")], chunks),
    ] {
        let answer = mesh_send(&app, to, &extra).await;
        assert_eq!(answer.status, status, "{to} {extra:?}: {}", answer.json);
        assert_eq!(answer.json["detail"][0], json!({"event": "SEND", "code": code, "msg": msg}), "{to} {extra:?}");
    }
    let v1 = mesh_send(&app, "X26ABC2", &[("content-encoding", "br"), ("accept", "application/json")]).await;
    assert_eq!(v1.status, StatusCode::UNPROCESSABLE_ENTITY);
    let said = json!({
        "errorEvent": "SEND",
        "errorCode": "UnsupportedContentEncoding",
        "errorDescription": "Unsupported content encoding",
    });
    assert_eq!(v1.json, said, "v1 names the error as mesh-sandbox's v1 does");
    // The body is stored as sent, not decoded.
    let accepted = mesh_send(&app, "X26ABC2", &[("content-encoding", "gzip"), ("mex-chunk-range", "1:1")]).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.json);
    let inbox = mesh(&app, Method::GET, "/X26ABC2/inbox", "X26ABC2", &[], "").await;
    let id = accepted.json["message_id"].clone();
    assert_eq!(inbox.json["messages"], json!([id]), "only the accepted message arrived");
}

/// Tracking without `messageID` (or with an empty one) is 400, naming the missing query parameter.
#[tokio::test]
async fn tracking_without_a_message_id_is_400() {
    let app = app();
    let missing = json!({"detail": [{"type": "missing", "loc": ["query", "messageID"], "msg": "Field required"}]});
    for query in ["", "?messageID=", "?localID=x"] {
        let path = format!("/X26ABC1/outbox/tracking{query}");
        let answer = mesh(&app, Method::GET, &path, "X26ABC1", &[], "").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}: {}", answer.json);
        assert_eq!(answer.json, missing, "{path}");
    }
}
