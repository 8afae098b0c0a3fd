//! Credentials that expire, as the canaries last reported them (`pathwatch credentials` spans,
//! see `canaries::expiry`): days left for each, the overview's warning from 30 days, and the
//! alerts at 14 days (ticket) and 7 (page), applied by the alert engine like an SLO's, under the
//! key `credential:{id}`, so they are acknowledged, silenced and notified the same way.

use audit_store::{RecentQuery, Span, StoreError, TelemetryStore, NANOS_PER_SEC};
use domain::canary::{attr, CREDENTIALS_SPAN, CREDENTIAL_SPAN, SERVICE as CANARY_SERVICE};
use serde::Serialize;

use crate::alerts::Condition;
use crate::pathways::attribute;
use crate::slo::Severity;

/// The overview warns with this many days (or fewer) left.
pub const WARN_DAYS: i64 = 30;
/// A ticket alert with this many days or fewer.
pub const TICKET_DAYS: i64 = 14;
/// A page with this many days or fewer (and once expired).
pub const PAGE_DAYS: i64 = 7;
/// The newest check is looked for this far back (the canaries report every hour): a check older
/// than a few hours is shown as stale, and one older than this cannot be told from none.
const LOOK_BACK_NS: u64 = 35 * DAY_NS;
/// A check older than this means the canaries stopped checking: the report says so.
pub const STALE_AFTER_NS: u64 = 3 * 3600 * NANOS_PER_SEC;
const DAY_NS: u64 = 86_400 * NANOS_PER_SEC;
/// The alert key's prefix: an SLO's name cannot hold ':'.
pub const ALERT_PREFIX: &str = "credential:";

/// One credential as last checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CredentialExpiry {
    /// `production/mesh.client_cert` (`#n` for the n-th certificate of a file holding several).
    pub id: String,
    /// mesh_client_certificate, mesh_ca_certificate, spine_client_certificate, spine_ca_certificate,
    /// apim_signing_key or oidc_client_secret.
    pub kind: String,
    /// The canary environment; empty for the deployment's own (the dashboard's OIDC client).
    pub environment: String,
    /// The certificate's subject, the key id, or the client id.
    pub subject: String,
    /// When it stops working; None when it could not be read.
    pub expires_ns: Option<u64>,
    /// Whole days left (negative once expired); None when it could not be read.
    pub days_left: Option<i64>,
    /// ok, warning (30 days or fewer), ticket (14 or fewer), page (7 or fewer, or expired), or unreadable.
    pub level: String,
    /// Why it could not be read.
    pub problem: Option<String>,
}

/// The newest credential check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CredentialReport {
    pub checked_ns: u64,
    /// The check is older than three hours: the canaries have stopped checking.
    pub stale: bool,
    /// Soonest to expire first; unreadable ones first of all.
    pub credentials: Vec<CredentialExpiry>,
}

/// Whole days from `now_ns` to `expires_ns`, rounded down (negative once expired).
pub fn days_left(expires_ns: u64, now_ns: u64) -> i64 {
    let diff = expires_ns as i128 - now_ns as i128;
    diff.div_euclid(DAY_NS as i128) as i64
}

/// The level of a credential with `days` left.
pub fn level(days: Option<i64>) -> &'static str {
    match days {
        None => "unreadable",
        Some(d) if d <= PAGE_DAYS => "page",
        Some(d) if d <= TICKET_DAYS => "ticket",
        Some(d) if d <= WARN_DAYS => "warning",
        Some(_) => "ok",
    }
}

/// The kind in words.
pub fn kind_text(kind: &str) -> &str {
    match kind {
        "mesh_client_certificate" => "MESH client certificate",
        "mesh_ca_certificate" => "MESH CA certificate",
        "spine_client_certificate" => "Spine client certificate",
        "spine_ca_certificate" => "Spine CA certificate",
        "apim_signing_key" => "APIM signing key",
        "oidc_client_secret" => "single sign-on client secret",
        other => other,
    }
}

impl CredentialExpiry {
    fn of(span: &Span, now_ns: u64) -> Option<CredentialExpiry> {
        let id = attribute(span, attr::CREDENTIAL_ID)?.to_string();
        let expires_ns = attribute(span, attr::CREDENTIAL_NOT_AFTER)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| (t.timestamp().max(0) as u64).saturating_mul(NANOS_PER_SEC));
        let days_left = expires_ns.map(|e| days_left(e, now_ns));
        Some(CredentialExpiry {
            id,
            kind: attribute(span, attr::CREDENTIAL_KIND).unwrap_or("").to_string(),
            environment: attribute(span, attr::ENVIRONMENT).unwrap_or("").to_string(),
            subject: attribute(span, attr::CREDENTIAL_SUBJECT).unwrap_or("").to_string(),
            expires_ns,
            days_left,
            level: level(days_left).to_string(),
            problem: attribute(span, attr::CREDENTIAL_PROBLEM).map(str::to_string),
        })
    }

    /// "MESH client certificate CN=X26ABC1 (production)".
    pub fn title(&self) -> String {
        let mut title = kind_text(&self.kind).to_string();
        if !self.subject.is_empty() {
            title.push_str(&format!(" {}", self.subject));
        }
        if !self.environment.is_empty() {
            title.push_str(&format!(" ({})", self.environment));
        }
        title
    }

    /// "expires in 6 days, on 12 Dec 2026 00:00", "expired on …", or why it could not be read.
    pub fn when(&self) -> String {
        match (self.expires_ns, self.days_left) {
            (Some(at), Some(d)) if d < 0 => format!("expired on {}", domain::uk_time::format_ns(at)),
            (Some(at), Some(0)) => format!("expires within a day, at {}", domain::uk_time::format_ns(at)),
            (Some(at), Some(1)) => format!("expires in 1 day, on {}", domain::uk_time::format_ns(at)),
            (Some(at), Some(d)) => format!("expires in {d} days, on {}", domain::uk_time::format_ns(at)),
            _ => format!("cannot be checked: {}", self.problem.as_deref().unwrap_or("no expiry reported")),
        }
    }

    /// The alert severity it calls for: a page from 7 days, a ticket from 14. An unreadable one is
    /// warned about on the overview, not paged for (its flow fails if it matters now).
    pub fn severity(&self) -> Option<Severity> {
        match self.days_left {
            Some(d) if d <= PAGE_DAYS => Some(Severity::Page),
            Some(d) if d <= TICKET_DAYS => Some(Severity::Ticket),
            _ => None,
        }
    }

    /// Its alert condition, as the alert engine applies it. The summary names the date, not the
    /// days left, so a reminder days later still reads true.
    pub fn condition(&self) -> Condition {
        let at = self.expires_ns.map(domain::uk_time::format_ns).unwrap_or_default();
        let summary = match self.days_left {
            Some(d) if d < 0 => format!("{} expired on {at}: renew it and restart the canaries with it", self.title()),
            _ => format!("{} expires on {at}: renew it and restart the canaries with it", self.title()),
        };
        Condition {
            key: format!("{ALERT_PREFIX}{}", self.id),
            label: self.title(),
            firing: self.severity(),
            no_data: self.days_left.is_none(),
            page_summary: summary.clone(),
            ticket_summary: summary,
            resolved_summary: format!("{} has been renewed: {}", self.title(), self.when()),
            budget_remaining: None,
            burn_rate_1h: None,
            runbook: false,
        }
    }
}

/// The newest credential check the canaries reported, read at `now_ns`; None when there is none in
/// the last 35 days (no canaries running, or stopped so long ago that it cannot be told apart).
pub async fn latest(store: &impl TelemetryStore, now_ns: u64) -> Result<Option<CredentialReport>, StoreError> {
    let newest = store
        .recent_spans(&RecentQuery {
            service_name: CANARY_SERVICE.into(),
            span_name: Some(CREDENTIALS_SPAN.into()),
            from_ns: now_ns.saturating_sub(LOOK_BACK_NS),
            to_ns: now_ns + 1,
            limit: 1,
        })
        .await?;
    let Some(root) = newest.into_iter().next() else { return Ok(None) };
    let spans = store.trace(&root.trace_id).await?;
    let mut credentials: Vec<CredentialExpiry> = spans
        .iter()
        .filter(|s| s.name == CREDENTIAL_SPAN && s.service_name == CANARY_SERVICE)
        .filter_map(|s| CredentialExpiry::of(s, now_ns))
        .collect();
    credentials.sort_by(|a, b| {
        let key = |c: &CredentialExpiry| (c.expires_ns.is_some(), c.expires_ns.unwrap_or(0));
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    });
    Ok(Some(CredentialReport {
        checked_ns: root.start_ns,
        stale: now_ns.saturating_sub(root.start_ns) > STALE_AFTER_NS,
        credentials,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring(days: Option<i64>) -> CredentialExpiry {
        let now = 1_000 * DAY_NS;
        let expires_ns = days.map(|d| (now as i64 + d * DAY_NS as i64 + 3600 * NANOS_PER_SEC as i64) as u64);
        CredentialExpiry {
            id: "production/mesh.client_cert".into(),
            kind: "mesh_client_certificate".into(),
            environment: "production".into(),
            subject: "CN=X26ABC1".into(),
            expires_ns,
            days_left: expires_ns.map(|e| days_left(e, now)),
            level: level(expires_ns.map(|e| days_left(e, now))).into(),
            problem: days.is_none().then(|| "cannot read x".into()),
        }
    }

    #[test]
    fn thirty_days_warn_fourteen_raise_a_ticket_seven_page() {
        let at = |d| expiring(Some(d));
        assert_eq!((at(31).level.as_str(), at(31).severity()), ("ok", None));
        assert_eq!((at(30).level.as_str(), at(30).severity()), ("warning", None));
        assert_eq!((at(15).level.as_str(), at(15).severity()), ("warning", None));
        assert_eq!((at(14).level.as_str(), at(14).severity()), ("ticket", Some(Severity::Ticket)));
        assert_eq!((at(8).level.as_str(), at(8).severity()), ("ticket", Some(Severity::Ticket)));
        assert_eq!((at(7).level.as_str(), at(7).severity()), ("page", Some(Severity::Page)));
        assert_eq!((at(6).level.as_str(), at(6).severity()), ("page", Some(Severity::Page)));
        assert_eq!((at(-2).level.as_str(), at(-2).severity()), ("page", Some(Severity::Page)));
        assert!(at(-2).when().starts_with("expired on"), "{}", at(-2).when());
        assert!(at(6).when().starts_with("expires in 6 days, on"), "{}", at(6).when());
        let unreadable = expiring(None);
        assert_eq!((unreadable.level.as_str(), unreadable.severity()), ("unreadable", None));
        assert_eq!(unreadable.when(), "cannot be checked: cannot read x");
        let condition = at(6).condition();
        assert_eq!(condition.key, "credential:production/mesh.client_cert");
        assert!(condition.page_summary.starts_with("MESH client certificate CN=X26ABC1 (production) expires on "));
        assert!(at(-2).condition().page_summary.contains(") expired on "));
        assert!(!condition.no_data);
    }

    #[test]
    fn days_left_round_down_and_go_negative_once_expired() {
        assert_eq!(days_left(10 * DAY_NS, 10 * DAY_NS), 0);
        assert_eq!(days_left(10 * DAY_NS - 1, 3 * DAY_NS), 6);
        assert_eq!(days_left(3 * DAY_NS, 3 * DAY_NS + 1), -1);
    }
}
