//! Ingest errors and how each becomes an HTTP response a client can act on. Internals (SQL errors,
//! file paths) are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::wire::WireFormat;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("missing bearer token: send `Authorization: Bearer <ingest token>`")]
    MissingToken,
    #[error("the bearer token is not a known ingest token")]
    BadToken,
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error(
        "the request's spans, each with its copy of the resource, come to more than {limit} bytes \
         (collector.max_expanded_span_bytes): send fewer spans per request or smaller resource attributes"
    )]
    Expands { limit: usize },
    #[error(
        "the request would need more memory than the collector gives requests in flight \
         ({limit} bytes, collector.{key}): send fewer spans or events per request"
    )]
    OverBudget { limit: usize, key: &'static str },
    #[error("{what}; the limit is {limit} (collector.{key})")]
    TooMany { what: String, limit: usize, key: &'static str },
    #[error(
        "the memory the collector gives requests in flight is taken (collector.max_inflight_bytes, \
         collector.max_inflight_bytes_per_source); retry after {retry_after} s"
    )]
    MemoryBusy { retry_after: u32 },
    #[error("the request body did not arrive within {secs} s (collector.body_timeout_secs)")]
    SlowBody { secs: u64 },
    #[error("unsupported Content-Type {0:?}: send application/x-protobuf or application/json")]
    UnsupportedMediaType(String),
    #[error("unsupported Content-Encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("body could not be decoded: {0}")]
    Undecodable(String),
    #[error("{0}")]
    Invalid(String),
    /// The token is good but its source may not write this.
    #[error("{0}")]
    NotPermitted(String),
    #[error("the ingest queue is full; retry after {retry_after} s")]
    Busy { retry_after: u32 },
    #[error("storage is unavailable and the spool is full; retry after {retry_after} s")]
    Unavailable { retry_after: u32 },
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::MissingToken | IngestError::BadToken => StatusCode::UNAUTHORIZED,
            IngestError::NotPermitted(_) => StatusCode::FORBIDDEN,
            IngestError::TooLarge { .. }
            | IngestError::Expands { .. }
            | IngestError::OverBudget { .. }
            | IngestError::TooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::SlowBody { .. } => StatusCode::REQUEST_TIMEOUT,
            IngestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::UnsupportedEncoding(_) | IngestError::Undecodable(_) | IngestError::Invalid(_) => {
                StatusCode::BAD_REQUEST
            }
            IngestError::Busy { .. } | IngestError::MemoryBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            IngestError::Busy { retry_after }
            | IngestError::MemoryBusy { retry_after }
            | IngestError::Unavailable { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The response in the format the client spoke: OTLP says error bodies are a `google.rpc.Status`
    /// in the request's encoding; audit clients get `{"error": "..."}`.
    pub fn into_response_for(self, format: WireFormat) -> Response {
        let status = self.status();
        let message = self.to_string();
        let mut response = match format {
            WireFormat::Protobuf => {
                let body = prost::Message::encode_to_vec(&crate::wire::RpcStatus {
                    code: grpc_code(status),
                    message,
                    details: Vec::new(),
                });
                ([(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
            }
            WireFormat::Json => {
                let body = serde_json::json!({ "code": grpc_code(status), "message": message, "error": message });
                axum::Json(body).into_response()
            }
        };
        *response.status_mut() = status;
        if let Some(secs) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        self.into_response_for(WireFormat::Json)
    }
}

/// The gRPC status code matching an HTTP status, as OTLP/HTTP's Status body carries.
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        408 => 4,             // DEADLINE_EXCEEDED
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 2,               // UNKNOWN
    }
}
