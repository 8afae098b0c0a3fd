//! Gathers what a report is made from: the hazard log as it stood at the end of the period, the
//! evidence history and chain verifications the evidence monitor recorded, and the period's canary
//! runs, SLO events and audit counts from the telemetry store. The report itself (the `reports`
//! crate) is then a pure function of this.

use audit_store::{RollupsQuery, SpanSelection, NANOS_PER_SEC};
use hazard_log::HazardLog;
use reports::inputs::{AuditRecord, CanaryRecord, HazardChangeRecord, HazardRecord, SignOffRecord, SloRecord};
use reports::{Period, ReportInputs, SystemDescription};

use crate::pathways::PathwayConfig;
use crate::slo::{SliKind, SloConfig};
use crate::slo_eval::SloEvents;
use crate::Sources;
use audit_store::AuditLog;
use audit_store::SpanStore;
use domain::canary::{run_span_name, SERVICE as CANARY_SERVICE};

/// Why a report's inputs could not be gathered: which database failed.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error("hazard log: {0}")]
    Hazards(#[from] hazard_log::HazardError),
    #[error("telemetry store: {0}")]
    Store(#[from] audit_store::StoreError),
    #[error("audit review store: {0}")]
    Review(#[from] audit_review::ReviewError),
    #[error("dashboard state: {0}")]
    State(#[from] crate::EngineError),
}

/// What the caller knows about the deployment that the reports mention.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub system: SystemDescription,
    /// "pathwatch 0.1.0".
    pub generator: String,
    pub sign_in: String,
    pub audit_retention_days: u32,
    /// The telemetry backend, for the manifest's list of sources ("SQLite", "ClickHouse").
    pub store_kind: String,
}

/// The hazard log at the end of the period: each hazard's newest version saved before it, its
/// versions saved during it and its sign-offs up to then. Hazards created later are left out.
async fn hazards_at(log: &HazardLog, period: &Period) -> Result<Vec<HazardRecord>, GatherError> {
    let mut out = Vec::new();
    for (hazard, current) in log.list().await? {
        let history = log.history(&hazard.id).await?;
        let Some(last) = history.iter().filter(|c| c.at_ns < period.to_ns).map(|c| c.version).max() else {
            continue;
        };
        let hazard = if last == current { hazard } else { log.at_version(&hazard.id, last).await? };
        let sign_offs = log.sign_offs(&hazard.id).await?;
        out.push(HazardRecord {
            version: last,
            changes: history
                .iter()
                .filter(|c| c.at_ns >= period.from_ns && c.at_ns < period.to_ns)
                .map(HazardChangeRecord::from)
                .collect(),
            sign_offs: sign_offs.iter().filter(|s| s.at_ns < period.to_ns).map(SignOffRecord::from).collect(),
            hazard,
        });
    }
    Ok(out)
}

/// A freshness SLO's minutes are read this many days at a time.
const FRESHNESS_CHUNK_DAYS: u64 = 30;

/// Good and counted minutes of each freshness SLO in `slos` over `period` (no later than `now_ns`),
/// reading their runs' minute roll-up a chunk at a time, from a lead-in before the period.
pub async fn freshness_counts(
    store: &audit_store::AnyStore,
    slos: &[&SloConfig],
    period: &Period,
    now_ns: u64,
) -> Result<Vec<(u64, u64)>, audit_store::StoreError> {
    if slos.is_empty() {
        return Ok(Vec::new());
    }
    let selections: Vec<SpanSelection> = slos.iter().map(|s| s.selection()).collect();
    let (from, end) = (period.from_ns.max(0) as u64, (period.to_ns.max(0) as u64).min(now_ns));
    let lead_in = slos
        .iter()
        .map(|s| u64::from(s.max_age_minutes.unwrap_or(0)) * 60)
        .max()
        .unwrap_or(0)
        .max(crate::slo_eval::FRESHNESS_LEAD_IN_SECS);
    let mut walks = vec![crate::slo_eval::FreshnessWalk::default(); slos.len()];
    let mut counts = vec![(0u64, 0u64); slos.len()];
    let chunk = FRESHNESS_CHUNK_DAYS * 86_400 * NANOS_PER_SEC;
    // The first read reaches back over the lead-in; each later one starts where the last ended.
    let (mut read_from, mut walk_from) = (from.saturating_sub(lead_in * NANOS_PER_SEC), from);
    while walk_from < end {
        let walk_to = walk_from.saturating_add(chunk).min(end);
        let query = RollupsQuery {
            selections: selections.clone(),
            from_ns: read_from,
            to_ns: walk_to,
            bucket_secs: crate::slo_eval::FINE_BUCKET_SECS,
            histogram: false,
        };
        let minutes = store.span_rollups(&query).await?;
        for (k, slo) in slos.iter().enumerate() {
            let runs: Vec<SloEvents> =
                minutes.get(k).map(|m| m.iter().map(|b| SloEvents::from_rollup(slo, b)).collect()).unwrap_or_default();
            let (good, total) = &mut counts[k];
            walks[k].walk(&runs, slo.max_age_minutes.unwrap_or(1), walk_from, walk_to, |_, fresh| {
                *good += u64::from(fresh);
                *total += 1;
            });
        }
        (read_from, walk_from) = (walk_to, walk_to);
    }
    Ok(counts)
}

/// The telemetry a report reads, as configured.
pub struct Telemetry<'a> {
    pub store: Option<&'a audit_store::AnyStore>,
    pub slos: &'a [SloConfig],
    pub pathways: &'a [PathwayConfig],
    /// Audit findings and samples, when the deployment keeps them.
    pub reviews: Option<&'a audit_review::ReviewStore>,
    /// The dashboard's state (incidents and their actions), where the caller has it.
    pub state: Option<&'a state::Pool>,
    /// Where "now" comes from: a freshness SLO counts no minute after it.
    pub clock: domain::Clock,
}

impl<'a> Telemetry<'a> {
    pub fn of(sources: &'a Sources) -> Telemetry<'a> {
        Telemetry {
            store: sources.store(),
            slos: &sources.slos,
            pathways: &sources.pathways,
            reviews: sources.findings.as_ref(),
            state: None,
            clock: sources.clock.clone(),
        }
    }
}

pub async fn gather(
    telemetry: &Telemetry<'_>,
    log: &HazardLog,
    deployment: &Deployment,
    period: Period,
) -> Result<ReportInputs, GatherError> {
    let hazards = hazards_at(log, &period).await?;
    let evidence = log.evidence_history(period.from_ns, period.to_ns).await?;
    let chain = log.chain_verifications(period.from_ns, period.to_ns).await?;
    let mut sources = vec![
        "Hazard log: each hazard's newest version saved before the end of the period, its changes and sign-offs".into(),
        "Evidence history and audit chain verifications recorded by Pathwatch's evidence monitor".into(),
    ];
    let (mut slos, mut canaries, mut audit) = (Vec::new(), Vec::new(), None);
    if let Some(store) = telemetry.store {
        sources.push(format!(
            "Telemetry store ({}): canary runs, SLO events and audit events that occurred in the period",
            deployment.store_kind
        ));
        let mut flows: Vec<String> = telemetry
            .pathways
            .iter()
            .map(|p| p.flow.clone())
            .chain(telemetry.slos.iter().filter(|s| s.spans.is_none()).map(|s| s.flow.clone()))
            .filter(|f| !f.is_empty())
            .collect();
        flows.sort();
        flows.dedup();
        let mut selections: Vec<SpanSelection> = flows
            .iter()
            .map(|f| SpanSelection { service_name: CANARY_SERVICE.into(), span_name: Some(run_span_name(f)) })
            .collect();
        selections.extend(telemetry.slos.iter().map(SloConfig::selection));
        let query = RollupsQuery {
            selections,
            from_ns: period.from_ns as u64,
            to_ns: period.to_ns as u64,
            // Days: the period starts at midnight UTC, so day buckets fall inside it exactly.
            bucket_secs: 86_400,
            histogram: telemetry.slos.iter().any(|s| s.sli == SliKind::Latency),
        };
        let rollups = store.span_rollups(&query).await?;
        // Freshness SLOs count minutes, read a month at a time (memory stays bounded over a long
        // period), up to now at the latest.
        let fresh: Vec<&SloConfig> = telemetry.slos.iter().filter(|s| s.sli == SliKind::Freshness).collect();
        let fresh_counts = freshness_counts(store, &fresh, &period, telemetry.clock.now_ns()).await?;
        for (i, flow) in flows.iter().enumerate() {
            let buckets = rollups.get(i).map(Vec::as_slice).unwrap_or_default();
            canaries.push(CanaryRecord {
                flow: flow.clone(),
                runs: buckets.iter().map(|b| b.count).sum(),
                failed: buckets.iter().map(|b| b.errors).sum(),
            });
        }
        for (j, slo) in telemetry.slos.iter().enumerate() {
            let buckets = rollups.get(flows.len() + j).map(Vec::as_slice).unwrap_or_default();
            let (good, total) = match fresh.iter().position(|f| std::ptr::eq(*f, slo)) {
                Some(k) => fresh_counts.get(k).copied().unwrap_or((0, 0)),
                None => buckets
                    .iter()
                    .map(|b| SloEvents::from_rollup(slo, b))
                    .fold((0, 0), |(g, t), e| (g + e.good, t + e.total)),
            };
            slos.push(SloRecord {
                name: slo.name.clone(),
                measures: match (slo.sli, slo.latency_threshold_ms) {
                    (SliKind::Latency, Some(ms)) => format!("{} within {ms} ms", slo.source_label()),
                    (SliKind::Freshness, _) => format!(
                        "freshness of {}: minutes when a passing run began at most {} minutes before",
                        slo.source_label(),
                        slo.max_age_minutes.unwrap_or(0)
                    ),
                    _ => format!("availability of {}", slo.source_label()),
                },
                objective: slo.objective,
                good,
                total,
            });
        }
        let a = store.audit_summary(period.from_ns as u64, period.to_ns as u64).await?;
        audit = Some(AuditRecord {
            events: a.events,
            users: a.users,
            patients: a.patients,
            organisations: a.organisations,
            unattributed: a.unattributed,
            by_action: a.by_action,
            by_outcome: a.by_outcome,
            retention_days: deployment.audit_retention_days,
        });
    }
    let review = match (telemetry.reviews, telemetry.store) {
        (Some(reviews), Some(store)) => {
            sources.push(
                "Audit review store: samples drawn and reviewed, coverage, anomaly findings and their outcomes".into(),
            );
            Some(review_record(reviews, store, &period).await?)
        }
        _ => None,
    };
    let (incidents, last_exercise_ns) = match telemetry.state {
        Some(pool) => {
            sources.push("Dashboard state: incidents declared by on-call staff, exercises, post-mortem actions".into());
            let (incidents, last) = incident_records(pool, telemetry.pathways, &period).await?;
            (Some(incidents), last)
        }
        None => (None, None),
    };
    Ok(ReportInputs {
        incidents,
        last_exercise_ns,
        generator: deployment.generator.clone(),
        sources,
        period,
        system: deployment.system.clone(),
        sign_in: deployment.sign_in.clone(),
        hazards,
        evidence,
        chain,
        slos,
        canaries,
        audit,
        review,
    })
}

/// Incidents open at any time in the period, oldest first, with their actions; and when the
/// newest exercise before the period's end was declared.
async fn incident_records(
    pool: &state::Pool,
    pathways: &[PathwayConfig],
    period: &Period,
) -> Result<(Vec<reports::inputs::OnCallIncident>, Option<i64>), GatherError> {
    use reports::inputs::{IncidentAction, OnCallIncident};
    let open = crate::incidents::open_between(pool, period.from_ns, period.to_ns).await?;
    let last_exercise = crate::incidents::last_exercise_before(pool, period.to_ns).await?;
    let mut out = Vec::new();
    for i in open {
        let actions = crate::incidents::actions(pool, i.id).await?;
        out.push(OnCallIncident {
            reference: i.reference(),
            title: i.title.clone(),
            severity: i.severity.as_str().into(),
            status: i.status.as_str().into(),
            exercise: i.exercise.clone(),
            pathways: i
                .pathways
                .iter()
                .map(|id| pathways.iter().find(|p| p.id == *id).map_or(id.clone(), |p| p.name.clone()))
                .collect(),
            declared_ns: i.declared_ns,
            resolved_ns: i.resolved_ns,
            impact: i.postmortem.impact.clone(),
            hazard_id: i.postmortem.hazard_id.clone(),
            actions: actions
                .into_iter()
                .map(|a| IncidentAction { description: a.description, owner: a.owner, due: a.due, done_ns: a.done_ns })
                .collect(),
        });
    }
    Ok((out, last_exercise))
}

/// What access monitoring and review recorded in the period (DSPT sections 2 to 4).
async fn review_record(
    reviews: &audit_review::ReviewStore,
    store: &audit_store::AnyStore,
    period: &Period,
) -> Result<reports::inputs::ReviewRecord, GatherError> {
    use audit_review::Status;
    use reports::inputs::{FindingCount, IncidentRecord, ReviewRecord, SampleRecord};
    let (from, to) = (period.from_ns.max(0) as u64, period.to_ns.max(0) as u64);
    let samples = reviews
        .samples_between(from, to)
        .await?
        .into_iter()
        .map(|(s, inappropriate, follow_up)| SampleRecord {
            id: s.id,
            drawn_ns: s.created_ns,
            drawn_by: s.created_by,
            unit: s.unit.as_str().into(),
            strata: [
                (s.query.by_organisation, "organisation"),
                (s.query.by_role, "role"),
                (s.query.by_action, "action"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", "),
            seed: s.query.seed,
            items: s.items,
            reviewed: s.reviewed,
            inappropriate,
            follow_up,
        })
        .collect();
    let coverage = reviews.coverage(store, from, to).await?;
    let mut findings: Vec<FindingCount> = Vec::new();
    for (rule, status, n) in reviews.finding_counts(from, to).await? {
        let title = rule.title().to_string();
        let at = match findings.iter().position(|f| f.rule == title) {
            Some(i) => i,
            None => {
                findings.push(FindingCount { rule: title, ..FindingCount::default() });
                findings.len() - 1
            }
        };
        let f = &mut findings[at];
        f.raised += n;
        match status {
            Status::Open => f.open += n,
            Status::Investigating => f.investigating += n,
            Status::Justified => f.justified += n,
            Status::Inappropriate => f.inappropriate += n,
            Status::FalsePositive => f.false_positive += n,
        }
    }
    let incidents = reviews
        .incidents(from, to)
        .await?
        .into_iter()
        .map(|(f, note)| IncidentRecord {
            finding: f.id,
            rule: f.rule.title().into(),
            user_id: f.user_id,
            organisation: f.organisation,
            raised_ns: f.raised_ns,
            closed_ns: f.closed_ns,
            note,
        })
        .collect();
    Ok(ReviewRecord { samples, coverage, findings, incidents })
}

static PACK_BUILDS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Builds the pack and its zip on a blocking thread: laying out PDFs and deflating a long period's
/// pack takes long enough to stall every other request served by the same runtime thread. Hands the
/// inputs back for the caller's own wording.
pub async fn build_pack(
    kind: reports::ReportKind,
    inputs: reports::ReportInputs,
) -> Result<(reports::ReportInputs, reports::pack::Pack, Vec<u8>), String> {
    // A build a page gave up on still runs to the end on its thread: at most two at once, so
    // repeated downloads queue here instead of piling up threads, each with a pack in memory.
    // The turn moves into the build, so it is given back when the build ends, not when the page does.
    let turn = PACK_BUILDS.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let pack = reports::pack::build(kind, &inputs).map_err(|e| e.to_string())?;
        let zip = pack.zip().map_err(|e| e.to_string())?;
        Ok((inputs, pack, zip))
    })
    .await
    .map_err(|e| format!("building the report failed: {e}"))?
}
