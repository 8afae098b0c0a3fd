//! The auditors' own trail as FHIR R4 `AuditEvent` resources (IHE BALP shapes), in a searchset
//! Bundle paged by a cursor: what was searched, revealed, sampled, exported and decided on the
//! dashboard (findings' decisions included, a decision that could not be saved with outcome 8), for
//! an organisation's own audit repository or SIEM. NHS numbers are masked as everywhere in the
//! API; `pathwatch audit export --format fhir-ndjson` on the host gives them whole.

use audit_store::AuditFilter;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::doc::Refusals;
use super::{ApiError, ApiUser};
use crate::audit_trail::{AuditorAction, SOURCE};
use crate::auth::peer::PeerIp;
use crate::error::WebError;
use crate::pages::audit_search;
use crate::state::DashboardState;

/// How long after an event the trail is taken as settled: a recorded event may still be on its way
/// into the store (in ClickHouse's spool), and a walk's cursor must not pass it by.
const SETTLE_NS: u64 = 60_000_000_000;

/// Most resources in one page, and the default.
const MAX_COUNT: u32 = 1_000;
const DEFAULT_COUNT: u32 = 100;

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailQuery {
    /// First day (YYYY-MM-DD, UTC) or RFC 3339 time, inclusive.
    #[serde(default)]
    from: String,
    /// Day after the last, or an RFC 3339 time, exclusive; at most (and by default) a minute before
    /// now, when the trail has settled (the next links keep it).
    #[serde(default)]
    to: String,
    /// ODS code (accounts limited to several organisations: one of theirs, required).
    #[serde(default)]
    organisation: String,
    /// The `next` link's cursor from the page before.
    #[serde(default)]
    after: String,
    /// Resources per page, 1 to 1000 (default 100).
    #[serde(default, rename = "_count")]
    count: Option<u32>,
}

/// A FHIR R4 Bundle of type searchset (what the API sends; the resources are FHIR's own shape).
#[derive(Serialize, ToSchema)]
pub struct FhirBundle {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    /// `self`, and `next` while there is more.
    link: Vec<BundleLink>,
    entry: Vec<BundleEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct BundleLink {
    relation: &'static str,
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct BundleEntry {
    /// A FHIR R4 AuditEvent.
    resource: serde_json::Value,
    search: BundleSearch,
}

#[derive(Serialize, ToSchema)]
pub struct BundleSearch {
    mode: &'static str,
}

/// A cursor: the last resource's time and sequence number.
fn cursor(text: &str) -> Result<Option<(u64, u64)>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parsed = text.split_once('-').and_then(|(t, s)| Some((t.parse::<i64>().ok()?, s.parse::<i64>().ok()?)));
    match parsed {
        Some((t, s)) if t >= 0 && s >= 0 => Ok(Some((t as u64, s as u64))),
        _ => Err(format!("after: {text:?} is not a cursor from a next link")),
    }
}

/// The auditors' trail as a FHIR R4 searchset Bundle of `AuditEvent`s, oldest first, within the
/// account's organisations, paged by the `next` link. Reading it is itself recorded first.
#[utoipa::path(get, path = "/api/v1/audit/fhir/AuditEvent", tag = "audit", params(TrailQuery),
    responses((status = 200, description = "A FHIR R4 Bundle (searchset) of AuditEvent resources",
            content_type = "application/fhir+json", body = FhirBundle),
        (status = 400, description = "A time, organisation, cursor or count not understood (the message names it)",
            body = super::ErrorBody),
        Refusals))]
pub async fn auditors_trail(
    State(state): State<DashboardState>,
    user: ApiUser,
    PeerIp(peer): PeerIp,
    Query(q): Query<TrailQuery>,
) -> Result<Response, ApiError> {
    let bad = |e: String| ApiError(StatusCode::BAD_REQUEST, e);
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let count = q.count.unwrap_or(DEFAULT_COUNT);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(bad(format!("_count: {count} is not between 1 and {MAX_COUNT}")));
    }
    let from_ns = audit_search::instant("from", &q.from).map_err(bad)?;
    // Up to a minute before the export began, whatever `to` asks (carried in the next links): the
    // trail is settled there, and reading a page is itself recorded, which a walk must not chase.
    let settled = state.now_ns().saturating_sub(SETTLE_NS);
    let asked = audit_search::instant("to", &q.to).map_err(bad)?;
    let to_ns = asked.map_or(settled, |t| t.min(settled));
    let to_text = match asked {
        Some(t) if t <= settled => q.to.trim().to_string(),
        _ => audit_store::fhir::instant(to_ns),
    };
    if to_ns > i64::MAX as u64 || from_ns.is_some_and(|f| f >= to_ns) {
        return Err(bad(format!(
            "from: the period must begin before it ends ({}, a minute before now or `to` if earlier)",
            audit_store::fhir::instant(to_ns)
        )));
    }
    let filter = AuditFilter {
        source_system: Some(SOURCE.to_string()),
        organisation: audit_search::organisation_in_scope(&user.0, &q.organisation).map_err(bad)?,
        from_ns,
        to_ns: Some(to_ns),
        after: cursor(&q.after).map_err(bad)?,
        limit: count,
        ..Default::default()
    };
    let record = AuditorAction {
        action: audit_store::Action::Search,
        resource_type: "AuditEvent",
        resource_id: format!("auditors' trail as FHIR: {}", audit_search::describe(&filter)),
        nhs_number: String::new(),
        purpose: "audit trail export (FHIR API)".into(),
        client_address: peer,
    };
    state.record_auditor(&user.0, record).await?;
    let events = audit_store::AuditLog::audit_events(telemetry, &filter).await.map_err(WebError::from)?;
    let options =
        audit_store::fhir::FhirOptions { dashboard_url: state.web_config().public_url.clone(), mask_nhs_numbers: true };
    let mut query: Vec<(&str, String)> = [("from", &q.from), ("to", &to_text), ("organisation", &q.organisation)]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_string()))
        .collect();
    query.push(("_count", count.to_string()));
    let link = |after: Option<String>| {
        let mut parts = query.clone();
        if let Some(a) = after {
            parts.push(("after", a));
        }
        let text = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(parts).finish();
        format!("/api/v1/audit/fhir/AuditEvent?{text}")
    };
    let mut links = vec![BundleLink { relation: "self", url: link((!q.after.is_empty()).then(|| q.after.clone())) }];
    if events.len() == count as usize {
        if let Some(last) = events.last() {
            let next = format!("{}-{}", last.event.occurred_ns, last.seq);
            links.push(BundleLink { relation: "next", url: link(Some(next)) });
        }
    }
    let entry = events
        .iter()
        .map(|e| BundleEntry {
            resource: audit_store::fhir::audit_event(e, &options),
            search: BundleSearch { mode: "match" },
        })
        .collect();
    let bundle = FhirBundle {
        resource_type: "Bundle",
        kind: "searchset",
        timestamp: audit_store::fhir::instant(state.now_ns()),
        link: links,
        entry,
    };
    let body = serde_json::to_vec(&bundle).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/fhir+json")], body).into_response())
}
