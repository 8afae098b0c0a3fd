//! Accounts of people who sign in through an OpenID Connect provider (NHS CIS2): who the provider
//! says they are, and the account made or refreshed from it at each sign-in. They have no password
//! here; `verify` and `set_password` refuse them.

use serde::Serialize;
use sqlx::Row;

use super::{check_organisation, valid_name, Account, AccountError, Accounts, Role};

/// Names of accounts made by OpenID Connect sign-in start with this; `create` refuses them.
pub const OIDC_PREFIX: &str = "oidc-";

/// Who an identity provider says someone is, and what they may do here.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub organisations: Vec<String>,
    /// Every (role, organisations) the person could act as, when there is more than one and they
    /// chose none at the provider: they choose here, before a session starts.
    #[serde(default)]
    pub alternatives: Vec<(Role, Vec<String>)>,
}

impl OidcIdentity {
    /// The account name for this identity: `oidc-<subject>` when the subject is made of account
    /// name characters, else `oidc-` and 32 hex digits of its SHA-256. The issuer and subject are
    /// stored too and must match at every sign-in, so a look-alike subject cannot take the name.
    pub fn account_name(&self) -> String {
        let plain = format!("{OIDC_PREFIX}{}", self.subject);
        if valid_name(&plain) {
            plain
        } else {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(self.subject.as_bytes()));
            format!("{OIDC_PREFIX}{}", &digest[..32])
        }
    }
}

impl Accounts {
    /// Creates or refreshes the account of someone the identity provider vouched for: its role,
    /// organisations and name are replaced by what the provider says now. Refuses a disabled
    /// account (the provider cannot undo an administrator's decision) and a name that belongs to a
    /// local account or to another identity.
    pub async fn sign_in_oidc(&self, identity: &OidcIdentity) -> Result<Account, AccountError> {
        let name = identity.account_name();
        identity.organisations.iter().try_for_each(|o| check_organisation(o))?;
        let organisations = serde_json::to_string(&identity.organisations).unwrap_or_else(|_| "[]".into());
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query("SELECT oidc_issuer, oidc_subject, disabled FROM accounts WHERE name = $1")
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            None => {
                let now = domain::Clock::System.now_ns_i64();
                sqlx::query(
                    "INSERT INTO accounts (name, role, organisations, password_hash, must_change_password, disabled, \
                     created_ns, password_changed_ns, oidc_issuer, oidc_subject, display_name, signed_in_ns) \
                     VALUES ($1, $2, $3, '', 0, 0, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&name)
                .bind(identity.role.as_str())
                .bind(&organisations)
                .bind(now)
                .bind(now)
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .bind(&identity.display_name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Some(row) => {
                let issuer: Option<String> = row.try_get("oidc_issuer")?;
                let subject: Option<String> = row.try_get("oidc_subject")?;
                if issuer.as_deref() != Some(identity.issuer.as_str())
                    || subject.as_deref() != Some(identity.subject.as_str())
                {
                    return Err(AccountError::NameTaken(name));
                }
                if state::flag(&row, "disabled")? {
                    return Err(AccountError::Disabled(name));
                }
                sqlx::query(
                    "UPDATE accounts SET role = $1, organisations = $2, display_name = $3, signed_in_ns = $4 WHERE name = $5",
                )
                .bind(identity.role.as_str())
                .bind(&organisations)
                .bind(&identity.display_name)
                .bind(domain::Clock::System.now_ns_i64())
                .bind(&name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.get(&name).await
    }

    /// When a single-sign-on account last signed in through its provider (0: not since this was kept).
    pub async fn signed_in_ns(&self, name: &str) -> Result<i64, AccountError> {
        let at: Option<i64> = sqlx::query_scalar("SELECT signed_in_ns FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        at.ok_or_else(|| AccountError::NotFound(name.into()))
    }
}
