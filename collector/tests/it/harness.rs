use std::sync::Arc;

use audit_store::SqliteStore;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use collector::metrics::Metrics;
use collector::{CollectorConfig, CollectorState, IngestTokens, Sink};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789";
/// 21 November 2026, 00:00 UTC: when the collector under test receives everything.
pub const FIXTURES_RECEIVED_NS: u64 = 1_795_219_200 * 1_000_000_000;

pub struct Harness {
    pub router: Router,
    pub store: SqliteStore,
    pub state: CollectorState,
    pub db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_config(CollectorConfig::default()).await
    }

    /// A collector whose sink is the spool (as in front of ClickHouse), with no drainer: what is
    /// acknowledged stays in the spool.
    pub async fn spooled() -> Harness {
        let mut harness = Self::new().await;
        let path = harness._dir.path().join("spool.db");
        let metrics = Arc::new(Metrics::new());
        let spool = collector::spool::Spool::open(&path, 1 << 30, metrics.clone()).await.unwrap();
        let tokens = IngestTokens::new([("test".to_string(), TOKEN.to_string())]);
        let clock = domain::Clock::manual(FIXTURES_RECEIVED_NS);
        let sink = Sink::Spool(Arc::new(spool));
        let state = CollectorState::new(CollectorConfig::default(), tokens, sink, b"key".to_vec(), metrics, clock);
        harness.router = collector::router(state.clone());
        harness.state = state;
        harness
    }

    /// A collector taking these (source, token) pairs instead of the test token.
    pub async fn with_tokens(tokens: &[(&str, &str)]) -> Harness {
        let mut harness = Self::new().await;
        let tokens = IngestTokens::new(tokens.iter().map(|(s, t)| (s.to_string(), t.to_string())));
        let metrics = Arc::new(Metrics::new());
        let clock = domain::Clock::manual(FIXTURES_RECEIVED_NS);
        let sink = Sink::Sqlite(harness.store.clone());
        let state = CollectorState::new(CollectorConfig::default(), tokens, sink, b"key".to_vec(), metrics, clock);
        harness.router = collector::router(state.clone());
        harness.state = state;
        harness
    }

    pub async fn with_config(config: CollectorConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("t.db");
        let store = SqliteStore::open(&db_path).await.unwrap();
        let tokens = IngestTokens::new([("test".to_string(), TOKEN.to_string())]);
        let metrics = Arc::new(Metrics::new());
        // The day after the fixtures' audit events (20 November 2026), whatever today's date is.
        let clock = domain::Clock::manual(FIXTURES_RECEIVED_NS);
        let state = CollectorState::new(config, tokens, Sink::Sqlite(store.clone()), b"key".to_vec(), metrics, clock);
        Harness { router: collector::router(state.clone()), store, state, db_path, _dir: dir }
    }

    /// The same collector's OTLP/gRPC routes.
    pub fn grpc(&self) -> Router {
        collector::grpc::router(self.state.clone())
    }

    pub async fn send(&self, request: Request<Body>) -> (u16, Vec<u8>, Response<Body>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (status, bytes, Response::from_parts(parts, Body::empty()))
    }

    pub fn metric(&self, line_prefix: &str) -> f64 {
        self.state
            .metrics
            .render()
            .lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

pub fn post(path: &str, content_type: Option<&str>, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    builder.body(Body::from(body)).unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
