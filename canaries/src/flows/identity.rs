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

/// How far the service's clock is from ours, from a reply's `Date` (seconds, positive: ahead). A
/// cache's copy carries the origin's `Date` and its own `Age`: the two together are the origin's now.
/// A 5xx may come from a gateway in front, whose clock is not the service's: not counted.
fn skew(reply: &Reply, received: DateTime<Utc>) -> Option<i64> {
    if reply.status >= 500 {
        return None;
    }
    let date = DateTime::parse_from_rfc2822(reply.header("date")?).ok()?;
    let age = reply.header("age").and_then(|a| a.trim().parse::<i64>().ok()).unwrap_or(0).clamp(0, 86_400 * 365);
    Some(date.timestamp() + age - received.timestamp())
}

/// An endpoint discovery names: an http(s) URL on the issuer's own scheme, host and port, so a
/// document nobody should trust cannot send the canary, or its credentials, anywhere else.
fn endpoint_of(issuer: &url::Url, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let url = url::Url::parse(text).ok()?;
    let same = url.scheme() == issuer.scheme()
        && url.host_str() == issuer.host_str()
        && url.port_or_known_default() == issuer.port_or_known_default();
    same.then(|| text.to_owned())
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
        let issuer = url::Url::parse(&target.issuer)
            .map_err(|_| StepError::assertion(format!("the issuer {:?} is not a URL", target.issuer)))?;
        let endpoint = |key: &str| {
            endpoint_of(&issuer, &document[key]).ok_or_else(|| {
                StepError::assertion(format!(
                    "discovery has no {key} on the issuer's own host ({})",
                    issuer.origin().ascii_serialization()
                ))
            })
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
    let jwks_passed = keys.is_some();

    let mut step = rec.begin("token_endpoint");
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", "pathwatch-canary-probe")
            .append_pair("redirect_uri", &target.redirect_uri)
            .append_pair("client_id", &target.client_id);
        // Authenticated when we can be, so the answer comes from the token logic (invalid_grant), not
        // from client authentication in front of it.
        if let Some(secret) = &target.client_secret {
            form.append_pair("client_secret", secret.expose());
        }
        form.finish()
    };
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

    let mut step = rec.begin("clock_skew");
    let worst = skews.iter().copied().max_by_key(|s| s.abs());
    if let Some(s) = worst {
        step.attributes.insert("pathwatch.identity.clock_skew_s".into(), s.to_string());
    }
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

    let Some(keys) = keys.filter(|_| jwks_passed) else {
        rec.skip("signing_key", "jwks");
        if target.sign_in {
            rec.skip("sign_in", "jwks");
        }
        return;
    };
    let mut step = rec.begin("signing_key");
    let result = key_lifetimes(&keys, target.min_key_days, Utc::now()).map(|judged| {
        let what =
            judged.map_or_else(|| "not judged: no signing key carries a certificate".to_owned(), |d| d.to_string());
        step.attributes.insert("pathwatch.identity.signing_key_days".into(), what);
    });
    rec.end(step, result);

    if target.sign_in {
        let mut step = rec.begin("sign_in");
        let result = sign_in(ctx, &mut step, target, service, &discovery, &keys).await;
        rec.end(step, result);
    }
}

/// The signing key that lives longest must outlive `min_days` (an older key still published while it
/// rotates out is normal). Returns the days it has left, or None when no key carries a certificate
/// (nothing to judge).
fn key_lifetimes(keys: &[Value], min_days: u64, now: DateTime<Utc>) -> Result<Option<i64>, StepError> {
    let mut newest: Option<(i64, String)> = None;
    for key in keys {
        let Some(cert) = key["x5c"][0].as_str() else { continue };
        let kid = key["kid"].as_str().unwrap_or("(no kid)").chars().take(100).collect::<String>();
        let der = STANDARD
            .decode(cert)
            .map_err(|_| StepError::assertion(format!("key {kid}'s x5c certificate is not base64")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| StepError::assertion(format!("key {kid}'s x5c certificate cannot be read")))?;
        let expires = parsed.validity().not_after.timestamp();
        if newest.as_ref().is_none_or(|(at, _)| expires > *at) {
            newest = Some((expires, kid));
        }
    }
    let Some((expires, kid)) = newest else { return Ok(None) };
    let days = (expires - now.timestamp()).div_euclid(86_400);
    let at = DateTime::from_timestamp(expires, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
    ensure(days >= i64::try_from(min_days).unwrap_or(i64::MAX), || {
        format!("signing key {kid}'s certificate expires in {days} days ({at}), within {min_days}: it is about to rotate out, and no later key is published")
    })?;
    Ok(Some(days))
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
    let back = url::Url::parse(location).ok();
    let expected = url::Url::parse(&target.redirect_uri).ok();
    let same = |a: &url::Url, b: &url::Url| a.origin() == b.origin() && a.path() == b.path();
    ensure(matches!((&back, &expected), (Some(a), Some(b)) if same(a, b)), || {
        format!("redirected to {:?}, not the redirect URI", location.chars().take(200).collect::<String>())
    })?;
    let answer: Vec<(String, String)> = back
        .map(|u| u.query_pairs().map(|(k, v)| (k.chars().take(50).collect(), v.chars().take(300).collect())).collect())
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
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.set_audience(&[&target.client_id]);
    validation.set_issuer(&[&target.issuer]);
    validation.validate_nbf = true;
    validation.leeway = target.max_clock_skew_s;
    let claims = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .map_err(|e| StepError::assertion(format!("the ID token does not verify: {e}")))?
        .claims;
    ensure(claims["nonce"] == nonce, || "the ID token does not carry our nonce".into())?;
    let now = Utc::now().timestamp();
    let leeway = i64::try_from(target.max_clock_skew_s).unwrap_or(i64::MAX);
    let iat = claims["iat"].as_i64().ok_or_else(|| StepError::assertion("the ID token carries no iat"))?;
    ensure(iat <= now.saturating_add(leeway), || {
        format!("the ID token was issued in the future (iat {iat}): the service's clock is ahead")
    })?;
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
        assert_eq!(key_lifetimes(&keys[..1], 2, now).unwrap(), Some(4), "midnight rounding leaves four whole days");
        assert_eq!(key_lifetimes(&keys[1..], 14, now).unwrap(), None, "nothing to judge");
        // An old key rotating out beside a new one is normal: the newest decides.
        let rotating = vec![keys[0].clone(), serde_json::json!({"kid": "new", "x5c": [certificate(400)]})];
        assert!(key_lifetimes(&rotating, 14, now).unwrap().is_some_and(|d| d >= 398));
        let garbage = vec![serde_json::json!({"kid": "x", "x5c": ["%%%"]})];
        assert!(key_lifetimes(&garbage, 14, now).is_err());
    }

    fn target() -> IdentityTarget {
        IdentityTarget {
            issuer: "https://idp.example".into(),
            client_id: "pathwatch".into(),
            client_secret: None,
            sign_in: true,
            redirect_uri: "https://pathwatch.invalid/callback".into(),
            vtr: None,
            max_clock_skew_s: 60,
            min_key_days: 14,
        }
    }

    /// A signed ID token for `claims` and the JWKS entry of its key.
    fn signed(claims: &Value, kid: &str) -> (String, Value) {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.into());
        let token =
            jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap())
                .unwrap();
        let public = key.to_public_key();
        let jwk = serde_json::json!({"kid": kid, "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())});
        (token, jwk)
    }

    #[test]
    fn an_id_token_must_name_us_the_issuer_our_nonce_and_a_published_key() {
        let now = Utc::now().timestamp();
        let good = serde_json::json!({"iss": "https://idp.example", "aud": "pathwatch", "sub": "u", "nonce": "n",
            "iat": now, "exp": now + 300, "vot": "P9.Cp.Cd", "identity_proofing_level": "P9"});
        let discovery = Discovery {
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            algs: vec!["RS256".into()],
        };
        let check = |claims: &Value, kid: &str, publish: bool, nonce: &str| {
            let (token, jwk) = signed(claims, kid);
            let keys = if publish { vec![jwk] } else { Vec::new() };
            check_id_token(&token, &target(), Service::NhsLogin, &discovery, &keys, nonce)
        };
        assert!(check(&good, "k1", true, "n").is_ok());
        let fails = |claims: Value, publish: bool, nonce: &str, words: &str| {
            let err = check(&claims, "k1", publish, nonce).unwrap_err();
            assert!(err.message.contains(words), "{words}: {}", err.message);
        };
        fails(good.clone(), false, "n", "does not publish");
        fails(good.clone(), true, "other", "nonce");
        for missing in ["iss", "aud", "sub"] {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(missing);
            fails(claims, true, "n", "does not verify");
        }
        let mut no_iat = good.clone();
        no_iat.as_object_mut().unwrap().remove("iat");
        fails(no_iat, true, "n", "no iat");
        let mut wrong = good.clone();
        wrong["aud"] = serde_json::json!("someone-else");
        fails(wrong, true, "n", "does not verify");
        let mut future = good.clone();
        future["iat"] = serde_json::json!(now + 3600);
        fails(future, true, "n", "in the future");
        let rs512 = Discovery { algs: vec!["RS512".into()], ..discovery };
        let (token, jwk) = signed(&good, "k1");
        let err = check_id_token(&token, &target(), Service::NhsLogin, &rs512, &[jwk], "n").unwrap_err();
        assert!(err.message.contains("does not name"), "{}", err.message);
    }

    #[test]
    fn endpoints_must_be_on_the_issuers_own_host_and_cached_dates_count_their_age() {
        let issuer = url::Url::parse("https://idp.example").unwrap();
        assert!(endpoint_of(&issuer, &serde_json::json!("https://idp.example/token")).is_some());
        assert!(endpoint_of(&issuer, &serde_json::json!("https://idp.example:443/token")).is_some());
        for elsewhere in
            ["http://idp.example/token", "https://evil.example/token", "https://idp.example:8443/t", "nonsense"]
        {
            assert!(endpoint_of(&issuer, &serde_json::json!(elsewhere)).is_none(), "{elsewhere}");
        }
        let now = Utc::now();
        let reply = |status: u16, headers: &[(&'static str, String)]| {
            let mut map = reqwest::header::HeaderMap::new();
            for (k, v) in headers {
                map.insert(*k, v.parse().unwrap());
            }
            Reply { status, headers: map, body: Bytes::new() }
        };
        let old = (now - chrono::Duration::seconds(300)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        assert_eq!(skew(&reply(200, &[("date", old.clone()), ("age", "300".into())]), now), Some(0));
        assert_eq!(skew(&reply(200, &[("date", old.clone())]), now), Some(-300));
        assert_eq!(skew(&reply(502, &[("date", old)]), now), None, "a gateway's clock is not the service's");
        assert_eq!(skew(&reply(200, &[("date", "garbage".into())]), now), None);
    }
}
