//! The writer: one task that makes accepted batches durable, several requests per commit (group
//! commit), and only then lets their handlers answer 2xx.
//!
//! Requests hand their batch over a bounded queue; a full queue is backpressure (429 Retry-After),
//! never a silent drop. The writer takes everything waiting, up to `max_batch_rows`, commits it in one
//! transaction (SQLite store, or the spool in front of ClickHouse) and answers each request.

use std::sync::Arc;
use std::time::Instant;

use audit_store::{IngestBatch, IngestReceipt, SqliteBatch, SqliteStore, StoreError};
use domain::Clock;
use tokio::sync::{mpsc, oneshot};

use crate::budget::Reservation;

use crate::error::IngestError;
use crate::metrics::{Metrics, AUDIT, SPANS};
use crate::spool::{Spool, SpoolBatch};

/// Where the writer commits: the SQLite store itself, or the spool that feeds ClickHouse.
#[derive(Clone)]
pub enum Sink {
    Sqlite(SqliteStore),
    Spool(Arc<Spool>),
}

/// A batch made ready for its sink on the request's own task, so the single writer does as little
/// as possible: for the spool, spans are encoded as RowBinary before they are queued.
pub enum Prepared {
    Sqlite(SqliteBatch),
    Spool(SpoolBatch),
}

impl Prepared {
    fn rows(&self) -> usize {
        match self {
            Prepared::Sqlite(b) => b.spans.len() + b.audit.len(),
            Prepared::Spool(b) => b.span_count + b.audit.len(),
        }
    }
}

impl Sink {
    /// Fails only for values no column can hold (a time past the year 2262): the client's error.
    fn prepare(&self, batch: IngestBatch) -> Result<Prepared, IngestError> {
        Ok(match self {
            Sink::Sqlite(_) => {
                Prepared::Sqlite(SqliteBatch::prepare(batch).map_err(|e| IngestError::Invalid(e.to_string()))?)
            }
            Sink::Spool(_) => Prepared::Spool(SpoolBatch::encode(batch)),
        })
    }

    #[tracing::instrument(name = "group commit", skip_all, fields(requests = batches.len()))]
    async fn commit(&self, received_ns: u64, batches: Vec<Prepared>) -> Result<Vec<IngestReceipt>, CommitError> {
        let mismatch = || CommitError::Store(StoreError::Invalid("a batch was prepared for another sink".into()));
        match self {
            Sink::Sqlite(store) => {
                let rows = batches
                    .into_iter()
                    .map(|p| if let Prepared::Sqlite(b) = p { Ok(b) } else { Err(mismatch()) })
                    .collect::<Result<_, _>>()?;
                store.commit_ingest(received_ns, rows).await.map_err(CommitError::Store)
            }
            Sink::Spool(spool) => {
                let encoded = batches
                    .into_iter()
                    .map(|p| if let Prepared::Spool(b) = p { Ok(b) } else { Err(mismatch()) })
                    .collect::<Result<_, _>>()?;
                spool.commit(received_ns, encoded).await
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the spool is full ({bytes} bytes waiting for ClickHouse)")]
    SpoolFull { bytes: u64 },
}

struct Job {
    batch: Prepared,
    done: oneshot::Sender<Result<IngestReceipt, IngestError>>,
    /// The request's memory from the in-flight budget: held until the batch is committed, even if
    /// the client has hung up meanwhile (its batch is still in memory here).
    held: Reservation,
}

/// The handle request handlers use. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    sink: Sink,
    retry_after: u32,
}

impl Writer {
    /// Starts the writer task. It ends when every `Writer` handle is dropped, after answering what
    /// was queued.
    pub fn start(
        sink: Sink,
        metrics: Arc<Metrics>,
        queue_depth: usize,
        max_batch_rows: usize,
        retry_after: u32,
        clock: Clock,
    ) -> Writer {
        let (queue, rx) = mpsc::channel(queue_depth.max(1));
        tokio::spawn(run(sink.clone(), metrics, rx, max_batch_rows.max(1), retry_after, clock));
        Writer { queue, sink, retry_after }
    }

    /// Resolves once `batch` is durable, or with the reason it could not be made so. `held` (what the
    /// request reserved from the in-flight budget) is released once the batch has been committed.
    pub async fn write(&self, batch: IngestBatch, held: Reservation) -> Result<IngestReceipt, IngestError> {
        let (done, receipt) = oneshot::channel();
        let batch = self.sink.prepare(batch)?;
        self.queue.try_send(Job { batch, done, held }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IngestError::Busy { retry_after: self.retry_after },
            mpsc::error::TrySendError::Closed(_) => IngestError::Unavailable { retry_after: self.retry_after },
        })?;
        receipt.await.unwrap_or(Err(IngestError::Unavailable { retry_after: self.retry_after }))
    }
}

/// Commits batches as they come, several at once when they queue up; each commit is stamped with the
/// time `clock` says it was received.
async fn run(
    sink: Sink,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Job>,
    max_rows: usize,
    retry_after: u32,
    clock: Clock,
) {
    while let Some(first) = rx.recv().await {
        let mut total = first.batch.rows();
        let mut jobs = vec![first];
        while total < max_rows {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.batch.rows();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut held = Vec::with_capacity(jobs.len());
        let (batches, replies): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|j| {
                held.push(j.held);
                (j.batch, j.done)
            })
            .unzip();
        metrics.batch_rows.observe(total as f64);
        let started = Instant::now();
        match sink.commit(clock.now_ns(), batches).await {
            Ok(receipts) => {
                metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                for (receipt, reply) in receipts.into_iter().zip(replies) {
                    metrics.stored.get_or_create(&SPANS).inc_by(receipt.spans as u64);
                    metrics.stored.get_or_create(&AUDIT).inc_by(receipt.audit_events as u64);
                    metrics.duplicates.inc_by(receipt.audit_duplicates as u64);
                    let _ = reply.send(Ok(receipt));
                }
            }
            Err(e) => {
                match &e {
                    CommitError::SpoolFull { .. } => {
                        tracing::warn!(error = %e, "pushing back: 503 to {} request(s)", replies.len())
                    }
                    CommitError::Store(_) => {
                        tracing::error!(error = %e, "commit failed; 503 to {} request(s)", replies.len())
                    }
                }
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Unavailable { retry_after }));
                }
            }
        }
        drop(held);
    }
}
