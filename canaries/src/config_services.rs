//! How the canaries reach each national service that needs more than a URL: GP Connect (the Spine
//! Secure Proxy, ASIDs, the JWT's practitioner), MESH (mailboxes, keys, delivery waits) and the
//! identity services (NHS CIS2, NHS login). Part of the `[canaries.environments.<name>]` configuration
//! (`config.rs`), which checks the rest.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::SecretRef;
use crate::flows::FlowKind;

/// An identity service (NHS CIS2 or NHS login) as the identity flows check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityEnvironment {
    /// The issuer: discovery is read from `{issuer}/.well-known/openid-configuration`, and the
    /// document must name this issuer.
    pub issuer: Option<String>,
    /// Our client at the service: the token endpoint is asked with it.
    pub client_id: Option<String>,
    /// When the client authenticates with a secret (CIS2 allows it); otherwise a `private_key_jwt`
    /// assertion signed with this environment's `private_key` (`kid`).
    pub client_secret: Option<SecretRef>,
    /// Also sign a test user in (authorization code with PKCE) and check the ID token: only against a
    /// service that signs test users in without a login page (our sandboxes, a test identity provider).
    pub sign_in: bool,
    /// The redirect URI registered for the client (never followed: the code is read from the redirect).
    pub redirect_uri: String,
    /// NHS login: the vectors of trust asked for when signing in (a JSON array).
    pub vtr: Option<String>,
    /// The most the service's clock may differ from ours (seconds): beyond it, ID tokens risk being
    /// refused as not yet valid or already expired.
    pub max_clock_skew_s: u64,
    /// A signing key whose certificate (`x5c`) expires within this many days fails the check: a key
    /// about to rotate out.
    pub min_key_days: u64,
}

impl Default for IdentityEnvironment {
    fn default() -> Self {
        IdentityEnvironment {
            issuer: None,
            client_id: None,
            client_secret: None,
            sign_in: false,
            redirect_uri: "https://pathwatch.invalid/callback".into(),
            vtr: None,
            max_clock_skew_s: 60,
            min_key_days: 14,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpConnectEnvironment {
    /// Provider FHIR base URL (through the Spine Secure Proxy in real environments).
    pub url: Option<String>,
    pub consumer_asid: String,
    pub provider_asid: String,
    pub provider_ods_code: String,
    pub practitioner_id: String,
    pub sds_user_id: String,
    pub sds_role_profile_id: String,
    /// Mutual TLS with the Spine Secure Proxy: client certificate and key (PEM), and the CA that
    /// signs the server.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
}

impl Default for GpConnectEnvironment {
    fn default() -> Self {
        GpConnectEnvironment {
            url: None,
            consumer_asid: "200000000359".into(),
            provider_asid: "918999198738".into(),
            provider_ods_code: "B82617".into(),
            practitioner_id: "1".into(),
            sds_user_id: "G13579135".into(),
            sds_role_profile_id: "111111111".into(),
            client_cert: None,
            client_key: None,
            ca_cert: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshEnvironment {
    /// Base URL up to and including `/messageexchange`.
    pub url: Option<String>,
    pub mailbox: String,
    pub password: Option<SecretRef>,
    pub shared_key: Option<SecretRef>,
    /// Recipient mailbox the canary sends to and reads from; defaults to `mailbox` (loopback).
    pub recipient: Option<String>,
    pub recipient_password: Option<SecretRef>,
    pub workflow_id: String,
    /// Mutual TLS: client certificate and key (PEM), and the CA that signs the server.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    /// How long to poll the inbox before declaring the message lost (s).
    pub delivery_timeout_s: u64,
    pub poll_interval_ms: u64,
    /// Mailboxes whose inbox backlog (messages waiting, the oldest one's age) is read every
    /// `backlog_interval_s`, beside this environment's MESH flow.
    pub backlog: Vec<WatchedInbox>,
    /// How often the watched inboxes are read (s): 60 to 86,400.
    pub backlog_interval_s: u64,
}

/// A mailbox whose inbox is watched for messages nobody collects: its list of waiting messages is
/// read (never downloaded or acknowledged), and a check is bad when it could not be read or is over
/// a limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedInbox {
    pub mailbox: String,
    /// Its password; may be left out for the flow's own sender or recipient mailbox.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// More messages waiting than this is a bad check; none: no limit on the count.
    #[serde(default)]
    pub max_messages: Option<u64>,
    /// An oldest message older than this (minutes) is a bad check. Default 60; 0: no limit; at
    /// most 7,200 (MESH makes a message nobody collects undeliverable after five days).
    #[serde(default = "default_max_age_minutes")]
    pub max_age_minutes: Option<u32>,
}

fn default_max_age_minutes() -> Option<u32> {
    Some(60)
}

/// Most watched mailboxes per environment.
pub const MAX_WATCHED_INBOXES: usize = 20;

impl MeshEnvironment {
    /// Checks the watched inboxes; an error names the field under `mesh.`.
    pub fn check_backlog(&self) -> Result<(), (String, String)> {
        if self.backlog.is_empty() {
            return Ok(());
        }
        if !(60..=86_400).contains(&self.backlog_interval_s) {
            return Err(("backlog_interval_s".into(), format!("{} is not from 60 to 86400", self.backlog_interval_s)));
        }
        if self.backlog.len() > MAX_WATCHED_INBOXES {
            return Err(("backlog".into(), format!("at most {MAX_WATCHED_INBOXES} mailboxes are watched")));
        }
        let own = |mailbox: &str| {
            mailbox.eq_ignore_ascii_case(&self.mailbox)
                || self.recipient.as_deref().is_some_and(|r| mailbox.eq_ignore_ascii_case(r))
        };
        for (i, watched) in self.backlog.iter().enumerate() {
            let field = |name: &str| format!("backlog[{i}].{name}");
            let m = &watched.mailbox;
            if m.is_empty() || m.len() > 64 || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err((field("mailbox"), format!("{m:?} is not a mailbox id (letters, digits, '-', '_')")));
            }
            if self.backlog[..i].iter().any(|w| w.mailbox.eq_ignore_ascii_case(m)) {
                return Err((field("mailbox"), format!("{m} is watched twice")));
            }
            if watched.password.is_none() && !own(m) {
                return Err((field("password"), format!("{m} is not the flow's own mailbox: give its password")));
            }
            if watched.max_age_minutes.is_some_and(|a| a > 7_200) {
                return Err((field("max_age_minutes"), "must be at most 7200 (five days); 0 for no limit".into()));
            }
        }
        Ok(())
    }
}

impl Default for MeshEnvironment {
    fn default() -> Self {
        MeshEnvironment {
            url: None,
            mailbox: "X26ABC1".into(),
            password: None,
            shared_key: None,
            recipient: None,
            recipient_password: None,
            workflow_id: "TEST_WORKFLOW".into(),
            client_cert: None,
            client_key: None,
            ca_cert: None,
            delivery_timeout_s: 30,
            poll_interval_ms: 250,
            backlog: Vec::new(),
            backlog_interval_s: 300,
        }
    }
}

impl IdentityEnvironment {
    /// The identity settings a flow of `kind` needs, checked; `has_key`: the environment has a
    /// private key and kid to sign a `private_key_jwt` assertion. An error names the field.
    pub fn check(&self, kind: FlowKind, has_key: bool) -> Result<(), (&'static str, String)> {
        let redirect_ok = url::Url::parse(&self.redirect_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !redirect_ok {
            return Err(("redirect_uri", format!("{:?} is not an http(s) URL", self.redirect_uri)));
        }
        if let Some(vtr) = &self.vtr {
            if serde_json::from_str::<Vec<String>>(vtr).map_or(true, |v| v.is_empty()) {
                return Err(("vtr", format!("{vtr:?} is not a JSON array of vectors of trust, e.g. [\"P9.Cp.Cd\"]")));
            }
        }
        if self.max_clock_skew_s > 3600 {
            return Err(("max_clock_skew_s", format!("{} is more than an hour", self.max_clock_skew_s)));
        }
        if self.min_key_days > 3650 {
            return Err(("min_key_days", format!("{} is more than ten years", self.min_key_days)));
        }
        if kind == FlowKind::NhsLogin && self.client_secret.is_some() {
            return Err((
                "client_secret",
                "NHS login clients authenticate with private_key_jwt (the environment's private_key and kid), not a secret"
                    .into(),
            ));
        }
        if self.sign_in && self.client_secret.is_none() && !has_key {
            return Err((
                "sign_in",
                "signing in needs client_secret, or the environment's private_key and kid for a private_key_jwt assertion"
                    .into(),
            ));
        }
        Ok(())
    }
}
