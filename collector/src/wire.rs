//! Request bodies on the wire: content types, gzip, size limits.

use std::io::Read;

use axum::http::{header, HeaderMap};
use bytes::Bytes;

use crate::error::IngestError;

/// The encoding a client used, which is also the encoding it gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Protobuf,
    Json,
}

impl WireFormat {
    /// Reads Content-Type. A missing one is taken as JSON for audit ingest and rejected for OTLP,
    /// which the caller decides through `default`.
    pub fn from_headers(headers: &HeaderMap, default: Option<WireFormat>) -> Result<WireFormat, IngestError> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return default.ok_or_else(|| IngestError::UnsupportedMediaType(String::new()));
        };
        let text = value.to_str().unwrap_or_default();
        let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(WireFormat::Protobuf),
            "application/json"
            | "application/fhir+json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl" => Ok(WireFormat::Json),
            _ => Err(IngestError::UnsupportedMediaType(text.to_string())),
        }
    }
}

/// Whether the body is sent compressed (`Content-Encoding` other than identity).
pub fn is_compressed(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.to_str().unwrap_or("?").trim().eq_ignore_ascii_case("identity"))
}

/// The body as sent, decompressed when `Content-Encoding: gzip`, never larger than `limit` bytes.
pub fn decoded_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, IngestError> {
    if body.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => gunzip(&body, limit),
        other => Err(IngestError::UnsupportedEncoding(other.to_string())),
    }
}

/// Gzip (one member or several) decompressed, refused once past `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, IngestError> {
    // Read one byte past the limit so a decompression bomb is caught without inflating it.
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Undecodable(format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// `google.rpc.Status`, the body OTLP/HTTP sends with every 4xx and 5xx, and OTLP/gRPC's status
/// details (with `RetryInfo`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<crate::grpc::ProtoAny>,
}
