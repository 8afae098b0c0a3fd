//! An environment resolved for use: secrets read, keys parsed, HTTP clients built (with MESH's
//! and the Spine Secure Proxy's client certificates when configured), token cache ready.

use std::time::Duration;

use crate::config::{EnvironmentConfig, SecretRef};
use crate::credentials::{ApimCredentials, GpConnectIdentity, MeshCredentials, SigningKey, TokenCache};
use crate::error::{CanaryError, ConfigError};

#[derive(Debug)]
pub struct Environment {
    pub name: String,
    pub apim: Option<ApimCredentials>,
    pub tokens: TokenCache,
    pub pds_url: Option<String>,
    pub nrl_producer_url: Option<String>,
    pub nrl_consumer_url: Option<String>,
    pub ods_code: String,
    pub gpconnect: Option<GpConnectTarget>,
    pub mesh: Option<MeshTarget>,
    pub cis2: Option<IdentityTarget>,
    pub nhslogin: Option<IdentityTarget>,
}

/// An identity service to check, resolved.
#[derive(Debug)]
pub struct IdentityTarget {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<crate::config::Secret>,
    pub sign_in: bool,
    pub redirect_uri: String,
    pub vtr: Option<String>,
    pub max_clock_skew_s: u64,
    pub min_key_days: u64,
}

fn identity(
    name: &str,
    field: &str,
    config: &crate::config::IdentityEnvironment,
) -> Result<Option<IdentityTarget>, ConfigError> {
    let Some(issuer) = &config.issuer else { return Ok(None) };
    let key = format!("canaries.environments.{name}.{field}");
    Ok(Some(IdentityTarget {
        issuer: issuer.trim_end_matches('/').to_string(),
        client_id: config.client_id.clone().unwrap_or_default(),
        client_secret: secret(&format!("{key}.client_secret"), &config.client_secret)?,
        sign_in: config.sign_in,
        redirect_uri: config.redirect_uri.clone(),
        vtr: config.vtr.clone(),
        max_clock_skew_s: config.max_clock_skew_s,
        min_key_days: config.min_key_days,
    }))
}

#[derive(Debug)]
pub struct GpConnectTarget {
    pub url: String,
    /// Its own client: mutual TLS with the Spine certificate, when configured.
    pub client: reqwest::Client,
    pub consumer_asid: String,
    pub provider_asid: String,
    pub identity: GpConnectIdentity,
}

#[derive(Debug)]
pub struct MeshTarget {
    pub url: String,
    pub sender: MeshCredentials,
    pub recipient: MeshCredentials,
    pub workflow_id: String,
    pub delivery_timeout: Duration,
    pub poll_interval: Duration,
    /// MESH needs its own client: mutual TLS with the mailbox's certificate.
    pub client: reqwest::Client,
    /// Inboxes whose backlog is read every `backlog_interval` (`crate::backlog`).
    pub backlog: Vec<WatchedTarget>,
    pub backlog_interval: Duration,
}

/// A watched inbox, its credentials read.
#[derive(Debug)]
pub struct WatchedTarget {
    pub credentials: MeshCredentials,
    pub max_messages: Option<u64>,
    pub max_age_minutes: Option<u32>,
}

fn trim_slash(url: &Option<String>) -> Option<String> {
    url.as_ref().map(|u| u.trim_end_matches('/').to_string())
}

fn secret(key: &str, value: &Option<SecretRef>) -> Result<Option<crate::config::Secret>, ConfigError> {
    value.as_ref().map(|r| r.resolve(key)).transpose()
}

impl Environment {
    pub fn resolve(name: &str, config: &EnvironmentConfig) -> Result<Environment, CanaryError> {
        let key = |field: &str| format!("canaries.environments.{name}.{field}");
        let apim = match &config.token_url {
            None => None,
            Some(token_url) => {
                let missing =
                    |field: &str| ConfigError::Invalid { key: key(field), message: "required with token_url".into() };
                let api_key = secret(&key("api_key"), &config.api_key)?.ok_or_else(|| missing("api_key"))?;
                let pem = secret(&key("private_key"), &config.private_key)?.ok_or_else(|| missing("private_key"))?;
                let kid = config.kid.clone().ok_or_else(|| missing("kid"))?;
                let key = SigningKey::from_pem(&pem, &kid, &key("private_key"))?;
                Some(ApimCredentials { token_url: token_url.clone(), api_key, key })
            }
        };
        let ods_code = config.ods_code.clone().unwrap_or_default();
        let gpconnect = match &config.gpconnect.url {
            None => None,
            Some(url) => {
                let g = &config.gpconnect;
                let tls = Tls { client_cert: &g.client_cert, client_key: &g.client_key, ca_cert: &g.ca_cert };
                Some(GpConnectTarget {
                    client: tls_client(&format!("canaries.environments.{name}.gpconnect"), tls)?,
                    url: url.trim_end_matches('/').to_string(),
                    consumer_asid: g.consumer_asid.clone(),
                    provider_asid: g.provider_asid.clone(),
                    identity: GpConnectIdentity {
                        issuer: "https://pathwatch.invalid/canary".into(),
                        ods_code: ods_code.clone(),
                        practitioner_id: g.practitioner_id.clone(),
                        sds_user_id: g.sds_user_id.clone(),
                        sds_role_profile_id: g.sds_role_profile_id.clone(),
                    },
                })
            }
        };
        let mesh = match &config.mesh.url {
            None => None,
            Some(url) => {
                let m = &config.mesh;
                let missing = |field: &str| ConfigError::Invalid {
                    key: key(&format!("mesh.{field}")),
                    message: "required with mesh.url".into(),
                };
                let password = secret(&key("mesh.password"), &m.password)?.ok_or_else(|| missing("password"))?;
                let shared_key =
                    secret(&key("mesh.shared_key"), &m.shared_key)?.ok_or_else(|| missing("shared_key"))?;
                let sender = MeshCredentials { mailbox: m.mailbox.clone(), password: password.clone(), shared_key };
                let recipient = match &m.recipient {
                    None => sender.clone(),
                    Some(mailbox) => MeshCredentials {
                        mailbox: mailbox.clone(),
                        password: secret(&key("mesh.recipient_password"), &m.recipient_password)?.unwrap_or(password),
                        shared_key: sender.shared_key.clone(),
                    },
                };
                let mut backlog = Vec::new();
                for (i, watched) in m.backlog.iter().enumerate() {
                    let own =
                        [&sender, &recipient].into_iter().find(|c| c.mailbox.eq_ignore_ascii_case(&watched.mailbox));
                    let password = match secret(&key(&format!("mesh.backlog[{i}].password")), &watched.password)? {
                        Some(p) => p,
                        None => {
                            own.map(|c| c.password.clone()).ok_or_else(|| missing(&format!("backlog[{i}].password")))?
                        }
                    };
                    backlog.push(WatchedTarget {
                        credentials: MeshCredentials {
                            mailbox: watched.mailbox.to_ascii_uppercase(),
                            password,
                            shared_key: sender.shared_key.clone(),
                        },
                        max_messages: watched.max_messages,
                        max_age_minutes: watched.max_age_minutes,
                    });
                }
                Some(MeshTarget {
                    backlog,
                    backlog_interval: Duration::from_secs(m.backlog_interval_s.max(60)),
                    url: url.trim_end_matches('/').to_string(),
                    sender,
                    recipient,
                    workflow_id: m.workflow_id.clone(),
                    delivery_timeout: Duration::from_secs(m.delivery_timeout_s),
                    poll_interval: Duration::from_millis(m.poll_interval_ms.max(10)),
                    client: tls_client(
                        &format!("canaries.environments.{name}.mesh"),
                        Tls { client_cert: &m.client_cert, client_key: &m.client_key, ca_cert: &m.ca_cert },
                    )?,
                })
            }
        };
        Ok(Environment {
            name: name.into(),
            apim,
            tokens: TokenCache::default(),
            pds_url: trim_slash(&config.pds_url),
            nrl_producer_url: trim_slash(&config.nrl_producer_url),
            nrl_consumer_url: trim_slash(&config.nrl_consumer_url),
            ods_code,
            gpconnect,
            mesh,
            cis2: identity(name, "cis2", &config.cis2)?,
            nhslogin: identity(name, "nhslogin", &config.nhslogin)?,
        })
    }
}

pub fn http_client() -> Result<reqwest::Client, CanaryError> {
    client_builder().build().map_err(|e| CanaryError::Client(e.to_string()))
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("pathwatch-canary/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
}

/// Files for mutual TLS: our client certificate and key, and the CA that signs the server.
struct Tls<'a> {
    client_cert: &'a Option<std::path::PathBuf>,
    client_key: &'a Option<std::path::PathBuf>,
    ca_cert: &'a Option<std::path::PathBuf>,
}

/// A client for one service (MESH, the Spine Secure Proxy), keys named under `prefix`.
fn tls_client(prefix: &str, m: Tls<'_>) -> Result<reqwest::Client, CanaryError> {
    let key = |field: &str| format!("{prefix}.{field}");
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ConfigError::Invalid {
            key: key(field),
            message: format!("cannot read {}: {e}", path.display()),
        })
    };
    let mut builder = client_builder();
    match (m.client_cert, m.client_key) {
        (None, None) => {}
        (Some(cert), Some(private)) => {
            let mut pem = read("client_cert", cert)?;
            pem.push(b'\n');
            pem.extend(read("client_key", private)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ConfigError::Invalid {
                key: key("client_cert"),
                message: format!("not a PEM certificate and private key: {e}"),
            })?;
            builder = builder.identity(identity);
        }
        (Some(_), None) => {
            Err(ConfigError::Invalid { key: key("client_key"), message: "required with client_cert".into() })?
        }
        (None, Some(_)) => {
            Err(ConfigError::Invalid { key: key("client_cert"), message: "required with client_key".into() })?
        }
    }
    if let Some(ca) = m.ca_cert {
        let cert = reqwest::Certificate::from_pem(&read("ca_cert", ca)?).map_err(|e| ConfigError::Invalid {
            key: key("ca_cert"),
            message: format!("not a PEM certificate: {e}"),
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| CanaryError::Client(e.to_string()))
}
