//! Upstream status: the status feeds of what the pathways depend on (NHS England's service status,
//! a supplier's Statuspage), polled for their current notices, so on-call can tell a national
//! problem from one of ours. Atom and RSS are read with `feed-rs`; Statuspage-style JSON
//! (`/api/v2/summary.json`, or `incidents/unresolved.json`) with serde. Every feed is hostile:
//! bounded in time and size, its text cut short, its notices capped.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most a feed's body may weigh.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Notices kept per feed.
pub const MAX_NOTICES: usize = 20;
/// Atom and RSS entries updated within this long count as current.
pub const CURRENT_FOR_NS: i64 = 3 * 86_400 * 1_000_000_000;
/// Entries dated further ahead than this are not believed (a feed cannot pin itself on top).
const FUTURE_SKEW_NS: i64 = 86_400 * 1_000_000_000;
/// Entries a feed may hold: each parsed entry costs far more memory than its bytes.
pub const MAX_ENTRIES: usize = 1_000;
const MAX_TEXT_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// Atom or RSS (any version): entries updated in the last three days are current notices.
    Atom,
    Rss,
    /// Statuspage's JSON (`summary.json` or `incidents/unresolved.json`): unresolved incidents and
    /// maintenance in progress.
    Statuspage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// What it is, as on-call call it ("NHS England API platform").
    pub name: String,
    pub url: String,
    pub format: FeedFormat,
}

impl FeedConfig {
    /// Checks one feed; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err("name: between 1 and 100 characters".into());
        }
        match url::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            _ => Err(format!("url: {:?} is not an http(s) URL", self.url)),
        }
    }
}

/// One current notice of an upstream service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Notice {
    pub title: String,
    /// The feed's own word for it ("investigating", "major"; empty for Atom and RSS).
    pub status: String,
    pub updated_ns: Option<i64>,
    pub link: Option<String>,
}

/// What one feed said last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedState {
    pub name: String,
    pub url: String,
    pub notices: Vec<Notice>,
    /// When it was last read (successfully or not); None before the first poll.
    pub checked_ns: Option<i64>,
    /// Why the last read failed, in words.
    pub error: Option<String>,
}

/// The feeds' states, shared between the poller and the pages.
#[derive(Clone, Default)]
pub struct Upstream(Arc<RwLock<Vec<FeedState>>>);

impl Upstream {
    pub fn new(feeds: &[FeedConfig]) -> Upstream {
        let states = feeds
            .iter()
            .map(|f| FeedState {
                name: f.name.clone(),
                url: f.url.clone(),
                notices: vec![],
                checked_ns: None,
                error: None,
            })
            .collect();
        Upstream(Arc::new(RwLock::new(states)))
    }

    pub fn states(&self) -> Vec<FeedState> {
        self.0.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, i: usize, state: FeedState) {
        if let Ok(mut states) = self.0.write() {
            if let Some(slot) = states.get_mut(i) {
                *slot = state;
            }
        }
    }
}

fn cut(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Only http(s) links are kept: a feed's `javascript:` link must never reach a page.
fn safe_link(link: Option<String>) -> Option<String> {
    link.filter(|l| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
}

/// The current notices in a feed's body.
pub fn parse(format: FeedFormat, body: &[u8], now_ns: i64) -> Result<Vec<Notice>, String> {
    match format {
        FeedFormat::Atom | FeedFormat::Rss => {
            // Counted before parsing: a megabyte of empty entries would otherwise become a hundred.
            let entries = count(body, b"<entry") + count(body, b"<item");
            if entries > MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} entries"));
            }
            let feed = feed_rs::parser::parse(body).map_err(|_| "not an Atom or RSS feed".to_string())?;
            let mut notices: Vec<Notice> = feed
                .entries
                .into_iter()
                .filter_map(|e| {
                    let updated = e.updated.or(e.published).and_then(|t| t.timestamp_nanos_opt());
                    if updated.is_some_and(|t| {
                        now_ns.saturating_sub(t) > CURRENT_FOR_NS || t.saturating_sub(now_ns) > FUTURE_SKEW_NS
                    }) {
                        return None;
                    }
                    let title = e.title.map(|t| cut(&t.content)).filter(|t| !t.is_empty())?;
                    Some(Notice {
                        title,
                        status: String::new(),
                        updated_ns: updated,
                        link: safe_link(e.links.into_iter().next().map(|l| l.href)),
                    })
                })
                .collect();
            notices.sort_by_key(|n| std::cmp::Reverse(n.updated_ns));
            notices.truncate(MAX_NOTICES);
            Ok(notices)
        }
        FeedFormat::Statuspage => {
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                incidents: Vec<Incident>,
                #[serde(default)]
                scheduled_maintenances: Vec<Incident>,
            }
            #[derive(Deserialize)]
            struct Incident {
                name: String,
                #[serde(default)]
                status: String,
                #[serde(default)]
                impact: String,
                #[serde(default)]
                updated_at: Option<String>,
                #[serde(default)]
                shortlink: Option<String>,
            }
            let page: Page = serde_json::from_slice(body).map_err(|_| "not Statuspage JSON".to_string())?;
            let open = page
                .incidents
                .into_iter()
                .filter(|i| !matches!(i.status.as_str(), "resolved" | "postmortem" | "completed"))
                .chain(page.scheduled_maintenances.into_iter().filter(|m| m.status == "in_progress"));
            let mut notices: Vec<Notice> = open
                .filter(|i| !i.name.trim().is_empty())
                .map(|i| Notice {
                    title: cut(&i.name),
                    status: cut(&if i.impact.is_empty() || i.impact == "none" {
                        i.status.clone()
                    } else {
                        format!("{} ({} impact)", i.status, i.impact)
                    }),
                    updated_ns: i
                        .updated_at
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                        .and_then(|t| t.timestamp_nanos_opt()),
                    link: safe_link(i.shortlink),
                })
                .collect();
            notices.truncate(MAX_NOTICES);
            Ok(notices)
        }
    }
}

fn count(body: &[u8], needle: &[u8]) -> usize {
    body.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Reads one feed now.
pub async fn poll(client: &reqwest::Client, feed: &FeedConfig, now_ns: i64) -> FeedState {
    let read = async {
        // The error's words never carry the URL (it may hold a key) or the server's own text.
        let mut reply = client.get(&feed.url).send().await.map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_string()
            } else {
                "not reachable".to_string()
            }
        })?;
        if reply.status().is_redirection() {
            return Err(format!(
                "answered {} (redirects are not followed: configure the final URL)",
                reply.status().as_u16()
            ));
        }
        if !reply.status().is_success() {
            return Err(format!("answered {}", reply.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = reply.chunk().await.map_err(|_| "the answer broke off".to_string())? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("larger than {} KiB", MAX_BODY_BYTES / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        parse(feed.format, &body, now_ns)
    };
    let (notices, error) = match tokio::time::timeout(Duration::from_secs(15), read).await {
        Ok(Ok(notices)) => (notices, None),
        Ok(Err(e)) => (Vec::new(), Some(e)),
        Err(_) => (Vec::new(), Some("no answer within 15 s".into())),
    };
    if let Some(e) = &error {
        tracing::warn!(feed = %feed.name, url = %feed.url, error = %e, "an upstream status feed was not read");
    }
    FeedState { name: feed.name.clone(), url: feed.url.clone(), notices, checked_ns: Some(now_ns), error }
}

/// The feeds' HTTP client: 15 s per read, no redirects (a feed must not lead the poller elsewhere,
/// to an internal address, or from https down to http).
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).redirect(reqwest::redirect::Policy::none()).build()
}

/// Polls every feed every `every`, forever.
pub async fn poll_forever(feeds: Vec<FeedConfig>, upstream: Upstream, every: Duration, clock: domain::Clock) {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for upstream status feeds");
            return std::future::pending().await;
        }
    };
    loop {
        poll_all(&client, &feeds, &upstream, &clock).await;
        tokio::time::sleep(every).await;
    }
}

/// Reads every feed once, one after another, keeping what each said.
pub async fn poll_all(client: &reqwest::Client, feeds: &[FeedConfig], upstream: &Upstream, clock: &domain::Clock) {
    for (i, feed) in feeds.iter().enumerate() {
        upstream.set(i, poll(client, feed, clock.now_ns_i64()).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_594_400 * 1_000_000_000; // 6 Dec 2026 22:00 UTC

    #[test]
    fn atom_entries_of_the_last_three_days_are_current_and_links_are_kept_only_when_http() {
        let atom = br#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>NHS API platform</title><id>urn:x</id><updated>2026-12-06T20:00:00Z</updated>
<entry><title>PDS FHIR API degraded</title><id>urn:1</id><updated>2026-12-06T20:00:00Z</updated><link href="https://status.example/1"/></entry>
<entry><title>Old news</title><id>urn:2</id><updated>2026-11-01T00:00:00Z</updated></entry>
<entry><title>Sneaky</title><id>urn:3</id><updated>2026-12-06T21:00:00Z</updated><link href="javascript:alert(1)"/></entry>
</feed>"#;
        let notices = parse(FeedFormat::Atom, atom, NOW).unwrap();
        let titles: Vec<&str> = notices.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["Sneaky", "PDS FHIR API degraded"], "newest first, old news left out");
        assert_eq!(notices[0].link, None);
        assert_eq!(notices[1].link.as_deref(), Some("https://status.example/1"));
        assert!(parse(FeedFormat::Atom, b"<html>not a feed", NOW).unwrap_err().contains("not an Atom or RSS feed"));
        // Dated a century ago or a year ahead: neither current nor a panic.
        let odd = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><id>x</id><updated>2026-12-06T20:00:00Z</updated>
<entry><title>Ancient</title><id>a</id><updated>1680-01-01T00:00:00Z</updated></entry>
<entry><title>Pinned</title><id>b</id><updated>2027-12-06T00:00:00Z</updated></entry></feed>"#;
        assert!(parse(FeedFormat::Atom, odd, NOW).unwrap().is_empty());
        let many = format!("<feed xmlns=\"http://www.w3.org/2005/Atom\">{}</feed>", "<entry/>".repeat(MAX_ENTRIES + 1));
        assert!(parse(FeedFormat::Atom, many.as_bytes(), NOW).unwrap_err().contains("more than 1000 entries"));
    }

    #[test]
    fn statuspage_json_gives_unresolved_incidents_and_maintenance_in_progress() {
        let json = br#"{"page":{"name":"x"},"status":{"indicator":"minor"},
          "incidents":[{"name":"Elevated errors on GP Connect","status":"investigating","impact":"minor","updated_at":"2026-12-06T21:30:00.000Z","shortlink":"https://stspg.io/abc"},
                       {"name":"Done","status":"resolved"}],
          "scheduled_maintenances":[{"name":"Spine maintenance","status":"in_progress"},{"name":"Later","status":"scheduled"}]}"#;
        let notices = parse(FeedFormat::Statuspage, json, NOW).unwrap();
        let titles: Vec<&str> = notices.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["Elevated errors on GP Connect", "Spine maintenance"]);
        assert_eq!(notices[0].status, "investigating (minor impact)");
        let long = format!(r#"{{"incidents":[{{"name":"{}","status":"investigating"}}]}}"#, "x".repeat(10_000));
        assert!(
            parse(FeedFormat::Statuspage, long.as_bytes(), NOW).unwrap()[0].title.chars().count() <= MAX_TEXT_CHARS + 1
        );
        assert!(parse(FeedFormat::Statuspage, b"[1,2]", NOW).is_err());
    }
}
