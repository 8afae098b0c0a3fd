//! The embedded backend: one SQLite file in WAL mode, written through `sqlx`.
//!
//! Durability: `synchronous = FULL`, so a committed transaction survives a crash or power cut; the
//! collector acknowledges a batch only after its transaction commits.
//!
//! Longer than most files: it is the whole `TelemetryStore` implementation for SQLite, one method per
//! trait method, kept beside the writes it shares helpers with (access aggregates are in
//! `sqlite_access`, migrations in `sqlite_migrations`). Issue 17's PostgreSQL state store is where
//! it splits further.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::access::*;
use crate::model::*;
use crate::sequencer::{self, to_i64};
use crate::sqlite_migrations::store_migrator;
use crate::{StoreError, TelemetryStore};

/// Rows per multi-row INSERT: 16 columns × 1,000 stays under SQLite's 32,766 bound parameters.
const SPAN_ROWS_PER_STATEMENT: usize = 1_000;
const AUDIT_ROWS_PER_STATEMENT: usize = 1_000;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Opens (creating if needed) a SQLite database tuned for durable ingest: WAL, synchronous FULL,
/// a busy timeout instead of immediate "database is locked" errors.
///
/// Write transactions must start with `BEGIN IMMEDIATE`: a deferred transaction that reads first
/// (the sequencer reads the chain head) and writes later fails at once with SQLITE_BUSY_SNAPSHOT
/// when another connection committed in between (retention, the spool drainer), busy timeout or not.
pub async fn open_pool(path: &Path, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // Scans by the anomaly rules take seconds by design: slow statements are logged at INFO,
        // where a service's log shows them and a one-shot command's stays quiet.
        .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
    Ok(SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?)
}

impl SqliteStore {
    /// Whether the database answers a trivial query now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Opens the store at `path`, creating the file and running migrations as needed.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = open_pool(path, 4).await?;
        store_migrator().run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Stores spans and new audit events in ONE transaction: when this returns `Ok`, all of it is on
    /// disk; when it returns `Err`, none of it is.
    /// Several requests' batches are committed together (group commit); each gets its own receipt.
    pub async fn commit_ingest(
        &self,
        received_ns: u64,
        batches: Vec<SqliteBatch>,
    ) -> Result<Vec<IngestReceipt>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut receipts = Vec::with_capacity(batches.len());
        for batch in batches {
            let span_count = batch.spans.len();
            insert_spans(&mut tx, batch.spans).await?;
            let sequenced = sequencer::sequence(&mut tx, received_ns, batch.audit).await?;
            insert_audit(&mut tx, &sequenced.stored).await?;
            receipts.push(IngestReceipt {
                spans: span_count,
                audit_events: sequenced.stored.len(),
                audit_duplicates: sequenced.duplicates,
                audit_conflicts: sequenced.conflicts,
            });
        }
        tx.commit().await?;
        Ok(receipts)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the connections: every later call (on this store and its clones) fails with
    /// "pool closed", as during shutdown. Waits for calls in progress to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs arbitrary SQL: only for tests that tamper with stored data on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(AssertSqlSafe(sql.to_string())).execute(&self.pool).await?.rows_affected())
    }
}

/// A span ready to insert: its JSON columns encoded and its integers checked. Preparing is the
/// CPU-heavy part of an insert; callers do it on their own task ([`SqliteBatch::prepare`]) so the
/// single writer only binds and executes.
pub struct SqliteSpan {
    text: [String; 8],
    json: [String; 4],
    kind: i64,
    start_ns: i64,
    duration_ns: i64,
    status: i64,
}

impl SqliteSpan {
    pub fn prepare(s: Span) -> Result<SqliteSpan, StoreError> {
        Ok(SqliteSpan {
            kind: s.kind as i64,
            start_ns: to_i64(s.start_ns)?,
            duration_ns: s.duration_ns.min(i64::MAX as u64) as i64,
            status: s.status as i64,
            json: [json(&s.attributes), json(&s.resource), json(&s.events), json(&s.links)],
            text: [
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.name,
                s.service_name,
                s.scope_name,
                s.status_message,
                s.correlation_id,
            ],
        })
    }
}

/// One request's batch, prepared for [`SqliteStore::commit_ingest`].
pub struct SqliteBatch {
    pub spans: Vec<SqliteSpan>,
    pub audit: Vec<AuditEvent>,
}

impl SqliteBatch {
    pub fn prepare(batch: IngestBatch) -> Result<SqliteBatch, StoreError> {
        let spans = batch.spans.into_iter().map(SqliteSpan::prepare).collect::<Result<_, _>>()?;
        Ok(SqliteBatch { spans, audit: batch.audit })
    }
}

/// `AND name = ?N` when a span name is given. Written into the SQL rather than `(?N IS NULL OR
/// name = ?N)`, which stops SQLite using the (service, name, time) index and scans every span of
/// the service. Numbered parameters keep the others' positions either way.
fn name_filter(present: bool, param: u8) -> String {
    if present {
        format!("AND name = ?{param}")
    } else {
        String::new()
    }
}

/// The multi-row INSERT of `chunk` (binds take owned values: copying a span's strings costs far
/// less than its share of the commit).
fn span_insert(verb: &str, chunk: &[SqliteSpan]) -> QueryBuilder<Sqlite> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "{verb} INTO spans (trace_id, span_id, parent_span_id, name, service_name, scope_name, \
         status_message, correlation_id, attributes, resource, events, links, kind, start_ns, duration_ns, \
         status_code) "
    ));
    q.push_values(chunk, |mut b, s| {
        for text in s.text.iter().chain(&s.json) {
            b.push_bind(text.clone());
        }
        b.push_bind(s.kind).push_bind(s.start_ns).push_bind(s.duration_ns).push_bind(s.status);
    });
    q
}

/// Stores spans and adds them to the per-minute roll-up, in the caller's transaction. A span
/// already stored (a client retry, a spool replay) is neither stored nor counted again.
async fn insert_spans(conn: &mut SqliteConnection, spans: Vec<SqliteSpan>) -> Result<(), StoreError> {
    let mut minutes = MinuteSums::default();
    for chunk in spans.chunks(SPAN_ROWS_PER_STATEMENT) {
        // Rows get rowids above the largest so far (the transaction holds the write lock), so
        // when some spans were already stored, the ones this INSERT added are those above it.
        // Reading them back only then keeps the usual case at one statement per chunk: RETURNING
        // every row, or a savepoint around a plain INSERT, each cost about a quarter of ingest.
        let (before,): (Option<i64>,) = sqlx::query_as("SELECT max(rowid) FROM spans").fetch_one(&mut *conn).await?;
        let added = span_insert("INSERT OR IGNORE", chunk).build().execute(&mut *conn).await?.rows_affected();
        if added == chunk.len() as u64 {
            for s in chunk {
                minutes.add(&s.text[4], &s.text[3], s.start_ns, s.duration_ns, s.status);
            }
        } else if added > 0 {
            let rows =
                sqlx::query("SELECT service_name, name, start_ns, duration_ns, status_code FROM spans WHERE rowid > ?")
                    .bind(before.unwrap_or(0))
                    .fetch_all(&mut *conn)
                    .await?;
            for row in rows {
                let (service, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                minutes.add(&service, &name, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
            }
        }
    }
    minutes.store(conn).await
}

/// The roll-up rows one insert adds: counts per (service, span name, minute). A batch holds few
/// such groups, so a list searched in order beats hashing two strings per span.
#[derive(Default)]
struct MinuteSums(Vec<((String, String, i64), MinuteSum)>);

struct MinuteSum {
    count: i64,
    errors: i64,
    duration_sum_ns: i64,
    le: [i64; ROLLUP_BOUNDS_MS.len()],
}

const MINUTE_NS: i64 = ROLLUP_MINUTE_NS as i64;
/// Rows per roll-up upsert: 6 + 25 columns × 500 stays under SQLite's bound-parameter limit.
const MINUTE_ROWS_PER_STATEMENT: usize = 500;

impl MinuteSums {
    fn add(&mut self, service: &str, name: &str, start_ns: i64, duration_ns: i64, status: i64) {
        let minute = start_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
        let at = match self.0.iter().rposition(|((s, n, m), _)| *m == minute && n == name && s == service) {
            Some(at) => at,
            None => {
                let empty = MinuteSum { count: 0, errors: 0, duration_sum_ns: 0, le: [0; ROLLUP_BOUNDS_MS.len()] };
                self.0.push(((service.to_string(), name.to_string(), minute), empty));
                self.0.len() - 1
            }
        };
        let sum = &mut self.0[at].1;
        sum.count += 1;
        sum.errors += i64::from(status == 2);
        sum.duration_sum_ns = sum.duration_sum_ns.saturating_add(duration_ns);
        for (bucket, bound_ms) in sum.le.iter_mut().zip(ROLLUP_BOUNDS_MS) {
            *bucket += i64::from(duration_ns <= bound_ms as i64 * 1_000_000);
        }
    }

    async fn store(self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let le_columns: String = ROLLUP_BOUNDS_MS.iter().map(|b| format!(", le_{b}")).collect();
        let le_updates: String =
            ROLLUP_BOUNDS_MS.iter().map(|b| format!(", le_{b} = le_{b} + excluded.le_{b}")).collect();
        for chunk in self.0.chunks(MINUTE_ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO span_minutes (service_name, name, minute_ns, count, errors, duration_sum_ns{le_columns}) "
            ));
            q.push_values(chunk, |mut b, ((service, name, minute), sum)| {
                b.push_bind(service.clone())
                    .push_bind(name.clone())
                    .push_bind(*minute)
                    .push_bind(sum.count)
                    .push_bind(sum.errors)
                    .push_bind(sum.duration_sum_ns);
                for le in sum.le {
                    b.push_bind(le);
                }
            });
            q.push(format!(
                " ON CONFLICT (service_name, name, minute_ns) DO UPDATE SET count = count + excluded.count, \
                 errors = errors + excluded.errors, \
                 duration_sum_ns = MIN(duration_sum_ns + excluded.duration_sum_ns, 9223372036854775807)\
                 {le_updates}"
            ));
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

async fn insert_audit(conn: &mut SqliteConnection, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
    for chunk in events.chunks(AUDIT_ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO audit_events (seq, event_id, occurred_ns, received_ns, actor_user_id, actor_name, \
             actor_role, actor_org, purpose_of_use, action, nhs_number, resource_type, resource_id, outcome, \
             correlation_id, request_id, source_system, client_address, device, prev_hash, hash) ",
        );
        let mut failed = None;
        q.push_values(chunk, |mut b, r| {
            let mut int = |v: u64| {
                to_i64(v).unwrap_or_else(|e| {
                    failed = Some(e);
                    0
                })
            };
            let (seq, occurred, received) = (int(r.seq), int(r.event.occurred_ns), int(r.received_ns));
            let e = &r.event;
            b.push_bind(seq)
                .push_bind(e.event_id.clone())
                .push_bind(occurred)
                .push_bind(received)
                .push_bind(e.actor.user_id.clone())
                .push_bind(e.actor.name.clone())
                .push_bind(e.actor.role.clone())
                .push_bind(e.actor.organisation.clone())
                .push_bind(e.purpose_of_use.clone())
                .push_bind(e.action.as_str())
                .push_bind(e.nhs_number.clone())
                .push_bind(e.resource_type.clone())
                .push_bind(e.resource_id.clone())
                .push_bind(e.outcome.as_str())
                .push_bind(e.correlation_id.clone())
                .push_bind(e.request_id.clone())
                .push_bind(e.source_system.clone())
                .push_bind(e.client_address.clone())
                .push_bind(e.device.clone())
                .push_bind(r.prev_hash.clone())
                .push_bind(r.hash.clone());
        });
        if let Some(e) = failed {
            return Err(e);
        }
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("spans.{column}: {e}")))
}

const SPAN_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, kind, service_name, scope_name, start_ns, \
    duration_ns, status_code, status_message, correlation_id, attributes, resource, events, links";

fn span_from_row(row: &SqliteRow) -> Result<Span, StoreError> {
    Ok(Span {
        trace_id: row.try_get(0)?,
        span_id: row.try_get(1)?,
        parent_span_id: row.try_get(2)?,
        name: row.try_get(3)?,
        kind: SpanKind::from_code(row.try_get(4)?),
        service_name: row.try_get(5)?,
        scope_name: row.try_get(6)?,
        start_ns: row.try_get::<i64, _>(7)? as u64,
        duration_ns: row.try_get::<i64, _>(8)? as u64,
        status: SpanStatus::from_code(row.try_get(9)?),
        status_message: row.try_get(10)?,
        correlation_id: row.try_get(11)?,
        attributes: from_json("attributes", row.try_get(12)?)?,
        resource: from_json("resource", row.try_get(13)?)?,
        events: from_json("events", row.try_get(14)?)?,
        links: from_json("links", row.try_get(15)?)?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str =
    "seq, event_id, occurred_ns, received_ns, actor_user_id, actor_name, actor_role, \
    actor_org, purpose_of_use, action, nhs_number, resource_type, resource_id, outcome, correlation_id, \
    request_id, source_system, client_address, device, prev_hash, hash";

pub(crate) fn audit_from_row(row: &SqliteRow) -> Result<StoredAuditEvent, StoreError> {
    let action: String = row.try_get(9)?;
    let outcome: String = row.try_get(13)?;
    Ok(StoredAuditEvent {
        seq: row.try_get::<i64, _>(0)? as u64,
        received_ns: row.try_get::<i64, _>(3)? as u64,
        event: AuditEvent {
            event_id: row.try_get(1)?,
            occurred_ns: row.try_get::<i64, _>(2)? as u64,
            actor: Actor {
                user_id: row.try_get(4)?,
                name: row.try_get(5)?,
                role: row.try_get(6)?,
                organisation: row.try_get(7)?,
            },
            purpose_of_use: row.try_get(8)?,
            action: Action::parse(&action)
                .ok_or_else(|| StoreError::Corrupt(format!("audit_events.action {action:?}")))?,
            nhs_number: row.try_get(10)?,
            resource_type: row.try_get(11)?,
            resource_id: row.try_get(12)?,
            outcome: Outcome::parse(&outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("audit_events.outcome {outcome:?}")))?,
            correlation_id: row.try_get(14)?,
            request_id: row.try_get(15)?,
            source_system: row.try_get(16)?,
            client_address: row.try_get(17)?,
            device: row.try_get(18)?,
        },
        prev_hash: row.try_get(19)?,
        hash: row.try_get(20)?,
    })
}

impl TelemetryStore for SqliteStore {
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        let prepared = spans.iter().cloned().map(SqliteSpan::prepare).collect::<Result<_, _>>()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert_spans(&mut tx, prepared).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_audit_events(&self, events: &[StoredAuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert_audit(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn trace(&self, trace_id: &str) -> Result<Vec<Span>, StoreError> {
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id LIMIT {}",
            crate::MAX_SPANS_PER_TRACE
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(trace_id).fetch_all(&self.pool).await?;
        rows.iter().map(span_from_row).collect()
    }

    async fn spans_by_correlation_id(&self, correlation_id: &str) -> Result<Vec<Span>, StoreError> {
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id IN \
             (SELECT trace_id FROM spans WHERE correlation_id = ?) ORDER BY start_ns, span_id LIMIT {}",
            crate::MAX_SPANS_PER_TRACE
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(correlation_id).fetch_all(&self.pool).await?;
        rows.iter().map(span_from_row).collect()
    }

    async fn recent_spans(&self, query: &RecentQuery) -> Result<Vec<Span>, StoreError> {
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE service_name = ?1 {name} \
             AND start_ns >= ?3 AND start_ns < ?4 ORDER BY start_ns DESC, span_id LIMIT ?5",
            name = name_filter(query.span_name.is_some(), 2)
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&query.service_name)
            .bind(query.span_name.as_deref())
            .bind(query.from_ns as i64)
            .bind(query.to_ns.min(i64::MAX as u64) as i64)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(span_from_row).collect()
    }

    async fn latency_buckets(&self, query: &BucketQuery) -> Result<Vec<LatencyBucket>, StoreError> {
        if query.bucket_secs == 0 {
            return Err(StoreError::Invalid("bucket width must be at least one second".into()));
        }
        let width = i64::from(query.bucket_secs) * NANOS_PER_SEC as i64;
        // Exact percentiles by rank, matching ClickHouse's quantileExact: the value at 0-based rank
        // floor(q * n), i.e. the smallest duration whose 1-based rank exceeds q * n.
        let sql = format!(
            "WITH b AS ( \
                SELECT (start_ns / ?1) * ?1 AS bucket, duration_ns, status_code FROM spans \
                WHERE service_name = ?2 {name} AND start_ns >= ?4 AND start_ns < ?5), \
             r AS (SELECT bucket, duration_ns, status_code, \
                ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY duration_ns) AS rn, \
                COUNT(*) OVER (PARTITION BY bucket) AS n FROM b) \
             SELECT bucket, MAX(n), SUM(status_code = 2), \
                MIN(CASE WHEN rn > CAST(0.5 * n AS INTEGER) THEN duration_ns END), \
                MIN(CASE WHEN rn > CAST(0.95 * n AS INTEGER) THEN duration_ns END), \
                MIN(CASE WHEN rn > CAST(0.99 * n AS INTEGER) THEN duration_ns END) \
             FROM r GROUP BY bucket ORDER BY bucket",
            name = name_filter(query.span_name.is_some(), 3)
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(width)
            .bind(&query.service_name)
            .bind(query.span_name.as_deref())
            .bind(to_i64(query.from_ns)?)
            .bind(to_i64(query.to_ns)?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LatencyBucket {
                    start_ns: row.try_get::<i64, _>(0)? as u64,
                    count: row.try_get::<i64, _>(1)? as u64,
                    errors: row.try_get::<i64, _>(2)? as u64,
                    p50_ns: row.try_get::<i64, _>(3)? as u64,
                    p95_ns: row.try_get::<i64, _>(4)? as u64,
                    p99_ns: row.try_get::<i64, _>(5)? as u64,
                })
            })
            .collect()
    }

    async fn spans_in_traces(&self, query: &TracesQuery) -> Result<Vec<Span>, StoreError> {
        let mut spans = Vec::new();
        for chunk in query.trace_ids.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id IN ("));
            let mut ids = q.separated(", ");
            for id in chunk {
                ids.push_bind(id.clone());
            }
            // `+column` keeps SQLite on the primary key (trace id) rather than the service index.
            q.push(") AND +service_name = ")
                .push_bind(query.service_name.clone())
                .push(" AND +start_ns >= ")
                .push_bind(to_i64(query.from_ns)?)
                .push(" AND +start_ns < ")
                .push_bind(to_i64(query.to_ns)?);
            for row in q.build().fetch_all(&self.pool).await? {
                spans.push(span_from_row(&row)?);
            }
        }
        spans.sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
        Ok(spans)
    }

    async fn span_rollup(&self, query: &RollupQuery) -> Result<Vec<RollupBucket>, StoreError> {
        query.check()?;
        let width = i64::from(query.bucket_secs) * NANOS_PER_SEC as i64;
        let le: String = match query.histogram {
            true => ROLLUP_BOUNDS_MS.iter().map(|b| format!(", SUM(le_{b})")).collect(),
            false => String::new(),
        };
        let sql = format!(
            "SELECT (minute_ns / ?1) * ?1 AS bucket, SUM(count), SUM(errors), TOTAL(duration_sum_ns){le} \
             FROM span_minutes WHERE service_name = ?2 {name} \
               AND minute_ns >= ?4 AND minute_ns < ?5 \
             GROUP BY bucket ORDER BY bucket",
            name = name_filter(query.span_name.is_some(), 3)
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(width)
            .bind(&query.service_name)
            .bind(query.span_name.as_deref())
            .bind(to_i64(query.from_ns)?)
            .bind(to_i64(query.to_ns)?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let columns = if query.histogram { ROLLUP_BOUNDS_MS.len() } else { 0 };
                let le = (0..columns)
                    .map(|i| row.try_get::<i64, _>(4 + i).map(|v| v as u64))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RollupBucket {
                    start_ns: row.try_get::<i64, _>(0)? as u64,
                    count: row.try_get::<i64, _>(1)? as u64,
                    errors: row.try_get::<i64, _>(2)? as u64,
                    // TOTAL is a float that cannot overflow, where SUM of saturated minutes would
                    // fail the whole query; `as` saturates at u64::MAX.
                    duration_sum_ns: row.try_get::<f64, _>(3)? as u64,
                    le,
                })
            })
            .collect()
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE 1 = 1"));
        if let Some(n) = &filter.nhs_number {
            q.push(" AND nhs_number = ").push_bind(n.clone());
        }
        if let Some(u) = &filter.user_id {
            q.push(" AND actor_user_id = ").push_bind(u.clone());
        }
        if let Some(c) = &filter.correlation_id {
            q.push(" AND correlation_id = ").push_bind(c.clone());
        }
        if let Some(o) = &filter.organisation {
            q.push(" AND actor_org = ").push_bind(o.clone());
        }
        if let Some(s) = &filter.source_system {
            q.push(" AND source_system = ").push_bind(s.clone());
        }
        if let Some(from) = filter.from_ns {
            q.push(" AND occurred_ns >= ").push_bind(to_i64(from)?);
        }
        if let Some(to) = filter.to_ns {
            q.push(" AND occurred_ns < ").push_bind(to_i64(to)?);
        }
        q.push(" ORDER BY occurred_ns, seq LIMIT ").push_bind(i64::from(filter.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_summary(&self, from_ns: u64, to_ns: u64) -> Result<AuditSummary, StoreError> {
        let (from, to) = (to_i64(from_ns)?, to_i64(to_ns)?);
        let row = sqlx::query(
            "SELECT count(*), count(DISTINCT NULLIF(actor_user_id, '')), count(DISTINCT NULLIF(nhs_number, '')),
                    count(DISTINCT NULLIF(actor_org, '')), coalesce(sum(actor_user_id = ''), 0)
             FROM audit_events WHERE occurred_ns >= ?1 AND occurred_ns < ?2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let count = |i: usize| row.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
        let mut summary = AuditSummary {
            events: count(0)?,
            users: count(1)?,
            patients: count(2)?,
            organisations: count(3)?,
            unattributed: count(4)?,
            ..AuditSummary::default()
        };
        let groups = sqlx::query(
            "SELECT 'action', action, count(*) FROM audit_events WHERE occurred_ns >= ?1 AND occurred_ns < ?2 GROUP BY action
             UNION ALL
             SELECT 'outcome', outcome, count(*) FROM audit_events WHERE occurred_ns >= ?1 AND occurred_ns < ?2 GROUP BY outcome",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for g in groups {
            let (kind, key, n): (String, String, i64) = (g.try_get(0)?, g.try_get(1)?, g.try_get(2)?);
            let map = if kind == "action" { &mut summary.by_action } else { &mut summary.by_outcome };
            map.insert(key, n.max(0) as u64);
        }
        Ok(summary)
    }

    async fn audit_chain_page(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(after_seq)?)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain_base(&self) -> Result<Option<ChainLink>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT last_removed_seq, last_removed_hash FROM audit_chain_base WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(seq, hash)| ChainLink { seq: seq as u64, hash }))
    }

    async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError> {
        self.sqlite_replace_staff(staff).await
    }
    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError> {
        self.sqlite_replace_patients(patients).await
    }
    async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError> {
        self.sqlite_add_relationships(relationships).await
    }
    async fn user_activity(&self, query: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError> {
        self.sqlite_user_activity(query).await
    }
    async fn hour_profiles(
        &self,
        from_ns: u64,
        to_ns: u64,
        clock: &LocalClock,
    ) -> Result<Vec<HourProfile>, StoreError> {
        self.sqlite_hour_profiles(from_ns, to_ns, clock).await
    }
    async fn patient_access(&self, query: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError> {
        self.sqlite_patient_access(query).await
    }
    async fn audit_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError> {
        self.sqlite_arrivals_after(after_seq).await
    }
    async fn sample_events(&self, query: &SampleQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.sqlite_sample_events(query).await
    }
    async fn sample_users(&self, query: &SampleQuery) -> Result<Vec<SampledUser>, StoreError> {
        self.sqlite_sample_users(query).await
    }
    async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError> {
        self.sqlite_stratum_counts(from_ns, to_ns).await
    }

    async fn drop_days_before(&self, kind: DataKind, cutoff_day: i64) -> Result<(), StoreError> {
        let cutoff_ns = cutoff_day.saturating_mul(NANOS_PER_DAY as i64);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        match kind {
            DataKind::Spans => {
                sqlx::query("DELETE FROM spans WHERE start_ns < ?").bind(cutoff_ns).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM span_minutes WHERE minute_ns < ?").bind(cutoff_ns).execute(&mut *tx).await?;
            }
            DataKind::AuditEvents => {
                // The chain is in receive order, so removing by receive day removes a prefix of it.
                let last: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_events WHERE received_ns < ? ORDER BY seq DESC LIMIT 1",
                )
                .bind(cutoff_ns)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((seq, hash)) = last {
                    sqlx::query(
                        "INSERT INTO audit_chain_base (id, last_removed_seq, last_removed_hash) VALUES (1, ?, ?) \
                         ON CONFLICT (id) DO UPDATE SET last_removed_seq = excluded.last_removed_seq, \
                         last_removed_hash = excluded.last_removed_hash",
                    )
                    .bind(seq)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM audit_events WHERE seq <= ?").bind(seq).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
