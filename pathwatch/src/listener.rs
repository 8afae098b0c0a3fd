//! Serving a router on a TCP listener, with the limits `axum::serve` lacks: a connection must send
//! its request headers within `header_timeout` (an idle keep-alive connection is closed after the
//! same time), and at most `max_connections` are open at once (more wait in the kernel's accept
//! queue). So connections that trickle bytes or never speak cannot pile up until file descriptors
//! or memory run out. Each request carries the peer's address (`ConnectInfo`), as the dashboard's
//! sign-in throttle needs.
//!
//! HTTP/1.1 for every role's routes; HTTP/2 alone (prior knowledge, as gRPC speaks it) for the
//! collector's OTLP/gRPC listener. There a connection must send its whole connection preface within
//! `header_timeout`, is closed once it has had no call open for `header_timeout` (as an idle HTTP/1
//! keep-alive connection is; pings do not count), may open at most `HTTP2_STREAMS` calls at once and
//! send at most `HTTP2_HEADER_BYTES` of headers per call, and its flow-control windows keep what
//! HTTP/2 buffers before a handler reads it small (the handler reserves from the in-flight budget).
//!
//! On `shutdown`, it stops accepting, lets every connection finish the request it is serving, and
//! returns once they have (or after `DRAIN_LIMIT`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Largest request head (request line and headers) a connection may send; larger gets 431.
const MAX_BUF_BYTES: usize = 32 * 1024;

/// Calls one HTTP/2 connection may have open at once (gRPC clients send a channel's calls over one
/// connection; each call's memory comes from the collector's in-flight budget).
const HTTP2_STREAMS: u32 = 16;
/// Headers one HTTP/2 call may send (hyper's default is 16 KiB; gRPC's metadata is small).
const HTTP2_HEADER_BYTES: u32 = 8 * 1024;
/// What a peer may send before the handler reads it, per call and per connection.
const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;
const HTTP2_CONNECTION_WINDOW: u32 = 256 * 1024;
/// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".
const HTTP2_PREFACE_BYTES: u64 = 24;

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
        if protocol == Protocol::Http2 {
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                http2_connection(stream, peer, app, limits, watcher).await;
                drop(slot);
            });
            continue;
        }
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
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
    drop(listener);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open {} s after shutdown began; closing them", DRAIN_LIMIT.as_secs());
    }
}

/// What an HTTP/2 connection has done, for its watchdog.
struct Activity {
    opened: Instant,
    /// Bytes read from the peer.
    read: AtomicU64,
    /// Calls being handled now.
    calls: AtomicUsize,
    /// When the last call ended (or the connection opened), in ms since `opened`.
    last_call_ms: AtomicU64,
}

impl Activity {
    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_call_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

/// Counts a call open until it is dropped (answered, or its connection gone).
struct Call(Arc<Activity>);

impl Call {
    fn open(activity: &Arc<Activity>) -> Call {
        activity.calls.fetch_add(1, Ordering::Relaxed);
        Call(activity.clone())
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let now = self.0.opened.elapsed().as_millis() as u64;
        self.0.last_call_ms.store(now, Ordering::Relaxed);
        self.0.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that counts the bytes read from it.
struct Counted {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.activity.read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serves one HTTP/2 connection until it ends, it is shut down, or its watchdog closes it: no
/// whole preface within `header_timeout`, or no call open for `header_timeout`.
async fn http2_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    app: Router,
    limits: Limits,
    watcher: Watcher,
) {
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        read: AtomicU64::new(0),
        calls: AtomicUsize::new(0),
        last_call_ms: AtomicU64::new(0),
    });
    let calls = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let call = Call::open(&calls);
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await;
            drop(call);
            response
        }
    });
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_STREAMS)
        .max_header_list_size(HTTP2_HEADER_BYTES)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        .serve_connection(TokioIo::new(Counted { inner: stream, activity: activity.clone() }), service);
    let mut connection = std::pin::pin!(watcher.watch(connection));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            result = &mut connection => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = tick.tick() => {
                let spoke = activity.read.load(Ordering::Relaxed) >= HTTP2_PREFACE_BYTES;
                if !spoke && activity.opened.elapsed() > limits.header_timeout {
                    tracing::debug!(%peer, "closing an HTTP/2 connection that sent no preface");
                    return;
                }
                if activity.calls.load(Ordering::Relaxed) == 0 && activity.idle_for() > limits.header_timeout {
                    tracing::debug!(%peer, "closing an idle HTTP/2 connection");
                    return;
                }
            }
        }
    }
}
