//! `POST /oauth2/token`: the APIM application-restricted token endpoint (signed JWT client assertion,
//! RS512), and the bearer-token check PDS and NRL use. Error bodies and statuses follow APIM's
//! `{"error","error_description"}` table; tokens live 599 seconds, as APIM's do.
//!
//! This module never accepts an unsigned or HMAC-signed assertion, and never issues a token for an
//! application that is not in the configuration.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::Rng;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha512;
use rsa::signature::Verifier;
use serde_json::{json, Value};

use crate::clock::now_s;
use crate::config::ClientKey;
use crate::form;
use crate::state::SandboxState;

/// Lifetime of an access token, in seconds (APIM's `expires_in`).
pub const TOKEN_LIFETIME_S: u64 = 599;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Configured applications with their parsed verifying keys (a key that does not parse verifies nothing).
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<(ClientKey, Option<VerifyingKey<Sha512>>)>,
}

impl KeyRing {
    pub fn new(keys: &[ClientKey]) -> Self {
        let keys = keys
            .iter()
            .map(|k| {
                let verifying = rsa::RsaPublicKey::from_public_key_pem(&k.public_key_pem).ok().map(VerifyingKey::new);
                (k.clone(), verifying)
            })
            .collect();
        KeyRing { keys }
    }

    fn knows_api_key(&self, api_key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k.api_key == api_key)
    }

    fn key(&self, api_key: &str, kid: &str) -> Option<&VerifyingKey<Sha512>> {
        self.keys.iter().find(|(k, _)| k.api_key == api_key && k.kid == kid).and_then(|(_, v)| v.as_ref())
    }
}

/// Issued access tokens (expiry, unix seconds) and the `jti`s already used (with their `exp`).
#[derive(Debug, Default)]
pub struct TokenBook {
    tokens: HashMap<String, u64>,
    used_jtis: HashSet<String>,
}

impl TokenBook {
    /// Expires every issued token now (admin hook to exercise clients' token-expiry handling).
    pub fn expire_all(&mut self) {
        self.tokens.values_mut().for_each(|expiry| *expiry = 0);
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerProblem {
    Missing,
    Invalid,
    Expired,
}

impl BearerProblem {
    pub fn diagnostics(self) -> &'static str {
        match self {
            BearerProblem::Missing => "Missing Authorization header",
            BearerProblem::Invalid => "Invalid Access Token",
            BearerProblem::Expired => "Access Token expired",
        }
    }
}

/// Checks `Authorization: Bearer <token>` against issued tokens (skipped when `require_auth` is off).
pub fn check_bearer(state: &SandboxState, headers: &HeaderMap) -> Result<(), BearerProblem> {
    if !state.config().require_auth {
        return Ok(());
    }
    let value = headers.get(header::AUTHORIZATION).ok_or(BearerProblem::Missing)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(BearerProblem::Invalid)?;
    match state.tokens().tokens.get(token) {
        None => Err(BearerProblem::Invalid),
        Some(expiry) if *expiry <= now_s() => Err(BearerProblem::Expired),
        Some(_) => Ok(()),
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

fn unauthorised(description: impl Into<String>) -> TokenError {
    TokenError { status: StatusCode::UNAUTHORIZED, error: "invalid_request", description: description.into() }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.error, "error_description": self.description}))).into_response()
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
    let pairs = form::parse_pairs(&String::from_utf8_lossy(body));
    match form::first(&pairs, "grant_type") {
        None | Some("") => return Err(bad("invalid_request", "grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => return Err(bad("unsupported_grant_type", "grant_type is invalid")),
    }
    if form::first(&pairs, "client_assertion_type") != Some(JWT_BEARER) {
        return Err(bad(
            "invalid_request",
            format!("Missing or invalid client_assertion_type - must be '{JWT_BEARER}'"),
        ));
    }
    let assertion = form::first(&pairs, "client_assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("invalid_request", "Missing client_assertion"))?;
    let claims = verify_assertion(state, headers, assertion)?;
    let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
    let mut book = state.tokens();
    if !book.used_jtis.insert(jti) {
        return Err(bad("invalid_request", "Non-unique 'jti' claim in client_assertion JWT"));
    }
    let now = now_s();
    book.tokens.retain(|_, expiry| *expiry > now);
    let token: String = rand::rng().sample_iter(&Alphanumeric).take(28).map(char::from).collect();
    book.tokens.insert(token.clone(), now + TOKEN_LIFETIME_S);
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

/// Verifies header, signature and claims; returns the claims.
fn verify_assertion(state: &SandboxState, headers: &HeaderMap, assertion: &str) -> Result<Value, TokenError> {
    let malformed = || bad("invalid_request", "Malformed JWT in client_assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else { return Err(malformed()) };
    let jwt_header = decode_part(header_b64).filter(Value::is_object).ok_or_else(malformed)?;
    let claims = decode_part(claims_b64).filter(Value::is_object).ok_or_else(malformed)?;

    let kid = jwt_header["kid"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad("invalid_request", "Missing 'kid' header in client_assertion JWT"))?;
    if jwt_header["alg"] != "RS512" {
        return Err(bad(
            "invalid_request",
            "Invalid 'alg' header in client_assertion JWT - unsupported JWT algorithm - must be 'RS512'",
        ));
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    if iss.is_empty() || claims["sub"].as_str() != Some(iss) {
        return Err(unauthorised("Missing or non-matching 'iss'/'sub' claims in client_assertion JWT"));
    }
    if !state.keys().knows_api_key(iss) {
        return Err(unauthorised("Invalid 'iss'/'sub' claims in client_assertion JWT"));
    }
    let key = state
        .keys()
        .key(iss, kid)
        .ok_or_else(|| unauthorised("Invalid 'kid' header in client_assertion JWT - no matching public key"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| unauthorised("Unable to verify JWT signature"))?;
    key.verify(format!("{header_b64}.{claims_b64}").as_bytes(), &signature)
        .map_err(|_| unauthorised("Unable to verify JWT signature"))?;

    match &claims["jti"] {
        Value::Null => return Err(bad("invalid_request", "Missing 'jti' claim in client_assertion JWT")),
        Value::String(s) if !s.is_empty() => {}
        _ => {
            return Err(bad(
                "invalid_request",
                "Invalid 'jti' claim in client_assertion JWT - must be a unique string value such as a GUID",
            ))
        }
    }
    let exp = match &claims["exp"] {
        Value::Null => return Err(bad("invalid_request", "Missing 'exp' claim in client_assertion JWT")),
        v => v.as_u64().ok_or_else(|| {
            bad("invalid_request", "Invalid 'exp' claim in client_assertion JWT - must be an integer")
        })?,
    };
    let now = now_s();
    if exp > now + 300 {
        return Err(bad(
            "invalid_request",
            "Invalid 'exp' claim in client_assertion JWT - more than 5 minutes in future",
        ));
    }
    if exp <= now {
        return Err(bad("invalid_request", "Invalid 'exp' claim in client_assertion JWT - JWT has expired"));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let aud = claims["aud"].as_str().unwrap_or_default();
    let expected = [format!("http://{host}/oauth2/token"), format!("https://{host}/oauth2/token")];
    if host.is_empty() || !expected.iter().any(|e| e == aud) {
        return Err(unauthorised("Missing or invalid 'aud' claim in client_assertion JWT"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

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
