//! What a report is made from, gathered beforehand by whoever can read the sources (the engine's
//! `report_inputs`, for the dashboard's Reports page, scheduled delivery and `pathwatch report`). A report is a pure function of these
//! inputs: gathering reads the clock and the stores, building never does.

use std::collections::BTreeMap;

use hazard_log::{ChainVerification, EvidenceInterval, Hazard, HazardChange, SignOff};
use serde::{Deserialize, Serialize};

/// `[reports]` in the configuration: what the reports say about the system they cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemDescription {
    /// The product or service the reports are about.
    pub name: String,
    pub manufacturer: String,
    /// The product's version or release under assessment.
    pub version: String,
    pub intended_use: String,
    /// What is inside and outside the scope of the safety case.
    pub scope: String,
    pub clinical_safety_officer: String,
    /// The CSO's professional registration (e.g. "GMC 1234567").
    pub cso_registration: String,
    /// DTAC answers the organisation gives, by question id ("C2.1"); see `dtac::QUESTIONS`.
    pub dtac: BTreeMap<String, DtacAnswer>,
}

impl Default for SystemDescription {
    fn default() -> Self {
        SystemDescription {
            name: "Unnamed system (set reports.system.name)".into(),
            manufacturer: String::new(),
            version: String::new(),
            intended_use: String::new(),
            scope: String::new(),
            clinical_safety_officer: String::new(),
            cso_registration: String::new(),
            dtac: BTreeMap::new(),
        }
    }
}

/// One DTAC answer: the answer in words and, optionally, where its evidence is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtacAnswer {
    pub answer: String,
    #[serde(default)]
    pub evidence: Option<String>,
}

/// The reporting period, [from, to), as dates (UTC days) and nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day covered, YYYY-MM-DD.
    pub from: String,
    /// First day NOT covered, YYYY-MM-DD.
    pub to: String,
    pub from_ns: i64,
    pub to_ns: i64,
}

impl Period {
    /// The period from `from` up to (not including) `to`, both YYYY-MM-DD; refused when a date is
    /// not a date or the period is empty.
    pub fn from_dates(from: &str, to: &str) -> Result<Period, String> {
        let parse = |name: &str, text: &str| {
            hazard_log::model::parse_date(text).ok_or_else(|| format!("--{name}: {text:?} is not a date (YYYY-MM-DD)"))
        };
        let (f, t) = (parse("from", from)?, parse("to", to)?);
        if t <= f {
            return Err(format!("--to ({to}) must be after --from ({from}): the period covers [from, to)"));
        }
        let ns = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() * 1_000_000_000;
        Ok(Period { from: from.into(), to: to.into(), from_ns: ns(f), to_ns: ns(t) })
    }

    /// "2026-10-01 to 2026-10-31" (the last day covered, inclusive, as people read periods).
    pub fn describe(&self) -> String {
        let last = hazard_log::model::parse_date(&self.to)
            .and_then(|d| d.pred_opt())
            .map(|d| d.to_string())
            .unwrap_or_else(|| self.to.clone());
        format!("{} to {} inclusive", self.from, last)
    }
}

/// A hazard as it stood at the end of the period, with what happened to it during the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardRecord {
    pub hazard: Hazard,
    pub version: u32,
    /// Versions saved during the period.
    pub changes: Vec<HazardChangeRecord>,
    /// Every sign-off up to the end of the period.
    pub sign_offs: Vec<SignOffRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardChangeRecord {
    pub version: u32,
    pub at_ns: i64,
    pub actor: String,
    pub reason: String,
    pub fields: Vec<String>,
}

impl From<&HazardChange> for HazardChangeRecord {
    fn from(c: &HazardChange) -> Self {
        HazardChangeRecord {
            version: c.version,
            at_ns: c.at_ns,
            actor: c.actor.clone(),
            reason: c.reason.clone(),
            fields: c.changes.iter().map(|f| f.field.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOffRecord {
    pub version: u32,
    pub at_ns: i64,
    pub officer: String,
    pub statement: String,
}

impl From<&SignOff> for SignOffRecord {
    fn from(s: &SignOff) -> Self {
        SignOffRecord { version: s.version, at_ns: s.at_ns, officer: s.officer.clone(), statement: s.statement.clone() }
    }
}

/// An SLO over the period: counted events and what was left of its budget at the period's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloRecord {
    pub name: String,
    /// What it measures, in words ("availability of canary pds").
    pub measures: String,
    pub objective: f64,
    pub good: u64,
    pub total: u64,
}

/// A canary flow's runs during the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryRecord {
    pub flow: String,
    pub runs: u64,
    pub failed: u64,
}

impl CanaryRecord {
    /// The share of runs that passed (0 with no runs).
    pub fn passing(&self) -> f64 {
        crate::summary::share(self.runs.saturating_sub(self.failed), self.runs)
    }
}

/// Audit events recorded during the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditRecord {
    pub events: u64,
    pub users: u64,
    pub patients: u64,
    pub organisations: u64,
    /// Events whose user is not identified (empty user id).
    pub unattributed: u64,
    pub by_action: BTreeMap<String, u64>,
    pub by_outcome: BTreeMap<String, u64>,
    /// How long audit events are kept, in days.
    pub retention_days: u32,
}

/// Everything a report is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportInputs {
    /// "pathwatch 0.1.0": written into every pack.
    pub generator: String,
    /// What the report was built from, in words (listed in the manifest).
    pub sources: Vec<String>,
    pub period: Period,
    pub system: SystemDescription,
    /// How people sign in to the dashboard ("local accounts", "OpenID Connect (…)").
    pub sign_in: String,
    pub hazards: Vec<HazardRecord>,
    /// Evidence states that overlap the period.
    pub evidence: Vec<EvidenceInterval>,
    /// Audit chain verifications during the period.
    pub chain: Vec<ChainVerification>,
    pub slos: Vec<SloRecord>,
    pub canaries: Vec<CanaryRecord>,
    /// None when no telemetry store could be read.
    pub audit: Option<AuditRecord>,
    /// Access monitoring and review in the period; None when the deployment keeps no reviews.
    #[serde(default)]
    pub review: Option<ReviewRecord>,
    /// Incidents open at any time in the period (exercises included), oldest first; None when the
    /// dashboard's state was not read.
    #[serde(default)]
    pub incidents: Option<Vec<OnCallIncident>>,
    /// When the newest exercise before the end of the period was declared.
    #[serde(default)]
    pub last_exercise_ns: Option<i64>,
}

/// What access monitoring and review recorded in the period: samples drawn and reviewed, each
/// stratum's coverage, findings raised by the anomaly rules, and those closed as breaches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub samples: Vec<SampleRecord>,
    pub coverage: Vec<StratumCoverage>,
    pub findings: Vec<FindingCount>,
    pub incidents: Vec<IncidentRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub id: i64,
    pub drawn_ns: u64,
    pub drawn_by: String,
    /// "events" or "users".
    pub unit: String,
    /// "organisation, role" or "none".
    pub strata: String,
    pub seed: u64,
    pub items: u64,
    pub reviewed: u64,
    pub inappropriate: u64,
    pub follow_up: u64,
}

pub use domain::StratumCoverage;

/// Findings one rule raised in the period, by where they stand now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingCount {
    pub rule: String,
    pub raised: u64,
    pub open: u64,
    pub investigating: u64,
    pub justified: u64,
    pub inappropriate: u64,
    pub false_positive: u64,
}

/// An incident on-call staff declared (or an exercise), as the reports list it: the pathways by
/// name, its post-mortem's impact and hazard, and its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnCallIncident {
    /// `INC-12`.
    pub reference: String,
    pub title: String,
    /// sev1, sev2 or sev3.
    pub severity: String,
    pub status: String,
    /// Empty for a real incident; what was rehearsed for an exercise.
    pub exercise: String,
    pub pathways: Vec<String>,
    pub declared_ns: i64,
    pub resolved_ns: Option<i64>,
    pub impact: String,
    pub hazard_id: String,
    pub actions: Vec<IncidentAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentAction {
    pub description: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub due: String,
    pub done_ns: Option<i64>,
}

/// A finding closed as inappropriate access: an incident to record and report. Names the member
/// of staff, never the patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub finding: i64,
    pub rule: String,
    pub user_id: String,
    pub organisation: String,
    pub raised_ns: u64,
    pub closed_ns: u64,
    pub note: String,
}
