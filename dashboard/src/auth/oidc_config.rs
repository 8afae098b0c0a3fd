//! `[dashboard.oidc]` as configured: single sign-on through an OpenID Connect provider (NHS CIS2
//! or another). Written once here; the binary reads it with its own secret references (`S`: a file
//! or an environment variable), checks it naming each key, reads the secrets into a [`ClientAuth`],
//! and hands the rest over as `OidcConfig<()>`.
//!
//! [`ClientAuth`]: crate::auth::oidc::ClientAuth

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::accounts::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig<S> {
    /// Button text on the sign-in page: "Sign in with {display_name}".
    pub display_name: String,
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    pub client_id: String,
    /// `client_secret_basic` (or `_post` when the provider offers only that).
    pub client_secret: Option<S>,
    /// When the provider stops accepting `client_secret` (`YYYY-MM-DD`), as it stated when issuing
    /// it: the dashboard warns 30 days before and alerts at 14 and 7.
    pub client_secret_expires: Option<String>,
    /// `private_key_jwt` with RS512: a PEM RSA private key (what CIS2 uses).
    pub private_key: Option<S>,
    /// `kid` of `private_key` as registered with the provider.
    pub key_id: Option<String>,
    pub scopes: Vec<String>,
    /// Requested authentication assurance (CIS2: e.g. `AAL3_ANY`); passed on, not enforced here.
    pub acr_values: Option<String>,
    /// Dotted path to the role values in the ID token or, failing that, userinfo.
    pub role_claim: String,
    /// Claim value → Pathwatch role. Values not listed give no access.
    pub roles: BTreeMap<String, Role>,
    /// Dotted path to the person's ODS codes; unset: accounts see every organisation.
    pub organisation_claim: Option<String>,
    pub name_claim: String,
}

impl<S> Default for OidcConfig<S> {
    fn default() -> Self {
        OidcConfig {
            display_name: "single sign-on".into(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_expires: None,
            private_key: None,
            key_id: None,
            scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            acr_values: None,
            role_claim: "roles".into(),
            roles: BTreeMap::new(),
            organisation_claim: None,
            name_claim: "name".into(),
        }
    }
}

impl<S> OidcConfig<S> {
    /// The settings without the secret references (once they are read into a `ClientAuth`).
    pub fn without_secrets(&self) -> OidcConfig<()> {
        OidcConfig {
            display_name: self.display_name.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: None,
            client_secret_expires: self.client_secret_expires.clone(),
            private_key: None,
            key_id: self.key_id.clone(),
            scopes: self.scopes.clone(),
            acr_values: self.acr_values.clone(),
            role_claim: self.role_claim.clone(),
            roles: self.roles.clone(),
            organisation_claim: self.organisation_claim.clone(),
            name_claim: self.name_claim.clone(),
        }
    }
}
