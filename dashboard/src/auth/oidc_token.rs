//! What the sign-in checks beyond `openidconnect`: provider keys shorter than 2048 bits are set
//! aside before any signature is checked; `azp`, `iat`, `nbf` and `sub` are checked after the crate
//! has checked the signature, issuer, audience, expiry and nonce; each refusal is put in words for
//! the person signing in and the log. And reading the claims the configuration names by path.
//!
//! The crate is set up (in `oidc`) to accept RSA signatures only: never `alg: none`, never HMAC
//! (with a public key set, HMAC would let anyone who has the public key forge tokens); it never
//! trusts a key named inside the token, and no claim is read before the signature has been checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::CoreJsonWebKey;
use openidconnect::{ClaimsVerificationError, JsonWebKeySet, SignatureVerificationError};
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

/// The provider's RSA keys of 2048 bits or more; other keys cannot check an ID token here.
pub fn strong_keys(keys: &JsonWebKeySet<CoreJsonWebKey>) -> JsonWebKeySet<CoreJsonWebKey> {
    let strong = keys
        .keys()
        .iter()
        .filter(|key| {
            let Ok(Value::Object(fields)) = serde_json::to_value(key) else { return false };
            let modulus = fields.get("n").and_then(Value::as_str).and_then(|n| URL_SAFE_NO_PAD.decode(n).ok());
            fields.get("kty").and_then(Value::as_str) == Some("RSA")
                && modulus.is_some_and(|m| modulus_bits(&m) >= MIN_RSA_BITS)
        })
        .cloned()
        .collect();
    JsonWebKeySet::new(strong)
}

/// The size of a big-endian modulus in bits (leading zero bits do not count).
fn modulus_bits(modulus: &[u8]) -> usize {
    let Some(first) = modulus.iter().position(|b| *b != 0) else { return 0 };
    (modulus.len() - first) * 8 - modulus[first].leading_zeros() as usize
}

/// What the crate's refusal means, for the person signing in.
pub fn refusal(error: &ClaimsVerificationError) -> TokenError {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match error {
        C::InvalidIssuer(_) => refuse("the identity token was issued by another service (iss)"),
        C::InvalidAudience(_) => refuse("the identity token was issued for another application (aud)"),
        C::Expired(_) => refuse("the identity token has expired (check this server's clock if it keeps happening)"),
        C::InvalidNonce(_) => refuse("the identity token does not belong to this sign-in (nonce)"),
        C::InvalidSubject(_) => refuse("the identity token names nobody (sub)"),
        C::SignatureVerification(S::NoSignature) => refuse("the identity token is not signed (alg none)"),
        C::SignatureVerification(S::NoMatchingKey) => {
            refuse("the identity token was signed with a key the provider does not publish")
        }
        C::SignatureVerification(S::DisallowedAlg(alg) | S::UnsupportedAlg(alg)) => {
            refuse(format!("the identity token's signature algorithm is not accepted here: {alg}"))
        }
        C::SignatureVerification(S::AmbiguousKeyId(_)) => {
            refuse("the identity token names no key (kid) and the provider publishes several")
        }
        C::SignatureVerification(_) => refuse("the identity token's signature does not verify"),
        other => refuse(format!("the identity token cannot be used: {other}")),
    }
}

fn seconds(claims: &Value, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_f64).map(|s| s as i64)
}

/// The claims the crate leaves to us, read from claims whose signature, issuer, audience, expiry
/// and nonce it has checked: `azp` (OpenID Connect Core 3.1.3.7 step 5), an issue time not in the
/// future, `nbf`, and a subject of at most 255 characters. `now` is seconds since the epoch.
pub fn check_other_claims(claims: &Value, client_id: &str, now: i64) -> Result<(), TokenError> {
    if claims.get("azp").is_some_and(|azp| azp.as_str() != Some(client_id)) {
        return Err(refuse("the identity token was issued to another application (azp)"));
    }
    match seconds(claims, "iat") {
        Some(iat) if iat <= now + LEEWAY_SECS => {}
        Some(_) => return Err(refuse("the identity token was issued in the future (check this server's clock)")),
        None => return Err(refuse("the identity token has no issue time (iat)")),
    }
    if seconds(claims, "nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(refuse("the identity token is not valid yet (nbf; check this server's clock)"));
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.chars().count() <= 255 => Ok(()),
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
    fn keys_shorter_than_2048_bits_and_other_key_types_are_set_aside() {
        let modulus = |bits: usize| {
            let mut m = vec![0xffu8; bits / 8];
            m.insert(0, 0); // a leading zero byte does not count
            URL_SAFE_NO_PAD.encode(m)
        };
        let set: JsonWebKeySet<CoreJsonWebKey> = serde_json::from_value(json!({"keys": [
            {"kty": "RSA", "kid": "big", "n": modulus(2048), "e": "AQAB"},
            {"kty": "RSA", "kid": "small", "n": modulus(1024), "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        ]}))
        .unwrap();
        let kept: Vec<String> = strong_keys(&set)
            .keys()
            .iter()
            .filter_map(|k| openidconnect::JsonWebKey::key_id(k).map(|id| id.to_string()))
            .collect();
        assert_eq!(kept, ["big"]);
        assert_eq!(modulus_bits(&[0, 0x01, 0xff]), 9);
    }

    #[test]
    fn the_claims_left_to_us_are_checked_with_a_minute_of_leeway() {
        let now = 1_700_000_000;
        let good = json!({"iat": now + 59, "sub": "u", "azp": "pw"});
        assert_eq!(check_other_claims(&good, "pw", now), Ok(()));
        let with = |key: &str, value: Value| {
            let mut c = good.clone();
            c[key] = value;
            check_other_claims(&c, "pw", now).unwrap_err().0
        };
        assert!(with("iat", json!(now + 61)).contains("future"));
        assert!(with("nbf", json!(now + 61)).contains("not valid yet"));
        assert!(with("azp", json!("other")).contains("azp"));
        assert!(with("sub", json!("")).contains("sub"));
        assert!(with("sub", json!("x".repeat(256))).contains("sub"));
        let mut no_iat = good.clone();
        no_iat.as_object_mut().unwrap().remove("iat");
        assert!(check_other_claims(&no_iat, "pw", now).unwrap_err().0.contains("iat"));
    }
}
