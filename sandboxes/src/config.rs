//! What a sandbox is configured with: the APIM applications allowed to get tokens, the MESH mailboxes and
//! shared key, the GP Connect provider ASID and the synthetic population. Every field has a default, so
//! `SandboxConfig::default()` starts; the exception that matters is `client_keys`, empty by default, so
//! PDS and NRL (which need a token while `require_auth` is on) only serve once an application is registered.
//!
//! This module never reads files or the environment: the binary turns its TOML/env/flags into this struct.

use rsa::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// API key the demo APIM application conventionally uses (`iss` = `sub` of its client assertions). Demo only.
pub const DEMO_API_KEY: &str = "pathwatch-demo-api-key";
/// `kid` the demo application's signing key conventionally uses. Demo only.
pub const DEMO_KID: &str = "pathwatch-demo-1";

/// Settings for one sandbox instance (all APIs share it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// APIM applications allowed to get tokens from `/oauth2/token` (used by PDS and NRL). None by default:
    /// no private key ships with this crate, so whoever runs a sandbox generates a key pair and registers
    /// its public half here (demo mode does, at start-up).
    pub client_keys: Vec<ClientKey>,
    /// Whether PDS and NRL need a bearer token from `/oauth2/token`, as NHS integration does (the
    /// default), or answer without one, as NHS England's hosted sandboxes do: `true`/`false` for both,
    /// or `{ pds = false, nrl = true }`.
    pub require_auth: RequireAuth,
    /// The MESH shared key mixed into every `NHSMESH` HMAC (mesh-sandbox's `SHARED_KEY`).
    pub mesh_shared_key: String,
    /// Mailboxes MESH knows; default X26ABC1, X26ABC2, X26ABC3 with password `password`.
    pub mesh_mailboxes: Vec<MeshMailbox>,
    /// The ASID `Ssp-To` must carry for GP Connect (the demonstrator's is 918999198738).
    pub gpconnect_provider_asid: String,
    /// Seed of the synthetic population and of the fault-injection dice.
    pub seed: u64,
    /// How many generated 999-range patients PDS, GP Connect and NRL know on top of the documented ones.
    pub synthetic_patients: usize,
    /// Per-application PDS quota: more than this many requests from one application (one API key; all
    /// callers count as one when `require_auth` is off) within a second are answered 429 TOO_MANY_REQUESTS,
    /// as PDS's APIM proxy does (its default is 5). `None` (default): no limit.
    pub pds_requests_per_second: Option<u32>,
    /// When set, `/_admin` and MESH's admin reset need `Authorization: Bearer <admin_token>`.
    pub admin_token: Option<String>,
}

/// Which sandbox APIs need an APIM bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RequireAuth {
    pub pds: bool,
    pub nrl: bool,
}

impl RequireAuth {
    pub const ALL: RequireAuth = RequireAuth { pds: true, nrl: true };
    pub const NONE: RequireAuth = RequireAuth { pds: false, nrl: false };
}

impl Default for RequireAuth {
    fn default() -> Self {
        RequireAuth::ALL
    }
}

/// `true`, `false`, or a table naming each API (`pds`, `nrl`; one left out keeps its default, true).
impl<'de> Deserialize<'de> for RequireAuth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RequireAuth;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, or a table such as { pds = false, nrl = true }")
            }
            fn visit_bool<E: serde::de::Error>(self, all: bool) -> Result<RequireAuth, E> {
                Ok(RequireAuth { pds: all, nrl: all })
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<RequireAuth, M::Error> {
                let mut each = RequireAuth::ALL;
                while let Some(api) = map.next_key::<String>()? {
                    let value: bool = map.next_value()?;
                    match api.as_str() {
                        "pds" => each.pds = value,
                        "nrl" => each.nrl = value,
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "unknown API {other:?} (the sandboxes that take tokens are pds and nrl)"
                            )))
                        }
                    }
                }
                Ok(each)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One APIM application: its API key and the public half of the key it signs client assertions with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKey {
    pub api_key: String,
    pub kid: String,
    /// RSA public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// One MESH mailbox and its password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshMailbox {
    pub id: String,
    pub password: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            client_keys: Vec::new(),
            require_auth: RequireAuth::ALL,
            mesh_shared_key: "TestKey".to_owned(),
            mesh_mailboxes: ["X26ABC1", "X26ABC2", "X26ABC3"]
                .into_iter()
                .map(|id| MeshMailbox { id: id.to_owned(), password: "password".to_owned() })
                .collect(),
            gpconnect_provider_asid: "918999198738".to_owned(),
            seed: 1,
            synthetic_patients: 50,
            pds_requests_per_second: None,
            admin_token: None,
        }
    }
}

impl SandboxConfig {
    /// Checks what would otherwise only fail at request time, naming the offending key.
    pub fn validate(&self) -> Result<(), SandboxError> {
        for (i, key) in self.client_keys.iter().enumerate() {
            if key.api_key.trim().is_empty() || key.kid.trim().is_empty() {
                return Err(SandboxError::Config(format!("client_keys[{i}]: api_key and kid must not be empty")));
            }
            rsa::RsaPublicKey::from_public_key_pem(&key.public_key_pem).map_err(|e| {
                SandboxError::Config(format!("client_keys[{i}].public_key_pem is not an SPKI RSA public key: {e}"))
            })?;
        }
        for (i, mailbox) in self.mesh_mailboxes.iter().enumerate() {
            if mailbox.id.trim().is_empty() || mailbox.id.contains([' ', ':', '/']) {
                return Err(SandboxError::Config(format!(
                    "mesh_mailboxes[{i}].id {:?} must be non-empty without spaces, ':' or '/'",
                    mailbox.id
                )));
            }
        }
        if self.gpconnect_provider_asid.trim().is_empty() {
            return Err(SandboxError::Config("gpconnect_provider_asid must not be empty".to_owned()));
        }
        if self.pds_requests_per_second == Some(0) {
            return Err(SandboxError::Config(
                "pds_requests_per_second must be at least 1 (leave it out for no limit)".to_owned(),
            ));
        }
        if self.synthetic_patients > 10_000 {
            return Err(SandboxError::Config("synthetic_patients must be at most 10000".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_registers_no_key() {
        let config = SandboxConfig::default();
        config.validate().unwrap();
        assert!(config.client_keys.is_empty());
    }

    #[test]
    fn unknown_keys_are_rejected_and_missing_ones_default() {
        let err = serde_json::from_str::<SandboxConfig>(r#"{"sed": 3}"#).unwrap_err();
        assert!(err.to_string().contains("sed"), "{err}");
        let config: SandboxConfig = serde_json::from_str(r#"{"seed": 3}"#).unwrap();
        assert_eq!(config.seed, 3);
        assert_eq!(config.mesh_shared_key, "TestKey");
        assert_eq!(config.pds_requests_per_second, None);
        let config: SandboxConfig = serde_json::from_str(r#"{"pds_requests_per_second": 5}"#).unwrap();
        assert_eq!(config.pds_requests_per_second, Some(5));
    }

    #[test]
    fn bad_pem_is_named() {
        let mut config = SandboxConfig::default();
        config.client_keys.push(ClientKey { api_key: "app".into(), kid: "1".into(), public_key_pem: "nope".into() });
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("client_keys[0].public_key_pem"), "{err}");
    }
}
