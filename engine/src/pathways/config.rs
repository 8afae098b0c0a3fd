//! Pathway configuration: what users recognise ("Look up a patient"), the canary flow and span
//! selectors that measure it, what to tell users in each state, run books, known errors and how
//! real traffic sets its state; each validated with the key named.

use audit_store::{rollup_quantile_ns, RollupBucket};
use domain::canary::RunStatus;
use serde::{Deserialize, Serialize};

use super::SpanSelector;

/// What to tell users, per state. Defaults are plain and safe; deployments should say more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guidance {
    pub healthy: String,
    pub degraded: String,
    pub partial: String,
    pub outage: String,
    /// No recent runs: we cannot say.
    pub unknown: String,
}

impl Default for Guidance {
    fn default() -> Self {
        Guidance {
            healthy: "Working normally.".into(),
            degraded: "Working, but slower than usual or only after retries. Tell users to expect delays.".into(),
            partial:
                "Some steps are failing. Tell users it may not complete and to retry later or use the fallback process."
                    .into(),
            outage: "Not working. Tell users to use the fallback process; see the run book.".into(),
            unknown: "No recent canary runs: the state is unknown. Check that the canaries are running.".into(),
        }
    }
}

/// Run books by state, for when each state needs its own procedure; a state left out uses the
/// pathway's `runbook_url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Runbooks {
    pub healthy: Option<String>,
    pub degraded: Option<String>,
    pub partial: Option<String>,
    pub outage: Option<String>,
    pub unknown: Option<String>,
}

impl Runbooks {
    /// Each state's link with its key, for validation.
    pub fn links(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("healthy", &self.healthy),
            ("degraded", &self.degraded),
            ("partial", &self.partial),
            ("outage", &self.outage),
            ("unknown", &self.unknown),
        ]
    }
}

/// A failure people already know about, and what to tell users when it is back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownError {
    /// Your reference, e.g. a problem record ("PRB0012345").
    pub id: String,
    pub title: String,
    /// Matches when the latest failing run has this error class (timeout, connect, 4xx, 5xx, 429,
    /// assertion, auth)…
    #[serde(default)]
    pub error_class: Option<String>,
    /// …failed at this step…
    #[serde(default)]
    pub step: Option<String>,
    /// …and its failure message contains this text. Conditions left out match anything.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// What to tell users instead of the pathway's general guidance.
    pub advice: String,
    #[serde(default)]
    pub link: Option<String>,
    /// Whether the status page shows its advice to users while it matches.
    #[serde(default)]
    pub public: bool,
}

impl KnownError {
    pub(crate) fn matches(&self, class: &str, step: &str, message: &str) -> bool {
        self.error_class.as_deref().is_none_or(|c| c == class)
            && self.step.as_deref().is_none_or(|s| s == step)
            && self.message_contains.as_deref().is_none_or(|m| message.contains(m))
    }
}

/// How real traffic sets a pathway's state, judged over the last `window_minutes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficRules {
    pub window_minutes: u32,
    /// Fewer requests than this in the window: traffic gives no opinion (canaries still do).
    pub min_requests: u64,
    /// At least this share failing: partial.
    pub partial_error_ratio: f64,
    /// At least this share failing: outage.
    pub outage_error_ratio: f64,
    /// A p95 above this (one of the histogram bounds is exact; others are estimates): degraded.
    pub slow_p95_ms: Option<u64>,
}

impl Default for TrafficRules {
    fn default() -> Self {
        TrafficRules {
            window_minutes: 5,
            min_requests: 10,
            partial_error_ratio: 0.05,
            outage_error_ratio: 0.5,
            slow_p95_ms: None,
        }
    }
}

impl TrafficRules {
    /// The state real traffic shows in one window; None with too few requests to say.
    pub fn status_of(&self, window: &RollupBucket) -> Option<RunStatus> {
        if window.count == 0 || window.count < self.min_requests {
            return None;
        }
        let ratio = window.errors as f64 / window.count as f64;
        let p95_ms = rollup_quantile_ns(window, 0.95).map(|ns| ns as f64 / 1e6);
        Some(if ratio >= self.outage_error_ratio {
            RunStatus::Outage
        } else if ratio >= self.partial_error_ratio {
            RunStatus::Partial
        } else if self.slow_p95_ms.zip(p95_ms).is_some_and(|(limit, p95)| p95 > limit as f64) {
            RunStatus::Degraded
        } else {
            RunStatus::Healthy
        })
    }

    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((format!("traffic.{field}"), message));
        if self.window_minutes == 0 || self.window_minutes > 60 {
            return fail("window_minutes", format!("{} must be 1 to 60", self.window_minutes));
        }
        if !(self.partial_error_ratio > 0.0 && self.partial_error_ratio <= self.outage_error_ratio) {
            return fail(
                "partial_error_ratio",
                format!("{} must be above 0 and at most outage_error_ratio", self.partial_error_ratio),
            );
        }
        if self.outage_error_ratio > 1.0 {
            return fail("outage_error_ratio", format!("{} must be at most 1", self.outage_error_ratio));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwayConfig {
    /// Short identifier: letters, digits, `-`, `_`.
    pub id: String,
    /// The name users recognise.
    pub name: String,
    /// The canary flow that measures it (may be left out when `spans` are given).
    #[serde(default)]
    pub flow: String,
    /// Real-traffic spans that measure it: the routes users' requests take.
    #[serde(default)]
    pub spans: Vec<SpanSelector>,
    #[serde(default)]
    pub traffic: TrafficRules,
    #[serde(default)]
    pub guidance: Guidance,
    /// The run book for every state (unless `runbooks` names one for the state).
    #[serde(default)]
    pub runbook_url: Option<String>,
    #[serde(default)]
    pub runbooks: Runbooks,
    #[serde(default)]
    pub known_errors: Vec<KnownError>,
    /// Organisations (ODS codes) this pathway belongs to; users scoped to organisations see only
    /// their pathways. Empty: everyone's.
    #[serde(default)]
    pub organisations: Vec<String>,
    /// Canary flows running the same journey against other environments (integration, sandbox):
    /// shown beside `flow`'s, so a failure everywhere reads apart from one in a single environment.
    /// The pathway's own state, SLOs and alerts follow `flow`.
    #[serde(default)]
    pub compare_flows: Vec<String>,
    /// The environment each of the pathway's flows runs against (`flow` and `compare_flows`), from
    /// the canary configuration; not configured here.
    #[serde(skip)]
    pub flow_environments: std::collections::BTreeMap<String, String>,
    /// The environments of its MESH flows, whose watched inboxes' backlog the page shows; from the
    /// canary configuration.
    #[serde(skip)]
    pub mesh_environments: Vec<String>,
}

impl PathwayConfig {
    /// Checks one pathway; errors name the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let ok_id = !self.id.is_empty() && self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_id {
            return Err(("id".into(), format!("{:?}: use letters, digits, '-' and '_'", self.id)));
        }
        if self.flow.is_empty() && self.spans.is_empty() {
            return Err(("flow".into(), "give a canary flow, or `spans` for real traffic, or both".into()));
        }
        if let Some(i) = self.spans.iter().position(|s| s.service.is_empty()) {
            return Err((format!("spans[{i}].service"), "the service name is empty".into()));
        }
        for (i, flow) in self.compare_flows.iter().enumerate() {
            if self.flow.is_empty() {
                return Err((
                    format!("compare_flows[{i}]"),
                    "a pathway compared across environments needs its own `flow` first".into(),
                ));
            }
            if *flow == self.flow || self.compare_flows[..i].contains(flow) {
                return Err((format!("compare_flows[{i}]"), format!("flow {flow:?} is named twice")));
            }
        }
        for (i, k) in self.known_errors.iter().enumerate() {
            if k.id.is_empty() || k.advice.is_empty() {
                return Err((format!("known_errors[{i}]"), "needs an `id` and the `advice` to give".into()));
            }
        }
        self.traffic.validate()
    }
}

/// The pathway a built-in flow measures, by the flow's name; None for other flows.
pub fn default_pathway(flow: &str) -> PathwayConfig {
    let (id, name) = match flow {
        "pds" => ("look-up-patient", "Look up a patient"),
        "gpconnect" => ("gp-record-and-booking", "View a GP record and book an appointment"),
        "nrl" => ("find-crisis-plan", "Find a crisis plan"),
        "mesh" => ("send-by-mesh", "Send results by MESH"),
        "cis2" => ("staff-sign-in", "Staff sign in (NHS CIS2)"),
        "nhslogin" => ("patient-sign-in", "Patients sign in (NHS login)"),
        other => (other, other),
    };
    let guidance = match flow {
        "cis2" => Guidance {
            healthy: "NHS CIS2 is answering normally: staff can sign in.".into(),
            degraded: "Signing in is slow or needs a retry. Staff already signed in are not affected; tell others to expect delays.".into(),
            partial: "Some sign-ins may fail. Staff already signed in can carry on until their session ends: ask them not to sign out. Others should retry, then follow your local business continuity plan. Each person works only under their own login: never share smartcards, passcodes or sessions.".into(),
            outage: "Staff cannot sign in (NHS CIS2). Those already signed in can carry on until their session ends: ask them not to sign out. Everyone else follows your local business continuity plan. Each person works only under their own login: never share smartcards, passcodes or sessions. Check the NHS CIS2 service status before raising a national incident.".into(),
            unknown: Guidance::default().unknown,
        },
        "nhslogin" => Guidance {
            healthy: "NHS login is answering normally: patients can sign in.".into(),
            degraded: "Patients can sign in with NHS login, but slowly or after a retry. Tell them to expect delays.".into(),
            partial: "Some patients cannot sign in with NHS login. Tell them to try again later, or to contact the practice by phone for anything urgent.".into(),
            outage: "Patients cannot sign in with NHS login. Tell them to try again later, to contact the practice by phone or NHS 111 for anything urgent, and to call 999 in an emergency. Check NHS login's service status before raising a national incident.".into(),
            unknown: Guidance::default().unknown,
        },
        _ => Guidance::default(),
    };
    PathwayConfig {
        id: id.into(),
        name: name.into(),
        flow: flow.into(),
        spans: Vec::new(),
        traffic: TrafficRules::default(),
        guidance,
        runbook_url: None,
        runbooks: Runbooks::default(),
        known_errors: Vec::new(),
        organisations: Vec::new(),
        compare_flows: Vec::new(),
        flow_environments: Default::default(),
        mesh_environments: Vec::new(),
    }
}

impl PathwayConfig {
    /// The run book to follow in `status`: the state's own, else the pathway's.
    pub fn runbook_for(&self, status: &str) -> Option<String> {
        let own =
            self.runbooks.links().into_iter().find(|(state, _)| *state == status).and_then(|(_, url)| url.clone());
        own.or_else(|| self.runbook_url.clone())
    }

    /// Whether `slo` measures this pathway: the same canary flow, or one of its span selectors.
    pub fn measured_by(&self, slo: &crate::slo::SloConfig) -> bool {
        (!slo.flow.is_empty() && slo.flow == self.flow)
            || slo.spans.as_ref().is_some_and(|s| self.spans.iter().any(|p| p.service == s.service && p.name == s.name))
    }
}
