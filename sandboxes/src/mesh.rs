//! MESH API v2 at `/messageexchange`, behaving as NHS England's `mesh-sandbox` does with `AUTH_MODE=full`:
//! the `NHSMESH` HMAC authorisation, handshake, send (single chunk), inbox (paged: `max_results`, default
//! 500, and `links.next`), download (410 Gone once a message is undeliverable), acknowledge, tracking
//! and `DELETE /messageexchange/admin/reset`. Status codes, JSON bodies and mex-* headers follow
//! mesh-sandbox's handlers and views (`handlers/{outbox,inbox,tracking}.py`, `views/error.py`).
//! An undeliverable message (fault `drop_messages`, or not collected in 5 days) puts a non-delivery
//! REPORT (`mex-StatusCode: 14`, `mex-LinkedMsgId`) in its sender's inbox, as live MESH does.
//!
//! Like mesh-sandbox, there is no timestamp or nonce replay check and workflows are not enforced; unlike
//! live MESH there is no mutual TLS. Chunked uploads, `workflow_filter`, and gzip re-encoding on download
//! are not supported; the v2 inbox's `continue_from` is the last message id of the page rather than
//! mesh-sandbox's encrypted key (clients should treat it as opaque either way).

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};

use crate::clock::{http_date, mesh_timestamp};
use crate::faults::ActiveFaults;
use crate::form;
use crate::mesh_store::{new_message_id, Message, MessageStatus, MessageType};
use crate::state::SandboxState;

pub const BASE: &str = "/messageexchange";
const V2_JSON: &str = "application/vnd.mesh.v2+json";
const DEFAULT_ERROR: &str = "An internal error occurred.\n\nPlease contact support.";
/// Inbox page size when `max_results` is not given, and its allowed range (mesh-sandbox `routers/inbox.py`).
const DEFAULT_MAX_RESULTS: usize = 500;
const MAX_RESULTS_RANGE: std::ops::RangeInclusive<usize> = 10..=5000;

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/_ping"), get(ping))
        .route(&format!("{BASE}/{{mailbox}}"), get(handshake).post(handshake))
        .route(&format!("{BASE}/{{mailbox}}/outbox"), post(send))
        .route(&format!("{BASE}/{{mailbox}}/outbox/tracking"), get(tracking))
        .route(&format!("{BASE}/{{mailbox}}/inbox"), get(inbox))
        .route(&format!("{BASE}/{{mailbox}}/inbox/{{message}}"), get(download))
        .route(&format!("{BASE}/{{mailbox}}/inbox/{{message}}/status/acknowledged"), put(acknowledge))
}

/// A MESH rejection: a status and, optionally, mesh-sandbox's (event, code, description) triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshError {
    status: StatusCode,
    detail: Detail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Detail {
    /// No detail: mesh-sandbox's generic `{"internal_id","message"}` body.
    None,
    /// `errorEvent`/`errorCode`/`errorDescription` (v1) or `detail[{event,code,msg}]` (v2).
    Coded { event: &'static str, code: &'static str, msg: String },
    /// A request-validation failure (missing header or query parameter): FastAPI's shape.
    Missing { location: &'static str, name: &'static str },
    /// A query parameter outside its allowed range: FastAPI's shape.
    Invalid { location: &'static str, name: &'static str, kind: &'static str, msg: String },
}

impl MeshError {
    fn bare(status: StatusCode) -> Self {
        MeshError { status, detail: Detail::None }
    }

    fn coded(status: StatusCode, event: &'static str, code: &'static str, msg: impl Into<String>) -> Self {
        MeshError { status, detail: Detail::Coded { event, code, msg: msg.into() } }
    }

    fn forbidden(msg: &str) -> Self {
        Self::coded(StatusCode::FORBIDDEN, "", "", msg)
    }

    fn missing(location: &'static str, name: &'static str) -> Self {
        MeshError { status: StatusCode::BAD_REQUEST, detail: Detail::Missing { location, name } }
    }

    fn not_found() -> Self {
        Self::coded(StatusCode::NOT_FOUND, "RECEIVE", "20", "Message does not exist")
    }

    /// mesh-sandbox's `ERROR_MESSAGE_GONE` (its code really is the text "Message already accepted").
    fn gone() -> Self {
        Self::coded(StatusCode::GONE, "SEND", "Message already accepted", "Message no longer available for download")
    }

    fn render(self, version: u8) -> Response {
        let internal_id = uuid::Uuid::new_v4().simple().to_string();
        let (body, media) = match self.detail {
            Detail::None => (json!({"internal_id": internal_id, "message": DEFAULT_ERROR}), "application/json"),
            Detail::Missing { location, name } => (
                json!({"detail": [{"type": "missing", "loc": [location, name], "msg": "Field required"}]}),
                "application/json",
            ),
            Detail::Invalid { location, name, kind, msg } => {
                (json!({"detail": [{"type": kind, "loc": [location, name], "msg": msg}]}), "application/json")
            }
            Detail::Coded { event, code, msg } if version < 2 => {
                (json!({"errorEvent": event, "errorCode": code, "errorDescription": msg}), "application/json")
            }
            Detail::Coded { event, code, msg } => {
                (json!({"internal_id": internal_id, "detail": [{"event": event, "code": code, "msg": msg}]}), V2_JSON)
            }
        };
        json_response(self.status, &body, media)
    }
}

fn json_response(status: StatusCode, body: &Value, media: &'static str) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    response
}

/// Injected-fault answer in mesh-sandbox's error shape.
pub fn fault_response(status: StatusCode) -> Response {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return MeshError::coded(status, "", "", "Too many requests").render(2);
    }
    MeshError::bare(status).render(2)
}

/// The API version asked for in `Accept` (mesh-sandbox's `parse_accept_header`).
fn api_version(headers: &HeaderMap) -> Result<u8, MeshError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).filter(|a| !a.is_empty()) else {
        return Ok(1);
    };
    for part in accept.split(';').map(str::trim) {
        if !part.contains("vnd.mesh") {
            continue;
        }
        let version = part.strip_prefix("application/vnd.mesh.v").and_then(|r| r.strip_suffix("+json"));
        return version
            .and_then(|v| v.parse::<u8>().ok())
            .ok_or_else(|| MeshError::coded(StatusCode::BAD_REQUEST, "", "", "Accept header api format incorrect"));
    }
    Ok(1)
}

fn finish(headers: &HeaderMap, result: Result<Response, MeshError>) -> Response {
    result.unwrap_or_else(|error| error.render(api_version(headers).unwrap_or(1)))
}

/// The `NHSMESH` HMAC: hex HMAC-SHA256(shared key, "{mailbox}:{nonce}:{nonce_count}:{password}:{timestamp}").
pub fn auth_cipher(
    shared_key: &str,
    mailbox: &str,
    nonce: &str,
    nonce_count: &str,
    password: &str,
    timestamp: &str,
) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(shared_key.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{mailbox}:{nonce}:{nonce_count}:{password}:{timestamp}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the `Authorization` header for the mailbox in the path; returns the mailbox id (upper case).
fn authorise(state: &SandboxState, mailbox: &str, headers: &HeaderMap) -> Result<String, MeshError> {
    let mailbox = mailbox.to_uppercase();
    const READING: &str = "Error reading from Authorization header";
    let raw = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(MeshError::forbidden(READING));
    }
    let (scheme, token) =
        if raw.to_uppercase().starts_with("NHSMESH") { ("NHSMESH", raw.get(8..).unwrap_or("")) } else { ("", raw) };
    let parts: Vec<&str> = token.split(':').collect();
    let part = |i: usize| parts.get(i).copied().unwrap_or("");
    if part(0) != mailbox {
        return Err(MeshError::forbidden("Mailbox id does not match token"));
    }
    let malformed = parts.len() != 5
        || !part(2).chars().all(|c| c.is_ascii_digit())
        || part(2).is_empty()
        || scheme.is_empty() && raw.contains(' ')
        || part(0).contains(' ');
    if malformed {
        return Err(MeshError::forbidden(READING));
    }
    let store = state.mesh();
    let record = store.mailbox(&mailbox).ok_or_else(|| MeshError::forbidden("No mailbox matched"))?;
    let expected = auth_cipher(&state.config().mesh_shared_key, part(0), part(1), part(2), &record.password, part(3));
    if !part(4).eq_ignore_ascii_case(&expected) {
        return Err(MeshError::forbidden("Invalid Authentication Token"));
    }
    Ok(mailbox)
}

async fn ping() -> Response {
    Json(json!({"status": "running", "outcome": "Yes"})).into_response()
}

async fn handshake(State(state): State<SandboxState>, Path(mailbox): Path<String>, headers: HeaderMap) -> Response {
    let result = authorise(&state, &mailbox, &headers).and_then(|mailbox| {
        // mesh-sandbox declares these three handshake headers required (FastAPI `Header(...)`).
        for (name, lower) in [
            ("mex-ClientVersion", "mex-clientversion"),
            ("mex-OSName", "mex-osname"),
            ("mex-OSVersion", "mex-osversion"),
        ] {
            if header_str(&headers, name).is_none() {
                return Err(MeshError::missing("header", lower));
            }
        }
        Ok(match api_version(&headers)? {
            1 => Json(json!({"mailboxId": mailbox})).into_response(),
            _ => StatusCode::OK.into_response(),
        })
    });
    finish(&headers, result)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn flag(headers: &HeaderMap, name: &str) -> bool {
    header_str(headers, name)
        .is_some_and(|v| matches!(v.trim().to_lowercase().as_str(), "y" | "yes" | "t" | "true" | "on" | "1"))
}

async fn send(
    State(state): State<SandboxState>,
    Path(mailbox): Path<String>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let dropped = faults.is_some_and(|Extension(f)| f.drop_messages);
    finish(&headers, send_message(&state, &mailbox, &headers, body, dropped))
}

fn send_message(
    state: &SandboxState,
    mailbox: &str,
    headers: &HeaderMap,
    body: Bytes,
    dropped: bool,
) -> Result<Response, MeshError> {
    let sender = authorise(state, mailbox, headers)?;
    let version = api_version(headers)?;
    let to = header_str(headers, "mex-To").ok_or_else(|| MeshError::missing("header", "mex-to"))?;
    let workflow =
        header_str(headers, "mex-WorkflowID").ok_or_else(|| MeshError::missing("header", "mex-workflowid"))?;
    let to = to.trim().to_uppercase();
    if to.is_empty() {
        return Err(MeshError::coded(StatusCode::BAD_REQUEST, "SEND", "08", "TO_DTS missing"));
    }
    let encoding = header_str(headers, "Content-Encoding").unwrap_or("").trim().to_lowercase();
    if !encoding.is_empty() && encoding != "gzip" {
        return Err(MeshError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SEND",
            "UnsupportedContentEncoding",
            "Unsupported content encoding",
        ));
    }
    let chunk_range = header_str(headers, "mex-Chunk-Range").unwrap_or("").trim();
    if !chunk_range.is_empty() && chunk_range != "1:1" {
        return Err(MeshError::coded(
            StatusCode::EXPECTATION_FAILED,
            "SEND",
            "InvalidHeaderChunks",
            "Invalid chunk values sent in mex-Chunk-Range header",
        ));
    }
    let mut store = state.mesh();
    if store.mailbox(&to).is_none() {
        return Err(MeshError::coded(StatusCode::EXPECTATION_FAILED, "SEND", "12", "Unregistered to address"));
    }
    if body.is_empty() {
        return Err(MeshError::coded(
            StatusCode::EXPECTATION_FAILED,
            "COLLECT",
            "02",
            "Data file is missing or inaccessible.",
        ));
    }
    let id = new_message_id();
    let text = |name: &str| header_str(headers, name).unwrap_or("").to_owned();
    // mesh-sandbox keeps mex-Content-Type as sent and normalises only Content-Type (stripped, lower case).
    let content_type = Some(text("mex-Content-Type"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| text("Content-Type").trim().to_lowercase());
    let message = Message {
        id: id.clone(),
        sender,
        recipient: to,
        workflow_id: workflow.trim().to_owned(),
        subject: text("mex-Subject"),
        local_id: text("mex-LocalID"),
        partner_id: text("mex-PartnerID"),
        file_name: Some(text("mex-FileName")).filter(|f| !f.is_empty()).unwrap_or_else(|| format!("{id}.dat")),
        content_type,
        content_encoding: encoding,
        checksum: text("mex-Content-Checksum"),
        encrypted: flag(headers, "mex-Content-Encrypted"),
        compressed: flag(headers, "mex-Content-Compressed"),
        body: body.to_vec(),
        status: MessageStatus::Accepted,
        message_type: MessageType::Data,
        error: None,
        created: Utc::now(),
        acknowledged: None,
        undeliverable: None,
    };
    // A dropped message is still accepted (202), as live MESH accepts what it later fails to deliver;
    // the sender learns from the non-delivery report the store puts in its inbox.
    store.send(message, !dropped, Utc::now());
    let reply = if version < 2 { json!({"messageID": id}) } else { json!({"message_id": id}) };
    Ok((StatusCode::ACCEPTED, Json(reply)).into_response())
}

async fn inbox(
    State(state): State<SandboxState>,
    Path(mailbox): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = authorise(&state, &mailbox, &headers).and_then(|mailbox| {
        let version = api_version(&headers)?;
        let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
        let max_results = match form::first(&pairs, "max_results") {
            None => DEFAULT_MAX_RESULTS,
            Some(text) => {
                text.parse::<usize>().ok().filter(|n| MAX_RESULTS_RANGE.contains(n)).ok_or_else(|| MeshError {
                    status: StatusCode::BAD_REQUEST,
                    detail: Detail::Invalid {
                        location: "query",
                        name: "max_results",
                        kind: "value_error",
                        msg: format!(
                            "max_results must be an integer from {} to {}",
                            MAX_RESULTS_RANGE.start(),
                            MAX_RESULTS_RANGE.end()
                        ),
                    },
                })?
            }
        };
        let continue_from = form::first(&pairs, "continue_from").filter(|c| !c.is_empty());
        let mut store = state.mesh();
        let all: Vec<String> = store.inbox(&mailbox, Utc::now()).iter().map(|m| m.id.clone()).collect();
        // approx_inbox_count is every accepted message, not this page (mesh-sandbox's `mailbox.inbox_count`).
        let count = all.len();
        // Like mesh-sandbox, an unknown continuation starts from the beginning.
        let skip = continue_from.and_then(|c| all.iter().position(|id| id == c)).map_or(0, |i| i + 1);
        let rest = &all[skip..];
        let page = &rest[..rest.len().min(max_results)];
        Ok(if version < 2 {
            json_response(StatusCode::OK, &json!({"messages": page}), "application/json")
        } else {
            let query = |continue_from: Option<&str>| {
                let mut args = Vec::new();
                if max_results != DEFAULT_MAX_RESULTS {
                    args.push(format!("max_results={max_results}"));
                }
                if let Some(token) = continue_from {
                    args.push(format!("continue_from={token}"));
                }
                if args.is_empty() {
                    String::new()
                } else {
                    format!("?{}", args.join("&"))
                }
            };
            let mut links = json!({"self": format!("{BASE}/{mailbox}/inbox{}", query(None))});
            if rest.len() > max_results {
                if let Some(last) = page.last() {
                    links["next"] = json!(format!("{BASE}/{mailbox}/inbox{}", query(Some(last))));
                }
            }
            let body = json!({"messages": page, "approx_inbox_count": count, "links": links});
            json_response(StatusCode::OK, &body, V2_JSON)
        })
    });
    finish(&headers, result)
}

/// The mex-* headers mesh-sandbox sends with a downloaded message (`InboxHandler._get_response_headers`,
/// empty ones left out). A REPORT has no content-encoding and carries its error event instead of success.
fn message_headers(message: &Message) -> Vec<(&'static str, String)> {
    let yes = |b: bool| if b { "Y".to_owned() } else { String::new() };
    let report = message.message_type == MessageType::Report;
    let total_chunks = if report { "0" } else { "1" };
    let file_name =
        if message.file_name.is_empty() { format!("{}.dat", message.id) } else { message.file_name.clone() };
    let mut headers = vec![
        ("mex-From", message.sender.clone()),
        ("mex-To", message.recipient.clone()),
        ("mex-WorkflowID", message.workflow_id.clone()),
        ("mex-Chunk-Range", format!("1:{total_chunks}")),
        ("mex-Total-Chunks", total_chunks.to_owned()),
        ("mex-AddressType", "ALL".to_owned()),
        ("mex-LocalID", message.local_id.clone()),
        ("mex-PartnerID", message.partner_id.clone()),
        ("mex-FileName", file_name),
        ("mex-Subject", message.subject.clone()),
        ("mex-Version", "1.0".to_owned()),
        ("mex-MessageType", message.message_type.as_str().to_owned()),
        ("mex-MessageID", message.id.clone()),
    ];
    if !report {
        headers.push(("content-encoding", message.content_encoding.clone()));
    }
    match &message.error {
        Some(error) => headers.extend([
            ("mex-LinkedMsgId", error.linked_message_id.clone()),
            ("mex-StatusCode", error.code.clone()),
            ("mex-StatusEvent", error.event.clone()),
            ("mex-StatusDescription", error.description.clone()),
            ("mex-StatusSuccess", "ERROR".to_owned()),
            ("mex-StatusTimestamp", mesh_timestamp(error.at)),
        ]),
        None => headers.extend([
            ("mex-StatusCode", "00".to_owned()),
            ("mex-StatusEvent", "TRANSFER".to_owned()),
            ("mex-StatusDescription", "Transferred to recipient mailbox".to_owned()),
            ("mex-StatusSuccess", "SUCCESS".to_owned()),
            ("mex-StatusTimestamp", mesh_timestamp(message.created)),
        ]),
    }
    headers.extend([
        ("mex-Content-Compressed", yes(message.compressed)),
        ("mex-Content-Encrypted", yes(message.encrypted)),
        ("mex-Content-Checksum", message.checksum.clone()),
        ("mex-Content-Type", message.content_type.clone()),
        ("last-modified", http_date(message.last_modified())),
    ]);
    headers.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// The `Content-Type` mesh-sandbox's download sends: the message's own type to a v2 client (Starlette adds
/// `; charset=utf-8` to a `text/*` type without a charset), `application/octet-stream` otherwise.
fn download_media_type(message: &Message, version: u8) -> String {
    if version < 2 || message.content_type.is_empty() {
        return "application/octet-stream".to_owned();
    }
    let media = message.content_type.clone();
    if media.starts_with("text/") && !media.to_lowercase().contains("charset=") {
        format!("{media}; charset=utf-8")
    } else {
        media
    }
}

async fn download(
    State(state): State<SandboxState>,
    Path((mailbox, message)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = authorise(&state, &mailbox, &headers).and_then(|mailbox| {
        let version = api_version(&headers)?;
        let store = state.mesh();
        let message = store.message(&message.to_uppercase()).ok_or_else(MeshError::not_found)?;
        if message.recipient != mailbox {
            return Err(MeshError::bare(StatusCode::FORBIDDEN));
        }
        if message.status == MessageStatus::Undeliverable {
            return Err(MeshError::gone());
        }
        let report = message.message_type == MessageType::Report;
        let mut response = Response::new(if report { Body::empty() } else { Body::from(message.body.clone()) });
        let out = response.headers_mut();
        for (name, value) in message_headers(message) {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
                out.insert(name, value);
            }
        }
        if !report {
            if let Ok(media) = HeaderValue::from_str(&download_media_type(message, version)) {
                out.insert(header::CONTENT_TYPE, media);
            }
        }
        Ok(response)
    });
    finish(&headers, result)
}

async fn acknowledge(
    State(state): State<SandboxState>,
    Path((mailbox, message)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = authorise(&state, &mailbox, &headers).and_then(|mailbox| {
        let version = api_version(&headers)?;
        let id = message.to_uppercase();
        let mut store = state.mesh();
        let message = store.message(&id).ok_or_else(MeshError::not_found)?;
        if message.recipient != mailbox {
            return Err(MeshError::bare(StatusCode::FORBIDDEN));
        }
        // mesh-sandbox answers success for a message that is not `accepted` and leaves it as it is.
        store.acknowledge(&id, Utc::now());
        Ok(if version < 2 { Json(json!({"messageId": id})).into_response() } else { StatusCode::OK.into_response() })
    });
    finish(&headers, result)
}

fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

async fn tracking(
    State(state): State<SandboxState>,
    Path(mailbox): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = authorise(&state, &mailbox, &headers).and_then(|mailbox| {
        let version = api_version(&headers)?;
        let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
        let id = form::first(&pairs, "messageID")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| MeshError::missing("query", "messageID"))?
            .to_uppercase();
        let store = state.mesh();
        // Not 403 for another sender's message: mesh-sandbox (like Spine) answers 404.
        let message =
            store.message(&id).filter(|m| m.sender == mailbox).ok_or_else(|| MeshError::bare(StatusCode::NOT_FOUND))?;
        let recipient = store.mailbox(&message.recipient);
        let (name, ods) = recipient.map(|r| (r.name.clone(), r.ods_code.clone())).unwrap_or_default();
        let succeeded = message.status != MessageStatus::Undeliverable;
        Ok(if version < 2 {
            let mut body = json!({
                "addressType": "ALL", "dtsId": message.id, "messageId": message.id, "localId": message.local_id,
                "fileName": message.file_name, "fileSize": message.body.len(), "workflowId": message.workflow_id,
                "recipient": message.recipient, "recipientName": name, "sender": message.sender,
                "status": title_case(message.status.as_str()),
                "statusSuccess": if succeeded { "SUCCESS" } else { "ERROR" }, "uploadTimestamp": mesh_timestamp(message.created),
                "downloadTimestamp": message.acknowledged.map(mesh_timestamp).unwrap_or_default(),
                "expiryTime": mesh_timestamp(message.inbox_expiry()), "messageType": "Data", "version": "1.0",

            });
            if let Some(at) = message.undeliverable {
                body["failureDate"] = json!(mesh_timestamp(at));
                body["failureDiagnostic"] = json!(crate::mesh_store::undelivered_description());
            }
            json_response(StatusCode::OK, &body, "application/json")
        } else {
            let body = json!({
                "message_id": message.id, "local_id": message.local_id, "workflow_id": message.workflow_id,
                "filename": message.file_name, "expiry_time": iso(message.inbox_expiry()),
                "upload_timestamp": iso(message.created), "recipient": message.recipient, "recipient_name": name,
                "recipient_ods_code": ods, "recipient_org_code": ods, "status": message.status.as_str(),
                "status_success": succeeded,
            });
            json_response(StatusCode::OK, &body, V2_JSON)
        })
    });
    finish(&headers, result)
}

fn title_case(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_matches_mesh_sandbox_example_shape() {
        let cipher = auth_cipher("TestKey", "X26ABC1", "nonce", "1", "password", "202611230502");
        assert_eq!(cipher.len(), 64);
        assert_ne!(cipher, auth_cipher("TestKey", "X26ABC1", "nonce", "2", "password", "202611230502"));
    }

    #[test]
    fn accept_header_versions() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
            api_version(&headers)
        };
        assert_eq!(with("application/vnd.mesh.v2+json"), Ok(2));
        assert_eq!(with("application/json"), Ok(1));
        assert!(with("application/vnd.mesh.vX+json").is_err());
        assert_eq!(api_version(&HeaderMap::new()), Ok(1));
    }
}
