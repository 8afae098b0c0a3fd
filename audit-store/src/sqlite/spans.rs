//! Spans on SQLite: the multi-row inserts that keep the per-minute roll-up in the same
//! transaction, and every read of [`SpanStore`].

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{from_json, SqliteSpan, SqliteStore, SPAN_ROWS_PER_STATEMENT};
use crate::model::*;
use crate::sequencer::to_i64;
use crate::{SpanStore, StoreError};

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
pub(super) async fn insert_spans(conn: &mut SqliteConnection, spans: Vec<SqliteSpan>) -> Result<(), StoreError> {
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
                let (service, name): (String, String) = (row.try_get("service_name")?, row.try_get("name")?);
                let (start, duration, status) =
                    (row.try_get("start_ns")?, row.try_get("duration_ns")?, row.try_get("status_code")?);
                minutes.add(&service, &name, start, duration, status);
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

const SPAN_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, kind, service_name, scope_name, start_ns, \
    duration_ns, status_code, status_message, correlation_id, attributes, resource, events, links";

fn span_from_row(row: &SqliteRow) -> Result<Span, StoreError> {
    Ok(Span {
        trace_id: row.try_get("trace_id")?,
        span_id: row.try_get("span_id")?,
        parent_span_id: row.try_get("parent_span_id")?,
        name: row.try_get("name")?,
        kind: SpanKind::from_code(row.try_get("kind")?),
        service_name: row.try_get("service_name")?,
        scope_name: row.try_get("scope_name")?,
        start_ns: row.try_get::<i64, _>("start_ns")? as u64,
        duration_ns: row.try_get::<i64, _>("duration_ns")? as u64,
        status: SpanStatus::from_code(row.try_get("status_code")?),
        status_message: row.try_get("status_message")?,
        correlation_id: row.try_get("correlation_id")?,
        attributes: from_json("attributes", row.try_get("attributes")?)?,
        resource: from_json("resource", row.try_get("resource")?)?,
        events: from_json("events", row.try_get("events")?)?,
        links: from_json("links", row.try_get("links")?)?,
    })
}

impl SqliteStore {
    /// Runs a per-bucket read whose parameters are, in order: the bucket width (ns), the service,
    /// the span name (when `name_filter` put it in) and the window `[from_ns, to_ns)`.
    async fn bucketed(
        &self,
        sql: String,
        width: i64,
        service: &str,
        span_name: Option<&str>,
        from_ns: u64,
        to_ns: u64,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(width)
            .bind(service)
            .bind(span_name)
            .bind(to_i64(from_ns)?)
            .bind(to_i64(to_ns)?)
            .fetch_all(&self.pool)
            .await?)
    }
}

impl SpanStore for SqliteStore {
    async fn insert_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        let prepared = spans.iter().cloned().map(SqliteSpan::prepare).collect::<Result<_, _>>()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert_spans(&mut tx, prepared).await?;
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
             SELECT bucket, MAX(n) AS count, SUM(status_code = 2) AS errors, \
                MIN(CASE WHEN rn > CAST(0.5 * n AS INTEGER) THEN duration_ns END) AS p50, \
                MIN(CASE WHEN rn > CAST(0.95 * n AS INTEGER) THEN duration_ns END) AS p95, \
                MIN(CASE WHEN rn > CAST(0.99 * n AS INTEGER) THEN duration_ns END) AS p99 \
             FROM r GROUP BY bucket ORDER BY bucket",
            name = name_filter(query.span_name.is_some(), 3)
        );
        let rows = self
            .bucketed(sql, width, &query.service_name, query.span_name.as_deref(), query.from_ns, query.to_ns)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LatencyBucket {
                    start_ns: row.try_get::<i64, _>("bucket")? as u64,
                    count: row.try_get::<i64, _>("count")? as u64,
                    errors: row.try_get::<i64, _>("errors")? as u64,
                    p50_ns: row.try_get::<i64, _>("p50")? as u64,
                    p95_ns: row.try_get::<i64, _>("p95")? as u64,
                    p99_ns: row.try_get::<i64, _>("p99")? as u64,
                })
            })
            .collect()
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
            true => ROLLUP_BOUNDS_MS.iter().map(|b| format!(", SUM(le_{b}) AS le_{b}")).collect(),
            false => String::new(),
        };
        let sql = format!(
            "SELECT (minute_ns / ?1) * ?1 AS bucket, SUM(count) AS count, SUM(errors) AS errors, \
               TOTAL(duration_sum_ns) AS duration_sum{le} \
             FROM span_minutes WHERE service_name = ?2 {name} \
               AND minute_ns >= ?4 AND minute_ns < ?5 \
             GROUP BY bucket ORDER BY bucket",
            name = name_filter(query.span_name.is_some(), 3)
        );
        let rows = self
            .bucketed(sql, width, &query.service_name, query.span_name.as_deref(), query.from_ns, query.to_ns)
            .await?;
        rows.iter()
            .map(|row| {
                let bounds = if query.histogram { &ROLLUP_BOUNDS_MS[..] } else { &[] };
                let le = bounds
                    .iter()
                    .map(|b| row.try_get::<i64, _>(format!("le_{b}").as_str()).map(|v| v as u64))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RollupBucket {
                    start_ns: row.try_get::<i64, _>("bucket")? as u64,
                    count: row.try_get::<i64, _>("count")? as u64,
                    errors: row.try_get::<i64, _>("errors")? as u64,
                    // TOTAL is a float that cannot overflow, where SUM of saturated minutes would
                    // fail the whole query; `as` saturates at u64::MAX.
                    duration_sum_ns: row.try_get::<f64, _>("duration_sum")? as u64,
                    le,
                })
            })
            .collect()
    }
}
