//! Demo mode wiring: our sandboxes on `sandbox.listen`, and the `demo` canary environment that
//! points at them with credentials generated into the data directory.
//!
//! The demo RSA key is generated once (`<data_dir>/demo-canary-key.pem`) so `pathwatch sandbox`
//! and `pathwatch canary run` in separate processes agree on it. It is a sandbox credential, never
//! valid against NHS England's environments.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use canaries::config::{EnvironmentConfig, GpConnectEnvironment, IdentityEnvironment, MeshEnvironment, WatchedInbox};
use canaries::SecretRef;
use serde::{Deserialize, Serialize};

pub const DEMO_ENVIRONMENT: &str = "demo";
pub const DEMO_API_KEY: &str = "pathwatch-demo-app";
pub const DEMO_KID: &str = "pathwatch-demo-1";
pub const DEMO_ODS: &str = "Y05868";
const KEY_FILE: &str = "demo-canary-key.pem";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSection {
    /// Whether `pathwatch up` starts our PDS, GP Connect, NRL and MESH sandboxes.
    pub enabled: bool,
    /// Where they listen (one port; each API under its own path).
    pub listen: SocketAddr,
    /// Listening on an address other machines reach must be asked for: the sandboxes hold no real
    /// data, but anyone who reaches them can inject faults (set `admin_token` too).
    pub allow_remote: bool,
    /// When set, the sandboxes' `/_admin` and MESH admin reset need `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Whether the demo also feeds a synthetic EHR's access log, with misuse in it, into the
    /// collector (source `synthetic-ehr`): findings, samples and search then have data.
    pub synthetic_ehr: bool,
    /// Whether PDS and NRL need an APIM token, as NHS integration does (true, the default), or
    /// answer without one, as NHS England's hosted sandboxes do: `false`, or per API, such as
    /// `{ pds = false }`.
    pub require_auth: sandboxes::RequireAuth,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 4380)),
            allow_remote: false,
            admin_token: None,
            synthetic_ehr: true,
            require_auth: sandboxes::RequireAuth::ALL,
        }
    }
}

/// The demo key pair (private PEM, public PEM), generated on first use.
pub fn demo_key(data_dir: &Path) -> anyhow::Result<(String, String)> {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(private) => {
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(&private).with_context(|| {
                format!("{} is not a PKCS#8 RSA key; delete it to generate another", path.display())
            })?;
            let public = key.to_public_key().to_public_key_pem(LineEnding::LF)?;
            return Ok((private, public));
        }
        // Only a missing key is generated; an unreadable one is an error, never silently replaced.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let (private, public) = canaries::credentials::generate_rsa_key().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::config::write_private(&path, &private).with_context(|| format!("writing {}", path.display()))?;
    Ok((private, public))
}

/// What our sandboxes accept: the demo key, plus their own defaults (MESH mailboxes, ASIDs).
pub fn sandbox_config(data_dir: &Path) -> anyhow::Result<sandboxes::SandboxConfig> {
    let (_, public) = demo_key(data_dir)?;
    Ok(sandboxes::SandboxConfig {
        client_keys: vec![sandboxes::ClientKey {
            api_key: DEMO_API_KEY.into(),
            kid: DEMO_KID.into(),
            public_key_pem: public,
        }],
        ..sandboxes::SandboxConfig::default()
    })
}

/// Days from the demo's start to its signing key's rotation date.
const DEMO_ROTATION_DAYS: i64 = 25;

/// The `demo` canary environment: every API at our sandboxes on `root` (e.g. `http://127.0.0.1:4380`).
pub fn environment(root: &str, data_dir: &Path) -> anyhow::Result<EnvironmentConfig> {
    let (private, _) = demo_key(data_dir)?;
    Ok(environment_with_key(root, private))
}

fn environment_with_key(root: &str, private: String) -> EnvironmentConfig {
    EnvironmentConfig {
        token_url: Some(format!("{root}/oauth2/token")),
        api_key: Some(SecretRef::inline(DEMO_API_KEY)),
        private_key: Some(SecretRef::inline(private)),
        kid: Some(DEMO_KID.into()),
        // So the demo shows a credential nearing its date: warned on the overview, not yet alerted.
        kid_rotate_by: Some(
            (chrono::Utc::now() + chrono::Duration::days(DEMO_ROTATION_DAYS)).format("%Y-%m-%d").to_string(),
        ),
        pds_url: Some(format!("{root}/personal-demographics/FHIR/R4")),
        nrl_producer_url: Some(format!("{root}/record-locator/producer/FHIR/R4")),
        nrl_consumer_url: Some(format!("{root}/record-locator/consumer/FHIR/R4")),
        ods_code: Some(DEMO_ODS.into()),
        gpconnect: GpConnectEnvironment {
            url: Some(format!("{root}/gpconnect/fhir")),
            ..GpConnectEnvironment::default()
        },
        mesh: MeshEnvironment {
            url: Some(format!("{root}/messageexchange")),
            password: Some(SecretRef::inline("password")),
            shared_key: Some(SecretRef::inline("TestKey")),
            recipient: Some("X26ABC2".into()),
            ..MeshEnvironment::default()
        },
        // The sandboxes sign their test users straight in, so the demo checks the whole sign-in.
        cis2: IdentityEnvironment {
            issuer: Some(format!("{root}/cis2")),
            client_id: Some("pathwatch-demo".into()),
            client_secret: Some(SecretRef::inline("demo-client-secret")),
            sign_in: true,
            ..IdentityEnvironment::default()
        },
        nhslogin: IdentityEnvironment {
            issuer: Some(format!("{root}/nhslogin")),
            client_id: Some("pathwatch-demo".into()),
            sign_in: true,
            vtr: Some(r#"["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]"#.into()),
            ..IdentityEnvironment::default()
        },
    }
}

/// The demo environment without its key, for validating configuration before the key exists.
pub fn environment_shape() -> EnvironmentConfig {
    let mut env = environment_with_key("http://127.0.0.1:4380", String::new());
    env.private_key = Some(SecretRef::inline(""));
    env
}

/// Adds the `demo` environment unless the configuration defines one itself.
pub fn add_demo_environment(config: &mut crate::config::Config) -> anyhow::Result<()> {
    if config.canaries.environments.contains_key(DEMO_ENVIRONMENT) {
        return Ok(());
    }
    let root = format!("http://{}", config.sandbox.listen);
    let mut env = environment(&root, &config.data_dir)?;
    // The inboxes are read beside a MESH flow: only with one against the demo are they watched: the
    // recipient's inbox (the canary collects its own messages) and one nobody collects.
    let mesh_flow = config
        .canaries
        .effective_flows()
        .iter()
        .any(|f| f.kind == canaries::FlowKind::Mesh && f.environment == DEMO_ENVIRONMENT);
    if mesh_flow {
        env.mesh.backlog = ["X26ABC2", "X26ABC3"]
            .map(|mailbox| WatchedInbox {
                mailbox: mailbox.into(),
                password: Some(SecretRef::inline("password")),
                max_messages: Some(100),
                max_age_minutes: Some(60),
            })
            .to_vec();
        env.mesh.backlog_interval_s = 60;
    }
    config.canaries.environments.insert(DEMO_ENVIRONMENT.into(), env);
    Ok(())
}

/// Starts our sandboxes on `sandbox.listen` with the demo credentials.
pub async fn start_sandbox(config: &crate::config::Config) -> anyhow::Result<sandboxes::Sandbox> {
    let listen = config.sandbox.listen;
    let sandbox = sandboxes::SandboxConfig {
        admin_token: config.sandbox.admin_token.clone(),
        require_auth: config.sandbox.require_auth,
        ..sandbox_config(&config.data_dir)?
    };
    sandboxes::Sandbox::start(listen, sandbox)
        .await
        .with_context(|| format!("starting the sandboxes on {listen} (key `sandbox.listen`)"))
}

pub fn describe_sandbox(urls: &sandboxes::SandboxUrls) -> String {
    [
        format!("sandbox PDS: {}", urls.pds),
        format!("sandbox GP Connect: {}", urls.gpconnect),
        format!("sandbox NRL: {} (consumer {})", urls.nrl_producer, urls.nrl_consumer),
        format!("sandbox MESH: {}", urls.mesh),
        format!("sandbox token endpoint: {}", urls.token),
        format!("sandbox NHS CIS2: {} (NHS login {})", urls.cis2, urls.nhslogin),
        format!("sandbox fault injection: {}/faults", urls.admin),
    ]
    .join("\n")
}

/// Demo mode's hazard log: the starter log for NHS API integrations, loaded into the hazard log
/// (`<data_dir>/hazards.db`, or the PostgreSQL state) the first time; an existing log is left as it is.
pub async fn load_starter_hazards(config: &crate::config::Config) -> anyhow::Result<String> {
    let log = config.open_hazard_log().await?;
    let path = match config.location_of("hazards.db") {
        state::Location::Sqlite(path) => path.display().to_string(),
        state::Location::Postgres(_) => "the PostgreSQL state database".to_string(),
    };
    if !log.list().await?.is_empty() {
        return Ok(format!("hazard log: {path}"));
    }
    let starter = hazard_log::io::from_yaml(hazard_log::STARTER_LOG)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64)?;
    log.import(&starter, "pathwatch", "Demo mode: the starter hazard log for NHS API integrations", now).await?;
    Ok(format!("hazard log: {} (starter log, {} hazards)", path, starter.len()))
}
