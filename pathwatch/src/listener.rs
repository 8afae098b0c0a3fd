//! Serving a router on a TCP listener, with the limits `axum::serve` lacks: a connection must send
//! its request headers within `header_timeout` (an idle keep-alive connection is closed after the
//! same time), and at most `max_connections` are open at once (more wait in the kernel's accept
//! queue). So connections that trickle bytes or never speak cannot pile up until file descriptors
//! or memory run out. Each request carries the peer's address (`ConnectInfo`), as the dashboard's
//! sign-in throttle needs.
//!
//! HTTP/1.1 for every role's routes; HTTP/2 alone (prior knowledge, as gRPC speaks it) for the
//! collector's OTLP/gRPC listener, which must send its connection preface within `header_timeout`,
//! may open at most `MAX_STREAMS` calls at once, and may send at most `MAX_BUF_BYTES` of headers.
//!
//! On `shutdown`, it stops accepting, lets every connection finish the request it is serving, and
//! returns once they have (or after `DRAIN_LIMIT`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Largest request head (request line and headers) a connection may send; larger gets 431.
const MAX_BUF_BYTES: usize = 32 * 1024;

/// Calls one HTTP/2 connection may have open at once (gRPC clients send a channel's calls over one
/// connection; each call's memory comes from the collector's in-flight budget).
const MAX_STREAMS: u32 = 100;

/// Which HTTP a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// HTTP/2 with prior knowledge (no upgrade, no TLS here): gRPC.
    Http2,
}

/// Longest wait for open connections to finish at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Key `collector.header_timeout_secs`.
    pub header_timeout: Duration,
    /// Key `collector.max_connections`.
    pub max_connections: usize,
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    protocol: Protocol,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        match protocol {
            Protocol::Http1 => {
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    // A connection's read buffer, which bounds its request head: hyper's default
                    // (~400 KiB) times every open connection would be memory outside the in-flight
                    // budget.
                    .max_buf_size(MAX_BUF_BYTES)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            Protocol::Http2 => {
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // A connection that never speaks holds its slot only until `header_timeout`.
                    let mut first = [0u8; 1];
                    let spoke = tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await;
                    if matches!(spoke, Ok(Ok(n)) if n > 0) {
                        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .timer(TokioTimer::new())
                            .max_concurrent_streams(MAX_STREAMS)
                            .max_header_list_size(MAX_BUF_BYTES as u32)
                            // A peer that stops answering pings is gone: its slot is freed.
                            .keep_alive_interval(Some(limits.header_timeout.max(Duration::from_secs(10))))
                            .keep_alive_timeout(limits.header_timeout)
                            .serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(connection).await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open {} s after shutdown began; closing them", DRAIN_LIMIT.as_secs());
    }
}
