//! Sign-in throttling, kept in `dashboard.db` so a restart forgives nothing. Every attempt is
//! counted *before* the password is checked, in one transaction with the check of the limits, so
//! parallel requests cannot slip past them. Three limits over the same window:
//! - per account name and address: the ordinary brute-force brake (`max_failed_sign_ins`);
//! - per address over all names: a spray of names from one place (ten times that);
//! - per account name over all addresses: guessing one account's password from many places
//!   (four times that). This one can lock a person out while an attack lasts; it ends with the
//!   window, or at once when the password is set anew (`pathwatch user reset-password`).
//!
//! A success forgives that name's attempts from that address, including their share of the
//! other two counts; never anyone else's.

use std::time::Duration;

use crate::auth::accounts::AccountError;

/// How many attempts each limit allows within `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_name_and_address: u32,
    pub per_address: u32,
    pub per_name: u32,
    pub window: Duration,
}

impl Limits {
    /// The limits derived from the one configured figure (`dashboard.max_failed_sign_ins`).
    pub fn from_max_failures(max_failures: usize, window: Duration) -> Limits {
        let max = u32::try_from(max_failures).unwrap_or(u32::MAX).max(1);
        Limits {
            per_name_and_address: max,
            per_address: max.saturating_mul(10),
            per_name: max.saturating_mul(4),
            window,
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    pool: state::Pool,
    limits: Limits,
}

/// An attempt that was counted: pass it to [`Throttle::succeeded`] if the password was right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    name: String,
    address: String,
}

impl Throttle {
    pub fn new(pool: state::Pool, limits: Limits) -> Throttle {
        Throttle { pool, limits }
    }

    /// Counts an attempt for `name` from `address` (None when unknown), or says how long to wait
    /// when a limit is reached; a refused attempt is not counted.
    pub async fn attempt(
        &self,
        name: &str,
        address: Option<&str>,
        now_ns: i64,
    ) -> Result<Result<Attempt, Duration>, AccountError> {
        let window_ns = i64::try_from(self.limits.window.as_nanos()).unwrap_or(i64::MAX);
        let cutoff = now_ns.saturating_sub(window_ns);
        let address = address.unwrap_or_default();
        // Account names are at most 64 characters; a longer typed name is kept only in part, so
        // the table cannot be filled with whatever a form carried.
        let name = name.char_indices().nth(128).map_or(name, |(end, _)| &name[..end]);
        let mut tx = state::begin_exclusive(&self.pool, "sign_in_attempts").await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE at_ns <= $1").bind(cutoff).execute(&mut *tx).await?;
        let counts = [
            (
                sqlx::query_as::<_, (i64, Option<i64>)>(
                    "SELECT COUNT(*), MIN(at_ns) FROM sign_in_attempts WHERE name = $1 AND address = $2",
                )
                .bind(name)
                .bind(address)
                .fetch_one(&mut *tx)
                .await?,
                self.limits.per_name_and_address,
            ),
            (
                sqlx::query_as("SELECT COUNT(*), MIN(at_ns) FROM sign_in_attempts WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?,
                self.limits.per_name,
            ),
            (
                // Unknown addresses are not one address: only the per-name limits apply to them.
                if address.is_empty() {
                    (0, None)
                } else {
                    sqlx::query_as("SELECT COUNT(*), MIN(at_ns) FROM sign_in_attempts WHERE address = $1")
                        .bind(address)
                        .fetch_one(&mut *tx)
                        .await?
                },
                self.limits.per_address,
            ),
        ];
        let wait = counts
            .iter()
            .filter(|((count, _), limit)| *count >= i64::from(*limit))
            .map(|((_, oldest), _)| oldest.unwrap_or(now_ns).saturating_add(window_ns).saturating_sub(now_ns))
            .max();
        if let Some(wait) = wait {
            tx.rollback().await?;
            return Ok(Err(Duration::from_nanos(wait.max(0) as u64)));
        }
        sqlx::query("INSERT INTO sign_in_attempts (name, address, at_ns) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(address)
            .bind(now_ns)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(Attempt { name: name.to_string(), address: address.to_string() }))
    }

    /// The attempt succeeded: that name's attempts from that address are forgiven.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), AccountError> {
        sqlx::query("DELETE FROM sign_in_attempts WHERE name = $1 AND address = $2")
            .bind(&attempt.name)
            .bind(&attempt.address)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    async fn throttle(dir: &std::path::Path) -> Throttle {
        let accounts = crate::auth::accounts::Accounts::open(&dir.join("dashboard.db")).await.unwrap();
        Throttle::new(accounts.pool().clone(), Limits::from_max_failures(5, Duration::from_secs(900)))
    }

    #[tokio::test]
    async fn attempts_are_counted_up_front_and_a_success_forgives_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let throttle = throttle(dir.path()).await;
        let t0 = 1_000_000 * SEC;
        for i in 0..5 {
            assert!(throttle.attempt("sam", Some("1.2.3.4"), t0).await.unwrap().is_ok(), "attempt {i}");
        }
        // The sixth, even one that would have succeeded, is refused until the window moves on.
        let sixth = throttle.attempt("sam", Some("1.2.3.4"), t0 + 60 * SEC).await.unwrap();
        assert_eq!(sixth, Err(Duration::from_secs(840)));
        assert!(throttle.attempt("jo", Some("1.2.3.4"), t0).await.unwrap().is_ok(), "other names are unaffected");
        let later = throttle.attempt("sam", Some("1.2.3.4"), t0 + 900 * SEC).await.unwrap().unwrap();
        throttle.succeeded(&later).await.unwrap();
        for _ in 0..5 {
            assert!(throttle.attempt("sam", Some("1.2.3.4"), t0 + 901 * SEC).await.unwrap().is_ok());
        }
    }

    #[tokio::test]
    async fn one_account_guessed_from_many_addresses_is_stopped_and_a_restart_forgives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_000_000 * SEC;
        {
            let throttle = throttle(dir.path()).await;
            // Four attempts from each of five addresses: 20, the per-account limit.
            for a in 0..5 {
                for _ in 0..4 {
                    let address = format!("10.0.0.{a}");
                    assert!(throttle.attempt("admin", Some(&address), t0).await.unwrap().is_ok());
                }
            }
        }
        // A new throttle on the same database, as after a restart.
        let throttle = throttle(dir.path()).await;
        let refused = throttle.attempt("admin", Some("10.0.0.99"), t0 + SEC).await.unwrap();
        assert_eq!(refused, Err(Duration::from_secs(899)), "a fresh address does not help");
        assert!(throttle.attempt("sam", Some("10.0.0.99"), t0 + SEC).await.unwrap().is_ok());
        assert!(throttle.attempt("admin", Some("10.0.0.1"), t0 + 900 * SEC).await.unwrap().is_ok(), "window passed");
    }

    #[tokio::test]
    async fn a_new_password_lifts_a_lock_out_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = crate::auth::accounts::Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
        accounts
            .create("admin", crate::auth::accounts::Role::Admin, &[], "correct horse battery", false)
            .await
            .unwrap();
        let throttle = Throttle::new(accounts.pool().clone(), Limits::from_max_failures(5, Duration::from_secs(900)));
        let now = domain::Clock::System.now_ns_i64();
        for a in 0..20 {
            assert!(throttle.attempt("admin", Some(&format!("10.0.1.{a}")), now).await.unwrap().is_ok());
        }
        assert!(throttle.attempt("admin", Some("10.0.1.99"), now).await.unwrap().is_err(), "locked out");
        accounts.set_password("admin", "a brand new passphrase", true).await.unwrap();
        assert!(throttle.attempt("admin", Some("10.0.1.99"), now).await.unwrap().is_ok(), "the reset lifts it");
    }

    #[tokio::test]
    async fn a_spray_of_names_from_one_address_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let throttle = throttle(dir.path()).await;
        let t0 = 1_000_000 * SEC;
        for i in 0..50 {
            assert!(throttle.attempt(&format!("user{i}"), Some("6.6.6.6"), t0).await.unwrap().is_ok(), "{i}");
        }
        assert!(throttle.attempt("user99", Some("6.6.6.6"), t0).await.unwrap().is_err());
        assert!(throttle.attempt("user99", Some("7.7.7.7"), t0).await.unwrap().is_ok());
        // Without a known address only the per-account limits apply.
        assert!(throttle.attempt("user100", None, t0).await.unwrap().is_ok());
    }
}
