//! Generated query strings, path ids and form bodies for every dashboard route (and the sign-in and
//! single sign-on routes open to anyone), `PATHWATCH_FUZZ_CASES` of them (10,000 unless set), sent
//! as a role the route admits with a valid CSRF token most of the time. Whatever arrives, the answer
//! is never a 5xx: bad input is a 4xx page or JSON error saying what is wrong, or a redirect.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::Role;
use dashboard::web::route_table;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::findings::{rig, PASSWORD};
use crate::web::{get, send, sign_in};

fn cases() -> u32 {
    std::env::var("PATHWATCH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Parameter names the dashboard's queries and forms read, and some they do not.
const NAMES: &[&str] = &[
    "status",
    "rule",
    "severity",
    "patient",
    "user",
    "organisation",
    "correlation",
    "from",
    "to",
    "year",
    "min_residual",
    "report",
    "format",
    "q",
    "csrf",
    "seq",
    "reason",
    "expected",
    "note",
    "state",
    "assignee",
    "version",
    "id",
    "title",
    "description",
    "causes",
    "effects",
    "possible_harm",
    "controls",
    "statement",
    "unit",
    "per_stratum",
    "seed",
    "by_organisation",
    "position",
    "outcome",
    "current",
    "new",
    "confirm",
    "name",
    "password",
    "code",
    "error",
    "nhs_number",
    "likelihood",
    "severity[]",
    "x",
    "",
];

/// Values worth trying, as people and attackers type them.
const VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "7",
    "99999999999999999999",
    "2026-11-01",
    "2026-12-01",
    "2026-02-30",
    "9999-99-99",
    "2026-11-01T00:00:00Z",
    "dtac",
    "dspt",
    "dcb0129",
    "csv",
    "json",
    "pdf",
    "events",
    "users",
    "open",
    "closed",
    "high",
    "9000000009",
    "9000000000",
    "recep1",
    "B82005",
    "HAZ-001",
    "true",
    "on",
    "NaN",
    "?",
    "??",
    "'",
    "\"",
    "\\",
    "<script>alert(1)</script>",
    "😀",
    "%",
    "%zz",
    "%00",
    "%ff%fe",
    "a=b&c",
    "..%2f..",
];

/// One value: from the list, or any text, percent-encoded; sometimes left raw so malformed escapes
/// reach the decoder.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(VALUES.to_vec()).prop_map(|v| encode_but(v, "%&=+.:")),
        2 => "\\PC{0,60}".prop_map(|s| encode(&s)),
        1 => "[%&=+;a-z0-9]{0,12}",
    ]
}

fn encode(text: &str) -> String {
    encode_but(text, "-")
}

/// Percent-encodes all but ASCII letters, digits and `raw`.
fn encode_but(text: &str, raw: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || raw.as_bytes().contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((prop::sample::select(NAMES.to_vec()).prop_map(str::to_string), value()), 0..6)
}

/// Which route, its id, its query, its form, and whether the CSRF token is sent.
type Input = (usize, String, Vec<(String, String)>, Vec<(String, String)>, bool);

fn joined(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={v}", encode(k))).collect::<Vec<_>>().join("&")
}

#[test]
fn every_route_answers_generated_queries_and_forms_without_a_server_error() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rig = runtime.block_on(rig());
    // A session and its CSRF token per role.
    let sessions: Vec<(Role, String, String)> = runtime.block_on(async {
        let mut sessions = Vec::new();
        for (name, role) in
            [("oncall", Role::Oncall), ("ig", Role::IgLead), ("cso", Role::SafetyOfficer), ("admin", Role::Admin)]
        {
            let (session, _) = sign_in(&rig.app, name, PASSWORD).await;
            let csrf = get(&rig.app, "/", &session).await.csrf();
            sessions.push((role, session, csrf));
        }
        sessions
    });
    // Every route in the table but sign-out (it would end the session), then those open to all.
    let mut routes: Vec<(&str, &str, bool)> =
        route_table().iter().filter(|r| r.path != "/logout").map(|r| (r.method, r.path, true)).collect();
    routes.extend([
        ("POST", "/login", false),
        ("GET", "/login", false),
        ("GET", "/auth/oidc/start", false),
        ("GET", "/auth/oidc/callback", false),
        ("POST", "/auth/oidc/choose", false),
    ]);
    let id = prop_oneof![
        Just("HAZ-001".to_string()),
        Just("look-up-patient".to_string()),
        Just("1".to_string()),
        value().prop_filter("a path segment", |v| !v.is_empty()),
    ];
    let strategy = (0..routes.len(), id, pairs(), pairs(), prop::bool::weighted(0.8));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let counts = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let outcome = runner.run(&strategy, |(route, id, query, form, with_csrf): Input| {
        let (method, path, signed_in) = routes[route];
        let role = route_table().iter().find(|r| r.method == method && r.path == path).and_then(|r| r.roles.first());
        let session = role.and_then(|role| sessions.iter().find(|(r, _, _)| r == role));
        let mut uri = path.replace("{id}", &id);
        if !query.is_empty() {
            uri = format!("{uri}?{}", joined(&query));
        }
        let mut body = joined(&form);
        if let (true, Some((_, _, csrf))) = (with_csrf, session) {
            body = format!("csrf={csrf}&{body}");
        }
        let mut request = Request::builder().method(method).uri(&uri).header(header::HOST, "127.0.0.1:8080");
        if let (true, Some((_, cookie, _))) = (signed_in, session) {
            request = request.header(header::COOKIE, cookie);
        }
        if method == "POST" {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let request = request.body(Body::from(if method == "POST" { body } else { String::new() })).unwrap();
        let reply = runtime.block_on(send(&rig.app, request));
        *counts.borrow_mut().entry(reply.status.as_u16()).or_default() += 1;
        prop_assert!(
            !reply.status.is_server_error(),
            "{method} {uri} [{}]: {} {}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        if reply.status.is_client_error() {
            prop_assert!(!reply.body.trim().is_empty(), "{method} {uri}: {} with an empty body", reply.status);
        }
        Ok(())
    });
    let statuses = counts.into_inner();
    eprintln!("fuzz dashboard routes: {} inputs, answers by status {statuses:?}", statuses.values().sum::<u32>());
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert!(statuses.contains_key(&StatusCode::OK.as_u16()), "no page was served: {statuses:?}");
}
