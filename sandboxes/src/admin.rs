//! `/_admin`: the test-only control surface. Fault plans per API, a full reset to the initial data,
//! forced token expiry, the synthetic population's summary, and mesh-sandbox's mailbox reset.
//! Errors are `{"error": "..."}` naming the offending field or API.
//!
//! No browser page can drive it ([`guard`]): a change sent from another site is refused, and a body
//! must be JSON (an HTML form cannot send that); with `admin_token` set, every request needs it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::{Api, FaultPlan};
use crate::state::SandboxState;

pub const BASE: &str = "/_admin";

pub fn routes(state: SandboxState) -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/faults"), get(list_faults).delete(clear_all_faults))
        .route(&format!("{BASE}/faults/{{api}}"), put(set_fault).delete(clear_fault).get(get_fault))
        .route(&format!("{BASE}/reset"), post(reset))
        .route(&format!("{BASE}/tokens/expire"), post(expire_tokens))
        .route(&format!("{BASE}/patients"), get(patients))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// mesh-sandbox's admin reset (test-only, outside fault injection), under the same guard.
pub fn mesh_routes(state: SandboxState) -> Router<SandboxState> {
    let base = crate::mesh::BASE;
    Router::new()
        .route(&format!("{base}/admin/reset"), axum::routing::delete(reset_all_mailboxes))
        .route(&format!("{base}/admin/reset/{{mailbox}}"), axum::routing::delete(reset_mailbox))
        .route(&format!("{base}/admin/backlog/{{mailbox}}"), post(seed_backlog))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

async fn reset_all_mailboxes(State(state): State<SandboxState>) -> Response {
    state.mesh().reset(None);
    Json(json!({"message": "all mailboxes reset"})).into_response()
}

async fn reset_mailbox(State(state): State<SandboxState>, Path(mailbox): Path<String>) -> Response {
    let mailbox = mailbox.to_uppercase();
    state.mesh().reset(Some(&mailbox));
    Json(json!({"message": format!("mailbox {mailbox} reset")})).into_response()
}

/// What `POST /messageexchange/admin/backlog/{mailbox}` puts in an inbox.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Backlog {
    /// How many messages (1 to 100).
    messages: u32,
    /// How long ago they were accepted, in minutes (less than the five days after which MESH
    /// makes an uncollected message undeliverable).
    #[serde(default)]
    age_minutes: u32,
    /// The sender (default: the first other mailbox).
    #[serde(default)]
    sender: Option<String>,
}

/// Test-only: puts `messages` uncollected DATA messages in `mailbox`'s inbox, accepted
/// `age_minutes` ago, as a receiving system that stopped collecting leaves them (what the canaries'
/// inbox backlog check reads).
async fn seed_backlog(State(state): State<SandboxState>, Path(mailbox): Path<String>, body: Bytes) -> Response {
    let backlog: Backlog = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid backlog: {e}")),
    };
    let max_age = crate::mesh_store::INBOX_EXPIRY_DAYS as u32 * 24 * 60;
    if !(1..=100).contains(&backlog.messages) {
        return admin_error(StatusCode::BAD_REQUEST, "invalid backlog: messages must be from 1 to 100");
    }
    if backlog.age_minutes >= max_age {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!("invalid backlog: age_minutes must be under {max_age} (MESH expires messages after five days)"),
        );
    }
    let mailbox = mailbox.to_uppercase();
    let mut store = state.mesh();
    if store.mailbox(&mailbox).is_none() {
        return admin_error(StatusCode::NOT_FOUND, format!("no mailbox {mailbox}"));
    }
    let sender = match backlog.sender.map(|s| s.to_uppercase()) {
        Some(s) if store.mailbox(&s).is_some() => s,
        Some(s) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid backlog: no sender mailbox {s}")),
        None => store.mailbox_ids().find(|id| *id != mailbox).unwrap_or(&mailbox).to_owned(),
    };
    let now = chrono::Utc::now();
    let accepted = now - chrono::Duration::minutes(i64::from(backlog.age_minutes));
    let mut ids = Vec::new();
    for _ in 0..backlog.messages {
        let message = crate::mesh_store::Message::data(&sender, &mailbox, "TEST_WORKFLOW", b"backlog\n", accepted);
        ids.push(message.id.clone());
        store.send(message, true, now);
    }
    (StatusCode::CREATED, Json(json!({"mailbox": mailbox, "message_ids": ids}))).into_response()
}

/// Refuses what a web page could send: a change from another site (its `Origin` or
/// `Sec-Fetch-Site` says so), a body that is not JSON (forms send form or text bodies), and,
/// with `admin_token` configured, anything without it.
pub async fn guard(
    State(state): State<SandboxState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{header, Method};
    let headers = request.headers();
    if let Some(token) = &state.config().admin_token {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if given.map(str::trim) != Some(token.as_str()) {
            return admin_error(StatusCode::UNAUTHORIZED, "send Authorization: Bearer <the sandbox's admin_token>");
        }
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let foreign_origin = origin.is_some_and(|o| o.split_once("://").map(|(_, h)| h) != Some(host));
        if site.is_some_and(|s| s != "same-origin" && s != "none") || foreign_origin {
            return admin_error(StatusCode::FORBIDDEN, "the sandbox's admin API takes no requests from other sites");
        }
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if content_type.is_some_and(|t| !t.trim_start().to_ascii_lowercase().starts_with("application/json")) {
            return admin_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as application/json");
        }
    }
    next.run(request).await
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn parse_api(name: &str) -> Result<Api, Box<Response>> {
    Api::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Api::ALL.iter().map(|a| a.as_str()).collect();
        Box::new(admin_error(
            StatusCode::NOT_FOUND,
            format!("unknown api '{name}'; expected one of {}", known.join(", ")),
        ))
    })
}

async fn list_faults(State(state): State<SandboxState>) -> Response {
    Json(state.faults().snapshot()).into_response()
}

async fn get_fault(State(state): State<SandboxState>, Path(api): Path<String>) -> Response {
    match parse_api(&api) {
        Ok(api) => match state.faults().snapshot().get(&api) {
            Some(plan) => Json(plan).into_response(),
            None => admin_error(StatusCode::NOT_FOUND, format!("no fault plan for {}", api.as_str())),
        },
        Err(response) => *response,
    }
}

async fn set_fault(State(state): State<SandboxState>, Path(api): Path<String>, body: Bytes) -> Response {
    let api = match parse_api(&api) {
        Ok(api) => api,
        Err(response) => return *response,
    };
    let plan = if body.iter().all(u8::is_ascii_whitespace) {
        FaultPlan::default()
    } else {
        match serde_json::from_slice::<FaultPlan>(&body) {
            Ok(plan) => plan,
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid fault plan: {e}")),
        }
    };
    if let Err(message) = plan.validate() {
        return admin_error(StatusCode::BAD_REQUEST, format!("invalid fault plan: {message}"));
    }
    state.faults().set(api, plan.clone());
    Json(plan).into_response()
}

async fn clear_fault(State(state): State<SandboxState>, Path(api): Path<String>) -> Response {
    match parse_api(&api) {
        Ok(api) => {
            state.faults().clear(api);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

async fn clear_all_faults(State(state): State<SandboxState>) -> Response {
    state.faults().clear_all();
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(state): State<SandboxState>) -> Response {
    state.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn expire_tokens(State(state): State<SandboxState>) -> Response {
    state.tokens().expire_all();
    StatusCode::NO_CONTENT.into_response()
}

async fn patients(State(state): State<SandboxState>) -> Response {
    let list: Vec<Value> = state
        .population()
        .synthetic()
        .iter()
        .map(|p| {
            json!({
                "nhs_number": p.nhs_number.as_str(),
                "given": p.given,
                "family": p.family,
                "gender": p.gender.as_fhir(),
                "birth_date": p.birth_date.to_string(),
                "postcode": p.address.postcode,
                "gp_ods": p.gp_ods,
                "restricted": p.restricted,
                "deceased": p.deceased.map(|d| d.to_string()),
                "superseded_by": p.superseded_by.as_ref().map(|n| n.as_str()),
            })
        })
        .collect();
    Json(list).into_response()
}
