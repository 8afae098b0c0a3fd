//! `[dashboard.oidc]` (its fields are the dashboard's `OidcConfig`): its validation (every message
//! names its key) and the wiring into the dashboard's provider.
//! Secrets are `{ file = … }` or `{ env = … }` (the canaries' `SecretRef`), read once at start-up,
//! never literal in the file and never printed.

use anyhow::Context;
use canaries::SecretRef;
use dashboard::auth::oidc::{acceptable_url, ClientAuth, OidcProvider, OidcSettings};

/// `[dashboard.oidc]` with its secrets given as file or environment references.
pub type OidcConfig = dashboard::auth::oidc::OidcConfig<SecretRef>;

fn secret_shape(secret: &Option<SecretRef>) -> bool {
    secret.as_ref().is_none_or(|s| s.file.is_some() != s.env.is_some())
}

/// Problems with `[dashboard.oidc]`, each naming its key. `public_url` is the dashboard's address
/// (the redirect URI is built from it).
pub fn validate(o: &OidcConfig, public_url: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| problems.push(format!("key `dashboard.oidc.{key}`: {message}"));
    if !acceptable_url(&o.issuer) {
        problem("issuer", format!("{:?} must be an https URL (http only on 127.0.0.1 or localhost)", o.issuer));
    }
    if o.client_id.trim().is_empty() {
        problem("client_id", "must be set (the client id registered with the provider)".into());
    }
    match (&o.client_secret, &o.private_key) {
        (Some(_), Some(_)) => problem("client_secret", "give `client_secret` or `private_key`, not both".into()),
        (None, None) => problem("private_key", "give `private_key` (private_key_jwt) or `client_secret`".into()),
        _ => {}
    }
    for (key, secret) in [("client_secret", &o.client_secret), ("private_key", &o.private_key)] {
        if !secret_shape(secret) {
            problem(key, "give exactly one of `file` or `env`".into());
        }
    }
    if let Some(date) = &o.client_secret_expires {
        if o.client_secret.is_none() {
            problem("client_secret_expires", "only means something with `client_secret`".into());
        } else if canaries::expiry::date_seconds(date).is_none() {
            problem("client_secret_expires", format!("{date:?} is not a date (YYYY-MM-DD)"));
        }
    }
    if o.key_id.is_some() && o.private_key.is_none() {
        problem("key_id", "only means something with `private_key`".into());
    }
    if !o.scopes.iter().any(|s| s == "openid") {
        problem("scopes", "must include \"openid\"".into());
    }
    if o.roles.is_empty() {
        problem(
            "roles",
            "map at least one claim value to a role, e.g. `roles = { \"pathwatch-oncall\" = \"oncall\" }`".into(),
        );
    }
    for (key, path) in [
        ("role_claim", Some(&o.role_claim)),
        ("name_claim", Some(&o.name_claim)),
        ("organisation_claim", o.organisation_claim.as_ref()),
    ] {
        if path.is_some_and(|p| p.is_empty() || p.split('.').any(str::is_empty)) {
            problem(key, "must be a claim name or a dotted path such as `realm_access.roles`".into());
        }
    }
    if !acceptable_url(public_url) {
        problems.push(format!(
            "key `dashboard.public_url`: {public_url:?} must be an https URL for single sign-on (http only on \
             127.0.0.1 or localhost): the provider sends people back to <public_url>/auth/oidc/callback"
        ));
    }
    problems
}

/// Reads the secrets and builds the dashboard's provider. Nothing is fetched from the provider yet.
pub fn provider(o: &OidcConfig, public_url: &str) -> anyhow::Result<OidcProvider> {
    let client_auth = match (&o.client_secret, &o.private_key) {
        (Some(secret), None) => {
            ClientAuth::Secret(secret.resolve("dashboard.oidc.client_secret")?.expose().to_string())
        }
        (None, Some(key)) => {
            let pem = key.resolve("dashboard.oidc.private_key")?;
            ClientAuth::private_key_pem(pem.expose(), o.key_id.clone()).context("key `dashboard.oidc.private_key`")?
        }
        _ => anyhow::bail!("key `dashboard.oidc.private_key`: give `private_key` or `client_secret`"),
    };
    let settings = OidcSettings {
        config: o.without_secrets(),
        client_auth,
        redirect_uri: format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
    };
    OidcProvider::new(settings).context("key `dashboard.oidc`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dashboard::auth::accounts::Role;

    fn load(toml: &str) -> anyhow::Result<crate::config::Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        std::fs::write(&path, toml).unwrap();
        crate::config::load(Some(&path), None)
    }

    #[test]
    fn single_sign_on_settings_are_checked_naming_the_key() {
        let good = "[dashboard.oidc]\ndisplay_name = \"NHS CIS2\"\nissuer = \"https://idp.example/realms/x\"\n\
                    client_id = \"pw\"\nprivate_key = { file = \"/etc/pathwatch/cis2.pem\" }\nkey_id = \"k1\"\n\
                    roles = { \"R8001\" = \"oncall\" }\n";
        let config = load(good).unwrap();
        let oidc = config.dashboard.oidc.unwrap();
        assert_eq!(oidc.scopes, ["openid", "profile", "email"]);
        assert_eq!(oidc.roles["R8001"], Role::Oncall);
        for (change, key) in [
            (good.replace("https://idp.example", "http://idp.example"), "dashboard.oidc.issuer"),
            (good.replace("client_id = \"pw\"", "client_id = \"\""), "dashboard.oidc.client_id"),
            (good.replace("\"oncall\"", "\"root\""), "dashboard.oidc.roles"),
            (good.replace("roles = { \"R8001\" = \"oncall\" }", ""), "dashboard.oidc.roles"),
            (good.replace("{ file = \"/etc/pathwatch/cis2.pem\" }", "\"literal\""), "dashboard.oidc.private_key"),
            (
                good.replace("private_key = ", "client_secret = { env = \"X\" }\nprivate_key = "),
                "dashboard.oidc.client_secret",
            ),
            (format!("{good}scopes = [\"profile\"]\n"), "dashboard.oidc.scopes"),
            (format!("{good}role_claim = \"a..b\"\n"), "dashboard.oidc.role_claim"),
            (format!("[dashboard]\npublic_url = \"http://pathwatch.example\"\n{good}"), "dashboard.public_url"),
        ] {
            let error = load(&change).unwrap_err().to_string();
            assert!(error.contains(key), "expected {key} in: {error}");
        }
    }

    #[test]
    fn secrets_are_read_at_start_up_and_never_printed() {
        let o = OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "pw".into(),
            client_secret: Some(SecretRef {
                env: Some("PATHWATCH_TEST_OIDC_SECRET_UNSET".into()),
                ..Default::default()
            }),
            ..OidcConfig::default()
        };
        let error = provider(&o, "https://pathwatch.example").unwrap_err().to_string();
        assert!(error.contains("dashboard.oidc.client_secret") && error.contains("not set"), "{error}");
        let o = OidcConfig { client_secret: Some(SecretRef::inline("s3cret-value")), ..o };
        let built = provider(&o, "https://pathwatch.example").unwrap();
        assert!(!format!("{built:?}").contains("s3cret-value"));
    }
}
