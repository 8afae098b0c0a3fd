//! ID tokens: parsing a compact JWS, checking its signature against the provider's JWKS and its
//! claims against what this sign-in expects (issuer, audience, times, nonce).
//!
//! Only RSA signatures are accepted (RS256/384/512, PS256/384/512, keys of 2048 bits or more). It
//! never accepts `alg: none` or an HMAC algorithm (with a public JWKS, HMAC would let anyone who has
//! the public key forge tokens), never trusts a key named inside the token (`jwk`, `jku`, `x5u`),
//! and never reads a claim before the signature has been checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// How far apart our clock and the provider's may be.
pub const LEEWAY_SECS: i64 = 60;
/// Smaller RSA keys are refused (NCSC and NIST both retired 1024-bit RSA).
const MIN_RSA_BITS: usize = 2048;

/// Why an ID token was refused, in words for the person signing in and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

fn refuse(message: impl Into<String>) -> TokenError {
    TokenError(message.into())
}

/// The provider's published signing keys.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwks {
    #[serde(default)]
    keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl Alg {
    fn parse(name: &str) -> Result<Alg, TokenError> {
        Ok(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "none" => return Err(refuse("the identity token is not signed (alg none)")),
            hmac if hmac.starts_with("HS") => {
                return Err(refuse(format!("the identity token uses a shared-secret signature ({hmac})")))
            }
            other => {
                return Err(refuse(format!("the identity token's signature algorithm {other:?} is not supported")))
            }
        })
    }

    fn algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Rs384 => jsonwebtoken::Algorithm::RS384,
            Alg::Rs512 => jsonwebtoken::Algorithm::RS512,
            Alg::Ps256 => jsonwebtoken::Algorithm::PS256,
            Alg::Ps384 => jsonwebtoken::Algorithm::PS384,
            Alg::Ps512 => jsonwebtoken::Algorithm::PS512,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

/// A token whose parts decoded, signature not yet checked.
pub struct Unverified {
    alg: Alg,
    kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    claims: Value,
}

/// Why a signature check did not pass.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No key in the set matches the token's `kid`: the provider may have rotated its keys.
    UnknownKey,
    Invalid(TokenError),
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| refuse(format!("the identity token's {what} is not base64url")))
}

/// Splits and decodes a compact JWS (`header.claims.signature`).
pub fn parse(token: &str) -> Result<Unverified, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse("the identity token is not a signed JWT (three parts)"));
    };
    let parsed: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|_| refuse("the identity token's header is not a JSON object with `alg`"))?;
    let alg = Alg::parse(&parsed.alg)?;
    if parsed.crit.is_some() {
        return Err(refuse("the identity token has critical header extensions this service does not understand"));
    }
    let claims_json: Value = serde_json::from_slice(&decode(claims, "claims")?)
        .map_err(|_| refuse("the identity token's claims are not JSON"))?;
    if !claims_json.is_object() {
        return Err(refuse("the identity token's claims are not a JSON object"));
    }
    Ok(Unverified {
        alg,
        kid: parsed.kid,
        signing_input: format!("{header}.{claims}"),
        signature: decode(signature, "signature")?,
        claims: claims_json,
    })
}

impl Unverified {
    /// Checks the signature with the key the header names; returns the claims only if it holds.
    pub fn verify(&self, jwks: &Jwks) -> Result<&Value, SignatureError> {
        let key = self.key(jwks)?;
        let signature = URL_SAFE_NO_PAD.encode(&self.signature);
        let holds = jsonwebtoken::crypto::verify(&signature, self.signing_input.as_bytes(), &key, self.alg.algorithm());
        match holds {
            Ok(true) => Ok(&self.claims),
            _ => Err(SignatureError::Invalid(refuse("the identity token's signature does not verify"))),
        }
    }

    /// The RSA signing key for this token: the one with its `kid`, or the only RSA signing key
    /// when the token names none; refused when shorter than 2048 bits.
    fn key(&self, jwks: &Jwks) -> Result<jsonwebtoken::DecodingKey, SignatureError> {
        let candidates: Vec<&Jwk> = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA" && k.usage.as_deref().is_none_or(|u| u == "sig"))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == self.alg.name()))
            .collect();
        let jwk = match &self.kid {
            Some(kid) => candidates.into_iter().find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None if candidates.len() == 1 => candidates.into_iter().next(),
            None => None,
        }
        .ok_or(SignatureError::UnknownKey)?;
        let invalid = |m: &str| SignatureError::Invalid(refuse(format!("the provider's signing key {m}")));
        let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else { return Err(invalid("has no modulus or exponent")) };
        let modulus = URL_SAFE_NO_PAD.decode(n).map_err(|_| invalid("is not base64url"))?;
        URL_SAFE_NO_PAD.decode(e).map_err(|_| invalid("is not base64url"))?;
        if modulus_bits(&modulus) < MIN_RSA_BITS {
            return Err(invalid("is shorter than 2048 bits"));
        }
        jsonwebtoken::DecodingKey::from_rsa_components(n, e).map_err(|_| invalid("is not base64url"))
    }
}

/// The size of a big-endian modulus in bits (leading zero bits do not count).
fn modulus_bits(modulus: &[u8]) -> usize {
    let Some(first) = modulus.iter().position(|b| *b != 0) else { return 0 };
    (modulus.len() - first) * 8 - modulus[first].leading_zeros() as usize
}

/// What the claims of this sign-in's ID token must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: i64,
}

fn seconds(claims: &Value, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_f64).map(|s| s as i64)
}

/// Checks the standard claims (OpenID Connect Core 3.1.3.7) and returns the subject.
pub fn check_claims(claims: &Value, expected: &Expected<'_>) -> Result<String, TokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(refuse("the identity token was issued by another service (iss)"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(refuse("the identity token was issued for another application (aud)"));
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (audiences.len() > 1 && azp.is_none()) || azp.is_some_and(|a| a != expected.client_id) {
        return Err(refuse("the identity token was issued to another application (azp)"));
    }
    let now = expected.now;
    match seconds(claims, "exp") {
        Some(exp) if now <= exp + LEEWAY_SECS => {}
        Some(_) => {
            return Err(refuse("the identity token has expired (check this server's clock if it keeps happening)"))
        }
        None => return Err(refuse("the identity token has no expiry (exp)")),
    }
    match seconds(claims, "iat") {
        Some(iat) if iat <= now + LEEWAY_SECS => {}
        Some(_) => return Err(refuse("the identity token was issued in the future (check this server's clock)")),
        None => return Err(refuse("the identity token has no issue time (iat)")),
    }
    if seconds(claims, "nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(refuse("the identity token is not valid yet (nbf; check this server's clock)"));
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !crate::auth::sessions::same_secret(nonce, expected.nonce) {
        return Err(refuse("the identity token does not belong to this sign-in (nonce)"));
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Ok(sub.to_string()),
        _ => Err(refuse("the identity token names nobody (sub)")),
    }
}

/// The values at a dotted path in a claims object. Arrays met on the way are walked element by
/// element, so `nhsid_nrbac_roles.role_code` gives every role code of CIS2's list of roles. Numbers
/// and booleans are given as text; objects at the end of the path are skipped.
pub fn claim_values(claims: &Value, path: &str) -> Vec<String> {
    let mut current = vec![claims];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            match value {
                Value::Object(map) => next.extend(map.get(segment)),
                Value::Array(items) => next.extend(items.iter().filter_map(|i| i.get(segment))),
                _ => {}
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    let mut push = |v: &Value| match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        _ => {}
    };
    for value in current {
        match value {
            Value::Array(items) => items.iter().for_each(&mut push),
            other => push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_paths_walk_objects_and_arrays() {
        let claims = json!({
            "roles": ["a", "b"],
            "realm_access": {"roles": ["c"]},
            "nhsid_nrbac_roles": [
                {"role_code": "S8000:G8000:R8001", "org_code": "RX1"},
                {"role_code": "S8000:G8000:R8008", "org_code": "A81001"},
            ],
            "n": 5,
        });
        assert_eq!(claim_values(&claims, "roles"), ["a", "b"]);
        assert_eq!(claim_values(&claims, "realm_access.roles"), ["c"]);
        assert_eq!(claim_values(&claims, "nhsid_nrbac_roles.org_code"), ["RX1", "A81001"]);
        assert_eq!(claim_values(&claims, "n"), ["5"]);
        assert!(claim_values(&claims, "missing.path").is_empty());
        assert!(claim_values(&claims, "realm_access").is_empty(), "objects are not values");
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused_before_any_key_is_looked_up() {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = b64(json!({"sub": "x"}));
        for (alg, says) in [("none", "not signed"), ("HS256", "shared-secret"), ("ES256", "not supported")] {
            let token = format!("{}.{claims}.", b64(json!({"alg": alg})));
            let error = parse(&token).err().expect("refused");
            assert!(error.0.contains(says), "{alg}: {error}");
        }
        assert!(parse("only.two").is_err());
    }

    #[test]
    fn claims_are_checked_with_a_minute_of_leeway() {
        let now = 1_700_000_000;
        let good =
            json!({"iss": "https://idp", "aud": "pw", "exp": now - 59, "iat": now + 59, "nonce": "n1", "sub": "u"});
        let expected = Expected { issuer: "https://idp", client_id: "pw", nonce: "n1", now };
        assert_eq!(check_claims(&good, &expected).unwrap(), "u");
        let with = |key: &str, value: Value| {
            let mut c = good.clone();
            c[key] = value;
            check_claims(&c, &expected).unwrap_err().0
        };
        assert!(with("exp", json!(now - 61)).contains("expired"));
        assert!(with("iat", json!(now + 61)).contains("future"));
        assert!(with("nbf", json!(now + 61)).contains("not valid yet"));
        assert!(with("aud", json!(["other", "pw"])).contains("azp"), "several audiences need azp");
        assert!(with("aud", json!(["other"])).contains("aud"));
        assert!(with("azp", json!("other")).contains("azp"));
        assert!(with("nonce", json!("n2")).contains("nonce"));
        assert!(with("iss", json!("https://idp/")).contains("iss"));
        assert!(with("sub", json!("")).contains("sub"));
    }
}
