//! Gathers what a report is made from: the hazard log as it stood at the end of the period, the
//! evidence history and chain verifications the evidence monitor recorded, and the period's canary
//! runs, SLO events and audit counts from the telemetry store. The report itself (the `reports`
//! crate) is then a pure function of this.

use audit_store::{RollupsQuery, SpanSelection, TelemetryStore};
use hazard_log::HazardLog;
use reports::inputs::{AuditRecord, CanaryRecord, HazardChangeRecord, HazardRecord, SignOffRecord, SloRecord};
use reports::{Period, ReportInputs, SystemDescription};

use crate::pathways::PathwayConfig;
use crate::slo::{SliKind, SloConfig};
use crate::slo_eval::{SloEvents, CANARY_SERVICE};
use crate::web::DashboardState;

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
async fn hazards_at(log: &HazardLog, period: &Period) -> Result<Vec<HazardRecord>, String> {
    let mut out = Vec::new();
    for (hazard, current) in log.list().await.map_err(|e| e.to_string())? {
        let history = log.history(&hazard.id).await.map_err(|e| e.to_string())?;
        let Some(last) = history.iter().filter(|c| c.at_ns < period.to_ns).map(|c| c.version).max() else {
            continue;
        };
        let hazard =
            if last == current { hazard } else { log.at_version(&hazard.id, last).await.map_err(|e| e.to_string())? };
        let sign_offs = log.sign_offs(&hazard.id).await.map_err(|e| e.to_string())?;
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

/// The telemetry a report reads, as configured.
pub struct Telemetry<'a> {
    pub store: Option<&'a audit_store::AnyStore>,
    pub slos: &'a [SloConfig],
    pub pathways: &'a [PathwayConfig],
}

impl<'a> Telemetry<'a> {
    pub fn of(dashboard: &'a DashboardState) -> Telemetry<'a> {
        Telemetry { store: dashboard.store(), slos: dashboard.slos(), pathways: dashboard.pathways() }
    }
}

pub async fn gather(
    telemetry: &Telemetry<'_>,
    log: &HazardLog,
    deployment: &Deployment,
    period: Period,
) -> Result<ReportInputs, String> {
    let hazards = hazards_at(log, &period).await?;
    let evidence = log.evidence_history(period.from_ns, period.to_ns).await.map_err(|e| e.to_string())?;
    let chain = log.chain_verifications(period.from_ns, period.to_ns).await.map_err(|e| e.to_string())?;
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
            .map(|f| SpanSelection { service_name: CANARY_SERVICE.into(), span_name: Some(format!("canary {f}")) })
            .collect();
        selections.extend(telemetry.slos.iter().map(|s| {
            let (service_name, span_name) = s.events();
            SpanSelection { service_name, span_name }
        }));
        let query = RollupsQuery {
            selections,
            from_ns: period.from_ns as u64,
            to_ns: period.to_ns as u64,
            // Days: the period starts at midnight UTC, so day buckets fall inside it exactly.
            bucket_secs: 86_400,
            histogram: telemetry.slos.iter().any(|s| s.sli == SliKind::Latency),
        };
        let rollups = store.span_rollups(&query).await.map_err(|e| format!("telemetry store: {e}"))?;
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
            let (good, total) = buckets
                .iter()
                .map(|b| SloEvents::from_rollup(slo, b))
                .fold((0, 0), |(g, t), e| (g + e.good, t + e.total));
            slos.push(SloRecord {
                name: slo.name.clone(),
                measures: match (slo.sli, slo.latency_threshold_ms) {
                    (SliKind::Latency, Some(ms)) => format!("{} within {ms} ms", slo.source_label()),
                    _ => format!("availability of {}", slo.source_label()),
                },
                objective: slo.objective,
                good,
                total,
            });
        }
        let a = store
            .audit_summary(period.from_ns as u64, period.to_ns as u64)
            .await
            .map_err(|e| format!("telemetry store: {e}"))?;
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
    Ok(ReportInputs {
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
    })
}
