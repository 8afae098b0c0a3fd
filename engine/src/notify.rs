//! Alert notifications: e-mail over SMTP (`lettre`), JSON webhooks, and Teams, Slack, PagerDuty and
//! Alertmanager in their own formats (`notify_channels`). A channel that fails is logged and
//! reported; it never stops the others or the alert's state from being kept.

use lettre::message::header::ContentType;
use lettre::message::{Attachment as LettreAttachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on the same host or a test server.
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default = "default_security")]
    pub security: SmtpSecurity,
    pub from: String,
    pub to: Vec<String>,
    /// SMTP user; the password comes from the environment variable named by `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_security() -> SmtpSecurity {
    SmtpSecurity::Starttls
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Firing,
    /// Still firing, now more severe (ticket → page).
    Escalated,
    /// Still firing; reminded after the repeat interval.
    Repeat,
    /// Still firing; someone has taken it (no reminders until it escalates or resolves).
    Acknowledged,
    Resolved,
}

impl Transition {
    /// The transition `as_str` names.
    pub fn parse(text: &str) -> Option<Transition> {
        [Transition::Firing, Transition::Escalated, Transition::Repeat, Transition::Acknowledged, Transition::Resolved]
            .into_iter()
            .find(|t| t.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Firing => "FIRING",
            Transition::Escalated => "ESCALATED",
            Transition::Repeat => "STILL FIRING",
            Transition::Acknowledged => "ACKNOWLEDGED",
            Transition::Resolved => "RESOLVED",
        }
    }
}

/// One notification, as both the e-mail and the webhook carry it.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub transition: Transition,
    pub slo: String,
    pub flow: String,
    pub severity: String,
    pub summary: String,
    pub budget_remaining: Option<f64>,
    pub burn_rate_1h: Option<f64>,
    /// The run book: the pathway's for its current state when the SLO measures a pathway,
    /// else `<runbook_base_url><slo>`.
    pub runbook_url: Option<String>,
    pub dashboard_url: String,
    pub started: String,
    /// The alert's id: one PagerDuty incident and one Alertmanager alert per alert.
    pub alert_id: i64,
    /// When it started (ns since the Unix epoch).
    pub started_ns: u64,
    /// The pathway the SLO measures, as the overview shows it now.
    pub pathway: Option<PathwayNote>,
    /// Who has the alert, if anyone acknowledged it.
    pub acknowledged: Option<Acknowledgement>,
    /// The silence (maintenance window) that last covered the alert, if any.
    pub silence: Option<SilenceNote>,
}

/// Who acknowledged an alert, and when (UK time).
#[derive(Debug, Clone, Serialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: String,
}

/// The silence behind an alert: a notification sent as its window ended says so.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceNote {
    pub id: i64,
    pub reason: String,
    pub author: String,
    /// Its window or recurrence, in words.
    pub window: String,
    /// Whether it still holds the alert's notifications back.
    pub holding: bool,
}

/// What an on-call reader needs about the pathway behind an alert.
#[derive(Debug, Clone, Serialize)]
pub struct PathwayNote {
    pub name: String,
    /// healthy, degraded, partial, outage or unknown.
    pub status: String,
    /// What to tell users now (a matching known error's advice, else the state's guidance).
    pub guidance: String,
    pub url: String,
}

impl Notification {
    pub fn subject(&self) -> String {
        format!("[Pathwatch] {} {}: {}", self.transition.as_str(), self.severity, self.slo)
    }

    pub fn body(&self) -> String {
        let figure = |x: Option<f64>, f: fn(f64) -> String| x.map(f).unwrap_or_else(|| "unknown".into());
        let mut text = format!("{}\n\n", self.summary);
        if let Some(p) = &self.pathway {
            text.push_str(&format!("Pathway: {} ({})\nWhat to tell users: {}\n", p.name, p.status, p.guidance));
        }
        if self.slo.starts_with(crate::credentials::ALERT_PREFIX) {
            text.push_str(&format!(
                "Credential: {}\nSeverity: {}\nSince: {}\n",
                self.flow, self.severity, self.started
            ));
        } else {
            text.push_str(&format!("SLO: {}\n", self.slo));
            if !self.flow.is_empty() {
                text.push_str(&format!("Canary flow: {}\n", self.flow));
            }
            text.push_str(&format!(
                "Severity: {}\nSince: {}\nError budget remaining: {}\nBurn rate, last hour: {}\n",
                self.severity,
                self.started,
                figure(self.budget_remaining, |r| format!("{:.1} %", r * 100.0)),
                figure(self.burn_rate_1h, |b| format!("{b:.1}x")),
            ));
        }
        if let Some(a) = &self.acknowledged {
            text.push_str(&format!("Acknowledged by: {} at {}\n", a.by, a.at));
        }
        if let Some(s) = &self.silence {
            let state = if s.holding { "holds its notifications back" } else { "has ended with the alert still open" };
            text.push_str(&format!(
                "Silence #{} ({}), set by {} for \"{}\": {state}\n",
                s.id, s.window, s.author, s.reason
            ));
        }
        if let Some(url) = &self.runbook_url {
            text.push_str(&format!("Run book: {url}\n"));
        }
        if let Some(p) = &self.pathway {
            text.push_str(&format!("Pathway page: {}\n", p.url));
        }
        text.push_str(&format!("Dashboard: {}\n", self.dashboard_url));
        text
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "(unparseable URL)".into())
}

/// An SMTP connection's settings, checked, ready to send plain-text mail with an optional
/// attachment. Alerts, evidence notices and scheduled reports share one (the `[alerts.email]`
/// server), each with its own recipients.
#[derive(Clone)]
pub struct Mailer {
    from: lettre::message::Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// A file attached to a message.
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Checks e-mail addresses, naming the configuration key of the first bad one.
pub fn check_addresses(key: &str, addresses: &[String]) -> Result<(), String> {
    if addresses.is_empty() {
        return Err(format!("{key}: at least one recipient is needed"));
    }
    for (i, address) in addresses.iter().enumerate() {
        address
            .parse::<lettre::Address>()
            .map_err(|e| format!("{key}[{i}]: {address:?} is not an e-mail address ({e})"))?;
    }
    Ok(())
}

impl Mailer {
    /// Builds the transport; errors name the key under `alerts.email`.
    pub fn new(config: &EmailConfig) -> Result<Mailer, String> {
        let builder = match config.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| format!("alerts.email.smtp_host: {e}"))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
                .map_err(|e| format!("alerts.email.smtp_host: {e}"))?,
        };
        let mut builder = builder.port(config.smtp_port).timeout(Some(std::time::Duration::from_secs(20)));
        if let Some(user) = &config.username {
            let var = config.password_env.clone().unwrap_or_default();
            let password = std::env::var(&var)
                .map_err(|_| format!("alerts.email.password_env: environment variable {var:?} is not set"))?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = config
            .from
            .parse()
            .map_err(|e| format!("alerts.email.from: {:?} is not an e-mail address ({e})", config.from))?;
        Ok(Mailer { from, transport: builder.build() })
    }

    /// Sends one message to every recipient (addresses already checked by `check_addresses`).
    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        body: String,
        attachment: Option<Attachment>,
    ) -> Result<(), String> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for address in to {
            message = message.to(address.parse().map_err(|e| format!("{address:?}: {e}"))?);
        }
        let message = match attachment {
            None => message.header(ContentType::TEXT_PLAIN).body(body),
            Some(file) => {
                let content_type = ContentType::parse(&file.content_type).map_err(|e| e.to_string())?;
                message.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(body))
                        .singlepart(LettreAttachment::new(file.filename).body(file.bytes, content_type)),
                )
            }
        }
        .map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(drop).map_err(|e| e.to_string())
    }
}

#[derive(Clone)]
pub struct Notifier {
    email: Option<(Mailer, Vec<String>)>,
    webhooks: Vec<String>,
    /// Each channel with its routing key (PagerDuty), read once when the notifier is built.
    channels: Vec<(crate::notify_channels::Channel, Option<String>)>,
    http: reqwest::Client,
}

impl Notifier {
    /// How many channels are configured (none: alerts are kept but not sent).
    pub fn channel_count(&self) -> usize {
        usize::from(self.email.is_some()) + self.webhooks.len() + self.channels.len()
    }

    /// Adds Teams, Slack, PagerDuty and Alertmanager channels, each checked (an error names
    /// `alerts.channels[i]` and the field).
    pub fn with_channels(self, channels: Vec<crate::notify_channels::Channel>) -> Result<Notifier, String> {
        self.with_channels_from(channels, &|name| std::env::var(name).ok())
    }

    /// `with_channels`, reading routing keys through `lookup` instead of the environment.
    pub fn with_channels_from(
        mut self,
        channels: Vec<crate::notify_channels::Channel>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Notifier, String> {
        let named =
            |i: usize| move |(field, message): (&str, String)| format!("alerts.channels[{i}].{field}: {message}");
        let mut resolved = Vec::with_capacity(channels.len());
        for (i, channel) in channels.into_iter().enumerate() {
            channel.check().map_err(named(i))?;
            let key = channel.resolve_key(lookup).map_err(named(i))?;
            resolved.push((channel, key));
        }
        self.channels = resolved;
        Ok(self)
    }

    pub fn new(email: Option<EmailConfig>, webhooks: Vec<String>) -> Result<Notifier, String> {
        let email = match email {
            None => None,
            Some(config) => {
                check_addresses("alerts.email.to", &config.to)?;
                Some((Mailer::new(&config)?, config.to))
            }
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Notifier { email, webhooks, channels: Vec::new(), http })
    }

    /// Sends on every channel; returns the failures (already logged).
    pub async fn send(&self, n: &Notification) -> Vec<String> {
        let mut failures = Vec::new();
        if let Some((mailer, to)) = &self.email {
            if let Err(e) = mailer.send(to, &n.subject(), n.body(), None).await {
                failures.push(format!("e-mail: {e}"));
            }
        }
        // Webhooks go out together; a slow one does not hold up the rest.
        let posts = self.webhooks.iter().map(|url| async move {
            let result = self.http.post(url).json(n).send().await.and_then(|r| r.error_for_status());
            // Webhook URLs often carry a token (Slack, Teams): only the host is ever logged.
            result.map(drop).map_err(|e| format!("webhook to {}: {}", host_of(url), e.without_url()))
        });
        for result in futures_util::future::join_all(posts).await {
            if let Err(e) = result {
                failures.push(e);
            }
        }
        let now = chrono::Utc::now();
        let posts = self.channels.iter().map(|(channel, key)| async move {
            let url = channel.url();
            // A channel's events go in order (PagerDuty's escalation resolves, then triggers).
            for body in channel.bodies(n, now, key.as_deref()) {
                let failed = |what: String| format!("{} to {}: {what}", channel.kind(), host_of(&url));
                let reply =
                    self.http.post(&url).json(&body).send().await.map_err(|e| failed(e.without_url().to_string()))?;
                let status = reply.status();
                if !status.is_success() {
                    // What the service said (Slack's `invalid_blocks`, PagerDuty's `errors`), briefly.
                    let said = reply.text().await.unwrap_or_default();
                    let said: String = said.chars().filter(|c| !c.is_control()).take(200).collect();
                    return Err(failed(format!("HTTP {status}: {said}")));
                }
            }
            Ok(())
        });
        for result in futures_util::future::join_all(posts).await {
            if let Err(e) = result {
                failures.push(e);
            }
        }
        for failure in &failures {
            tracing::warn!(slo = %n.slo, failure = %failure, "alert notification not delivered");
        }
        failures
    }
}
