//! Personal API tokens: how scripts use the JSON API without a browser session. A token is `pw_`
//! and 64 hex digits (256 random bits; the prefix lets secret scanners recognise a leaked one), shown
//! once when made and stored only as its SHA-256, with a label, an expiry and a revocation time.
//!
//! Tokens are accepted only by the JSON API (`api::ApiUser`), never by the HTML pages or forms: a
//! browser never sends them by itself, so they carry none of the cookie's CSRF risk, and they must
//! not become a way round it. Nothing here logs or returns a token after it was made.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::accounts::{AccountError, Accounts};

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "pw_";
/// Days a token lasts when no expiry is given.
pub const DEFAULT_EXPIRY_DAYS: u32 = 90;
/// The longest a token may last: a forgotten token should not work for ever.
pub const MAX_EXPIRY_DAYS: u32 = 366;
const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token lasts 1 to {MAX_EXPIRY_DAYS} days, not {0}")]
    BadExpiry(u32),
    #[error("a label is at most 100 characters, without control characters")]
    BadLabel,
    #[error("account {0:?} is disabled: it cannot have API tokens")]
    Disabled(String),
    #[error("account {account:?} has no token {id}")]
    NotFound { account: String, id: i64 },
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Account(AccountError::Store(e))
    }
}

/// What is kept about a token (never the token): a row of `api_tokens`, read by column name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub account: String,
    pub label: String,
    pub created_ns: i64,
    pub expires_ns: i64,
    pub last_used_ns: Option<i64>,
    pub revoked_ns: Option<i64>,
}

impl ApiToken {
    /// `active`, `expired` or `revoked`.
    pub fn state(&self, now_ns: i64) -> &'static str {
        if self.revoked_ns.is_some() {
            "revoked"
        } else if now_ns >= self.expires_ns {
            "expired"
        } else {
            "active"
        }
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The API tokens in `dashboard.db` (the accounts' database).
#[derive(Clone)]
pub struct ApiTokens {
    pool: state::Pool,
}

impl ApiTokens {
    pub fn new(accounts: &Accounts) -> ApiTokens {
        ApiTokens { pool: accounts.pool().clone() }
    }

    /// Makes a token for `account` lasting `expires_days` (default 90); returns what is kept and
    /// the token, which exists nowhere else from now on.
    pub async fn create(
        &self,
        accounts: &Accounts,
        account: &str,
        label: &str,
        expires_days: Option<u32>,
        now_ns: i64,
    ) -> Result<(ApiToken, String), TokenError> {
        let days = expires_days.unwrap_or(DEFAULT_EXPIRY_DAYS);
        if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
            return Err(TokenError::BadExpiry(days));
        }
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(TokenError::BadLabel);
        }
        if accounts.get(account).await?.disabled {
            return Err(TokenError::Disabled(account.into()));
        }
        let token = format!("{TOKEN_PREFIX}{}", crate::auth::sessions::random_token()?);
        let expires_ns = now_ns + i64::from(days) * NS_PER_DAY;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (account, label, token_sha256, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(account)
        .bind(label)
        .bind(digest(&token))
        .bind(now_ns)
        .bind(expires_ns)
        .fetch_one(&self.pool)
        .await?;
        let kept = ApiToken {
            id,
            account: account.into(),
            label: label.into(),
            created_ns: now_ns,
            expires_ns,
            last_used_ns: None,
            revoked_ns: None,
        };
        Ok((kept, token))
    }

    /// The account's tokens, newest first, revoked and expired ones included.
    pub async fn list(&self, accounts: &Accounts, account: &str) -> Result<Vec<ApiToken>, TokenError> {
        accounts.get(account).await?;
        let tokens = sqlx::query_as(
            "SELECT id, account, label, created_ns, expires_ns, last_used_ns, revoked_ns FROM api_tokens \
             WHERE account = $1 ORDER BY id DESC",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        Ok(tokens)
    }

    /// Revokes token `id` of `account` (revoking twice is not an error).
    pub async fn revoke(&self, account: &str, id: i64, now_ns: i64) -> Result<(), TokenError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_ns = COALESCE(revoked_ns, $1) WHERE id = $2 AND account = $3")
                .bind(now_ns)
                .bind(id)
                .bind(account)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::NotFound { account: account.into(), id });
        }
        Ok(())
    }

    /// The account a presented token belongs to, if the token is known, unexpired and not revoked
    /// (the caller still checks the account is enabled). Records when it was last used.
    pub async fn authenticate(&self, token: &str, now_ns: i64) -> Result<Option<String>, TokenError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let account: Option<String> = sqlx::query_scalar(
            "UPDATE api_tokens SET last_used_ns = $1 WHERE token_sha256 = $2 AND revoked_ns IS NULL AND expires_ns > $3 \
             RETURNING account",
        )
        .bind(now_ns)
        .bind(digest(token))
        .bind(now_ns)
        .fetch_optional(&self.pool)
        .await?;
        Ok(account)
    }
}
