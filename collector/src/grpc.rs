//! OTLP/gRPC (`collector.grpc_listen`, 4317 by OTLP's convention): `TraceService/Export` and
//! `LogsService/Export`, unary calls over HTTP/2, through the same pipeline as OTLP/HTTP: the same
//! tokens (`authorization: Bearer …` metadata), in-flight budget, size and count limits, checks,
//! pseudonymisation, partial success and durability (an answer of OK only once the writer says the
//! data is on disk).
//!
//! gRPC's framing for a unary call is small enough to speak here on hyper's HTTP/2 rather than
//! through tonic: a 5-byte prefix (compressed flag, big-endian length) before the message, and the
//! status in trailers. Doing it here keeps every limit where the HTTP path has it: the message's
//! declared length is checked before a byte of it is buffered, its memory is reserved from the
//! budget before it is read, and an oversized message is `RESOURCE_EXHAUSTED` without retry
//! information, as OTLP says (tonic answers a declared length over its limit `OUT_OF_RANGE`, which
//! OTLP clients retry).
//!
//! Status codes, per the OTLP specification: a bad or missing token `UNAUTHENTICATED`; a token that
//! may not send this `PERMISSION_DENIED`; bad data `INVALID_ARGUMENT`; too large
//! `RESOURCE_EXHAUSTED` (not retryable); push-back (queue or memory full) `RESOURCE_EXHAUSTED` with
//! `RetryInfo`, storage down `UNAVAILABLE` with `RetryInfo`. `RetryInfo` goes both in the standard
//! `grpc-status-details-bin` and in `google.rpc.retryinfo-bin`, which OpenTelemetry's Python
//! exporter reads.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use prost::Message;

use crate::error::IngestError;
use crate::metrics::{RejectLabels, RouteLabels};
use crate::wire::{RpcStatus, WireFormat};
use crate::{budget, CollectorState};

pub const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// gRPC status codes used here.
pub mod code {
    pub const OK: i32 = 0;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The gRPC routes. A method other than the two exports (metrics, say) is `UNIMPLEMENTED`, naming
/// what is served.
pub fn router(state: CollectorState) -> Router {
    Router::new().route(TRACES, post(traces)).route(LOGS, post(logs)).fallback(unimplemented).with_state(state).layer(
        tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("collector gRPC handler panicked");
            status(code::INTERNAL, "internal error (logged)", None)
        }),
    )
}

#[tracing::instrument(name = "TraceService/Export", skip_all, fields(otel.kind = "server", rpc.system = "grpc"))]
async fn traces(State(state): State<CollectorState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        check_content_type(&headers)?;
        let (source, mut held) = state.authenticate(&headers)?;
        state.may_send_traces(&source)?;
        let message = read_message(&state, &headers, body, &mut held).await?;
        let reply = crate::ingest_traces(&state, &source, held, WireFormat::Protobuf, message).await?;
        Ok(reply.encode_to_vec())
    }
    .await;
    finish(&state, "TraceService/Export", "spans", result)
}

#[tracing::instrument(name = "LogsService/Export", skip_all, fields(otel.kind = "server", rpc.system = "grpc"))]
async fn logs(State(state): State<CollectorState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        check_content_type(&headers)?;
        let (source, mut held) = state.authenticate(&headers)?;
        state.may_send_audit(&source)?;
        let message = read_message(&state, &headers, body, &mut held).await?;
        let reply = crate::logs::ingest(&state, &source, held, WireFormat::Protobuf, message).await?;
        Ok(reply.encode_to_vec())
    }
    .await;
    finish(&state, "LogsService/Export", "audit_events", result)
}

async fn unimplemented(uri: axum::http::Uri) -> Response {
    let message = format!(
        "{} is not served here: Pathwatch takes OTLP traces ({TRACES}) and audit logs ({LOGS}), not metrics",
        uri.path()
    );
    status(code::UNIMPLEMENTED, &message, None)
}

/// gRPC over HTTP/2 says `application/grpc` (or `+proto`); anything else is not gRPC and is told
/// so at the HTTP level, as the gRPC protocol asks (415).
fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let text = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match text.split(';').next().unwrap_or_default().trim() {
        "application/grpc" | "application/grpc+proto" => Ok(()),
        _ => Err(IngestError::UnsupportedMediaType(text.to_string())),
    }
}

/// The one message of a unary call, decompressed: its declared length checked against
/// `collector.max_body_bytes` before it is read, and its memory reserved from the budget first.
async fn read_message(
    state: &CollectorState,
    headers: &HeaderMap,
    mut body: Body,
    held: &mut budget::Reservation,
) -> Result<Bytes, IngestError> {
    let limit = state.config.max_body_bytes;
    let gzip = match headers.get("grpc-encoding").map(|v| v.to_str().unwrap_or("?").trim()) {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => return Err(IngestError::UnsupportedEncoding(other.to_string())),
    };
    let secs = state.config.body_timeout_secs;
    let read = async {
        let mut buf = BytesMut::new();
        let mut expected: Option<usize> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::Undecodable(format!("the message could not be read: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            // Past the declared message: refused before it is copied (the buffer never outgrows
            // what was reserved for it).
            if expected.is_some_and(|n| buf.len() + data.len() > n) {
                return Err(more_than_one());
            }
            // Until the prefix is whole, at most 5 bytes are kept; the rest waits for the reservation.
            let mut data = &data[..];
            if expected.is_none() {
                let take = (5 - buf.len()).min(data.len());
                buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if buf.len() == 5 {
                    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                    if len > limit {
                        return Err(IngestError::TooLarge { limit });
                    }
                    let whole = len.saturating_add(5);
                    state.budget.reserve(held, whole).await?;
                    let mut whole_buf = BytesMut::with_capacity(whole);
                    whole_buf.extend_from_slice(&buf);
                    buf = whole_buf;
                    expected = Some(whole);
                }
            }
            if expected.is_some_and(|n| buf.len() + data.len() > n) {
                return Err(more_than_one());
            }
            buf.extend_from_slice(data);
        }
        match expected {
            Some(n) if buf.len() == n => Ok(buf.freeze()),
            _ => Err(IngestError::Undecodable(format!(
                "the call ended {} bytes into a message: a gRPC message is a 5-byte prefix and the length it declares",
                buf.len()
            ))),
        }
    };
    let framed =
        tokio::time::timeout(Duration::from_secs(secs), read).await.unwrap_or(Err(IngestError::SlowBody { secs }))?;
    let message = framed.slice(5..);
    match framed[0] {
        0 => Ok(message),
        1 if gzip => {
            state.budget.reserve(held, limit).await?;
            crate::wire::gunzip(&message, limit)
        }
        1 => {
            Err(IngestError::Undecodable("the message is flagged compressed but the call sent no grpc-encoding".into()))
        }
        flag => Err(IngestError::Undecodable(format!("compressed flag {flag} (0 or 1)"))),
    }
}

fn more_than_one() -> IngestError {
    IngestError::Invalid("more than one message in a unary call: send one export request per call".into())
}

/// The call's answer, and its count in the collector's metrics (labelled with the HTTP status the
/// same outcome gets over OTLP/HTTP, so one dashboard serves both).
fn finish(
    state: &CollectorState,
    route: &'static str,
    kind: &'static str,
    result: Result<Vec<u8>, IngestError>,
) -> Response {
    let (response, http) = match result {
        Ok(reply) => (ok(reply), StatusCode::OK),
        Err(e) => {
            if !matches!(e, IngestError::MissingToken | IngestError::BadToken) {
                state.metrics.rejected.get_or_create(&RejectLabels { kind, reason: crate::reject_reason(&e) }).inc();
            }
            let http = e.status();
            (error(e), http)
        }
    };
    state.metrics.requests.get_or_create(&RouteLabels { route, status: http.as_u16() }).inc();
    response
}

/// OK: the reply as one message, then `grpc-status: 0` in trailers.
fn ok(reply: Vec<u8>) -> Response {
    let mut framed = BytesMut::with_capacity(5 + reply.len());
    framed.put_u8(0);
    framed.put_u32(reply.len() as u32);
    framed.extend_from_slice(&reply);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(code::OK));
    let body = http_body_util::Full::new(framed.freeze()).with_trailers(async move { Some(Ok(trailers)) });
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"))], Body::new(body)).into_response()
}

fn error(e: IngestError) -> Response {
    let message = e.to_string();
    match e {
        IngestError::UnsupportedMediaType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send gRPC (content-type application/grpc)").into_response()
        }
        IngestError::UnsupportedEncoding(encoding) => {
            let mut response = status(
                code::UNIMPLEMENTED,
                &format!("grpc-encoding {encoding:?} is not supported: send gzip or identity"),
                None,
            );
            response.headers_mut().insert("grpc-accept-encoding", HeaderValue::from_static("gzip, identity"));
            response
        }
        IngestError::MissingToken | IngestError::BadToken => status(code::UNAUTHENTICATED, &message, None),
        IngestError::NotPermitted(_) => status(code::PERMISSION_DENIED, &message, None),
        IngestError::TooLarge { .. } | IngestError::Expands { .. } | IngestError::OverBudget { .. } => {
            status(code::RESOURCE_EXHAUSTED, &message, None)
        }
        IngestError::TooMany { .. } | IngestError::Undecodable(_) | IngestError::Invalid(_) => {
            status(code::INVALID_ARGUMENT, &message, None)
        }
        IngestError::SlowBody { .. } => status(code::DEADLINE_EXCEEDED, &message, None),
        IngestError::Busy { retry_after } | IngestError::MemoryBusy { retry_after } => {
            status(code::RESOURCE_EXHAUSTED, &message, Some(retry_after))
        }
        IngestError::Unavailable { retry_after } => status(code::UNAVAILABLE, &message, Some(retry_after)),
    }
}

/// A Trailers-Only answer: the status in the response's headers and no message.
fn status(code: i32, message: &str, retry_after: Option<u32>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code));
    // Cut: a client's header limits are a few KiB, and a message may echo what the client sent.
    let message = match message.char_indices().nth(1000) {
        Some((at, _)) => &message[..at],
        None => message,
    };
    if let Ok(value) = HeaderValue::from_str(&percent_encode(message)) {
        headers.insert("grpc-message", value);
    }
    if let Some(secs) = retry_after {
        let retry = RetryInfo { retry_delay: Some(ProtoDuration { seconds: i64::from(secs), nanos: 0 }) };
        let details = RpcStatus {
            code,
            message: message.to_string(),
            details: vec![ProtoAny { type_url: RETRY_INFO_TYPE.into(), value: retry.encode_to_vec() }],
        };
        let b64 =
            |bytes: Vec<u8>| HeaderValue::from_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes));
        if let Ok(value) = b64(details.encode_to_vec()) {
            headers.insert(HeaderName::from_static("grpc-status-details-bin"), value);
        }
        if let Ok(value) = b64(retry.encode_to_vec()) {
            headers.insert(HeaderName::from_static("google.rpc.retryinfo-bin"), value);
        }
    }
    (headers, Body::empty()).into_response()
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` itself.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("50% off: é\n"), "50%25 off: %C3%A9%0A");
        assert_eq!(percent_encode("plain text"), "plain text");
    }

    #[test]
    fn push_back_carries_retry_info_both_ways() {
        let response = error(IngestError::Busy { retry_after: 7 });
        let headers = response.headers();
        assert_eq!(headers["grpc-status"], "8");
        let decode = |name: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(headers[name].as_bytes()).expect("base64")
        };
        let retry = RetryInfo::decode(&decode("google.rpc.retryinfo-bin")[..]).expect("RetryInfo");
        assert_eq!(retry.retry_delay.as_ref().map(|d| d.seconds), Some(7));
        let details = RpcStatus::decode(&decode("grpc-status-details-bin")[..]).expect("Status");
        assert_eq!((details.code, details.details.len()), (8, 1));
        assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE);
        assert_eq!(RetryInfo::decode(&details.details[0].value[..]).expect("inner"), retry);
    }

    #[test]
    fn an_oversized_message_is_resource_exhausted_without_retry_info() {
        let response = error(IngestError::TooLarge { limit: 10 });
        assert_eq!(response.headers()["grpc-status"], "8");
        assert!(response.headers().get("grpc-status-details-bin").is_none());
        assert!(response.headers().get("google.rpc.retryinfo-bin").is_none());
        let unavailable = error(IngestError::Unavailable { retry_after: 3 });
        assert_eq!(unavailable.headers()["grpc-status"], "14");
        assert!(unavailable.headers().get("google.rpc.retryinfo-bin").is_some());
    }
}
