//! Service level objectives: the configuration (an OpenSLO-like shape), the error-budget and
//! burn-rate maths, the multi-window multi-burn-rate alert windows scaled to any period, and the
//! equivalent Prometheus recording and alerting rules.
//!
//! The maths is the one definition: the dashboard's own evaluation and the generated rules both
//! take their windows and factors from `alert_windows`.

use serde::{Deserialize, Serialize};

/// What counts as a good event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliKind {
    /// A canary run that passes (healthy or degraded).
    Availability,
    /// A canary run that finishes within `latency_threshold_ms`.
    Latency,
    /// Each minute is an event, good when the newest good result (a passing run; for MESH a
    /// message delivered to the recipient's inbox) began at most `max_age_minutes` before the
    /// minute ended. Minutes count from the first run seen in the window, so a canary that stops
    /// makes every later minute bad, as stale data would.
    Freshness,
}

/// Spans that measure something: one service's spans, of one name (an HTTP server route such as
/// `POST /Appointment`, as OpenTelemetry names them) or all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpanSelector {
    pub service: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl SpanSelector {
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.service),
            None => format!("{} (all spans)", self.service),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Short identifier: letters, digits, `-`, `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The canary flow whose runs are the events (or give `spans`).
    #[serde(default)]
    pub flow: String,
    /// Real-traffic spans as the events instead: good unless their status is ERROR (availability)
    /// or within the threshold (latency).
    #[serde(default)]
    pub spans: Option<SpanSelector>,
    pub sli: SliKind,
    /// For latency SLIs: the threshold a good run stays within.
    #[serde(default)]
    pub latency_threshold_ms: Option<u64>,
    /// For freshness SLIs: how old the newest good result may be, in whole minutes.
    #[serde(default)]
    pub max_age_minutes: Option<u32>,
    /// Fraction of good events promised, e.g. 0.99.
    pub objective: f64,
    /// Rolling window in days (28 and 30 are usual; any number works).
    #[serde(default = "default_window")]
    pub window_days: u32,
}

fn default_window() -> u32 {
    28
}

impl SloConfig {
    /// An availability SLO of 99 % over 28 days for `flow`.
    pub fn availability(flow: &str) -> SloConfig {
        SloConfig {
            name: format!("{flow}-availability"),
            description: format!("Canary runs of the {flow} flow that pass"),
            flow: flow.into(),
            spans: None,
            sli: SliKind::Availability,
            latency_threshold_ms: None,
            max_age_minutes: None,
            objective: 0.99,
            window_days: 28,
        }
    }

    /// Where the events come from, in the roll-up: a service's spans (of one name, or all).
    pub fn selection(&self) -> audit_store::SpanSelection {
        let (service_name, span_name) = match &self.spans {
            Some(sel) => (sel.service.clone(), sel.name.clone()),
            None => (domain::canary::SERVICE.into(), Some(domain::canary::run_span_name(&self.flow))),
        };
        audit_store::SpanSelection { service_name, span_name }
    }

    /// What the events are, for people: "pds canary" or "booking-api POST /Appointment".
    pub fn source_label(&self) -> String {
        match &self.spans {
            Some(sel) => sel.label(),
            None => format!("{} canary", self.flow),
        }
    }

    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// Checks one SLO; errors name the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((field.to_string(), message));
        let ok_name =
            !self.name.is_empty() && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_name {
            return fail("name", format!("{:?}: use letters, digits, '-' and '_'", self.name));
        }
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return fail("objective", format!("{} must be between 0 and 1, e.g. 0.99", self.objective));
        }
        if self.window_days < 7 {
            return fail(
                "window_days",
                format!("{} days is shorter than the alerting windows need (at least 7)", self.window_days),
            );
        }
        // A page condition whose threshold is above 100 % errors could never fire.
        if let Some(w) = alert_windows(self.window_days).iter().find(|w| w.factor * self.error_budget() >= 1.0) {
            return fail(
                "objective",
                format!(
                    "{} leaves an error budget so large that the {} {} condition could never fire (it needs more \
                     than {:.0} % of runs failing); use a higher objective",
                    self.objective,
                    prom_duration(w.long_secs),
                    w.severity.as_str(),
                    w.factor * self.error_budget() * 100.0
                ),
            );
        }
        match (&self.spans, self.flow.is_empty()) {
            (None, true) => return fail("flow", "give the canary flow, or `spans` for real traffic".into()),
            (Some(_), false) => return fail("spans", "give either `flow` or `spans`, not both".into()),
            (Some(sel), true) if sel.service.is_empty() => {
                return fail("spans.service", "the service name is empty".into())
            }
            _ => {}
        }
        if self.sli == SliKind::Freshness {
            if self.spans.is_some() {
                return fail(
                    "sli",
                    "a freshness SLI measures a canary flow's results; give `flow`, not `spans`".into(),
                );
            }
            if self.latency_threshold_ms.is_some() {
                return fail("latency_threshold_ms", "only latency SLIs have a threshold; use max_age_minutes".into());
            }
            if self.window_days > crate::slo_eval::MAX_FRESHNESS_WINDOW_DAYS {
                return fail(
                    "window_days",
                    format!(
                        "{} days: a freshness SLO is counted minute by minute, over at most {} days",
                        self.window_days,
                        crate::slo_eval::MAX_FRESHNESS_WINDOW_DAYS
                    ),
                );
            }
            return match self.max_age_minutes {
                None | Some(0) => {
                    fail("max_age_minutes", "a freshness SLI needs the oldest age allowed, in minutes".into())
                }
                Some(m) if m > MAX_AGE_MINUTES => fail(
                    "max_age_minutes",
                    format!("{m} minutes is longer than a day ({MAX_AGE_MINUTES}); data that old is not fresh"),
                ),
                Some(_) => Ok(()),
            };
        }
        if self.max_age_minutes.is_some() {
            return fail("max_age_minutes", "only freshness SLIs have a maximum age".into());
        }
        match (self.sli, self.latency_threshold_ms) {
            (SliKind::Latency, None | Some(0)) => {
                fail("latency_threshold_ms", "a latency SLI needs a threshold".into())
            }
            (SliKind::Latency, Some(ms)) if !audit_store::ROLLUP_BOUNDS_MS.contains(&ms) => fail(
                "latency_threshold_ms",
                format!(
                    "{ms} is not a bound of the stored latency histogram; use one of {}",
                    audit_store::ROLLUP_BOUNDS_MS.map(|b| b.to_string()).join(", ")
                ),
            ),
            (SliKind::Availability | SliKind::Freshness, Some(_)) => {
                fail("latency_threshold_ms", "only latency SLIs have a threshold".into())
            }
            _ => Ok(()),
        }
    }
}

/// The longest `max_age_minutes` a freshness SLI may give: a day.
pub const MAX_AGE_MINUTES: u32 = 1440;

/// The state of an error budget over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorBudget {
    pub good: u64,
    pub total: u64,
    /// Bad ÷ total; None without events.
    pub error_ratio: Option<f64>,
    /// 1 − error ratio ÷ budget: 1 untouched, 0 exactly spent, negative overspent. None without events.
    pub remaining: Option<f64>,
}

impl ErrorBudget {
    pub fn compute(good: u64, total: u64, objective: f64) -> ErrorBudget {
        if total == 0 {
            return ErrorBudget { good, total, error_ratio: None, remaining: None };
        }
        let ratio = (total.saturating_sub(good)) as f64 / total as f64;
        ErrorBudget { good, total, error_ratio: Some(ratio), remaining: Some(1.0 - ratio / (1.0 - objective)) }
    }
}

/// Burn rate: how many times faster than "exactly on budget" errors are arriving.
pub fn burn_rate(error_ratio: f64, objective: f64) -> f64 {
    error_ratio / (1.0 - objective)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AlertSeverity)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One multi-window burn-rate condition: both windows must burn faster than `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnWindow {
    pub severity: Severity,
    /// Share of the whole period's budget this condition catches being spent.
    pub budget_spent: f64,
    pub long_secs: u64,
    pub short_secs: u64,
    pub factor: f64,
}

/// The four conditions of the Google SRE workbook (as Sloth computes them), with factors scaled
/// to the SLO's period: factor = budget spent × period hours ÷ long-window hours.
pub fn alert_windows(window_days: u32) -> Vec<BurnWindow> {
    let period_hours = f64::from(window_days) * 24.0;
    let table = [
        (Severity::Page, 0.02, 3600, 300),
        (Severity::Page, 0.05, 6 * 3600, 1800),
        (Severity::Ticket, 0.10, 24 * 3600, 2 * 3600),
        (Severity::Ticket, 0.10, 3 * 24 * 3600, 6 * 3600),
    ];
    table
        .into_iter()
        .map(|(severity, budget_spent, long_secs, short_secs)| BurnWindow {
            severity,
            budget_spent,
            long_secs,
            short_secs,
            factor: budget_spent * period_hours / (long_secs as f64 / 3600.0),
        })
        .collect()
}

/// Prometheus duration text for whole seconds: 5m, 6h, 3d.
pub fn prom_duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn factors_for_30_and_28_days_match_the_workbook() {
        let f30: Vec<f64> = alert_windows(30).iter().map(|w| w.factor).collect();
        for (got, want) in f30.iter().zip([14.4, 6.0, 3.0, 1.0]) {
            assert!(close(*got, want), "{f30:?}");
        }
        let f28: Vec<f64> = alert_windows(28).iter().map(|w| (w.factor * 100.0).round() / 100.0).collect();
        assert_eq!(f28, [13.44, 5.6, 2.8, 0.93]);
    }

    #[test]
    fn budget_worked_examples() {
        // 99 % over 10,000 runs: 100 failures spend the budget exactly.
        let spent = ErrorBudget::compute(9_900, 10_000, 0.99);
        assert!(close(spent.remaining.unwrap(), 0.0), "{spent:?}");
        let half = ErrorBudget::compute(9_950, 10_000, 0.99);
        assert!(close(half.remaining.unwrap(), 0.5));
        let over = ErrorBudget::compute(9_800, 10_000, 0.99);
        assert!(close(over.remaining.unwrap(), -1.0));
        let perfect = ErrorBudget::compute(500, 500, 0.999);
        assert!(close(perfect.remaining.unwrap(), 1.0));
        // No data: nothing is known, which is not the same as a full budget.
        let none = ErrorBudget::compute(0, 0, 0.99);
        assert_eq!((none.error_ratio, none.remaining), (None, None));
        // A 1.44 % error ratio against a 99.9 % objective burns 14.4 times too fast.
        assert!(close(burn_rate(0.0144, 0.999), 14.4));
    }

    #[test]
    fn validation_names_the_field() {
        let mut slo = SloConfig::availability("pds");
        assert!(slo.validate().is_ok());
        slo.objective = 1.0;
        assert_eq!(slo.validate().unwrap_err().0, "objective");
        let mut slo = SloConfig::availability("pds");
        slo.objective = 0.9;
        assert_eq!(slo.validate().unwrap_err().0, "objective", "13.44 × 10 % > 100 %: the fast page could never fire");
        let mut slo = SloConfig::availability("pds");
        slo.window_days = 3;
        assert_eq!(slo.validate().unwrap_err().0, "window_days");
        let mut slo = SloConfig::availability("pds");
        slo.sli = SliKind::Latency;
        assert_eq!(slo.validate().unwrap_err().0, "latency_threshold_ms");
        slo.latency_threshold_ms = Some(1500);
        assert!(slo.validate().is_ok());
        slo.name = "pds latency".into();
        assert_eq!(slo.validate().unwrap_err().0, "name");
    }

    #[test]
    fn durations_print_in_prometheus_units() {
        assert_eq!(prom_duration(300), "5m");
        assert_eq!(prom_duration(7200), "2h");
        assert_eq!(prom_duration(3 * 86_400), "3d");
        assert_eq!(prom_duration(28 * 86_400), "28d");
        assert_eq!(prom_duration(90), "90s");
    }

    #[test]
    fn a_freshness_sli_needs_a_maximum_age_in_minutes_and_a_flow() {
        let mut slo = SloConfig::availability("mesh");
        slo.sli = SliKind::Freshness;
        assert_eq!(slo.validate().unwrap_err().0, "max_age_minutes");
        slo.max_age_minutes = Some(2000);
        assert_eq!(slo.validate().unwrap_err().0, "max_age_minutes");
        slo.max_age_minutes = Some(15);
        assert_eq!(slo.validate(), Ok(()));
        slo.window_days = 91;
        assert_eq!(slo.validate().unwrap_err().0, "window_days", "counted by the minute: 90 days at most");
        slo.window_days = 28;
        slo.latency_threshold_ms = Some(1000);
        assert_eq!(slo.validate().unwrap_err().0, "latency_threshold_ms");
        slo.latency_threshold_ms = None;
        slo.flow.clear();
        slo.spans = Some(SpanSelector { service: "x".into(), name: None });
        assert_eq!(slo.validate().unwrap_err().0, "sli");
        let mut other = SloConfig::availability("pds");
        other.max_age_minutes = Some(15);
        assert_eq!(other.validate().unwrap_err().0, "max_age_minutes");
    }
}
