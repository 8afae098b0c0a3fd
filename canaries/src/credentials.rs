//! Credentials the flows present: APIM client assertions (RS512 JWT) and the access tokens they
//! buy, GP Connect's unsigned JWT, and MESH's `NHSMESH` Authorization header.
//!
//! Nothing here logs or formats a secret; tokens live only in memory.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::json;
use tokio::sync::Mutex;

use crate::config::Secret;
use crate::error::ConfigError;

fn b64_json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An RSA key that signs APIM client assertions.
/// The private key a client assertion is signed with, and the `kid` APIM knows it by.
#[derive(Clone)]
pub struct SigningKey {
    key: jsonwebtoken::EncodingKey,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM, and signs
    /// once to prove it can: a key that cannot sign is refused at start-up, naming `key_name`.
    pub fn from_pem(pem: &Secret, kid: &str, key_name: &str) -> Result<SigningKey, ConfigError> {
        let invalid = || ConfigError::Invalid {
            key: key_name.into(),
            message: "not a PEM RSA private key (PKCS#8 or PKCS#1)".into(),
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| invalid())?;
        jsonwebtoken::crypto::sign(b"pathwatch", &key, jsonwebtoken::Algorithm::RS512).map_err(|_| invalid())?;
        Ok(SigningKey { key, kid: kid.into() })
    }

    /// APIM's signed-JWT client assertion (RS512): `iss` = `sub` = API key, `aud` = token URL,
    /// fresh `jti`, `exp` 5 minutes ahead (APIM's maximum).
    pub fn client_assertion(&self, api_key: &str, token_url: &str) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS512);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iss": api_key, "sub": api_key, "aud": token_url,
            "jti": uuid::Uuid::new_v4().to_string(), "exp": domain::Clock::System.now_s() + 300,
        });
        // The key signed at start-up (`from_pem`); should signing fail now, APIM refuses the empty
        // assertion and the step reports an authentication failure.
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap_or_else(|e| {
            tracing::error!(error = %e, "signing the client assertion failed");
            String::new()
        })
    }
}

/// Generates a 2048-bit RSA key as PKCS#8 PEM plus its public half as SPKI PEM: demo mode's
/// credentials for our own sandbox.
pub fn generate_rsa_key() -> Result<(String, String), String> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let mut rng = rsa::rand_core::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    Ok((private_pem, public_pem))
}

/// What the flows need to authenticate to APIM-fronted APIs.
#[derive(Debug)]
pub struct ApimCredentials {
    pub token_url: String,
    pub api_key: Secret,
    pub key: SigningKey,
}

/// An access token cached until a minute before it expires, shared by every run against one
/// environment (APIM rate-limits the token endpoint too).
#[derive(Debug, Default)]
pub struct TokenCache {
    slot: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

    pub async fn get(&self) -> Option<Secret> {
        let slot = self.slot.lock().await;
        match &*slot {
            Some((token, expires)) if Instant::now() + Self::REFRESH_MARGIN < *expires => Some(token.clone()),
            _ => None,
        }
    }

    pub async fn put(&self, token: Secret, expires_in: Duration) {
        *self.slot.lock().await = Some((token, Instant::now() + expires_in));
    }

    pub async fn clear(&self) {
        *self.slot.lock().await = None;
    }
}

/// Who the GP Connect consumer says it is, as the JWT claims need it.
#[derive(Debug, Clone)]
pub struct GpConnectIdentity {
    pub issuer: String,
    pub ods_code: String,
    pub practitioner_id: String,
    pub sds_user_id: String,
    pub sds_role_profile_id: String,
}

impl GpConnectIdentity {
    /// GP Connect's unsigned JWT: `alg` none, empty signature, `exp` = `iat` + 300 exactly, `aud` the
    /// provider's service root URL (`audience`).
    pub fn jwt(&self, scope: &str, audience: &str) -> String {
        let iat = domain::Clock::System.now_s();
        let header = json!({"alg": "none", "typ": "JWT"});
        let claims = json!({
            "iss": self.issuer,
            "sub": self.practitioner_id,
            "aud": audience,
            "exp": iat + 300,
            "iat": iat,
            "reason_for_request": "directcare",
            "requested_scope": scope,
            "requesting_device": {
                "resourceType": "Device",
                "identifier": [{"system": "https://pathwatch.invalid/device", "value": "canary"}],
                "model": "Pathwatch canary",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "requesting_organization": {
                "resourceType": "Organization",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": self.ods_code}],
                "name": "Pathwatch canary",
            },
            "requesting_practitioner": {
                "resourceType": "Practitioner",
                "id": self.practitioner_id,
                "identifier": [
                    {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": self.sds_user_id},
                    {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": self.sds_role_profile_id},
                ],
                "name": [{"family": "Canary", "given": ["Pathwatch"], "prefix": ["Dr"]}],
            },
        });
        format!("{}.{}.", b64_json(&header), b64_json(&claims))
    }
}

/// MESH credentials for one mailbox.
#[derive(Debug, Clone)]
pub struct MeshCredentials {
    pub mailbox: String,
    pub password: Secret,
    pub shared_key: Secret,
}

impl MeshCredentials {
    /// `NHSMESH {mailbox}:{nonce}:{nonce_count}:{timestamp}:{hmac}`, HMAC-SHA256 keyed by the shared
    /// key over `{mailbox}:{nonce}:{nonce_count}:{password}:{timestamp}`, timestamp `yyyyMMddHHmm` UTC.
    pub fn authorization(&self) -> String {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y%m%d%H%M").to_string();
        self.authorization_at(&nonce, 0, &timestamp)
    }

    pub fn authorization_at(&self, nonce: &str, nonce_count: u32, timestamp: &str) -> String {
        let message = format!("{}:{nonce}:{nonce_count}:{}:{timestamp}", self.mailbox, self.password.expose());
        // HMAC takes keys of any length, so this cannot fail; if it ever did, the empty digest is
        // refused by MESH and shows as an auth failure rather than a crash.
        let digest = match <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.shared_key.expose().as_bytes()) {
            Ok(mut mac) => {
                mac.update(message.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        };
        format!("NHSMESH {}:{nonce}:{nonce_count}:{timestamp}:{digest}", self.mailbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_authorization_matches_an_independent_computation() {
        // Expected digest computed with Python: hmac.new(b"TestKey",
        // b"X26ABC1:4b1a6f70-0000-4000-8000-000000000000:0:password:202611230500", sha256).hexdigest()
        let creds = MeshCredentials {
            mailbox: "X26ABC1".into(),
            password: Secret::new("password"),
            shared_key: Secret::new("TestKey"),
        };
        let header = creds.authorization_at("4b1a6f70-0000-4000-8000-000000000000", 0, "202611230500");
        assert_eq!(
            header,
            format!("NHSMESH X26ABC1:4b1a6f70-0000-4000-8000-000000000000:0:202611230500:{}", EXPECTED_MESH)
        );
    }

    const EXPECTED_MESH: &str = "31e89c87db4b83904c491b85aa7c1110451f0dc25d64c6d1d880a14e8619d4fa";

    #[test]
    fn gpconnect_jwt_is_unsigned_and_expires_in_exactly_300_seconds() {
        let identity = GpConnectIdentity {
            issuer: "https://pathwatch.invalid".into(),
            ods_code: "A11111".into(),
            practitioner_id: "1".into(),
            sds_user_id: "G1".into(),
            sds_role_profile_id: "R1".into(),
        };
        let jwt = identity.jwt("patient/*.read", "https://provider.example.org/gpconnect/fhir");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "none");
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
        assert_eq!(claims["sub"], claims["requesting_practitioner"]["id"]);
        assert_eq!(claims["requested_scope"], "patient/*.read");
        assert_eq!(claims["aud"], "https://provider.example.org/gpconnect/fhir");
    }

    #[test]
    fn client_assertion_verifies_with_the_public_key() {
        let (private_pem, public_pem) = generate_rsa_key().unwrap();
        let key = SigningKey::from_pem(&Secret::new(private_pem), "k1", "private_key").unwrap();
        let jwt = key.client_assertion("apikey", "http://x/oauth2/token");
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let public = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
        let alg = jsonwebtoken::Algorithm::RS512;
        assert!(jsonwebtoken::crypto::verify(signature, input.as_bytes(), &public, alg).unwrap());
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!((header.alg, header.kid.as_deref(), header.typ.as_deref()), (alg, Some("k1"), Some("JWT")));
        let claims_b64 = input.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims_b64).unwrap()).unwrap();
        assert_eq!(claims["iss"], "apikey");
        assert_eq!(claims["sub"], "apikey");
        assert_eq!(claims["aud"], "http://x/oauth2/token");
        assert!(claims["exp"].as_u64().unwrap() <= domain::Clock::System.now_s() + 300);
        assert!(SigningKey::from_pem(&Secret::new("not a key"), "k1", "canaries.environments.x.private_key").is_err());
    }
}
