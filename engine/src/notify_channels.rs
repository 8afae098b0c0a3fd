//! Where on-call lives: each notification in the format of Microsoft Teams (an Adaptive Card, as
//! Teams' incoming webhooks and Workflows take it), Slack (incoming webhook: `text` with Block Kit
//! `blocks`), PagerDuty (Events API v2: trigger, acknowledge and resolve under one `dedup_key` per
//! alert) and Prometheus Alertmanager (API v2 `POST /api/v2/alerts`). Each channel's URL is only ever
//! logged as its host: webhook URLs carry their token.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::{Notification, Transition};

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// How long Alertmanager keeps a firing alert without hearing of it again. Pathwatch tells it on
/// transitions and reminders, and not while an alert is acknowledged or silenced, so the hold is
/// long: a week. An alert Pathwatch stops telling about (Pathwatch itself gone) then ends on its own.
const ALERTMANAGER_HOLD_SECS: i64 = 7 * 24 * 3600;
/// PagerDuty's limit on `payload.summary`.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// One channel, `[[alerts.channels]]` with its `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Channel {
    /// A Teams incoming webhook or Workflows URL.
    Teams { url: String },
    /// A Slack incoming webhook URL.
    Slack { url: String },
    /// A PagerDuty service's Events API v2 integration: the routing key is read from the environment
    /// variable `routing_key_env`; `url` only to point at another endpoint (a proxy, a test).
    Pagerduty {
        routing_key_env: String,
        #[serde(default = "pagerduty_url")]
        url: String,
    },
    /// An Alertmanager's base URL (`/api/v2/alerts` is added).
    Alertmanager { url: String },
}

fn pagerduty_url() -> String {
    PAGERDUTY_EVENTS_URL.into()
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Teams { .. } => "teams",
            Channel::Slack { .. } => "slack",
            Channel::Pagerduty { .. } => "pagerduty",
            Channel::Alertmanager { .. } => "alertmanager",
        }
    }

    pub fn url(&self) -> String {
        match self {
            Channel::Teams { url } | Channel::Slack { url } | Channel::Pagerduty { url, .. } => url.clone(),
            Channel::Alertmanager { url } => format!("{}/api/v2/alerts", url.trim_end_matches('/')),
        }
    }

    /// Checks the channel's settings (not the environment: only the instance that notifies reads
    /// the routing key); an error names the field under `alerts.channels[i]`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let url = match self {
            Channel::Teams { url } | Channel::Slack { url } | Channel::Alertmanager { url } => url,
            Channel::Pagerduty { url, routing_key_env } => {
                let name_like = !routing_key_env.is_empty()
                    && routing_key_env.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if !name_like {
                    // Never echoed: a routing key pasted here by mistake is a secret.
                    return Err((
                        "routing_key_env",
                        "give the name of the environment variable holding the routing key (e.g. PD_ROUTING_KEY), \
                         not the key"
                            .into(),
                    ));
                }
                if routing_key_env.starts_with("PATHWATCH_") {
                    return Err((
                        "routing_key_env",
                        format!("{routing_key_env} would be read as configuration: choose a name without PATHWATCH_"),
                    ));
                }
                url
            }
        };
        let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if ok {
            Ok(())
        } else {
            Err(("url", "is not an http(s) URL".into()))
        }
    }

    /// The routing key this channel needs from `lookup` (the environment), checked.
    pub fn resolve_key(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, (&'static str, String)> {
        let Channel::Pagerduty { routing_key_env, .. } = self else { return Ok(None) };
        match lookup(routing_key_env).map(|k| k.trim().to_string()) {
            Some(key) if !key.is_empty() => Ok(Some(key)),
            _ => {
                Err(("routing_key_env", format!("environment variable {routing_key_env} (the routing key) is not set")))
            }
        }
    }

    /// The request bodies for `n` on this channel, in order (PagerDuty's escalation is two events);
    /// `key` is the routing key `resolve_key` gave.
    pub fn bodies(&self, n: &Notification, now: chrono::DateTime<chrono::Utc>, key: Option<&str>) -> Vec<Value> {
        match self {
            Channel::Teams { .. } => vec![teams(n)],
            Channel::Slack { .. } => vec![slack(n)],
            Channel::Pagerduty { .. } => pagerduty(n, key.unwrap_or_default(), now),
            Channel::Alertmanager { .. } => vec![alertmanager(n, now)],
        }
    }
}

/// The facts every card lists, as (title, value).
fn facts(n: &Notification) -> Vec<(String, String)> {
    let mut facts = vec![("Severity".to_string(), n.severity.clone()), ("Since".into(), n.started.clone())];
    if let Some(p) = &n.pathway {
        facts.insert(0, ("Pathway".into(), format!("{} ({})", p.name, p.status)));
        facts.push(("What to tell users".into(), p.guidance.clone()));
    }
    if let Some(r) = n.budget_remaining {
        facts.push(("Error budget remaining".into(), format!("{:.1} %", r * 100.0)));
    }
    if let Some(a) = &n.acknowledged {
        facts.push(("Acknowledged by".into(), format!("{} at {}", a.by, a.at)));
    }
    facts
}

fn links(n: &Notification) -> Vec<(&'static str, String)> {
    let mut links = Vec::new();
    if let Some(p) = &n.pathway {
        links.push(("Pathway", p.url.clone()));
    }
    if let Some(r) = &n.runbook_url {
        links.push(("Run book", r.clone()));
    }
    links.push(("Dashboard", n.dashboard_url.clone()));
    links
}

/// A Teams message with one Adaptive Card (schema 1.4).
fn teams(n: &Notification) -> Value {
    let colour = if n.transition == Transition::Resolved { "Good" } else { "Attention" };
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": n.subject(), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true},
            {"type": "TextBlock", "text": n.summary, "wrap": true},
            {"type": "FactSet", "facts": facts(n).into_iter().map(|(title, value)| json!({"title": title, "value": value})).collect::<Vec<_>>()},
        ],
        "actions": links(n).into_iter().map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url})).collect::<Vec<_>>(),
    });
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]})
}

/// Slack's `mrkdwn` escapes (`&`, `<` and `>`), cut to `limit` characters without splitting an
/// escape (Slack refuses a section over 3,000 characters and a field over 2,000).
fn slack_text(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let piece = match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c => c.to_string(),
        };
        let width = piece.chars().count();
        if count + width > limit.saturating_sub(1) {
            out.push('…');
            break;
        }
        count += width;
        out.push_str(&piece);
    }
    out
}

fn slack_escape(text: &str) -> String {
    slack_text(text, usize::MAX)
}

/// A Slack incoming-webhook message: the subject as `text` (what notifications show) and blocks.
fn slack(n: &Notification) -> Value {
    let fields: Vec<Value> = facts(n)
        .into_iter()
        .take(10) // Slack takes at most ten fields in a section.
        .map(|(title, value)| json!({"type": "mrkdwn", "text": slack_text(&format!("*{title}*\n{value}"), 1_900)}))
        .collect();
    let link_text: Vec<String> =
        links(n).into_iter().map(|(title, url)| format!("<{}|{title}>", slack_escape(&url))).collect();
    json!({
        "text": n.subject(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": n.subject().chars().take(150).collect::<String>()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_text(&n.summary, 2_900)}, "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": link_text.join(" · ")}]},
        ],
    })
}

/// The alert's key: `pathwatch/<SLO or credential>/<alert id>`, so an old alert's resolution never
/// closes a newer one; at most 200 characters (PagerDuty takes 255).
fn alert_key(n: &Notification) -> String {
    let key = format!("pathwatch/{}/{}", n.slo, n.alert_id);
    if key.len() <= 200 {
        return key;
    }
    // A long key is cut and told apart by a hash of the whole (FNV-1a).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let cut: String = key.chars().take(180).collect();
    format!("{cut}#{hash:016x}")
}

/// PagerDuty Events API v2 events. Each severity is its own incident (`<key>/page`,
/// `<key>/ticket`): an escalation resolves the ticket's and triggers the page's, because
/// PagerDuty sends nothing more for an incident someone acknowledged, even on a new trigger.
fn pagerduty(n: &Notification, routing_key: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let dedup = |severity: &str| format!("{}/{severity}", alert_key(n));
    let event = |action: &str, severity: &str| json!({"routing_key": routing_key, "event_action": action, "dedup_key": dedup(severity)});
    let trigger = || {
        let mut event = event("trigger", &n.severity);
        let mut payload = json!({
            "summary": n.subject().chars().chain(": ".chars()).chain(n.summary.chars()).take(PAGERDUTY_SUMMARY_MAX).collect::<String>(),
            "source": "pathwatch",
            "severity": if n.severity == "page" { "critical" } else { "warning" },
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "class": if n.slo.starts_with(crate::credentials::ALERT_PREFIX) { "credential" } else { "slo" },
            "custom_details": {"body": n.body()},
        });
        if !n.flow.is_empty() {
            payload["component"] = json!(n.flow);
        }
        if let Some(p) = &n.pathway {
            payload["group"] = json!(p.name);
        }
        event["payload"] = payload;
        event["client"] = json!("Pathwatch");
        event["client_url"] = json!(n.dashboard_url);
        event["links"] = links(n).into_iter().map(|(text, href)| json!({"href": href, "text": text})).collect();
        event
    };
    match n.transition {
        Transition::Firing | Transition::Repeat => vec![trigger()],
        Transition::Escalated => vec![event("resolve", "ticket"), trigger()],
        Transition::Acknowledged => vec![event("acknowledge", &n.severity)],
        Transition::Resolved => vec![event("resolve", &n.severity)],
    }
}

/// Alertmanager's API v2 body: one alert, resolved by an `endsAt` of now.
fn alertmanager(n: &Notification, now: chrono::DateTime<chrono::Utc>) -> Value {
    let ends = match n.transition {
        Transition::Resolved => now,
        _ => now + chrono::Duration::seconds(ALERTMANAGER_HOLD_SECS),
    };
    let mut labels = json!({
        "alertname": format!("pathwatch/{}", n.slo), "alert_id": n.alert_id.to_string(),
        "slo": n.slo, "severity": n.severity, "source": "pathwatch",
    });
    if !n.flow.is_empty() {
        labels["flow"] = json!(n.flow);
    }
    if let Some(p) = &n.pathway {
        labels["pathway"] = json!(p.name);
    }
    let mut annotations = json!({"summary": n.summary, "description": n.body()});
    if let Some(r) = &n.runbook_url {
        annotations["runbook_url"] = json!(r);
    }
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = chrono::DateTime::from_timestamp((n.started_ns / 1_000_000_000) as i64, 0).unwrap_or(now);
    json!([{
        "labels": labels,
        "annotations": annotations,
        "startsAt": time(started),
        "endsAt": time(ends),
        "generatorURL": n.dashboard_url,
    }])
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::notify::{Acknowledgement, Notifier, PathwayNote};

    type Received = Arc<Mutex<Vec<(String, Value)>>>;

    /// A receiver on loopback recording each request's path and JSON body; answers `status`.
    async fn receiver(status: u16) -> (String, Received) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received: Received = Arc::default();
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&data).to_string();
                        let Some(end) = text.find("\r\n\r\n") else { continue };
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if data.len() < end + 4 + length {
                            continue;
                        }
                        let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                        let body = serde_json::from_slice(&data[end + 4..end + 4 + length]).unwrap_or(Value::Null);
                        seen.lock().unwrap().push((path, body));
                        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                        let _ = socket.write_all(reply.as_bytes()).await;
                        return;
                    }
                });
            }
        });
        (base, received)
    }

    fn notification(transition: Transition) -> Notification {
        Notification {
            transition,
            slo: "pds-availability".into(),
            flow: "pds".into(),
            severity: "page".into(),
            summary: "PDS look-ups are failing: 12 % of runs in the last hour <b>".into(),
            budget_remaining: Some(0.42),
            burn_rate_1h: Some(14.9),
            runbook_url: Some("https://runbooks.example/pds".into()),
            dashboard_url: "https://pathwatch.example/alerts/7".into(),
            started: "an hour ago".into(),
            alert_id: 7,
            started_ns: (chrono::Utc::now().timestamp() as u64 - 3600) * 1_000_000_000,
            pathway: Some(PathwayNote {
                name: "Look up a patient".into(),
                status: "outage".into(),
                guidance: "Use the paper form.".into(),
                url: "https://pathwatch.example/pathways/look-up-patient".into(),
            }),
            acknowledged: (transition == Transition::Acknowledged)
                .then(|| Acknowledgement { by: "sam".into(), at: "five minutes later".into() }),
            silence: None,
        }
    }

    fn rfc3339(v: &Value) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{v} is no time"))).unwrap().into()
    }

    fn routing_key(name: &str) -> Option<String> {
        (name == "PD_ROUTING_KEY").then(|| "0123456789abcdef0123456789abcdef".to_string())
    }

    /// Each channel gets each transition in its service's published shape: Teams an Adaptive Card
    /// message, Slack `text` with header, section and context blocks, PagerDuty one incident per
    /// alert and severity (an escalation resolves the ticket's and triggers the page's),
    /// Alertmanager an alert that starts when it did and whose `endsAt` resolves it.
    #[tokio::test]
    async fn each_service_gets_its_own_published_shape() {
        let (base, received) = receiver(202).await;
        let channels = vec![
            Channel::Teams { url: format!("{base}/teams/webhookb2/secret-token") },
            Channel::Slack { url: format!("{base}/slack/services/T000/B000/XXXX") },
            Channel::Pagerduty { routing_key_env: "PD_ROUTING_KEY".into(), url: format!("{base}/v2/enqueue") },
            Channel::Alertmanager { url: format!("{base}/am/") },
        ];
        let notifier = Notifier::new(None, Vec::new()).unwrap().with_channels_from(channels, &routing_key).unwrap();
        assert_eq!(notifier.channel_count(), 4);
        let transitions = [Transition::Firing, Transition::Acknowledged, Transition::Escalated, Transition::Resolved];
        for transition in transitions {
            let failures = notifier.send(&notification(transition)).await;
            assert!(failures.is_empty(), "{failures:?}");
        }
        let received = received.lock().unwrap().clone();
        let to = |prefix: &str| -> Vec<Value> {
            received.iter().filter(|(p, _)| p.starts_with(prefix)).map(|(_, b)| b.clone()).collect()
        };

        let teams = to("/teams/");
        assert_eq!(teams.len(), 4);
        for message in &teams {
            assert_eq!(message["type"], "message");
            let attachment = &message["attachments"][0];
            assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
            let card = &attachment["content"];
            assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
            assert!(card["body"].as_array().unwrap().iter().all(|b| b["type"].is_string()));
            let facts = card["body"][2]["facts"].as_array().unwrap();
            assert!(facts.iter().all(|f| f["title"].is_string() && f["value"].is_string()));
            let actions = card["actions"].as_array().unwrap();
            assert!(actions.iter().all(|a| a["type"] == "Action.OpenUrl" && a["url"].is_string()));
        }
        assert_eq!(teams[3]["attachments"][0]["content"]["body"][0]["color"], "Good", "resolved reads as good");

        let slack = to("/slack/");
        assert_eq!(slack.len(), 4);
        for message in &slack {
            assert!(message["text"].as_str().is_some_and(|t| t.starts_with("[Pathwatch] ")), "{message}");
            let blocks = message["blocks"].as_array().unwrap();
            let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["header", "section", "context"]);
            assert_eq!(blocks[0]["text"]["type"], "plain_text");
            assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
            assert!(blocks[1]["fields"].as_array().unwrap().len() <= 10);
            assert!(blocks[1]["text"]["text"].as_str().unwrap().ends_with("&lt;b&gt;"), "mrkdwn escaped: {message}");
        }

        let pagerduty = to("/v2/enqueue");
        let events: Vec<(&str, &str)> =
            pagerduty.iter().map(|e| (e["event_action"].as_str().unwrap(), e["dedup_key"].as_str().unwrap())).collect();
        assert_eq!(
            events,
            [
                ("trigger", "pathwatch/pds-availability/7/page"),
                ("acknowledge", "pathwatch/pds-availability/7/page"),
                ("resolve", "pathwatch/pds-availability/7/ticket"),
                ("trigger", "pathwatch/pds-availability/7/page"),
                ("resolve", "pathwatch/pds-availability/7/page"),
            ]
        );
        assert!(pagerduty.iter().all(|e| e["routing_key"] == "0123456789abcdef0123456789abcdef"));
        let payload = &pagerduty[0]["payload"];
        assert!(payload["summary"].as_str().unwrap().chars().count() <= 1024);
        assert_eq!((payload["source"].as_str(), payload["severity"].as_str()), (Some("pathwatch"), Some("critical")));
        rfc3339(&payload["timestamp"]);
        let links = pagerduty[0]["links"].as_array().unwrap();
        assert!(links.iter().all(|l| l["href"].is_string() && l["text"].is_string()));
        assert!(pagerduty[1].get("payload").is_none() && pagerduty[4].get("payload").is_none(), "only triggers");

        let alertmanager = to("/am/api/v2/alerts");
        assert_eq!(alertmanager.len(), 4);
        for alerts in &alertmanager {
            let alert = &alerts[0];
            assert!(alert["labels"].as_object().unwrap().values().all(Value::is_string), "{alert}");
            assert_eq!(
                (alert["labels"]["alertname"].as_str(), alert["labels"]["alert_id"].as_str()),
                (Some("pathwatch/pds-availability"), Some("7"))
            );
            assert!(alert["annotations"]["summary"].is_string() && alert["generatorURL"].is_string());
            assert!(rfc3339(&alert["startsAt"]) < chrono::Utc::now(), "it started when the alert did: {alert}");
        }
        let now = chrono::Utc::now();
        assert!(rfc3339(&alertmanager[0][0]["endsAt"]) > now + chrono::Duration::days(6), "a firing alert holds");
        assert!(rfc3339(&alertmanager[3][0]["endsAt"]) <= now, "a resolved one ends");
    }

    /// A channel that refuses is a failure naming the kind, the host and what the service said,
    /// never the URL's token; the others still get the notification. Bad settings name their field,
    /// and a routing key pasted where its variable's name belongs is never echoed.
    #[tokio::test]
    async fn a_refusing_channel_is_reported_without_its_token() {
        let (refusing, _) = receiver(500).await;
        let (working, received) = receiver(200).await;
        let channels = vec![
            Channel::Slack { url: format!("{refusing}/services/T000/B000/SECRET") },
            Channel::Teams { url: format!("{working}/teams") },
        ];
        let notifier = Notifier::new(None, Vec::new()).unwrap().with_channels(channels).unwrap();
        let failures = notifier.send(&notification(Transition::Firing)).await;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].starts_with("slack to 127.0.0.1"), "{failures:?}");
        assert!(failures[0].ends_with("HTTP 500 Internal Server Error: ok"), "what the service said: {failures:?}");
        assert!(!failures[0].contains("SECRET"), "{failures:?}");
        assert_eq!(received.lock().unwrap().len(), 1);

        let bad = |channel: Channel| {
            Notifier::new(None, Vec::new()).unwrap().with_channels_from(vec![channel], &routing_key).err().unwrap()
        };
        assert!(bad(Channel::Slack { url: "hooks.slack.com/x".into() }).starts_with("alerts.channels[0].url"));
        let unset = bad(Channel::Pagerduty { routing_key_env: "PD_OTHER_KEY".into(), url: pagerduty_url() });
        assert!(unset.starts_with("alerts.channels[0].routing_key_env: environment variable PD_OTHER_KEY"), "{unset}");
        let key = "0123456789abcdef0123456789abcdef";
        let pasted = bad(Channel::Pagerduty { routing_key_env: key.into(), url: pagerduty_url() });
        assert!(!pasted.contains(key), "a key pasted by mistake is never echoed: {pasted}");
        let ours = bad(Channel::Pagerduty { routing_key_env: "PATHWATCH_PD".into(), url: pagerduty_url() });
        assert!(ours.contains("without PATHWATCH_"), "{ours}");
        let parsed: Channel = serde_json::from_value(json!({"kind": "alertmanager", "url": "http://am:9093"})).unwrap();
        assert_eq!(parsed.url(), "http://am:9093/api/v2/alerts");
        let default_url: Channel =
            serde_json::from_value(json!({"kind": "pagerduty", "routing_key_env": "K"})).unwrap();
        assert_eq!(default_url.url(), PAGERDUTY_EVENTS_URL);
        assert!(serde_json::from_value::<Channel>(json!({"kind": "slack", "url": "x", "colour": "red"})).is_err());
    }

    /// Long, hostile text stays inside Slack's limits and escapes whole; a long alert key is cut
    /// and told apart by its hash.
    #[test]
    fn limits_are_kept() {
        let long = slack_text(&"<&>".repeat(2_000), 2_900);
        assert!(long.chars().count() <= 2_900 && long.ends_with('…'), "{}", long.len());
        assert!(long.trim_end_matches('…').ends_with(';'), "no escape split: {}", &long[long.len() - 10..]);
        let mut n = notification(Transition::Firing);
        n.slo = "x".repeat(400);
        let key = alert_key(&n);
        assert!(key.len() <= 200 && key.contains('#'), "{key}");
        n.slo.push('y');
        assert_ne!(alert_key(&n), key);
    }
}
