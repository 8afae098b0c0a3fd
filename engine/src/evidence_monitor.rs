//! The evidence monitor: on a schedule it verifies every audit chain (the records added since each
//! one's last verified head; a full walk once a day), checks every hazard control's evidence, records
//! each source's state in the hazard log's history, and e-mails the Clinical Safety Officer when
//! evidence turns failing or stale. Reports over a period are built from what it records.
//!
//! It never changes a hazard, and a failure to check or to send never stops the next round.

use std::collections::BTreeMap;
use std::time::Duration;

use audit_store::{chain, AuditLog, ChainLink};
use hazard_log::assurance::ChainHead;
use hazard_log::{ChainVerification, EvidenceChange, EvidenceCheck, HazardLog};
use serde::{Deserialize, Serialize};

use crate::notify::Mailer;
use crate::Sources;

/// `[evidence]` in the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// How often evidence is checked and the chain's new records verified.
    pub check_every_minutes: u64,
    /// How often the whole retained chain is walked again (finds changes to old records).
    pub full_chain_walk_hours: u64,
    /// Who is e-mailed when evidence turns failing or stale (the SMTP server is `[alerts.email]`'s).
    pub notify: Vec<String>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig { check_every_minutes: 5, full_chain_walk_hours: 24, notify: Vec::new() }
    }
}

const NS_PER_MINUTE: i64 = 60_000_000_000;

pub struct EvidenceMonitor {
    sources: Sources,
    log: HazardLog,
    config: EvidenceConfig,
    mailer: Option<Mailer>,
    public_url: String,
}

/// What one round did.
#[derive(Debug, Default)]
pub struct Round {
    pub chain: Option<ChainVerification>,
    pub checked: usize,
    /// Sources that turned failing or stale this round.
    pub worsened: Vec<EvidenceChange>,
    pub notified: bool,
}

impl EvidenceMonitor {
    pub fn new(
        sources: Sources,
        log: HazardLog,
        config: EvidenceConfig,
        mailer: Option<Mailer>,
        public_url: String,
    ) -> EvidenceMonitor {
        EvidenceMonitor { sources, log, config, mailer, public_url }
    }

    pub async fn run(self) {
        let every = Duration::from_secs(self.config.check_every_minutes.max(1) * 60);
        loop {
            match self.round(self.sources.clock.now_ns_i64()).await {
                Ok(round) => {
                    tracing::debug!(checked = round.checked, worsened = round.worsened.len(), "evidence checked")
                }
                Err(e) => tracing::warn!(error = %e, "evidence round failed; trying again next round"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Verifies the chain, checks every source and records the results at `now_ns`.
    pub async fn round(&self, now_ns: i64) -> Result<Round, String> {
        let mut round = Round { chain: self.verify_chain(now_ns).await, ..Round::default() };
        let mut checks = Vec::new();
        for (hazard, _) in self.log.list().await.map_err(|e| e.to_string())? {
            for state in crate::evidence::for_hazard(&self.sources, &hazard, now_ns as u64).await {
                checks.push(EvidenceCheck {
                    hazard_id: hazard.id.clone(),
                    control_id: state.control,
                    source: state.source,
                    status: state.status,
                    checked_ns: now_ns,
                    verified_ns: state.verified_ns.map(|v| v as i64),
                    detail: state.detail,
                    link: state.link,
                });
            }
        }
        round.checked = checks.len();
        // A round missed (the process was down) breaks an interval: three rounds' grace.
        let gap = 3 * self.config.check_every_minutes.max(1) as i64 * NS_PER_MINUTE;
        let changes = self.log.record_evidence(&checks, gap).await.map_err(|e| e.to_string())?;
        round.worsened = changes
            .into_iter()
            .filter(|c| c.check.status.is_problem() && c.before.is_none_or(|b| !b.is_problem()))
            .collect();
        if !round.worsened.is_empty() && !self.config.notify.is_empty() {
            if let Some(mailer) = &self.mailer {
                let (subject, body) = notice(&round.worsened, &self.public_url);
                match mailer.send(&self.config.notify, &subject, body, None).await {
                    Ok(()) => round.notified = true,
                    Err(e) => tracing::warn!(error = %e, "evidence notice not delivered"),
                }
            }
        }
        Ok(round)
    }

    /// Walks every audit chain (one per collector in front of ClickHouse) from where it last
    /// verified, or all of each when the newest full walk is older than `full_chain_walk_hours` or
    /// the newest verification found a break; records one verification for the round and each
    /// intact chain's new head. None without a telemetry store, or when it cannot be read.
    async fn verify_chain(&self, now_ns: i64) -> Option<ChainVerification> {
        let store = self.sources.store()?;
        let known = async {
            let latest = self.log.latest_chain_verifications().await?;
            let heads = self.log.chain_heads().await?;
            Ok::<_, hazard_log::HazardError>((latest, heads))
        };
        let ((newest, full), heads) = match known.await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(error = %e, "reading chain verifications");
                return None;
            }
        };
        let full_due =
            full.is_none_or(|f| now_ns - f.at_ns >= self.config.full_chain_walk_hours as i64 * 60 * NS_PER_MINUTE);
        let resume = newest.as_ref().is_some_and(|n| n.intact) && !full_due;
        let mut from: BTreeMap<u16, ChainLink> = BTreeMap::new();
        if resume {
            from.extend(heads.iter().map(|(chain, h)| (*chain, ChainLink { seq: h.seq, hash: h.hash.clone() })));
            // Verified before heads were kept per chain: the newest verification's head.
            if let Some(ChainVerification { head_seq: Some(seq), head_hash: Some(hash), .. }) = newest {
                from.entry(chain::chain_of(seq)).or_insert(ChainLink { seq, hash });
            }
        }
        let known: BTreeMap<u16, u64> = heads.iter().map(|(chain, h)| (*chain, h.seq)).collect();
        let walk = async {
            let mut reports = Vec::new();
            let chains = store.audit_chains().await?;
            for &number in &chains {
                let mut report = chain::verify_chain(store, number, from.get(&number).cloned(), 10_000).await?;
                // On a cluster a replica may not have fetched every part yet: records seen missing are
                // looked for again before the chain is called broken.
                if matches!(report.first_break, Some(chain::ChainBreak::Missing { .. })) {
                    tokio::time::sleep(MISSING_RECHECK).await;
                    report = chain::verify_chain(store, number, from.get(&number).cloned(), 10_000).await?;
                }
                reports.push(report);
            }
            // A chain verified before whose every record is gone, with no starting point left by
            // retention (which `audit_chains` would list): deleted whole.
            for (&number, &head_seq) in known.iter().filter(|(number, _)| !chains.contains(number)) {
                reports.push(chain::ChainReport {
                    chain: number,
                    records_checked: 0,
                    head: None,
                    first_break: Some(chain::ChainBreak::Vanished { head_seq }),
                });
            }
            Ok::<_, audit_store::StoreError>(reports)
        };
        let reports = match walk.await {
            Ok(reports) => reports,
            Err(e) => {
                // The store could not be read: nothing is recorded, so the evidence goes stale.
                tracing::warn!(error = %e, "audit chain verification could not read the store");
                return None;
            }
        };
        let verification = summarise(now_ns, &reports, &from);
        if let Err(e) = self.log.record_chain_verification(&verification).await {
            tracing::warn!(error = %e, "recording the chain verification");
        }
        for report in reports.iter().filter(|r| r.first_break.is_none()) {
            let Some(head) = report.head.as_ref().or(from.get(&report.chain)) else { continue };
            let head = ChainHead { seq: head.seq, hash: head.hash.clone() };
            if let Err(e) = self.log.record_chain_head(report.chain, &head, now_ns).await {
                tracing::warn!(error = %e, chain = report.chain, "recording where the chain verified to");
            }
        }
        Some(verification)
    }
}

/// How long to wait before looking again for records a walk found missing.
const MISSING_RECHECK: Duration = Duration::from_secs(5);

/// One round's verification of every chain: intact when each is; the head named when there is one
/// chain (as before there were several), the chains listed when there are more.
fn summarise(now_ns: i64, reports: &[chain::ChainReport], from: &BTreeMap<u16, ChainLink>) -> ChainVerification {
    let breaks: Vec<String> = reports.iter().filter_map(|r| r.first_break.as_ref()).map(ToString::to_string).collect();
    let head = |r: &chain::ChainReport| r.head.clone().or_else(|| from.get(&r.chain).cloned());
    let only = match reports {
        [one] => head(one),
        _ => None,
    };
    let detail = if !breaks.is_empty() {
        breaks.join("; ")
    } else if reports.len() > 1 {
        let chains: Vec<String> = reports
            .iter()
            .map(|r| format!("chain {} to record {}", r.chain, head(r).map_or(0, |h| chain::position(h.seq))))
            .collect();
        format!("{} chains intact: {}", reports.len(), chains.join(", "))
    } else {
        String::new()
    };
    ChainVerification {
        at_ns: now_ns,
        full_walk: reports.iter().all(|r| !from.contains_key(&r.chain)),
        records_checked: reports.iter().map(|r| r.records_checked).sum(),
        head_seq: only.as_ref().map(|h| h.seq),
        head_hash: only.map(|h| h.hash),
        intact: breaks.is_empty(),
        detail,
    }
}

/// The e-mail telling the CSO which evidence turned failing or stale.
pub fn notice(worsened: &[EvidenceChange], public_url: &str) -> (String, String) {
    let hazards: std::collections::BTreeSet<&str> = worsened.iter().map(|c| c.check.hazard_id.as_str()).collect();
    let subject = format!(
        "[Pathwatch] Hazard evidence failing or stale: {}",
        hazards.iter().copied().collect::<Vec<_>>().join(", ")
    );
    let mut body = String::from(
        "Evidence for these hazard controls is no longer passing. Until it passes again, the control \
         cannot be shown to work.\n\n",
    );
    for change in worsened {
        let c = &change.check;
        body.push_str(&format!(
            "{} control {}: {} is {} ({})\n  {}/hazards/{}\n",
            c.hazard_id,
            c.control_id,
            c.source,
            c.status.as_str().to_uppercase(),
            c.detail,
            public_url.trim_end_matches('/'),
            c.hazard_id
        ));
    }
    (subject, body)
}
