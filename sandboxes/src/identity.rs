//! Mock NHS identity services, for the identity canaries and for rehearsing a sign-in: NHS CIS2
//! (care staff, `/cis2`, paths as its OpenAM realm serves them: `/access_token`, `/connect/jwk_uri`)
//! and NHS login (citizens, `/nhslogin`, `/token`, `/.well-known/jwks.json`). Each serves OpenID
//! Connect discovery, a JWKS, the authorization code flow with PKCE (S256 only), ID tokens and
//! userinfo:
//!
//! - CIS2 signs with RS256; its ID token and userinfo carry the national RBAC claims
//!   (`nhsid_useruid`, `nhsid_nrbac_roles` with org, role and activity codes, `selected_roleid`) and
//!   the assurance levels (`id_assurance_level`, `authentication_assurance_level`, `acr` AAL3).
//! - NHS login signs with RS512 and answers the vectors of trust asked for (`vtr`: P9 or P5, e.g.
//!   `["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]`) with `vot`, `vtm` and `identity_proofing_level`; an NHS number
//!   only at P9.
//!
//! A sandbox has no login page: `/authorize` signs its test user straight in (`login_hint` picks
//! another) and redirects with the code. Clients are not registered: any `client_id` and redirect
//! URI of the right shape are taken, a client secret or a `private_key_jwt` assertion is checked for
//! its shape only. The JWKS publishes the signing key (with a self-signed certificate in `x5c`, whose
//! expiry a canary can read) and the next key.
//!
//! Faults (`/_admin/faults/cis2`, `/_admin/faults/nhslogin`): `discovery_down`, `keys_rotated` (the
//! JWKS holds only the next key while tokens are still signed with the current one), `clock_skew_s`
//! (the `Date` header and token times shifted) and `key_expires_in_days` (the signing key's
//! certificate about to expire, and no next key published yet).

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::faults::ActiveFaults;
use crate::state::{lock, SandboxState};

/// The two identity services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cis2,
    NhsLogin,
}

impl Provider {
    pub fn base(self) -> &'static str {
        match self {
            Provider::Cis2 => "/cis2",
            Provider::NhsLogin => "/nhslogin",
        }
    }

    pub(crate) fn token_path(self) -> &'static str {
        match self {
            Provider::Cis2 => "/access_token",
            Provider::NhsLogin => "/token",
        }
    }

    fn jwks_path(self) -> &'static str {
        match self {
            Provider::Cis2 => "/connect/jwk_uri",
            Provider::NhsLogin => "/.well-known/jwks.json",
        }
    }

    pub(crate) fn alg(self) -> jsonwebtoken::Algorithm {
        match self {
            Provider::Cis2 => jsonwebtoken::Algorithm::RS256,
            Provider::NhsLogin => jsonwebtoken::Algorithm::RS512,
        }
    }

    fn alg_name(self) -> &'static str {
        match self {
            Provider::Cis2 => "RS256",
            Provider::NhsLogin => "RS512",
        }
    }

    pub(crate) fn kid(self, next: bool) -> String {
        let name = match self {
            Provider::Cis2 => "cis2",
            Provider::NhsLogin => "nhslogin",
        };
        format!("{name}-sandbox-{}", if next { "next" } else { "current" })
    }
}

/// One provider's routes; each handler learns which provider it serves from the router's extension.
pub fn routes(provider: Provider) -> Router<SandboxState> {
    let base = provider.base();
    Router::new()
        .route(&format!("{base}/.well-known/openid-configuration"), get(discovery))
        .route(&format!("{base}{}", provider.jwks_path()), get(jwks))
        .route(&format!("{base}/authorize"), get(crate::identity_flow::authorize))
        .route(&format!("{base}{}", provider.token_path()), post(crate::identity_flow::token))
        .route(&format!("{base}/userinfo"), get(crate::identity_flow::userinfo))
        .layer(Extension(provider))
}

/// The answer's time: now, shifted by the `clock_skew_s` fault.
pub(crate) fn now(faults: &ActiveFaults) -> DateTime<Utc> {
    Utc::now() + Duration::seconds(faults.clock_skew_s.clamp(-86_400 * 365, 86_400 * 365))
}

/// JSON with the (possibly skewed) `Date` and `Cache-Control: no-store`.
pub(crate) fn answer(status: StatusCode, body: Value, at: DateTime<Utc>) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(date) = crate::clock::http_date(at).parse() {
        response.headers_mut().insert(header::DATE, date);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// An OAuth 2.0 error (RFC 6749 §5.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str, at: DateTime<Utc>) -> Response {
    answer(status, json!({"error": error, "error_description": description}), at)
}

/// Injected-fault answer: an OAuth error body.
pub fn fault_response(status: StatusCode) -> Response {
    let error = if status.is_server_error() { "temporarily_unavailable" } else { "invalid_request" };
    oauth_error(status, error, crate::fhir::injected_fault_diagnostics(status), Utc::now())
}

/// The issuer: this sandbox as the caller reached it, plus the provider's base.
pub(crate) fn issuer(provider: Provider, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}{}", provider.base())
}

pub(crate) fn active(faults: Option<Extension<ActiveFaults>>) -> ActiveFaults {
    faults.map(|Extension(f)| f).unwrap_or_default()
}

async fn discovery(
    Extension(provider): Extension<Provider>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
) -> Response {
    let faults = active(faults);
    let at = now(&faults);
    if faults.discovery_down {
        return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "Discovery is unavailable", at);
    }
    let iss = issuer(provider, &headers);
    let (scopes, claims, auth_methods): (&[&str], &[&str], &[&str]) = match provider {
        Provider::Cis2 => (
            &[
                "openid",
                "profile",
                "email",
                "nationalrbacaccess",
                "associatedorgs",
                "professionalmemberships",
                "nhsperson",
                "selectedrole",
            ],
            &[
                "sub",
                "iss",
                "aud",
                "nonce",
                "acr",
                "amr",
                "auth_time",
                "id_assurance_level",
                "authentication_assurance_level",
                "nhsid_useruid",
                "name",
                "given_name",
                "family_name",
                "nhsid_nrbac_roles",
                "selected_roleid",
            ],
            &["client_secret_post", "client_secret_basic", "private_key_jwt"],
        ),
        Provider::NhsLogin => (
            &[
                "openid",
                "profile",
                "email",
                "phone",
                "profile_extended",
                "basic_demographics",
                "gp_registration_details",
            ],
            &[
                "sub",
                "iss",
                "aud",
                "nonce",
                "vot",
                "vtm",
                "identity_proofing_level",
                "nhs_number",
                "birthdate",
                "family_name",
                "given_name",
                "email",
                "phone_number",
            ],
            &["private_key_jwt"],
        ),
    };
    let mut document = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}{}", provider.token_path()),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}{}", provider.jwks_path()),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [provider.alg_name()],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
        "claims_supported": claims,
    });
    match provider {
        Provider::Cis2 => document["acr_values_supported"] = json!(["AAL3_ANY", "AAL2_OR_AAL3_ANY"]),
        Provider::NhsLogin => {
            document["vtr_values_supported"] = json!(VECTORS);
            document["vtm"] = json!(format!("{iss}/trustmark"));
        }
    }
    answer(StatusCode::OK, document, at)
}

/// NHS login's vectors of trust this sandbox answers: P9 and P5, each with its credentials.
pub(crate) const VECTORS: &[&str] = &["P9.Cp.Cd", "P9.Cp.Ck", "P9.Cm", "P5.Cp.Cd", "P5.Cp.Ck", "P5.Cm"];

/// Makes the keys now (a moment's work): called off the request path when a sandbox starts.
pub fn warm_up() {
    let _ = encoding_key();
}

/// The current key as the ID tokens are signed with it, made once.
pub(crate) fn encoding_key() -> Option<&'static jsonwebtoken::EncodingKey> {
    static KEY: OnceLock<Option<jsonwebtoken::EncodingKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        private_pem(&keys().0).and_then(|pem| jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).ok())
    })
    .as_ref()
}

/// The sandbox's two signing keys (current, next), made once per process on first use.
fn keys() -> &'static (RsaPrivateKey, RsaPrivateKey) {
    static KEYS: OnceLock<(RsaPrivateKey, RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let mut make = || RsaPrivateKey::new(&mut rng, 2048).unwrap_or_else(|e| panic!("RSA key generation: {e}"));
        (make(), make())
    })
}

fn private_pem(key: &RsaPrivateKey) -> Option<String> {
    key.to_pkcs8_pem(LineEnding::LF).ok().map(|p| p.to_string())
}

/// A self-signed certificate for `key`, valid until `expires` (to the second), as `x5c` carries it
/// (base64 DER). Signing one costs a few milliseconds, so each (key, expiry minute) is made once; the
/// cache holds a handful.
fn certificate(
    provider: Provider,
    next: bool,
    key: &RsaPrivateKey,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Option<String> {
    static MADE: std::sync::Mutex<Vec<((String, i64), String)>> = std::sync::Mutex::new(Vec::new());
    let id = (provider.kid(next), expires.timestamp() / 60);
    if let Some((_, cert)) = lock(&MADE).iter().find(|(k, _)| *k == id) {
        return Some(cert.clone());
    }
    let pair = rcgen::KeyPair::from_pem_and_sign_algo(&private_pem(key)?, &rcgen::PKCS_RSA_SHA256).ok()?;
    let mut params =
        rcgen::CertificateParams::new(vec![format!("{}.sandbox.pathwatch.invalid", &provider.base()[1..])]).ok()?;
    let at = |t: DateTime<Utc>| time::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok();
    params.not_before = at(now - Duration::days(1))?;
    params.not_after = at(expires.with_timestamp_secs_floor_minute())?;
    let cert = params.self_signed(&pair).ok().map(|cert| STANDARD.encode(cert.der()))?;
    let mut made = lock(&MADE);
    if made.len() >= 16 {
        made.remove(0);
    }
    made.push((id, cert.clone()));
    Some(cert)
}

trait FloorMinute {
    fn with_timestamp_secs_floor_minute(self) -> Self;
}

impl FloorMinute for DateTime<Utc> {
    /// To the minute, so the cached certificate is the one a fresh one would be.
    fn with_timestamp_secs_floor_minute(self) -> Self {
        DateTime::from_timestamp(self.timestamp() / 60 * 60, 0).unwrap_or(self)
    }
}

fn jwk(provider: Provider, key: &RsaPrivateKey, next: bool, x5c: Option<String>) -> Value {
    let public = key.to_public_key();
    let mut jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": provider.alg_name(),
        "kid": provider.kid(next),
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    if let Some(cert) = x5c {
        jwk["x5c"] = json!([cert]);
    }
    jwk
}

async fn jwks(
    Extension(provider): Extension<Provider>,
    _headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
) -> Response {
    let faults = active(faults);
    let at = now(&faults);
    let (current, next) = keys();
    let days = faults.key_expires_in_days.map_or(365, i64::from);
    let mut published = Vec::new();
    if !faults.keys_rotated {
        published.push(jwk(
            provider,
            current,
            false,
            certificate(provider, false, current, at, at + Duration::days(days)),
        ));
    }
    // A key about to expire with no successor published yet: what `key_expires_in_days` stages.
    if faults.key_expires_in_days.is_none() {
        published.push(jwk(provider, next, true, certificate(provider, true, next, at, at + Duration::days(730))));
    }
    answer(StatusCode::OK, json!({"keys": published}), at)
}
