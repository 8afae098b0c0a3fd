//! Auditing the auditors: every search of the audit trail, every reveal of a masked NHS number,
//! every export, sample and review decision made on the dashboard becomes an audit event in the same
//! hash chain as everyone else's, where other IG leads can see it (source `pathwatch-dashboard`).
//!
//! The dashboard never writes the store itself: the binary hands it a [`Recorder`] (in
//! `pathwatch up`, the collector's writer, so the event is sequenced and made durable like any
//! other). Reads fail closed: audit data is shown only after the event recording its viewing is
//! durable. Without a recorder, the audit pages refuse to show anything.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use audit_store::{audit_field, Action, Actor, AuditEvent, Outcome};

use crate::auth::accounts::Account;
use crate::error::WebError;
use crate::state::DashboardState;

/// The source system auditors' events carry, to find them among the rest.
pub const SOURCE: &str = audit_store::access::AUDITOR_SOURCE;

/// Makes one audit event durable, or says why it could not.
pub type Recorder = Arc<dyn Fn(AuditEvent) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What an auditor did, in the audit event's terms.
pub struct AuditorAction<'a> {
    pub action: Action,
    /// What was acted on: "AuditEvent" (a search), "AuditFinding", "AuditSample".
    pub resource_type: &'a str,
    /// Which one, or the search's filter in words.
    pub resource_id: String,
    /// The patient concerned, when there is one.
    pub nhs_number: String,
    /// Why, in the auditor's words where they gave a reason ("audit review: …").
    pub purpose: String,
    pub client_address: Option<std::net::IpAddr>,
}

/// The audit event for `action` by `user`.
pub fn event(user: &Account, action: AuditorAction<'_>, now_ns: u64) -> AuditEvent {
    AuditEvent {
        event_id: format!("pathwatch-dashboard-{}", uuid::Uuid::new_v4()),
        occurred_ns: now_ns,
        // Within the collector's limit on every field, whichever way the event travels: a long
        // search filter or reason is cut, never a reason to refuse the record (and the page).
        actor: Actor {
            user_id: audit_field(user.name.clone()),
            name: audit_field(user.display_name.clone().unwrap_or_default()),
            role: user.role.as_str().to_string(),
            organisation: audit_field(user.organisations.join(" ")),
        },
        purpose_of_use: audit_field(action.purpose),
        action: action.action,
        nhs_number: action.nhs_number,
        resource_type: action.resource_type.to_string(),
        resource_id: audit_field(action.resource_id),
        outcome: Outcome::Success,
        correlation_id: String::new(),
        request_id: String::new(),
        source_system: SOURCE.to_string(),
        client_address: action.client_address.map(|a| a.to_string()).unwrap_or_default(),
        device: String::new(),
    }
}

impl DashboardState {
    /// Records what an auditor did. An error means it was not recorded: the caller must not show
    /// the data (reads) or must say the change went unrecorded (writes).
    pub(crate) async fn record_auditor(&self, user: &Account, action: AuditorAction<'_>) -> Result<(), WebError> {
        self.record_auditor_outcome(user, action, Outcome::Success).await
    }

    /// As `record_auditor`, for an action that ended otherwise (a decision that could not be saved).
    pub(crate) async fn record_auditor_outcome(
        &self,
        user: &Account,
        action: AuditorAction<'_>,
        outcome: Outcome,
    ) -> Result<(), WebError> {
        let Some(recorder) = &self.inner.audit_recorder else {
            return Err(WebError::Refused(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "This dashboard cannot record what its users do with audit data, so it shows none.".into(),
            ));
        };
        let now = self.now_ns();
        let mut event = event(user, action, now);
        event.outcome = outcome;
        recorder(event).await.map_err(|e| {
            tracing::error!(error = %e, "an auditor's action could not be recorded in the audit trail");
            WebError::Refused(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "Your action could not be recorded in the audit trail, so it was not done. Try again in a moment."
                    .into(),
            )
        })
    }
}
