//! Signed-in sessions: a random token in a cookie, its SHA-256 in `dashboard.db`, a CSRF token per
//! session, an idle timeout and an absolute lifetime.
//!
//! Times are passed in (nanoseconds since the epoch) so the timeouts are testable without waiting.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::auth::accounts::AccountError;

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Signed out after this long without a request.
    pub idle_timeout_ns: i64,
    /// Signed out this long after signing in, however active.
    pub max_lifetime_ns: i64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account: String,
    pub csrf_token: String,
    /// The role and organisations this session acts as, when they are its own rather than the
    /// account's (a role chosen at single sign-on).
    pub acting: Option<(crate::auth::accounts::Role, Vec<String>)>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, AccountError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone)]
pub struct Sessions {
    pool: state::Pool,
    policy: SessionPolicy,
}

impl Sessions {
    pub fn new(pool: state::Pool, policy: SessionPolicy) -> Sessions {
        Sessions { pool, policy }
    }

    /// Starts a session for `account`; returns the cookie token (never stored as such).
    pub async fn start(&self, account: &str, now_ns: i64) -> Result<String, AccountError> {
        self.start_acting(account, None, now_ns).await
    }

    /// Starts a session that acts as `acting` (a role over organisations) rather than as whatever
    /// the account row says when each request is served: another sign-in of the same person as
    /// another role changes that session, not this one.
    pub async fn start_acting(
        &self,
        account: &str,
        acting: Option<(crate::auth::accounts::Role, &[String])>,
        now_ns: i64,
    ) -> Result<String, AccountError> {
        // Sessions nobody presents again are swept here, so the table does not grow for ever.
        sqlx::query("DELETE FROM sessions WHERE last_seen_ns < $1 OR created_ns < $2")
            .bind(now_ns - self.policy.idle_timeout_ns)
            .bind(now_ns - self.policy.max_lifetime_ns)
            .execute(&self.pool)
            .await?;
        let token = random_token()?;
        let (role, organisations) = match acting {
            Some((role, orgs)) => (role.as_str().to_string(), serde_json::to_string(orgs).unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        sqlx::query(
            "INSERT INTO sessions (token_sha256, account, csrf_token, created_ns, last_seen_ns, role, organisations) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(digest(&token))
        .bind(account)
        .bind(random_token()?)
        .bind(now_ns)
        .bind(now_ns)
        .bind(role)
        .bind(organisations)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The session for a cookie token, if it exists and has not timed out; touching it keeps it
    /// alive. An expired session is deleted.
    pub async fn find(&self, token: &str, now_ns: i64) -> Result<Option<Session>, AccountError> {
        let key = digest(token);
        let row = sqlx::query(
            "SELECT account, csrf_token, created_ns, last_seen_ns, role, organisations FROM sessions \
                 WHERE token_sha256 = $1",
        )
        .bind(&key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (created, seen): (i64, i64) = (row.try_get("created_ns")?, row.try_get("last_seen_ns")?);
        if now_ns - seen > self.policy.idle_timeout_ns || now_ns - created > self.policy.max_lifetime_ns {
            self.end(token).await?;
            return Ok(None);
        }
        sqlx::query("UPDATE sessions SET last_seen_ns = $1 WHERE token_sha256 = $2")
            .bind(now_ns)
            .bind(&key)
            .execute(&self.pool)
            .await?;
        let role: String = row.try_get("role")?;
        let acting = if role.is_empty() {
            None
        } else {
            let orgs: String = row.try_get("organisations")?;
            let account: String = row.try_get("account")?;
            let orgs: Vec<String> = serde_json::from_str(&orgs).map_err(|_| AccountError::Corrupt(account))?;
            Some((crate::auth::accounts::Role::parse(&role)?, orgs))
        };
        Ok(Some(Session { account: row.try_get("account")?, csrf_token: row.try_get("csrf_token")?, acting }))
    }

    pub async fn end(&self, token: &str) -> Result<(), AccountError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(digest(token)).execute(&self.pool).await?;
        Ok(())
    }
}
