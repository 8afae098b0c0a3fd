//! The canaries' span conventions: what the canaries write and the engine and pages read. Each
//! name is written once, here; a reader compares [`RunStatus`] values, never status text.

use serde::Serialize;

/// The service name of every canary span; only the canaries' own ingest source may write it.
pub const SERVICE: &str = "pathwatch-canary";
/// The name of a run's root span: `canary pds` for the `pds` flow.
pub fn run_span_name(flow: &str) -> String {
    format!("canary {flow}")
}

/// The root span of a credential check: the canaries' report of when each certificate and key they
/// use expires (not `canary …`, so no flow's name can clash with it). Each credential is a child span
/// named `CREDENTIAL_SPAN` carrying the `attr::CREDENTIAL_*` attributes.
pub const CREDENTIALS_SPAN: &str = "pathwatch credentials";
pub const CREDENTIAL_SPAN: &str = "credential";

/// The root span of one environment's MESH inbox backlog check (`canaries::backlog`), named for the
/// environment (`pathwatch mesh backlog production`) so each environment's newest is found alone;
/// each watched mailbox is a child span named by [`inbox_span_name`], status ERROR when the check
/// was bad (the inbox unreadable or over a limit), carrying the `attr::MESH_INBOX_*` attributes.
pub fn backlog_span_name(environment: &str) -> String {
    format!("pathwatch mesh backlog {environment}")
}

/// `mesh inbox X26ABC3`: what a span SLO on one mailbox's backlog selects.
pub fn inbox_span_name(mailbox: &str) -> String {
    format!("mesh inbox {mailbox}")
}

/// The instrumentation scope of canary spans.
pub const SCOPE: &str = "pathwatch.canaries";

/// Span attribute keys. The run's root span carries the run-level ones; each step's span carries
/// `STEP` and `STEP_OUTCOME`; both carry `FLOW` and `CORRELATION_ID`.
pub mod attr {
    pub const FLOW: &str = "pathwatch.canary.flow";
    pub const KIND: &str = "pathwatch.canary.kind";
    pub const ENVIRONMENT: &str = "pathwatch.canary.environment";
    pub const STATUS: &str = "pathwatch.canary.status";
    pub const ERROR_CLASS: &str = "pathwatch.canary.error_class";
    pub const FAILED_STEP: &str = "pathwatch.canary.failed_step";
    pub const FAILURE: &str = "pathwatch.canary.failure";
    pub const STEP: &str = "pathwatch.canary.step";
    pub const STEP_OUTCOME: &str = "pathwatch.canary.step_outcome";
    pub const WIRE_MS: &str = "pathwatch.canary.wire_ms";
    pub const TOKEN_CACHED: &str = "pathwatch.canary.token_cached";
    pub const TOKEN_REFRESHED: &str = "pathwatch.canary.token_refreshed";
    pub const CLEANED_UP: &str = "pathwatch.canary.cleaned_up";
    pub const MESH_DELIVERY_MS: &str = "pathwatch.mesh.delivery_ms";
    /// A credential's stable id (`production/mesh.client_cert`), kind, subject (certificate
    /// subject, key id, client id), expiry (Unix seconds) and what stopped it being read.
    pub const CREDENTIAL_ID: &str = "pathwatch.credential.id";
    pub const CREDENTIAL_KIND: &str = "pathwatch.credential.kind";
    pub const CREDENTIAL_SUBJECT: &str = "pathwatch.credential.subject";
    pub const CREDENTIAL_NOT_AFTER: &str = "pathwatch.credential.not_after";
    pub const CREDENTIAL_PROBLEM: &str = "pathwatch.credential.problem";
    /// A watched MESH inbox: its mailbox, messages waiting (`AT_LEAST` when only a first page was
    /// counted), the oldest message's id and age (s), the limits it was judged against, and why it
    /// could not be read.
    pub const MESH_MAILBOX: &str = "pathwatch.mesh.mailbox";
    pub const MESH_INBOX_MESSAGES: &str = "pathwatch.mesh.inbox.messages";
    pub const MESH_INBOX_AT_LEAST: &str = "pathwatch.mesh.inbox.at_least";
    pub const MESH_INBOX_OLDEST_ID: &str = "pathwatch.mesh.inbox.oldest_message_id";
    pub const MESH_INBOX_OLDEST_AGE_S: &str = "pathwatch.mesh.inbox.oldest_age_s";
    pub const MESH_INBOX_MAX_MESSAGES: &str = "pathwatch.mesh.inbox.max_messages";
    pub const MESH_INBOX_MAX_AGE_MINUTES: &str = "pathwatch.mesh.inbox.max_age_minutes";
    pub const MESH_INBOX_PROBLEM: &str = "pathwatch.mesh.inbox.problem";
    /// On the backlog check's root span: how often the environment's inboxes are read (s).
    pub const MESH_BACKLOG_INTERVAL_S: &str = "pathwatch.mesh.backlog_interval_s";
    /// On a step's span: the API version its requests asked for and the one the answer said it
    /// was, and any retirement notice: `Deprecation` as a date (RFC 3339) or its words when it is
    /// no date, `Sunset` likewise, `Warning`, and a `Link` to the notice.
    pub const API_VERSION: &str = "pathwatch.api.version";
    pub const API_SERVED_VERSION: &str = "pathwatch.api.served_version";
    pub const API_DEPRECATED_AT: &str = "pathwatch.api.deprecated_at";
    pub const API_DEPRECATION: &str = "pathwatch.api.deprecation";
    pub const API_SUNSET_AT: &str = "pathwatch.api.sunset_at";
    pub const API_SUNSET: &str = "pathwatch.api.sunset";
    pub const API_WARNING: &str = "pathwatch.api.warning";
    pub const API_NOTICE_LINK: &str = "pathwatch.api.notice_link";
    /// `true` on a step whose request got an answer (any status): its notices are the service's word.
    pub const API_ANSWERED: &str = "pathwatch.api.answered";
    /// The upstream correlation id (X-Correlation-ID / X-Request-ID); not only canaries write it.
    pub const CORRELATION_ID: &str = "pathwatch.correlation_id";
}

/// Overall health of one run of a flow, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step passed first time, within the latency threshold.
    Healthy,
    /// Every step passed, but slowly or only after a retry.
    Degraded,
    /// Some steps passed and some failed.
    Partial,
    /// Nothing the pathway needs worked.
    Outage,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [RunStatus::Healthy, RunStatus::Degraded, RunStatus::Partial, RunStatus::Outage];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Healthy => "healthy",
            RunStatus::Degraded => "degraded",
            RunStatus::Partial => "partial",
            RunStatus::Outage => "outage",
        }
    }

    /// The status a span's `STATUS` attribute names; None for anything else (a run written by an
    /// older or foreign canary).
    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A run "passes" when users can do what the pathway promises, even if slowly.
    pub fn passes(self) -> bool {
        matches!(self, RunStatus::Healthy | RunStatus::Degraded)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_what_they_write_and_order_from_best_to_worst() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunStatus::parse("Healthy"), None);
        assert!(RunStatus::Healthy < RunStatus::Degraded && RunStatus::Partial < RunStatus::Outage);
        assert!(RunStatus::Degraded.passes() && !RunStatus::Partial.passes());
    }
}
