//! Pathwatch's own sandboxes: real HTTP servers that behave as NHS England's published APIs and their
//! sandboxes do — the APIM token endpoint, PDS FHIR R4, GP Connect (STU3 via Spine Secure Proxy headers),
//! NRL v3 producer and consumer, MESH API v2, and the NHS CIS2 and NHS login identity services — with fault injection switchable at runtime through
//! `/_admin`, and a synthetic-patient generator ([`patients`]).
//!
//! The canaries use them as their target in demo mode and tests; `pathwatch sandbox` / `pathwatch up` run
//! them. Everything is served by one listener under one root:
//!
//! | path | what |
//! | --- | --- |
//! | `POST /oauth2/token` | APIM application-restricted token (RS512 client assertion) |
//! | `/personal-demographics/FHIR/R4` | PDS |
//! | `/gpconnect/fhir` | GP Connect: find a patient, structured record and appointments |
//! | `/record-locator/{producer,consumer}/FHIR/R4` | NRL |
//! | `/messageexchange` | MESH |
//! | `/cis2`, `/nhslogin` | NHS CIS2 and NHS login: OpenID Connect discovery, JWKS, authorization code with PKCE |
//! | `/_admin` | faults, reset, token expiry, population (no cross-site requests; `admin_token` when set) |
//!
//! This crate never talks to a real NHS service and never holds real patient data.

pub mod admin;
mod clock;
pub mod config;
mod error;
pub mod faults;
pub mod fhir;
mod form;
pub mod gpconnect;
mod gpconnect_appointments;
mod gpconnect_metadata;
mod gpconnect_patient;
pub mod gpconnect_ssp;
mod gpconnect_structured;
pub mod identity;
mod identity_flow;
pub mod mesh;
mod mesh_store;
pub mod nrl;
mod nrl_search;
mod nrl_validate;
pub mod patients;
pub mod pds;
mod pds_coverage;
mod pds_create;
mod pds_patch;
mod pds_related;
mod pds_search;
mod pds_search_documented;
mod pds_search_match;
pub mod population;
mod rate_limit;
mod server;
mod state;
pub mod token;

use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub use config::{ClientKey, MeshMailbox, RequireAuth, SandboxConfig, DEMO_API_KEY, DEMO_KID};
pub use error::SandboxError;
pub use faults::{Api, FaultPlan};
pub use server::{Sandbox, SandboxUrls};
pub use state::SandboxState;

/// Every sandbox API on one router. Each API's routes sit behind its own fault-injection middleware, the
/// outermost layer, so injected latency and errors come before any API logic; it also logs each request
/// labelled by API, never by raw path (paths carry NHS numbers). `/_admin`, the MESH admin reset and
/// `/health` are never faulted.
pub fn router(state: SandboxState) -> Router {
    let faulted =
        |routes: Router<SandboxState>, api: Api| routes.layer(from_fn_with_state((state.clone(), api), faults::inject));
    Router::new()
        .merge(faulted(Router::new().route("/oauth2/token", post(token::issue)), Api::Token))
        .merge(faulted(pds::routes(), Api::Pds))
        .merge(faulted(gpconnect::routes(), Api::Gpconnect))
        .merge(faulted(nrl::routes(), Api::Nrl))
        .merge(faulted(mesh::routes(), Api::Mesh))
        .merge(faulted(identity::routes(identity::Provider::Cis2), Api::Cis2))
        .merge(faulted(identity::routes(identity::Provider::NhsLogin), Api::NhsLogin))
        .merge(admin::mesh_routes(state.clone()))
        .merge(admin::routes(state.clone()))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn not_found() -> Response {
    (axum::http::StatusCode::NOT_FOUND, Json(json!({"error": "no sandbox API at this path"}))).into_response()
}
