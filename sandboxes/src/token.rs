//! `POST /oauth2/token`: the APIM application-restricted token endpoint (signed JWT client assertion,
//! RS512), and the bearer-token check PDS and NRL use. Checks, their order, statuses and messages follow
//! NHS England's APIM OAuth proxy (identity-service-api: `proxies/live/apiproxy`, the
//! `validate-client-assertion-claims.js` script and its error policies); tokens live 599 seconds.
//!
//! This module never accepts an unsigned or HMAC-signed assertion, and never issues a token for an
//! application that is not in the configuration.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use crate::clock::now_s;
use crate::config::ClientKey;
use crate::form;
use crate::state::SandboxState;

/// Lifetime of an access token, in seconds (APIM's `expires_in`).
pub const TOKEN_LIFETIME_S: u64 = 599;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// APIM allows `exp` up to 5 minutes ahead plus 10 seconds for edge cases.
const MAX_EXP_AHEAD_S: f64 = 310.0;

/// Configured applications with their parsed verifying keys (a key that does not parse verifies nothing).
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<(ClientKey, Option<DecodingKey>)>,
}

impl KeyRing {
    pub fn new(keys: &[ClientKey]) -> Self {
        let keys = keys
            .iter()
            .map(|k| {
                let verifying = DecodingKey::from_rsa_pem(k.public_key_pem.as_bytes()).ok();
                (k.clone(), verifying)
            })
            .collect();
        KeyRing { keys }
    }

    fn knows_api_key(&self, api_key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k.api_key == api_key)
    }

    fn key(&self, api_key: &str, kid: &str) -> Option<&DecodingKey> {
        self.keys.iter().find(|(k, _)| k.api_key == api_key && k.kid == kid).and_then(|(_, v)| v.as_ref())
    }
}

/// Issued access tokens (expiry, unix seconds, and the application they were issued to) and the `jti`s already
/// used (with their `exp`). Both are
/// pruned as they expire, so a long-running sandbox holds at most about ten minutes' worth: a spent `jti`
/// only matters until its assertion's `exp`, after which the assertion is refused as expired anyway.
#[derive(Debug, Default)]
pub struct TokenBook {
    tokens: HashMap<String, IssuedToken>,
    used_jtis: HashMap<String, u64>,
}

/// One access token: when it expires (unix seconds) and the API key of the application that holds it, which
/// per-application limits are counted against.
#[derive(Debug, Clone)]
struct IssuedToken {
    expiry: u64,
    api_key: String,
}

impl TokenBook {
    /// Forgets tokens and spent `jti`s that have expired by `now` (unix seconds).
    pub(crate) fn prune(&mut self, now: u64) {
        self.tokens.retain(|_, issued| issued.expiry > now);
        self.used_jtis.retain(|_, exp| *exp >= now);
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.tokens.len(), self.used_jtis.len())
    }

    /// Expires every issued token now (admin hook to exercise clients' token-expiry handling).
    pub fn expire_all(&mut self) {
        self.tokens.values_mut().for_each(|issued| issued.expiry = 0);
    }
}

/// Why a bearer token was refused, with the diagnostics APIM writes for it (PDS proxy's
/// `UpdateInvalidAccessTokenFaultString.js` plus Apigee's own fault strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerProblem {
    Missing,
    Empty,
    NoToken,
    WrongScheme(String),
    Invalid,
    Expired,
}

impl BearerProblem {
    pub fn diagnostics(&self) -> String {
        match self {
            BearerProblem::Missing => "Missing Authorization header".to_owned(),
            BearerProblem::Empty => "Empty Authorization header".to_owned(),
            BearerProblem::NoToken => "Missing access token".to_owned(),
            BearerProblem::WrongScheme(scheme) => format!("Invalid token type '{scheme}', must be 'Bearer'"),
            BearerProblem::Invalid => "Invalid access token".to_owned(),
            BearerProblem::Expired => "Access Token expired".to_owned(),
        }
    }
}

/// Checks `Authorization: Bearer <token>` against issued tokens.
pub fn check_bearer(state: &SandboxState, headers: &HeaderMap) -> Result<(), BearerProblem> {
    bearer_application(state, headers).map(|_| ())
}

/// [`check_bearer`], answering the API key of the application the token was issued to. The caller
/// asks only while its API requires a token (`SandboxConfig::require_auth`).
pub(crate) fn bearer_application(state: &SandboxState, headers: &HeaderMap) -> Result<Option<String>, BearerProblem> {
    let value = headers.get(header::AUTHORIZATION).ok_or(BearerProblem::Missing)?;
    let value = value.to_str().map_err(|_| BearerProblem::Invalid)?;
    if value.is_empty() {
        return Err(BearerProblem::Empty);
    }
    let words: Vec<&str> = value.split(' ').collect();
    let token = match words.as_slice() {
        [_] => return Err(BearerProblem::NoToken),
        [scheme, ..] if *scheme != "Bearer" => return Err(BearerProblem::WrongScheme((*scheme).to_owned())),
        [_, token, ..] => *token,
        [] => return Err(BearerProblem::Invalid),
    };
    match state.tokens().tokens.get(token) {
        None => Err(BearerProblem::Invalid),
        Some(issued) if issued.expiry <= now_s() => Err(BearerProblem::Expired),
        Some(issued) => Ok(Some(issued.api_key.clone())),
    }
}

/// An APIM OAuth error: status, `error` and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn bad(error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError { status: StatusCode::BAD_REQUEST, error, description: description.into() }
}

fn invalid(description: impl Into<String>) -> TokenError {
    bad("invalid_request", description)
}

fn unauthorised(error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError { status: StatusCode::UNAUTHORIZED, error, description: description.into() }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let message_id = uuid::Uuid::new_v4().to_string();
        let body = json!({"error": self.error, "error_description": self.description, "message_id": message_id});
        (self.status, Json(body)).into_response()
    }
}

/// Injected-fault answer in APIM's OAuth error shape.
pub fn fault_response(status: StatusCode) -> Response {
    let (error, description) = match status.as_u16() {
        429 => ("rate_limit_exceeded", "You have exceeded your application's rate limit"),
        408 | 504 => ("timeout", "The request timed out"),
        s if s >= 500 => ("server_error", "The token service is unavailable"),
        _ => ("invalid_request", "Injected fault"),
    };
    TokenError { status, error, description: description.to_owned() }.into_response()
}

/// `POST /oauth2/token`.
pub async fn issue(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    match issue_token(&state, &headers, &body) {
        Ok(reply) => (StatusCode::OK, Json(reply)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn issue_token(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<Value, TokenError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/x-www-form-urlencoded") {
        return Err(TokenError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "invalid_request",
            description: "Content-Type header must be application/x-www-form-urlencoded".to_owned(),
        });
    }
    let pairs = form::parse_pairs(&String::from_utf8_lossy(body));
    match form::first(&pairs, "grant_type") {
        None | Some("") => return Err(invalid("grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => return Err(bad("unsupported_grant_type", "grant_type is invalid")),
    }
    if form::first(&pairs, "client_assertion_type") != Some(JWT_BEARER) {
        return Err(invalid(format!("Missing or invalid client_assertion_type - must be '{JWT_BEARER}'")));
    }
    let assertion = form::first(&pairs, "client_assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("Missing client_assertion"))?;
    let api_key = verify_assertion(state, headers, assertion)?;
    let now = now_s();
    let mut book = state.tokens();
    book.prune(now);
    // Letters and digits, with at least one of each, as APIM's are (and as the hosted PDS
    // sandbox's token check expects).
    let token: String = loop {
        let token: String = rand::rng().sample_iter(&Alphanumeric).take(28).map(char::from).collect();
        if token.bytes().any(|b| b.is_ascii_digit()) && token.bytes().any(|b| b.is_ascii_alphabetic()) {
            break token;
        }
    };
    book.tokens.insert(token.clone(), IssuedToken { expiry: now + TOKEN_LIFETIME_S, api_key });
    Ok(json!({
        "access_token": token,
        "expires_in": TOKEN_LIFETIME_S.to_string(),
        "token_type": "Bearer",
        "issued_at": (now * 1000).to_string(),
    }))
}

fn decode_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Verifies the client assertion in APIM's order: decode; header and claim checks (all 400, the `jti` is
/// spent once they pass); API key (401); then key, signature and audience (401). Answers the verified
/// application's API key (`iss`).
fn verify_assertion(state: &SandboxState, headers: &HeaderMap, assertion: &str) -> Result<String, TokenError> {
    let malformed = || invalid("Malformed JWT in client_assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else { return Err(malformed()) };
    let jwt_header = decode_part(header_b64).filter(Value::is_object).ok_or_else(malformed)?;
    let claims = decode_part(claims_b64).filter(Value::is_object).ok_or_else(malformed)?;
    check_claims(state, &jwt_header, &claims)?;

    let iss = claims["iss"].as_str().unwrap_or_default();
    if !state.keys().knows_api_key(iss) {
        return Err(unauthorised("invalid_request", "Invalid 'iss'/'sub' claims in client_assertion JWT"));
    }
    let kid = jwt_header["kid"].as_str().unwrap_or_default();
    let key = state.keys().key(iss, kid).ok_or_else(|| {
        unauthorised("invalid_request", "Invalid 'kid' header in client_assertion JWT - no matching public key")
    })?;
    let bad_signature = || unauthorised("public_key error", "JWT signature verification failed");
    let signed = format!("{header_b64}.{claims_b64}");
    // RS512 whatever the header says: `check_claims` has refused any other `alg` already.
    if !jsonwebtoken::crypto::verify(signature_b64, signed.as_bytes(), key, Algorithm::RS512).unwrap_or(false) {
        return Err(bad_signature());
    }

    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let aud = claims["aud"].as_str().unwrap_or_default();
    let expected = [format!("http://{host}/oauth2/token"), format!("https://{host}/oauth2/token")];
    if host.is_empty() || !expected.iter().any(|e| e == aud) {
        return Err(unauthorised("invalid_request", "Missing or invalid 'aud' claim in client_assertion JWT"));
    }
    Ok(iss.to_owned())
}

/// APIM's `validate-client-assertion-claims.js`, in its order; spends the `jti` when everything passes.
fn check_claims(state: &SandboxState, jwt_header: &Value, claims: &Value) -> Result<(), TokenError> {
    const CLAIM_PREFIX: &str = "client_assertion JWT";
    let now = now_s() as f64;
    let exp = claims["exp"].as_f64();
    let iss = claims["iss"].as_str().filter(|s| !s.is_empty());
    let jti = &claims["jti"];
    let jti_missing = match jti {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    };
    let mut book = state.tokens();
    let replayed = jti.as_str().is_some_and(|j| book.used_jtis.contains_key(j));
    let typ_ok = jwt_header["typ"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("jwt"));
    let failure = if jwt_header["alg"] != "RS512" {
        Some(format!("Invalid 'alg' header in {CLAIM_PREFIX} - unsupported JWT algorithm - must be 'RS512'"))
    } else if exp.is_some_and(|e| e < now) {
        Some(format!("Invalid 'exp' claim in {CLAIM_PREFIX} - JWT has expired"))
    } else if jwt_header["kid"].as_str().is_none_or(str::is_empty) {
        Some(format!("Missing 'kid' header in {CLAIM_PREFIX}"))
    } else if !typ_ok {
        Some(format!("Invalid 'typ' header in {CLAIM_PREFIX} - must be 'JWT'"))
    } else if claims["exp"].is_null() {
        Some(format!("Missing 'exp' claim in {CLAIM_PREFIX}"))
    } else if exp.is_none() {
        Some(format!("Invalid 'exp' claim in {CLAIM_PREFIX} - must be an integer"))
    } else if iss.is_none() || claims["sub"].as_str() != iss {
        Some(format!("Missing or non-matching 'iss'/'sub' claims in {CLAIM_PREFIX}"))
    } else if jti_missing {
        Some(format!("Missing 'jti' claim in {CLAIM_PREFIX}"))
    } else if !jti.is_string() {
        Some(format!("Invalid 'jti' claim in {CLAIM_PREFIX} - must be a unique string value such as a GUID"))
    } else if replayed {
        Some(format!("Non-unique 'jti' claim in {CLAIM_PREFIX}"))
    } else if exp.is_some_and(|e| e - now > MAX_EXP_AHEAD_S) {
        Some(format!("Invalid 'exp' claim in {CLAIM_PREFIX} - more than 5 minutes in future"))
    } else {
        None
    };
    if let Some(description) = failure {
        return Err(invalid(description));
    }
    if let (Some(jti), Some(exp)) = (jti.as_str(), exp) {
        // `exp` passed the checks above, so it is at most a few minutes ahead: the entry is short-lived.
        book.used_jtis.insert(jti.to_owned(), exp.ceil() as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_jtis_and_tokens_are_forgotten_once_expired() {
        let mut book = TokenBook::default();
        let issued = |expiry| IssuedToken { expiry, api_key: "app".into() };
        book.tokens.insert("old".into(), issued(100));
        book.tokens.insert("live".into(), issued(1_000));
        book.used_jtis.insert("old-jti".into(), 100);
        book.used_jtis.insert("live-jti".into(), 1_000);
        book.prune(500);
        assert_eq!(book.sizes(), (1, 1));
        assert!(book.used_jtis.contains_key("live-jti") && book.tokens.contains_key("live"));
    }

    #[test]
    fn malformed_assertions_are_400_not_panics() {
        let state = SandboxState::new(crate::SandboxConfig::default());
        let headers = HeaderMap::new();
        for assertion in ["", "a", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"] {
            let err = verify_assertion(&state, &headers, assertion).unwrap_err();
            assert!(err.status.is_client_error(), "{assertion}: {err:?}");
        }
    }
}
