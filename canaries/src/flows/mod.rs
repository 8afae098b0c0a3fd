//! The built-in flows, one module per national API, and what they share: the token step and the
//! FHIR reading helpers.
//!
//! A flow is straight-line code: begin a step, make its requests, check what came back, end the
//! step. A step that needs an earlier step's result is recorded as skipped when that failed, and
//! flows that write (book, create, send) always try to clean up what they created.

pub mod gpconnect;
pub mod identity;
pub mod mesh;
pub mod nrl;
pub mod pds;

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Secret;
use crate::environment::Environment;
use crate::model::ErrorClass;
use crate::probe::{ensure, Probe, Reply, Request, Step, StepError};
use crate::run::RunRecorder;

/// The name of the authentication step: it does not count as the pathway working.
pub const TOKEN_STEP: &str = "token";
/// Steps that tidy up after an ambiguous failure; like the token step, they are not the pathway.
pub const CLEAN_UP_STEP: &str = "clean_up";

/// GP Connect's capability statement: read before calling, as consumers are advised to, but often
/// served from a cache while the provider itself is down, so it is not the pathway either.
pub const CAPABILITY_STEP: &str = "get_capability_statement";

/// The identity flows' checks of what is usually served from a cache or is a forecast (discovery,
/// keys, clocks, key expiry): failing, they count; passing, they do not make a run whose token
/// endpoint is down look partial.
pub const IDENTITY_HOUSEKEEPING: &[&str] = &["discovery", "jwks", "clock_skew", "signing_key"];

pub fn is_housekeeping(step: &str) -> bool {
    step == TOKEN_STEP || step == CLEAN_UP_STEP || step == CAPABILITY_STEP || IDENTITY_HOUSEKEEPING.contains(&step)
}

/// Whether a failed write may nevertheless have taken effect: the request may have been processed
/// before the answer was lost (timeout, 5xx, a connection that broke).
pub fn may_have_taken_effect(class: Option<ErrorClass>) -> bool {
    matches!(class, Some(ErrorClass::Timeout | ErrorClass::ServerError | ErrorClass::Connect))
}

/// The published sandbox test patients the built-in flows use (PDS, GP Connect demonstrator, NRL).
pub const DEFAULT_SYNTHETIC_PATIENTS: &[&str] = &[
    "9000000009",
    "9000000017",
    "9000000025",
    "9000000033",
    "9690937278",
    "9690937286",
    "9690937294",
    "9690937308",
    "9690937375",
    "9690937383",
    "9690937391",
    "9690937405",
    "4409815415",
    "3495456481",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    Pds,
    #[serde(rename = "gpconnect")]
    GpConnect,
    Nrl,
    Mesh,
    /// NHS CIS2: can care staff sign in?
    Cis2,
    /// NHS login: can patients sign in?
    #[serde(rename = "nhslogin")]
    NhsLogin,
}

impl FlowKind {
    pub const ALL: [FlowKind; 6] =
        [FlowKind::Pds, FlowKind::GpConnect, FlowKind::Nrl, FlowKind::Mesh, FlowKind::Cis2, FlowKind::NhsLogin];

    /// Whether the flow works on a synthetic patient (the identity flows and MESH do not).
    pub fn needs_patient(self) -> bool {
        matches!(self, FlowKind::Pds | FlowKind::GpConnect | FlowKind::Nrl)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Pds => "pds",
            FlowKind::GpConnect => "gpconnect",
            FlowKind::Nrl => "nrl",
            FlowKind::Mesh => "mesh",
            FlowKind::Cis2 => "cis2",
            FlowKind::NhsLogin => "nhslogin",
        }
    }
}

/// Everything a flow needs for one run.
pub struct FlowContext<'a> {
    pub probe: &'a Probe,
    pub env: &'a Environment,
    pub patient: Option<&'a str>,
    pub restricted_patient: Option<&'a str>,
    pub search: Option<&'a crate::config::PdsSearch>,
    /// The run's correlation id, sent upstream on every request.
    pub correlation_id: &'a str,
}

/// The APIM access token for this environment: from the cache, or bought with a fresh client
/// assertion. `Ok(None)` when the environment needs no token (NHS's open sandboxes). The step is
/// recorded either way so every run has the same steps.
pub async fn token_step(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) -> Result<Option<Secret>, ()> {
    if ctx.env.apim.is_none() {
        return Ok(None);
    }
    let mut step = rec.begin(TOKEN_STEP);
    if let Some(token) = ctx.env.tokens.get().await {
        step.attributes.insert(domain::canary::attr::TOKEN_CACHED.into(), "true".into());
        return rec.end(step, Ok(Some(token))).ok_or(());
    }
    let result = fetch_token(ctx, &mut step).await.map(Some);
    rec.end(step, result).ok_or(())
}

/// Buys an access token within `step` and caches it. Every failure is an `auth` failure.
async fn fetch_token(ctx: &FlowContext<'_>, step: &mut Step) -> Result<Secret, StepError> {
    let Some(apim) = &ctx.env.apim else {
        return Err(StepError::new(ErrorClass::Auth, "no token endpoint configured"));
    };
    // A fresh assertion per attempt: APIM spends each `jti` once, so a resend must not reuse it.
    let build = || {
        let assertion = apim.key.client_assertion(apim.api_key.expose(), &apim.token_url);
        let form = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
            "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer", assertion
        );
        Request::new(Method::POST, &apim.token_url, "/oauth2/token")
            .header("x-correlation-id", ctx.correlation_id)
            .body_bytes("application/x-www-form-urlencoded", form.into())
            // Buying a token has no side effect worth guarding: retrying is safe.
            .idempotent()
    };
    let reply = step.send_with(ctx.probe, build).await?;
    let reply = reply.expect_status(&[200]).map_err(|e| StepError::new(ErrorClass::Auth, e.message))?;
    let body = reply.json()?;
    let token = body["access_token"].as_str().filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| StepError::new(ErrorClass::Auth, "token reply has no access_token"))?;
    // APIM sends expires_in as a string ("599"); accept a number too.
    let expires_in = body["expires_in"]
        .as_u64()
        .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| StepError::new(ErrorClass::Auth, "token reply has no expires_in"))?;
    let token = Secret::new(token);
    ctx.env.tokens.put(token.clone(), Duration::from_secs(expires_in)).await;
    Ok(token)
}

/// Sends the request `build` makes with the current token. A 401 means the token stopped being
/// good before we expected (revoked, or the service's clock): forget it, buy a new one and send
/// once more, within the same step — which then counts as retried, so the run shows `degraded`.
pub async fn send_authorised(
    ctx: &FlowContext<'_>,
    step: &mut Step,
    token: &mut Option<Secret>,
    build: impl Fn(&Option<Secret>) -> Request,
) -> Result<Reply, StepError> {
    let reply = step.send(ctx.probe, &build(token)).await?;
    if reply.status != 401 || token.is_none() {
        return Ok(reply);
    }
    ctx.env.tokens.clear().await;
    *token = Some(fetch_token(ctx, step).await?);
    step.attributes.insert(domain::canary::attr::TOKEN_REFRESHED.into(), "true".into());
    // The resend repeats a failed request: a retry, so the run shows as degraded.
    step.retries += 1;
    step.send(ctx.probe, &build(token)).await
}

/// `url` with `params` as a properly encoded query string (names like O'Brien, `|` in tokens).
pub fn with_query<K: AsRef<str>, V: AsRef<str>>(url: &str, params: &[(K, V)]) -> String {
    match url::Url::parse_with_params(url, params) {
        Ok(u) => u.to_string(),
        // Configuration validation rejects unparseable base URLs; this is only a fallback.
        Err(_) => url.to_string(),
    }
}

/// Adds `Authorization: Bearer` when there is a token.
pub fn bearer(request: Request, token: &Option<Secret>) -> Request {
    match token {
        Some(t) => request.header("authorization", &format!("Bearer {}", t.expose())),
        None => request,
    }
}

pub fn expect_resource_type(value: &Value, expected: &str) -> Result<(), StepError> {
    ensure(value["resourceType"] == expected, || {
        format!("expected a {expected}, got resourceType {}", value["resourceType"])
    })
}

/// The value of the identifier with `system` in a FHIR resource or reference.
pub fn identifier<'v>(value: &'v Value, system: &str) -> Option<&'v str> {
    let ids = &value["identifier"];
    let one = |id: &'v Value| (id["system"] == system).then(|| id["value"].as_str()).flatten();
    match ids {
        Value::Array(list) => list.iter().find_map(one),
        Value::Object(_) => one(ids),
        _ => None,
    }
}

pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// The resources of a Bundle's entries.
pub fn entries(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"].as_array().into_iter().flatten().map(|e| &e["resource"])
}
