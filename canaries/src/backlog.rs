//! MESH inbox backlog: how many messages wait in each watched mailbox and how long the oldest has
//! waited, read every `mesh.backlog_interval_s` beside an environment's MESH flow. A receiving system
//! that stops collecting leaves no error anywhere else: its senders' messages are accepted, and MESH
//! makes them undeliverable only after five days.
//!
//! Each check reads the inbox's first page (`GET …/inbox`: MESH v2's `approx_inbox_count` is the
//! depth; without it, the ids listed) and asks for the oldest waiting message's headers
//! (`HEAD …/inbox/{id}`: `mex-StatusTimestamp` is when MESH accepted it). It never downloads or
//! acknowledges: the messages stay for the system they are meant for. The oldest message is the
//! first listed (MESH lists oldest first) unless ids carry their own time (live MESH's
//! `yyyyMMddHHmmssSSS_xxxxxx`), when the earliest of them is taken.
//!
//! Each check is reported as a trace (`pathwatch mesh backlog <environment>`, one `mesh inbox {MAILBOX}` child
//! span per mailbox, status ERROR when the inbox could not be read or was over a limit), so a
//! span SLO can count good checks, and the MESH pathway page shows the newest.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use reqwest::Method;

use crate::environment::{MeshTarget, WatchedTarget};
use crate::flows::mesh::mesh_request;
use crate::otlp::text;
use crate::probe::{Probe, Step, StepError};
use domain::canary::attr;

/// How long one inbox's check may take, retries included.
const CHECK_BUDGET: Duration = Duration::from_secs(20);
/// A message id is cut to this many characters in a report.
const MAX_ID: usize = 100;

/// One inbox as last read.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxBacklog {
    pub environment: String,
    pub mailbox: String,
    pub checked_unix_ns: u64,
    pub duration_ms: f64,
    /// Messages waiting; None when the inbox could not be read.
    pub messages: Option<u64>,
    /// The count is the ids of the first page only (no `approx_inbox_count`), and more follow.
    pub at_least: bool,
    pub oldest_id: Option<String>,
    /// How long the oldest message has waited (0 for an empty inbox); None when not known.
    pub oldest_age_s: Option<u64>,
    pub max_messages: Option<u64>,
    pub max_age_minutes: Option<u32>,
    /// Why the inbox could not be read (or the oldest message's age not told).
    pub problem: Option<String>,
}

impl InboxBacklog {
    /// Why this check is bad: unreadable, or over a limit. None for a good check.
    pub fn breach(&self) -> Option<String> {
        let Some(messages) = self.messages else {
            return Some(self.problem.clone().unwrap_or_else(|| "the inbox could not be read".into()));
        };
        if let Some(max) = self.max_messages.filter(|max| messages > *max) {
            return Some(format!("{messages} messages waiting, more than {max}"));
        }
        match (self.oldest_age_s, self.max_age_minutes) {
            (Some(age), Some(max)) if age > u64::from(max) * 60 => {
                Some(format!("the oldest message has waited {} minutes, more than {max}", age / 60))
            }
            (None, Some(_)) if messages > 0 => {
                Some(self.problem.clone().unwrap_or_else(|| "the oldest message's age could not be told".into()))
            }
            _ => None,
        }
    }
}

/// When a live MESH message id says it was made: its first 14 digits, `yyyyMMddHHmmss` (UTC).
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let digits = id.get(..14).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S").ok().map(|t| t.and_utc())
}

/// MESH's `mex-StatusTimestamp`, `yyyyMMddHHmmss` UTC.
fn status_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    (text.len() == 14).then_some(())?;
    NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok().map(|t| t.and_utc())
}

/// Whether `id` has live MESH's shape: 17 to 20 digits of time, `_`, six hex digits.
fn live_id(id: &str) -> bool {
    let Some((time, suffix)) = id.split_once('_') else { return false };
    (17..=20).contains(&time.len())
        && time.bytes().all(|b| b.is_ascii_digit())
        && suffix.len() == 6
        && suffix.bytes().all(|b| b.is_ascii_hexdigit())
        && id_time(id).is_some()
}

/// The id of the message that has waited longest: the earliest by the time in its id when every
/// id carries one (live MESH's); otherwise the first listed (MESH lists oldest first).
pub fn oldest<'a>(ids: &[&'a str]) -> Option<&'a str> {
    if !ids.is_empty() && ids.iter().all(|id| live_id(id)) {
        return ids.iter().filter_map(|id| id_time(id).map(|t| (t, *id))).min().map(|(_, id)| id);
    }
    ids.first().copied()
}

/// Inboxes read at once.
const AT_ONCE: usize = 4;
/// A message accepted further ahead of our clock than this tells no age: a clock is wrong.
const MAX_CLOCK_AHEAD_S: i64 = 300;
/// A problem's text is cut to this many characters.
const MAX_PROBLEM: usize = 200;

/// Reads every watched inbox of `mesh`, four at a time; results in configuration order.
pub async fn check(probe: &Probe, environment: &str, mesh: &MeshTarget) -> Vec<InboxBacklog> {
    let probe = Probe { client: mesh.client.clone(), max_attempts: probe.max_attempts };
    let mut checks = Vec::with_capacity(mesh.backlog.len());
    for batch in mesh.backlog.chunks(AT_ONCE) {
        let reads = batch.iter().map(|watched| check_inbox(&probe, environment, &mesh.url, watched));
        checks.extend(futures_util::future::join_all(reads).await);
    }
    checks
}

async fn check_inbox(probe: &Probe, environment: &str, base: &str, watched: &WatchedTarget) -> InboxBacklog {
    let mut step = Step::new("inbox_backlog", CHECK_BUDGET);
    // A message collected between the list and the HEAD (404 or 410) is no problem: read again once.
    let mut read = read_inbox(probe, &mut step, base, watched).await;
    if matches!(&read, Ok(r) if r.collected_meanwhile) {
        read = read_inbox(probe, &mut step, base, watched).await;
    }
    let mut check = InboxBacklog {
        environment: environment.into(),
        mailbox: watched.credentials.mailbox.clone(),
        checked_unix_ns: step.started_unix_ns,
        duration_ms: step.started.elapsed().as_secs_f64() * 1000.0,
        messages: None,
        at_least: false,
        oldest_id: None,
        oldest_age_s: None,
        max_messages: watched.max_messages,
        max_age_minutes: watched.max_age_minutes.filter(|m| *m > 0),
        problem: None,
    };
    match read {
        Ok(read) => {
            check.messages = Some(read.messages);
            check.at_least = read.at_least;
            check.oldest_id = read.oldest_id;
            check.oldest_age_s = read.oldest_age_s;
            check.problem = read.problem;
        }
        Err(e) => check.problem = Some(e.message),
    }
    check.problem = check.problem.map(|p| p.chars().filter(|c| !c.is_control()).take(MAX_PROBLEM).collect());
    check
}

struct InboxRead {
    messages: u64,
    at_least: bool,
    oldest_id: Option<String>,
    oldest_age_s: Option<u64>,
    problem: Option<String>,
    /// The oldest message was gone by the time its headers were asked for.
    collected_meanwhile: bool,
}

/// An id safe to put in a URL and a report.
fn plain(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn read_inbox(
    probe: &Probe,
    step: &mut Step,
    base: &str,
    watched: &WatchedTarget,
) -> Result<InboxRead, StepError> {
    let creds = &watched.credentials;
    // One correlation id per read, so MESH's logs can be matched to ours.
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let corr = correlation_id.as_str();
    let url = format!("{base}/{}/inbox", creds.mailbox);
    let build = || mesh_request(Method::GET, &url, "/messageexchange/{mailbox}/inbox", creds, corr).idempotent();
    let page = step.send_with(probe, build).await?.expect_status(&[200])?.json()?;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .ok_or_else(|| StepError::assertion("the inbox answer has no `messages` list"))?
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    let approx = page["approx_inbox_count"].as_u64();
    let more = page["links"]["next"].is_string();
    let messages = approx.unwrap_or(ids.len() as u64).max(ids.len() as u64);
    let mut read = InboxRead {
        messages,
        at_least: approx.is_none() && more,
        oldest_id: None,
        // Empty: nothing has waited. Counted but not listed: nobody can tell how long.
        oldest_age_s: (messages == 0).then_some(0),
        problem: None,
        collected_meanwhile: false,
    };
    let Some(oldest) = oldest(&ids) else { return Ok(read) };
    if !plain(oldest) {
        read.problem = Some("the oldest message's id is not a plain MESH id".into());
        return Ok(read);
    }
    read.oldest_id = Some(oldest.to_string());
    let url = format!("{base}/{}/inbox/{oldest}", creds.mailbox);
    let build =
        || mesh_request(Method::HEAD, &url, "/messageexchange/{mailbox}/inbox/{message_id}", creds, corr).idempotent();
    let accepted = match step.send_with(probe, build).await {
        Ok(reply) if reply.status == 200 => {
            reply.header("mex-statustimestamp").and_then(status_time).or_else(|| id_time(oldest))
        }
        Ok(reply) if matches!(reply.status, 404 | 410) => {
            read.collected_meanwhile = true;
            read.problem =
                Some(format!("the oldest message went (HTTP {}) before its headers were read", reply.status));
            id_time(oldest)
        }
        other => {
            let why = other.and_then(|r| r.expect_status(&[200])).err().map(|e| e.message).unwrap_or_default();
            read.problem = Some(format!("the oldest message's headers could not be read: {why}"));
            id_time(oldest)
        }
    };
    let waited = accepted.map(|at| (Utc::now() - at).num_seconds());
    read.oldest_age_s = match waited {
        Some(s) if s < -MAX_CLOCK_AHEAD_S => {
            read.problem = Some(format!("the oldest message was accepted {} s ahead of our clock", -s));
            None
        }
        Some(s) => {
            read.problem = None;
            Some(s.max(0) as u64)
        }
        None => None,
    };
    Ok(read)
}

fn int(key: &str, value: u64) -> KeyValue {
    crate::otlp::int(key, i64::try_from(value).unwrap_or(i64::MAX))
}

/// One environment's check as a trace: a root span and a child span per inbox.
pub fn spans(environment: &str, interval: Duration, checks: &[InboxBacklog]) -> Vec<Span> {
    let trace_id = uuid::Uuid::new_v4().into_bytes();
    let root_id = crate::run::random_span_id();
    let start = checks.iter().map(|c| c.checked_unix_ns).min().unwrap_or_else(domain::system_now_ns);
    let end = checks.iter().map(|c| c.checked_unix_ns + (c.duration_ms * 1e6) as u64).max().unwrap_or(start);
    let bad = checks.iter().filter(|c| c.breach().is_some()).count();
    let mut spans = vec![Span {
        trace_id: trace_id.to_vec(),
        span_id: root_id.to_vec(),
        name: domain::canary::backlog_span_name(environment),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![text(attr::ENVIRONMENT, environment), int(attr::MESH_BACKLOG_INTERVAL_S, interval.as_secs())],
        status: Some(Status {
            code: if bad > 0 { status::StatusCode::Error } else { status::StatusCode::Ok } as i32,
            message: if bad > 0 { format!("{bad} of {} inboxes need attention", checks.len()) } else { String::new() },
        }),
        ..Default::default()
    }];
    for c in checks {
        let mut attributes =
            vec![text(attr::ENVIRONMENT, c.environment.clone()), text(attr::MESH_MAILBOX, c.mailbox.clone())];
        if let Some(n) = c.messages {
            attributes.push(int(attr::MESH_INBOX_MESSAGES, n));
        }
        if c.at_least {
            attributes.push(text(attr::MESH_INBOX_AT_LEAST, "true"));
        }
        if let Some(id) = &c.oldest_id {
            attributes.push(text(attr::MESH_INBOX_OLDEST_ID, id.clone()));
        }
        if let Some(age) = c.oldest_age_s {
            attributes.push(int(attr::MESH_INBOX_OLDEST_AGE_S, age));
        }
        if let Some(max) = c.max_messages {
            attributes.push(int(attr::MESH_INBOX_MAX_MESSAGES, max));
        }
        if let Some(max) = c.max_age_minutes {
            attributes.push(int(attr::MESH_INBOX_MAX_AGE_MINUTES, u64::from(max)));
        }
        if let Some(problem) = &c.problem {
            attributes.push(text(attr::MESH_INBOX_PROBLEM, problem.clone()));
        }
        let breach = c.breach();
        spans.push(Span {
            trace_id: trace_id.to_vec(),
            span_id: crate::run::random_span_id().to_vec(),
            parent_span_id: root_id.to_vec(),
            name: domain::canary::inbox_span_name(&c.mailbox),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: c.checked_unix_ns,
            end_time_unix_nano: c.checked_unix_ns + (c.duration_ms * 1e6) as u64,
            attributes,
            status: Some(match breach {
                Some(why) => Status { code: status::StatusCode::Error as i32, message: why },
                None => Status { code: status::StatusCode::Ok as i32, message: String::new() },
            }),
            ..Default::default()
        });
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(messages: Option<u64>, age_s: Option<u64>) -> InboxBacklog {
        InboxBacklog {
            environment: "production".into(),
            mailbox: "X26ABC3".into(),
            checked_unix_ns: 1,
            duration_ms: 2.0,
            messages,
            at_least: false,
            oldest_id: None,
            oldest_age_s: age_s,
            max_messages: Some(10),
            max_age_minutes: Some(60),
            problem: None,
        }
    }

    #[test]
    fn a_check_is_bad_when_unreadable_or_over_either_limit() {
        assert_eq!(inbox(Some(0), Some(0)).breach(), None);
        assert_eq!(inbox(Some(10), Some(3600)).breach(), None, "limits are inclusive");
        assert_eq!(inbox(Some(11), Some(0)).breach().as_deref(), Some("11 messages waiting, more than 10"));
        assert_eq!(
            inbox(Some(1), Some(3601)).breach().as_deref(),
            Some("the oldest message has waited 60 minutes, more than 60")
        );
        assert!(inbox(None, None).breach().is_some());
        assert!(inbox(Some(2), None).breach().is_some(), "an age nobody can tell is not a good check");
        let unlimited = InboxBacklog { max_messages: None, max_age_minutes: None, ..inbox(Some(5_000), Some(999_999)) };
        assert_eq!(unlimited.breach(), None);
    }

    #[test]
    fn the_oldest_message_is_the_earliest_by_its_id_or_else_the_first_listed() {
        let live = ["20261207101500123_ABC123", "20261207090000000_DEF456", "20261207093000000_0A0A0A"];
        assert_eq!(oldest(&live), Some("20261207090000000_DEF456"));
        let sandbox = ["5F0E6D2C4B3A29180716253443526170", "0123456789ABCDEF0123456789ABCDEF"];
        assert_eq!(oldest(&sandbox), Some(sandbox[0]));
        let one_dated = ["5F0E6D2C4B3A29180716253443526170", "00010101000000000_ABCDEF"];
        assert_eq!(oldest(&one_dated), Some(one_dated[0]), "one id shaped like a date does not jump the queue");
        assert_eq!(oldest(&[]), None);
        assert_eq!(id_time("20261301000000000_X"), None, "month 13 is no time");
        assert_eq!(
            status_time("20261207090000").map(|t| t.timestamp()),
            id_time("20261207090000_x").map(|t| t.timestamp())
        );
        assert_eq!(status_time("2026120709"), None);
    }

    #[test]
    fn each_inbox_is_a_span_named_for_its_mailbox_failing_when_bad() {
        let checks = [inbox(Some(0), Some(0)), InboxBacklog { mailbox: "X26ABC4".into(), ..inbox(Some(50), Some(0)) }];
        let spans = spans("production", Duration::from_secs(300), &checks);
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].name, "pathwatch mesh backlog production");
        assert_eq!(spans[1].name, "mesh inbox X26ABC3");
        assert_eq!(spans[1].status.as_ref().map(|s| s.code), Some(status::StatusCode::Ok as i32));
        let bad = spans[2].status.as_ref().unwrap();
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (status::StatusCode::Error as i32, "50 messages waiting, more than 10")
        );
        assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(status::StatusCode::Error as i32));
        assert!(spans[1..].iter().all(|s| s.parent_span_id == spans[0].span_id));
    }
}
