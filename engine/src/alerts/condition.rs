//! What an alert is about: an SLO's burn-rate conditions, or a credential's expiry. The alert
//! engine applies either the same way (one open alert per key, the outbox, silences,
//! acknowledgement, history).

use crate::slo::Severity;
use crate::slo_eval::SloStatus;

/// What an alert is about, as the engine applies it: an SLO's burn-rate conditions, or a
/// credential's expiry (see `crate::credentials`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The alert's subject in the `alerts` table: an SLO's name, or `credential:{id}`.
    pub key: String,
    /// What it measures, for people: the SLO's events, or the credential.
    pub label: String,
    pub firing: Option<Severity>,
    /// Nothing to judge by (no events in the last hour): an open alert stays open.
    pub no_data: bool,
    /// The summary while firing, at page and at ticket severity.
    pub page_summary: String,
    pub ticket_summary: String,
    /// The summary of the RESOLVED notification.
    pub resolved_summary: String,
    pub budget_remaining: Option<f64>,
    pub burn_rate_1h: Option<f64>,
    /// Whether `dashboard.runbook_base_url` + key is its run book (an SLO's; not a credential's).
    pub runbook: bool,
}

impl Condition {
    /// An SLO's burn-rate conditions.
    pub fn of_slo(status: &SloStatus) -> Condition {
        let say = |what: &str| format!("{} ({}) {what}", status.name, status.flow);
        Condition {
            key: status.name.clone(),
            label: status.flow.clone(),
            firing: status.firing,
            no_data: status.burn_rate_1h.is_none(),
            page_summary: say("is burning its error budget fast enough to exhaust it within days"),
            ticket_summary: say("is burning its error budget faster than the SLO allows"),
            resolved_summary: format!("{} is back within its error budget burn limits", status.name),
            budget_remaining: status.budget_remaining,
            burn_rate_1h: status.burn_rate_1h,
            runbook: true,
        }
    }

    pub(super) fn summary(&self, severity: Severity) -> String {
        match severity {
            Severity::Page => self.page_summary.clone(),
            Severity::Ticket => self.ticket_summary.clone(),
        }
    }
}
