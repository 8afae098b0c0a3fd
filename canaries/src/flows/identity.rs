//! Identity: can people sign in? For NHS CIS2 (care staff) and NHS login (patients), the checks that
//! work against the real services, which no canary can sign in to without a person:
//!
//! - `discovery`: the OpenID Connect document names this issuer and its endpoints, PKCE with S256;
//! - `jwks`: the key set holds a signing key;
//! - `token_endpoint`: the token endpoint answers a made-up code as OAuth does (400 `invalid_grant` or
//!   the like), so it is up and speaking OAuth;
//! - `clock_skew`: the service's clock (its `Date` headers) agrees with ours, within
//!   `max_clock_skew_s`, so the ID tokens it issues are not refused as not yet valid or expired;
//! - `signing_key`: no signing key's certificate (`x5c`) expires within `min_key_days`: a key about to
//!   rotate out.
//!
//! With `sign_in` (only against a service that signs a test user in without a login page: our
//! sandboxes, a test identity provider), `sign_in` then runs the authorization code flow with PKCE and
//! checks the ID token: signed by a key the JWKS publishes, issuer, audience, nonce and times, and CIS2's
//! role claims or NHS login's vector of trust.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;
use sha2::Digest;

use super::FlowContext;
use crate::environment::IdentityTarget;
use crate::probe::{ensure, Reply, Request, StepError};
use crate::run::RunRecorder;

/// Which identity service a flow checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Cis2,
    NhsLogin,
}

impl Service {
    fn scope(self) -> &'static str {
        match self {
            Service::Cis2 => "openid profile nationalrbacaccess",
            Service::NhsLogin => "openid profile",
        }
    }
}

const STEPS: &[&str] = &["jwks", "token_endpoint", "clock_skew", "signing_key", "sign_in"];

/// What discovery names.
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    algs: Vec<String>,
}

/// How far the service's clock is from ours, from a reply's `Date` (seconds, positive: ahead).
fn skew(reply: &Reply, received: DateTime<Utc>) -> Option<i64> {
    let date = DateTime::parse_from_rfc2822(reply.header("date")?).ok()?;
    Some(date.timestamp() - received.timestamp())
}

fn http_url(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    url::Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https")).map(|_| text.to_owned())
}

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>, service: Service) {
    let target = match service {
        Service::Cis2 => ctx.env.cis2.as_ref(),
        Service::NhsLogin => ctx.env.nhslogin.as_ref(),
    };
    let Some(target) = target else { return };
    let probe = ctx.probe;
    let mut skews: Vec<i64> = Vec::new();

    let mut step = rec.begin("discovery");
    let url = format!("{}/.well-known/openid-configuration", target.issuer);
    let request = Request::new(Method::GET, url, "/.well-known/openid-configuration");
    let result = async {
        let reply = step.send(probe, &request).await?.expect_status(&[200])?;
        skews.extend(skew(&reply, Utc::now()));
        let document = reply.json()?;
        let named = document["issuer"].as_str().unwrap_or_default().trim_end_matches('/');
        ensure(named == target.issuer, || format!("discovery names issuer {named:?}, not {:?}", target.issuer))?;
        let endpoint = |key: &str| {
            http_url(&document[key]).ok_or_else(|| StepError::assertion(format!("discovery has no {key} URL")))
        };
        let algs: Vec<String> = document["id_token_signing_alg_values_supported"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .filter(|a| a != "none")
            .collect();
        ensure(!algs.is_empty(), || "discovery names no ID token signing algorithm".into())?;
        if let Some(methods) = document["code_challenge_methods_supported"].as_array() {
            ensure(methods.iter().any(|m| m == "S256"), || "discovery does not offer PKCE with S256".into())?;
        }
        Ok(Discovery {
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            jwks_uri: endpoint("jwks_uri")?,
            algs,
        })
    }
    .await;
    let Some(discovery) = rec.end(step, result) else {
        STEPS.iter().filter(|s| **s != "sign_in" || target.sign_in).for_each(|s| rec.skip(s, "discovery"));
        return;
    };

    let mut step = rec.begin("jwks");
    let request = Request::new(Method::GET, discovery.jwks_uri.clone(), "/jwks");
    let result = async {
        let reply = step.send(probe, &request).await?.expect_status(&[200])?;
        skews.extend(skew(&reply, Utc::now()));
        let set = reply.json()?;
        let keys: Vec<Value> = set["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["use"].is_null() || k["use"] == "sig")
            .filter(|k| k["kty"] == "RSA" && k["n"].is_string() && k["e"].is_string())
            .cloned()
            .collect();
        ensure(!keys.is_empty(), || "the JWKS holds no RSA signing key".into())?;
        Ok(keys)
    }
    .await;
    let keys = rec.end(step, result);

    let mut step = rec.begin("token_endpoint");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", "pathwatch-canary-probe")
        .append_pair("redirect_uri", &target.redirect_uri)
        .append_pair("client_id", &target.client_id)
        .finish();
    let request = Request::new(Method::POST, discovery.token_endpoint.clone(), "/token")
        .body_bytes("application/x-www-form-urlencoded", Bytes::from(form));
    let result = async {
        let reply = step.send(probe, &request).await?;
        skews.extend(skew(&reply, Utc::now()));
        // A made-up code must be refused, as OAuth refuses it: anything else is not a working endpoint.
        let reply = reply.expect_status(&[400, 401])?;
        let body = reply.json()?;
        ensure(body["error"].is_string(), || format!("HTTP {} without an OAuth error", reply.status))
    }
    .await;
    rec.end(step, result);

    let step = rec.begin("clock_skew");
    let worst = skews.iter().copied().max_by_key(|s| s.abs());
    let result = match worst {
        None => Err(StepError::assertion("no answer carried a Date header to compare clocks with")),
        // The Date header counts whole seconds: one more is allowed.
        Some(s) if s.unsigned_abs() > target.max_clock_skew_s + 1 => Err(StepError::assertion(format!(
            "the service's clock is {} s {} ours (at most {}): ID tokens it issues may be refused as {}",
            s.abs(),
            if s > 0 { "ahead of" } else { "behind" },
            target.max_clock_skew_s,
            if s > 0 { "not yet valid" } else { "already expired" },
        ))),
        Some(_) => Ok(()),
    };
    rec.end(step, result);

    let step = rec.begin("signing_key");
    let result = match &keys {
        None => Err(StepError::assertion("the JWKS could not be read")),
        Some(keys) => key_lifetimes(keys, target.min_key_days, Utc::now()),
    };
    rec.end(step, result);

    if target.sign_in {
        let mut step = rec.begin("sign_in");
        let result = sign_in(ctx, &mut step, target, service, &discovery, keys.as_deref().unwrap_or_default()).await;
        rec.end(step, result);
    }
}

/// Every signing key with a certificate must outlive `min_days`; keys without one cannot be judged.
fn key_lifetimes(keys: &[Value], min_days: u64, now: DateTime<Utc>) -> Result<(), StepError> {
    for key in keys {
        let Some(cert) = key["x5c"][0].as_str() else { continue };
        let kid = key["kid"].as_str().unwrap_or("(no kid)");
        let der = STANDARD
            .decode(cert)
            .map_err(|_| StepError::assertion(format!("key {kid}'s x5c certificate is not base64")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| StepError::assertion(format!("key {kid}'s x5c certificate cannot be read")))?;
        let expires = parsed.validity().not_after.timestamp();
        let days = (expires - now.timestamp()).div_euclid(86_400);
        let at = DateTime::from_timestamp(expires, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
        ensure(days >= i64::try_from(min_days).unwrap_or(i64::MAX), || {
            format!(
                "signing key {kid}'s certificate expires in {days} days ({at}), within {min_days}: it is about to rotate out"
            )
        })?;
    }
    Ok(())
}

/// The authorization code flow with PKCE, and the ID token checked.
async fn sign_in(
    ctx: &FlowContext<'_>,
    step: &mut crate::probe::Step,
    target: &IdentityTarget,
    service: Service,
    discovery: &Discovery,
    keys: &[Value],
) -> Result<(), StepError> {
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let mut authorize = url::Url::parse(&discovery.authorization_endpoint)
        .map_err(|_| StepError::assertion("the authorization endpoint is not a URL"))?;
    {
        let mut query = authorize.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &target.client_id)
            .append_pair("redirect_uri", &target.redirect_uri)
            .append_pair("scope", service.scope())
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(vtr) = &target.vtr {
            query.append_pair("vtr", vtr);
        }
    }
    let reply = step.send(ctx.probe, &Request::new(Method::GET, authorize.to_string(), "/authorize")).await?;
    let reply = reply.expect_status(&[302, 303])?;
    let location = reply.header("location").unwrap_or_default();
    ensure(location.starts_with(&target.redirect_uri), || format!("redirected to {location:?}, not the redirect URI"))?;
    let answer: Vec<(String, String)> = url::Url::parse(location)
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let get = |key: &str| answer.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(error) = get("error") {
        return Err(StepError::assertion(format!(
            "authorization refused: {error} ({})",
            get("error_description").unwrap_or("no description")
        )));
    }
    ensure(get("state") == Some(state.as_str()), || "the redirect does not carry our state".into())?;
    let code = get("code").ok_or_else(|| StepError::assertion("the redirect carries no code"))?;

    let auth: Vec<(&str, String)> = match (&target.client_secret, ctx.env.apim.as_ref()) {
        (Some(secret), _) => vec![("client_secret", secret.expose().to_owned())],
        (None, Some(apim)) => vec![
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
            ("client_assertion", apim.key.client_assertion(&target.client_id, &discovery.token_endpoint)),
        ],
        (None, None) => {
            return Err(StepError::assertion(
                "signing in needs client_secret, or the environment's private_key for a private_key_jwt assertion",
            ))
        }
    };
    // Built whole before any await: the serializer is not Send.
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &target.redirect_uri)
            .append_pair("client_id", &target.client_id)
            .append_pair("code_verifier", &verifier);
        for (key, value) in &auth {
            form.append_pair(key, value);
        }
        form.finish()
    };
    let request = Request::new(Method::POST, discovery.token_endpoint.clone(), "/token")
        .body_bytes("application/x-www-form-urlencoded", Bytes::from(form));
    let tokens = step.send(ctx.probe, &request).await?.expect_status(&[200])?.json()?;
    let id_token =
        tokens["id_token"].as_str().ok_or_else(|| StepError::assertion("the token answer has no id_token"))?;
    check_id_token(id_token, target, service, discovery, keys, &nonce)
}

/// The ID token: signed by a published key with an advertised algorithm, for us, from the issuer,
/// with our nonce, within its times, carrying the service's own claims.
fn check_id_token(
    id_token: &str,
    target: &IdentityTarget,
    service: Service,
    discovery: &Discovery,
    keys: &[Value],
    nonce: &str,
) -> Result<(), StepError> {
    let header = jsonwebtoken::decode_header(id_token)
        .map_err(|e| StepError::assertion(format!("the ID token is not a JWT: {e}")))?;
    let alg = format!("{:?}", header.alg);
    ensure(discovery.algs.contains(&alg), || format!("the ID token is signed {alg}, which discovery does not name"))?;
    let kid = header.kid.clone().unwrap_or_default();
    let key = keys.iter().find(|k| k["kid"] == kid.as_str()).ok_or_else(|| {
        StepError::assertion(format!(
            "the ID token is signed with key {kid:?}, which the JWKS does not publish: keys were rotated before being published"
        ))
    })?;
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap_or_default(),
        key["e"].as_str().unwrap_or_default(),
    )
    .map_err(|e| StepError::assertion(format!("key {kid} cannot be used: {e}")))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&target.client_id]);
    validation.set_issuer(&[&target.issuer]);
    validation.leeway = target.max_clock_skew_s;
    let claims = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .map_err(|e| StepError::assertion(format!("the ID token does not verify: {e}")))?
        .claims;
    ensure(claims["nonce"] == nonce, || "the ID token does not carry our nonce".into())?;
    match service {
        Service::Cis2 => {
            let roles = claims["nhsid_nrbac_roles"].as_array().map(Vec::as_slice).unwrap_or_default();
            ensure(!roles.is_empty(), || "the ID token carries no national RBAC roles (nhsid_nrbac_roles)".into())?;
            ensure(roles.iter().all(|r| r["role_code"].is_string() && r["org_code"].is_string()), || {
                "a national RBAC role lacks its role_code or org_code".into()
            })?;
            ensure(claims["authentication_assurance_level"].is_string(), || {
                "the ID token carries no authentication_assurance_level".into()
            })
        }
        Service::NhsLogin => {
            let vot = claims["vot"].as_str().unwrap_or_default();
            let level = claims["identity_proofing_level"].as_str().unwrap_or_default();
            ensure(!vot.is_empty() && vot.starts_with(level) && !level.is_empty(), || {
                format!("the vector of trust {vot:?} and proofing level {level:?} do not agree")
            })?;
            let asked: Vec<String> =
                target.vtr.as_deref().and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
            ensure(asked.is_empty() || asked.iter().any(|a| a == vot), || {
                format!("the vector of trust granted, {vot}, is not one asked for ({asked:?})")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(days: i64) -> String {
        let now = Utc::now();
        let pair = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["idp.example".into()]).unwrap();
        let at = now + chrono::Duration::days(days);
        use chrono::Datelike;
        params.not_after = rcgen::date_time_ymd(at.year(), at.month() as u8, at.day() as u8);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        STANDARD.encode(params.self_signed(&pair).unwrap().der())
    }

    #[test]
    fn a_key_about_to_expire_fails_and_keys_without_certificates_pass() {
        let now = Utc::now();
        let keys = vec![serde_json::json!({"kid": "old", "x5c": [certificate(5)]}), serde_json::json!({"kid": "bare"})];
        let err = key_lifetimes(&keys, 14, now).unwrap_err();
        assert!(err.message.contains("old") && err.message.contains("about to rotate out"), "{}", err.message);
        assert!(key_lifetimes(&keys[..1], 3, now).is_ok());
        assert!(key_lifetimes(&keys[1..], 14, now).is_ok());
        let garbage = vec![serde_json::json!({"kid": "x", "x5c": ["%%%"]})];
        assert!(key_lifetimes(&garbage, 14, now).is_err());
    }
}
