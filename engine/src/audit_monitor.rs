//! The audit monitor: on a schedule it runs the anomaly rules over the audit events that arrived
//! since the last round (`audit_review::Scanner::incremental`), once a day (and at start-up) over
//! the last days of history as well, and e-mails the IG leads about new high-severity findings. The e-mail names the rule, the user and what was seen, never a patient:
//! NHS numbers stay behind the dashboard's sign-in.
//!
//! A failed round or an undelivered e-mail never stops the next round; undelivered notices are
//! sent again next round (a finding is marked notified only once its e-mail went).

use std::time::Duration;

use audit_review::{Finding, ReviewStore, RulesConfig, ScanOutcome, Scanner, Severity};
use audit_store::AnyStore;
use serde::{Deserialize, Serialize};

use crate::notify::Mailer;
use std::collections::BTreeMap;

/// `[audit]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How often the rules look at newly arrived audit events.
    pub scan_every_minutes: u64,
    /// How often the rules also run again over the last `rescan_days` of history (changed
    /// thresholds, late context such as relationships loaded after the access).
    pub rescan_every_hours: u64,
    pub rescan_days: u32,
    /// Who is e-mailed about every new high-severity finding, of every organisation (the SMTP
    /// server is `[alerts.email]`'s): people who may read them all.
    pub notify: Vec<String>,
    /// Who is e-mailed about an organisation's findings only, by ODS code: an IG lead of one trust
    /// hears of that trust's findings and of no other's.
    pub notify_by_organisation: std::collections::BTreeMap<String, Vec<String>>,
    /// The rules' settings: `[audit.rules.<rule>]`.
    pub rules: RulesConfig,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            scan_every_minutes: 5,
            rescan_every_hours: 24,
            rescan_days: 7,
            notify: Vec::new(),
            notify_by_organisation: Default::default(),
            rules: RulesConfig::default(),
        }
    }
}

impl AuditConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.scan_every_minutes == 0 {
            return Err("audit.scan_every_minutes: must be at least 1".into());
        }
        if self.rescan_every_hours == 0 {
            return Err("audit.rescan_every_hours: must be at least 1".into());
        }
        if self.rescan_days == 0 || self.rescan_days > 366 {
            return Err(format!("audit.rescan_days: {} is outside 1..=366", self.rescan_days));
        }
        if !self.notify.is_empty() {
            crate::notify::check_addresses("audit.notify", &self.notify)?;
        }
        for (org, addresses) in &self.notify_by_organisation {
            if org.len() < 3 || org.len() > 10 || !org.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(format!(
                    "audit.notify_by_organisation.{org}: not an ODS code (3-10 capital letters and digits, as stored)"
                ));
            }
            crate::notify::check_addresses(&format!("audit.notify_by_organisation.{org}"), addresses)?;
        }
        self.rules.validate("audit.rules")
    }
}

pub struct AuditMonitor {
    scanner: Scanner<AnyStore>,
    config: AuditConfig,
    mailer: Option<Mailer>,
    public_url: String,
    /// When the last rescan over history ran (0: not since start-up, so the first round does one).
    last_rescan_ns: std::sync::atomic::AtomicU64,
}

/// What one round did.
#[derive(Debug, Default)]
pub struct AuditRound {
    pub scan: ScanOutcome,
    /// High-severity findings e-mailed this round (new ones and any an earlier round failed to send).
    pub notified: Vec<i64>,
}

impl AuditMonitor {
    pub fn new(
        store: AnyStore,
        findings: ReviewStore,
        config: AuditConfig,
        mailer: Option<Mailer>,
        public_url: String,
    ) -> AuditMonitor {
        let scanner = Scanner { store, findings, config: config.rules.clone() };
        AuditMonitor { scanner, config, mailer, public_url, last_rescan_ns: std::sync::atomic::AtomicU64::new(0) }
    }

    pub async fn run(self) {
        let every = Duration::from_secs(self.config.scan_every_minutes.max(1) * 60);
        loop {
            match self.round(domain::system_now_ns()).await {
                Ok(round) => tracing::debug!(
                    new_events = round.scan.new_events,
                    raised = round.scan.raised.len(),
                    notified = round.notified.len(),
                    "audit rules ran"
                ),
                Err(e) => tracing::warn!(error = %e, "audit rules round failed; trying again next round"),
            }
            tokio::time::sleep(every).await;
        }
    }

    pub async fn round(&self, now_ns: u64) -> Result<AuditRound, String> {
        use std::sync::atomic::Ordering;
        let mut scan = self.scanner.incremental(now_ns).await.map_err(|e| e.to_string())?;
        let hour = 3_600_000_000_000u64;
        let last = self.last_rescan_ns.load(Ordering::Relaxed);
        if last == 0 || now_ns.saturating_sub(last) >= self.config.rescan_every_hours * hour {
            let from = now_ns.saturating_sub(u64::from(self.config.rescan_days) * 24 * hour);
            let rescan = self.scanner.full(from, now_ns, now_ns).await.map_err(|e| e.to_string())?;
            self.last_rescan_ns.store(now_ns, Ordering::Relaxed);
            scan.raised.extend(rescan.raised);
            scan.refreshed += rescan.refreshed;
            scan.candidates += rescan.candidates;
        }
        let mut round = AuditRound { scan, notified: Vec::new() };
        let nobody = self.config.notify.is_empty() && self.config.notify_by_organisation.is_empty();
        let (Some(mailer), false) = (&self.mailer, nobody) else {
            return Ok(round);
        };
        let due = self.scanner.findings.unnotified(Severity::High).await.map_err(|e| e.to_string())?;
        // One e-mail per set of recipients, holding only the findings each of them may read.
        let mut by_recipients: BTreeMap<Vec<String>, Vec<Finding>> = BTreeMap::new();
        for finding in due {
            let mut to = self.config.notify.clone();
            to.extend(self.config.notify_by_organisation.get(&finding.organisation).cloned().unwrap_or_default());
            to.sort();
            to.dedup();
            if !to.is_empty() {
                by_recipients.entry(to).or_default().push(finding);
            }
        }
        for (to, findings) in by_recipients {
            let (subject, body) = notice(&findings, &self.public_url);
            match mailer.send(&to, &subject, body, None).await {
                Ok(()) => {
                    let ids: Vec<i64> = findings.iter().map(|f| f.id).collect();
                    self.scanner.findings.mark_notified(&ids, now_ns).await.map_err(|e| e.to_string())?;
                    round.notified.extend(ids);
                }
                Err(e) => tracing::warn!(error = %e, "audit finding notice not delivered; trying again next round"),
            }
        }
        Ok(round)
    }
}

/// The e-mail about new high-severity findings: rule, user and explanation, with a link each.
pub fn notice(findings: &[Finding], public_url: &str) -> (String, String) {
    let subject = format!(
        "[Pathwatch] {} high-severity audit finding{} to review",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    let mut body = String::from(
        "The audit rules raised these findings. Review each one: investigate, then close it as justified, \
         inappropriate (a breach) or a false positive.\n\n",
    );
    for f in findings {
        body.push_str(&format!(
            "#{} {}: {}\n  {}/audit/findings/{}\n",
            f.id,
            f.rule.title(),
            f.explanation,
            public_url.trim_end_matches('/'),
            f.id
        ));
    }
    (subject, body)
}
