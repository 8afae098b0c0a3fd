//! MESH inbox backlogs as the canaries last read them (`pathwatch mesh backlog <environment>` traces, see
//! `canaries::backlog`): for each environment, its newest check, each watched mailbox with the
//! messages waiting and the oldest one's age, and whether that check was good. The MESH pathway's
//! page shows them; an SLO over a mailbox's `mesh inbox {MAILBOX}` spans counts good checks.

use audit_store::{RecentQuery, Span, SpanStatus, StoreError, TelemetryStore, NANOS_PER_SEC};
use domain::canary::{attr, backlog_span_name, SERVICE as CANARY_SERVICE};
use serde::Serialize;

use crate::pathways::attribute;

/// Checks are looked for this far back: three of the longest interval (a day), and a day more.
const LOOK_BACK_NS: u64 = 4 * 86_400 * NANOS_PER_SEC;
/// A check is stale when older than this many intervals (plus [`CHECK_SLACK_S`]): the canaries
/// stopped reading.
const STALE_INTERVALS: u64 = 3;
/// How long one check may itself take: 20 inboxes, read four at a time, 20 s each at most.
const CHECK_SLACK_S: u64 = 100;

/// One watched inbox at its environment's newest check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InboxBacklog {
    pub environment: String,
    pub mailbox: String,
    pub checked_ns: u64,
    /// Messages waiting; None when the inbox could not be read.
    pub messages: Option<u64>,
    /// Only the first page was counted: at least this many wait.
    pub at_least: bool,
    pub oldest_message_id: Option<String>,
    /// How long the oldest message has waited, in seconds (0 when empty).
    pub oldest_age_s: Option<u64>,
    pub max_messages: Option<u64>,
    pub max_age_minutes: Option<u32>,
    /// Why the check was bad (unreadable, or over a limit); None for a good check.
    pub breach: Option<String>,
    /// The check is older than three intervals: the canaries have stopped reading this inbox.
    pub stale: bool,
}

impl InboxBacklog {
    fn of(span: &Span, stale: bool) -> Option<InboxBacklog> {
        let number = |key| attribute(span, key).and_then(|v| v.parse::<u64>().ok());
        Some(InboxBacklog {
            environment: attribute(span, attr::ENVIRONMENT).unwrap_or("").to_string(),
            mailbox: attribute(span, attr::MESH_MAILBOX)?.to_string(),
            checked_ns: span.start_ns,
            messages: number(attr::MESH_INBOX_MESSAGES),
            at_least: attribute(span, attr::MESH_INBOX_AT_LEAST) == Some("true"),
            oldest_message_id: attribute(span, attr::MESH_INBOX_OLDEST_ID).map(str::to_string),
            oldest_age_s: number(attr::MESH_INBOX_OLDEST_AGE_S),
            max_messages: number(attr::MESH_INBOX_MAX_MESSAGES),
            max_age_minutes: number(attr::MESH_INBOX_MAX_AGE_MINUTES).and_then(|m| u32::try_from(m).ok()),
            breach: (span.status == SpanStatus::Error).then(|| {
                Some(span.status_message.clone()).filter(|m| !m.is_empty()).unwrap_or_else(|| "bad check".into())
            }),
            stale,
        })
    }

    /// When it was checked, UK time.
    pub fn checked(&self) -> String {
        domain::uk_time::format_ns(self.checked_ns)
    }

    /// "12 messages", "at least 500 messages", "empty", or "not read".
    pub fn depth_text(&self) -> String {
        match (self.messages, self.at_least) {
            (None, _) => "not read".into(),
            (Some(0), _) => "empty".into(),
            (Some(1), false) => "1 message".into(),
            (Some(n), false) => format!("{n} messages"),
            (Some(n), true) => format!("at least {n} messages"),
        }
    }

    /// "3 h 5 min", "42 min", "under a minute", or "—".
    pub fn age_text(&self) -> String {
        match (self.messages, self.oldest_age_s) {
            (Some(0), _) => "—".into(),
            (_, None) => "not known".into(),
            (_, Some(s)) => duration_text(s),
        }
    }

    /// "at most 100 messages, 60 min old" or "no limits".
    pub fn limits_text(&self) -> String {
        let parts: Vec<String> = [
            self.max_messages.map(|m| format!("at most {m} messages")),
            self.max_age_minutes.map(|m| format!("oldest under {}", duration_text(u64::from(m) * 60))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "no limits".into()
        } else {
            parts.join(", ")
        }
    }
}

fn duration_text(seconds: u64) -> String {
    let minutes = seconds / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "under a minute".into(),
        (0, m) => format!("{m} min"),
        (h, 0) if h % 24 == 0 => format!("{} d", h / 24),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Each of `environments`' newest inbox check read at `now_ns`, environments in the order given,
/// mailboxes in the order they are configured. An environment with no check in the last four
/// days has no rows.
pub async fn latest(
    store: &impl TelemetryStore,
    environments: &[String],
    now_ns: u64,
) -> Result<Vec<InboxBacklog>, StoreError> {
    let mut inboxes = Vec::new();
    for environment in environments {
        let newest = store
            .recent_spans(&RecentQuery {
                service_name: CANARY_SERVICE.into(),
                span_name: Some(backlog_span_name(environment)),
                from_ns: now_ns.saturating_sub(LOOK_BACK_NS),
                to_ns: now_ns + 1,
                limit: 1,
            })
            .await?;
        let Some(root) = newest.into_iter().next() else { continue };
        let interval_s = attribute(&root, attr::MESH_BACKLOG_INTERVAL_S).and_then(|v| v.parse::<u64>().ok());
        let stale_after_s = STALE_INTERVALS * interval_s.unwrap_or(300).clamp(60, 86_400) + CHECK_SLACK_S;
        let stale = now_ns.saturating_sub(root.start_ns) > stale_after_s * NANOS_PER_SEC;
        let mut children: Vec<Span> = store
            .trace(&root.trace_id)
            .await?
            .into_iter()
            .filter(|s| s.parent_span_id == root.span_id && s.service_name == CANARY_SERVICE)
            .collect();
        children.sort_by_key(|s| s.start_ns);
        inboxes.extend(children.iter().filter_map(|s| InboxBacklog::of(s, stale)));
    }
    Ok(inboxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(messages: Option<u64>, at_least: bool, age: Option<u64>) -> InboxBacklog {
        InboxBacklog {
            environment: "production".into(),
            mailbox: "X26ABC3".into(),
            checked_ns: 0,
            messages,
            at_least,
            oldest_message_id: None,
            oldest_age_s: age,
            max_messages: None,
            max_age_minutes: Some(60),
            breach: None,
            stale: false,
        }
    }

    #[test]
    fn depth_age_and_limits_read_as_words() {
        assert_eq!(inbox(Some(0), false, Some(0)).depth_text(), "empty");
        assert_eq!(inbox(Some(0), false, Some(0)).age_text(), "—");
        assert_eq!(inbox(Some(1), false, Some(30)).depth_text(), "1 message");
        assert_eq!(inbox(Some(1), false, Some(30)).age_text(), "under a minute");
        assert_eq!(inbox(Some(500), true, Some(11_100)).depth_text(), "at least 500 messages");
        assert_eq!(inbox(Some(500), true, Some(11_100)).age_text(), "3 h 5 min");
        assert_eq!(inbox(None, false, None).depth_text(), "not read");
        assert_eq!(inbox(Some(2), false, None).age_text(), "not known");
        assert_eq!(inbox(Some(2), false, Some(2 * 86_400)).age_text(), "2 d");
        assert_eq!(inbox(Some(0), false, Some(0)).limits_text(), "oldest under 1 h");
        let unlimited = InboxBacklog { max_age_minutes: None, ..inbox(Some(0), false, Some(0)) };
        assert_eq!(unlimited.limits_text(), "no limits");
    }
}
