//! The mock identity services' sign-in (`identity.rs` has discovery and keys): `/authorize` signs the
//! test user straight in and redirects with a code, `/token` (or CIS2's `/access_token`) exchanges it
//! with PKCE for an ID token, `/userinfo` answers for the access token. Codes and tokens live in a
//! bounded [`IdentityBook`].

use std::collections::{BTreeMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::faults::ActiveFaults;
use crate::form;
use crate::identity::{active, answer, encoding_key, issuer, now, oauth_error, Provider, VECTORS};
use crate::state::{lock, SandboxState};

/// Most codes and access tokens held at once (the oldest go first); codes live a minute, tokens an hour.
const MAX_GRANTS: usize = 10_000;
const CODE_LIFETIME_S: i64 = 60;
const TOKEN_LIFETIME_S: i64 = 3600;
/// Longest parameter taken (a redirect URI, a state); the fields a grant keeps are shorter still.
const MAX_PARAM: usize = 2048;
const MAX_KEPT: [(&str, usize); 5] =
    [("client_id", 128), ("login_hint", 64), ("scope", 512), ("nonce", 512), ("code_challenge", 128)];

/// A test user: who signs in.
struct User {
    sub: &'static str,
    given: &'static str,
    family: &'static str,
}

fn user(provider: Provider, hint: Option<&str>) -> User {
    match (provider, hint) {
        (Provider::Cis2, _) => User { sub: "555254242106", given: "Ada", family: "Okafor" },
        (Provider::NhsLogin, Some("9000000017")) => {
            User { sub: "nhslogin-9000000017", given: "Jayne", family: "Smyth" }
        }
        (Provider::NhsLogin, _) => User { sub: "nhslogin-9000000009", given: "Jane", family: "Smith" },
    }
}

/// A code waiting to be exchanged, or an access token for userinfo.
#[derive(Debug, Clone)]
struct Grant {
    provider: Provider,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    scope: String,
    /// NHS login: the vector of trust granted; CIS2: the acr.
    assurance: String,
    hint: Option<String>,
    expires: DateTime<Utc>,
}

/// Codes and access tokens, bounded.
#[derive(Debug, Default)]
pub struct IdentityBook {
    codes: BTreeMap<String, Grant>,
    tokens: BTreeMap<String, Grant>,
    order: VecDeque<(bool, String)>,
}

impl IdentityBook {
    fn put(&mut self, is_code: bool, key: String, grant: Grant) {
        let now = Utc::now();
        self.codes.retain(|_, g| g.expires > now);
        self.tokens.retain(|_, g| g.expires > now);
        let store = if is_code { &mut self.codes } else { &mut self.tokens };
        store.insert(key.clone(), grant);
        self.order.push_back((is_code, key));
        while self.codes.len() + self.tokens.len() > MAX_GRANTS || self.order.len() > 2 * MAX_GRANTS {
            let Some((was_code, oldest)) = self.order.pop_front() else { break };
            if was_code {
                self.codes.remove(&oldest);
            } else {
                self.tokens.remove(&oldest);
            }
        }
    }
}

/// Where this sandbox will send a browser: loopback, or a domain reserved for tests (RFC 2606,
/// RFC 6761), never a real site (it registers no clients, so it cannot know theirs).
fn rehearsal_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || [".invalid", ".example", ".test", ".localhost"].iter().any(|tld| name.ends_with(tld))
                || ["invalid", "example", "test"].contains(&name.as_str())
        }
        None => false,
    }
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(uri) {
        Ok(url) => url,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = url.as_str().parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

pub(crate) async fn authorize(
    Extension(provider): Extension<Provider>,
    State(state): State<SandboxState>,
    faults: Option<Extension<ActiveFaults>>,
    RawQuery(query): RawQuery,
) -> Response {
    let at = now(&active(faults));
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    let param = |key: &str| form::first(&pairs, key).filter(|v| !v.is_empty());
    let too_long = |(key, value): &&(String, String)| {
        let most = MAX_KEPT.iter().find(|(k, _)| k == key).map_or(MAX_PARAM, |(_, n)| *n);
        value.len() > most
    };
    if let Some((key, _)) = pairs.iter().find(too_long) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &format!("{key} is too long"), at);
    }
    // Without a usable client and redirect URI there is nowhere to send an error: answer it here.
    let Some(client_id) = param("client_id") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "client_id is required", at);
    };
    // Kept as sent: the token request must repeat it identically (RFC 6749 §4.1.3).
    let redirect_uri = match param("redirect_uri").map(|raw| (raw, url::Url::parse(raw))) {
        Some((raw, Ok(url))) if matches!(url.scheme(), "https" | "http") && url.fragment().is_none() => {
            if !rehearsal_host(&url) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "clients are not registered here, so this sandbox redirects only to a loopback address or a reserved test domain (.invalid, .example, .test, .localhost)",
                    at,
                );
            }
            raw.to_owned()
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri must be an absolute http(s) URL without a fragment",
                at,
            )
        }
    };
    let state_param = param("state").unwrap_or_default().to_owned();
    let refuse = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if !state_param.is_empty() {
            pairs.push(("state", state_param.as_str()));
        }
        redirect_with(&redirect_uri, &pairs)
    };
    if param("response_type") != Some("code") {
        return refuse("unsupported_response_type", "response_type must be code");
    }
    let scope = param("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return refuse("invalid_scope", "scope must include openid");
    }
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (Some(c), Some("S256"))
            if (43..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
        {
            c.to_owned()
        }
        (Some(_), Some("S256")) => {
            return refuse("invalid_request", "code_challenge must be 43 to 128 base64url characters")
        }
        _ => return refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method S256"),
    };
    let nonce = param("nonce").map(str::to_owned);
    if provider == Provider::NhsLogin && nonce.is_none() {
        return refuse("invalid_request", "nonce is required");
    }
    let assurance = match provider {
        Provider::Cis2 => {
            let acr = param("acr_values").unwrap_or("AAL3_ANY");
            if !["AAL3_ANY", "AAL2_OR_AAL3_ANY"].contains(&acr) {
                return refuse("invalid_request", "acr_values must be AAL3_ANY or AAL2_OR_AAL3_ANY");
            }
            acr.to_owned()
        }
        Provider::NhsLogin => {
            let asked: Vec<String> = match param("vtr") {
                None => vec!["P9.Cp.Cd".into(), "P9.Cp.Ck".into(), "P9.Cm".into()],
                Some(text) => match serde_json::from_str::<Vec<String>>(text) {
                    Ok(list) if !list.is_empty() && list.len() <= VECTORS.len() => list,
                    _ => return refuse("invalid_request", "vtr must be a JSON array of vectors of trust"),
                },
            };
            if let Some(unknown) = asked.iter().find(|v| !VECTORS.contains(&v.as_str())) {
                return refuse("invalid_request", &format!("vector of trust {unknown} is not supported"));
            }
            // The strongest asked for: the test user is proved to P9.
            let best = asked.iter().find(|v| v.starts_with("P9")).or(asked.first()).cloned().unwrap_or_default();
            best
        }
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    let grant = Grant {
        provider,
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.clone(),
        challenge,
        nonce,
        scope: scope.to_owned(),
        assurance,
        hint: param("login_hint").map(str::to_owned),
        expires: Utc::now() + Duration::seconds(CODE_LIFETIME_S),
    };
    lock(state.identity()).put(true, code.clone(), grant);
    let mut pairs = vec![("code", code.as_str())];
    if !state_param.is_empty() {
        pairs.push(("state", state_param.as_str()));
    }
    redirect_with(&redirect_uri, &pairs)
}

/// A client assertion's claims (not verified: clients are not registered here).
fn assertion_claims(assertion: &str) -> Option<Value> {
    let part = assertion.split('.').nth(1)?;
    serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(part).ok()?).ok().filter(Value::is_object)
}

/// `Authorization: Basic` as (client id, secret), decoded as RFC 6749 §2.3.1 says.
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes()).next()?.1.into_owned();
    (!id.is_empty() && id.len() <= 128 && !secret.is_empty()).then(|| (id, secret.to_owned()))
}

/// The client's authentication at the token endpoint, checked for its shape: a secret, or a
/// `private_key_jwt` assertion (a JWT naming the client as issuer and subject). NHS login takes
/// `private_key_jwt` only.
fn client_authenticated(
    provider: Provider,
    pairs: &[(String, String)],
    basic: bool,
    client_id: &str,
) -> Result<(), &'static str> {
    let secret = form::first(pairs, "client_secret").is_some_and(|s| !s.is_empty()) || basic;
    match (provider, secret) {
        (Provider::Cis2, true) => return Ok(()),
        (Provider::NhsLogin, true) => return Err("NHS login clients authenticate with private_key_jwt only"),
        _ => {}
    }
    match (form::first(pairs, "client_assertion_type"), form::first(pairs, "client_assertion")) {
        (Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), Some(assertion)) => {
            let claims = assertion_claims(assertion).ok_or("client_assertion is not a JWT")?;
            if claims["iss"] != client_id || claims["sub"] != client_id {
                return Err("client_assertion must name the client as iss and sub");
            }
            Ok(())
        }
        _ => Err("the client must authenticate: client_secret, or a private_key_jwt client_assertion"),
    }
}

pub(crate) async fn token(
    Extension(provider): Extension<Provider>,
    State(state): State<SandboxState>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let faults = active(faults);
    let at = now(&faults);
    let pairs = form::parse_pairs(&String::from_utf8_lossy(&body));
    let bad = |error: &str, description: &str| oauth_error(StatusCode::BAD_REQUEST, error, description, at);
    if form::first(&pairs, "grant_type") != Some("authorization_code") {
        return bad("unsupported_grant_type", "grant_type must be authorization_code");
    }
    // The client names itself in the body, in HTTP Basic (client_secret_basic), or as its assertion's
    // issuer (private_key_jwt).
    let basic = basic_client(&headers);
    let asserted = form::first(&pairs, "client_assertion").and_then(assertion_claims);
    let client_id = form::first(&pairs, "client_id")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .or_else(|| asserted.as_ref().and_then(|c| c["iss"].as_str().map(str::to_owned)));
    let Some(client_id) = client_id else {
        let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "the client is not named", at);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic"));
        return response;
    };
    let client_id = client_id.as_str();
    if let Err(why) = client_authenticated(provider, &pairs, basic.is_some(), client_id) {
        let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why, at);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic"));
        return response;
    }
    let code = form::first(&pairs, "code").unwrap_or_default();
    // A code is used once, whatever happens next.
    let grant = lock(state.identity()).codes.remove(code);
    let Some(grant) = grant.filter(|g| g.provider == provider && g.expires > Utc::now()) else {
        return bad("invalid_grant", "the code is unknown, used or expired");
    };
    if grant.client_id != client_id || form::first(&pairs, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return bad("invalid_grant", "the code was issued to another client or redirect_uri");
    }
    let verifier = form::first(&pairs, "code_verifier").unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return bad("invalid_grant", "code_verifier does not match the code_challenge");
    }
    let iss = issuer(provider, &headers);
    let who = user(provider, grant.hint.as_deref());
    let mut claims = json!({
        "iss": iss,
        "sub": who.sub,
        "aud": client_id,
        "iat": at.timestamp(),
        "auth_time": at.timestamp(),
        "exp": (at + Duration::seconds(TOKEN_LIFETIME_S)).timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    let extra = profile(provider, &who, &grant, &iss);
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    let mut header = jsonwebtoken::Header::new(provider.alg());
    header.kid = Some(provider.kid(false));
    let Some(signed) = encoding_key().and_then(|key| jsonwebtoken::encode(&header, &claims, key).ok()) else {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the ID token could not be signed", at);
    };
    let access = uuid::Uuid::new_v4().simple().to_string();
    let scope = grant.scope.clone();
    let mut kept = grant;
    kept.expires = Utc::now() + Duration::seconds(TOKEN_LIFETIME_S);
    lock(state.identity()).put(false, access.clone(), kept);
    answer(
        StatusCode::OK,
        json!({"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S, "id_token": signed, "scope": scope}),
        at,
    )
}

/// The provider's own claims for the user: CIS2's RBAC and assurance, NHS login's vectors of trust.
fn profile(provider: Provider, who: &User, grant: &Grant, iss: &str) -> Value {
    match provider {
        Provider::Cis2 => {
            let mut claims = json!({
                "acr": grant.assurance,
                "amr": ["SCAL"],
                "id_assurance_level": "3",
                "authentication_assurance_level": "3",
                "nhsid_useruid": who.sub,
                "name": format!("{} {}", who.given, who.family),
                "given_name": who.given,
                "family_name": who.family,
            });
            if grant.scope.split(' ').any(|s| s == "nationalrbacaccess") {
                claims["nhsid_nrbac_roles"] = json!([{
                    "person_orgid": "555254243107",
                    "person_roleid": "555254244108",
                    "org_code": "A11111",
                    "role_name": "\"Clinical\":\"Clinical Provision\":\"General Medical Practitioner\"",
                    "role_code": "S0010:G0020:R0260",
                    "activities": ["Receive Self Claimed LR Alerts", "Amend Patient Demographics"],
                    "activity_codes": ["B0068", "B0825"],
                }]);
                claims["selected_roleid"] = json!("555254244108");
            }
            claims
        }
        Provider::NhsLogin => {
            let p9 = grant.assurance.starts_with("P9");
            let mut claims = json!({
                "vot": grant.assurance,
                "vtm": format!("{iss}/trustmark"),
                "identity_proofing_level": if p9 { "P9" } else { "P5" },
                "given_name": who.given,
                "family_name": who.family,
            });
            if p9 {
                claims["nhs_number"] = json!(who.sub.trim_start_matches("nhslogin-"));
            }
            claims
        }
    }
}

pub(crate) async fn userinfo(
    Extension(provider): Extension<Provider>,
    State(state): State<SandboxState>,
    headers: HeaderMap,
) -> Response {
    let at = Utc::now();
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let grant = token.and_then(|t| lock(state.identity()).tokens.get(t).cloned());
    let Some(grant) = grant.filter(|g| g.provider == provider && g.expires > at) else {
        let mut response =
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is unknown or expired", at);
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        return response;
    };
    let who = user(provider, grant.hint.as_deref());
    let mut body = profile(provider, &who, &grant, &issuer(provider, &headers));
    body["sub"] = json!(who.sub);
    answer(StatusCode::OK, body, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_stays_bounded() {
        let mut book = IdentityBook::default();
        let grant = Grant {
            provider: Provider::Cis2,
            client_id: "c".into(),
            redirect_uri: "https://x.example/cb".into(),
            challenge: "x".into(),
            nonce: None,
            scope: "openid".into(),
            assurance: "AAL3_ANY".into(),
            hint: None,
            expires: Utc::now(),
        };
        for i in 0..MAX_GRANTS + 10 {
            book.put(i % 2 == 0, i.to_string(), grant.clone());
            if i % 3 == 0 {
                book.codes.remove(&i.to_string());
            }
        }
        assert!(book.codes.len() + book.tokens.len() <= MAX_GRANTS);
        assert!(book.order.len() <= 2 * MAX_GRANTS);
    }
}
