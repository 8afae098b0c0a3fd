//! Leases: work that must run on one instance at a time (alert evaluation and notification, the
//! evidence and audit monitors, report delivery) runs only where the lease is held.
//!
//! A lease is a row in the state database: its holder, until when, and an epoch that grows by
//! one at every change of holder. Taking and renewing are one atomic upsert that succeeds only
//! for the holder or once the lease has expired, on SQLite (one machine) and PostgreSQL (many)
//! alike. The epoch is the fencing token: a write that must come from the leader checks, in its
//! own transaction, that the lease still names this holder and epoch ([`Fence::check`]), so an
//! instance that paused past its lease and woke up cannot act as leader any more.
//!
//! Times are the instances' own clocks (nanoseconds since the epoch): instances must agree
//! within a small part of the lease's length (NTP does).

use sqlx::Row as _;

use crate::Pool;

/// What holding a lease gives: who, and the epoch to fence writes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
}

/// Takes or renews the lease `name` for `holder` until `now_ns + ttl_ns`. Some(fence) when
/// `holder` holds it now (the epoch unchanged when it already held it); None while another
/// instance's lease has not expired.
pub async fn acquire(
    pool: &Pool,
    name: &str,
    holder: &str,
    now_ns: i64,
    ttl_ns: i64,
) -> Result<Option<Fence>, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO leases (name, holder, epoch, expires_ns) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (name) DO UPDATE SET \
           epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END, \
           holder = excluded.holder, expires_ns = excluded.expires_ns \
         WHERE leases.holder = excluded.holder OR leases.expires_ns < $4 \
         RETURNING epoch",
    )
    .bind(name)
    .bind(holder)
    .bind(now_ns.saturating_add(ttl_ns))
    .bind(now_ns)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => Some(Fence { name: name.to_string(), holder: holder.to_string(), epoch: row.try_get(0)? }),
        None => None,
    })
}

/// Gives the lease up at once (at shutdown), so another instance need not wait for it to expire.
pub async fn release(pool: &Pool, fence: &Fence) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE leases SET expires_ns = 0 WHERE name = $1 AND holder = $2 AND epoch = $3")
        .bind(&fence.name)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .execute(pool)
        .await?;
    Ok(())
}

/// Who holds `name` and until when, if anyone ever has.
pub async fn holder(pool: &Pool, name: &str) -> Result<Option<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT holder, epoch, expires_ns FROM leases WHERE name = $1").bind(name).fetch_optional(pool).await
}

impl Fence {
    /// Whether this fence still holds at `now_ns`, as the first statement of the caller's
    /// transaction. It writes the lease row (to itself), so the row stays locked until the caller
    /// commits: another instance's takeover waits for that commit (PostgreSQL's row lock, SQLite's
    /// write lock), and the write it guards can never land after a takeover.
    pub async fn check(&self, conn: &mut sqlx::AnyConnection, now_ns: i64) -> Result<bool, sqlx::Error> {
        let held = sqlx::query(
            "UPDATE leases SET expires_ns = expires_ns \
             WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_ns >= $4",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.epoch)
        .bind(now_ns)
        .execute(conn)
        .await?;
        Ok(held.rows_affected() == 1)
    }
}
