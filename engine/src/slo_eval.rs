//! Evaluating SLOs from the store's per-minute roll-up. For a canary SLO each run's root span
//! (`canary {flow}`, service `pathwatch-canary`) is one event; for a real-traffic SLO each span the
//! selector matches is. Availability: good unless the span's status is ERROR. Latency: good when it
//! took at most the threshold (one of the histogram's bounds), whatever its status.
//!
//! The core (`status_from_buckets`) is a pure function of time buckets, so the worked examples in
//! the tests pin the maths; `evaluate` only fetches the buckets. Nothing here reads raw spans.

use audit_store::{RollupBucket, RollupsQuery, SpanSelection, StoreError, TelemetryStore, NANOS_PER_SEC};
use serde::Serialize;

use crate::slo::{alert_windows, burn_rate, ErrorBudget, Severity, SliKind, SloConfig};

/// Resolution of the alert windows (the shortest is 5 minutes).
pub const FINE_BUCKET_SECS: u32 = 60;
/// Resolution of the whole-window budget and its chart.
pub const COARSE_BUCKET_SECS: u32 = 3600;

/// One alert condition's state: both windows' burn rates against the factor.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BurnCheck {
    pub severity: Severity,
    pub long_window: String,
    pub short_window: String,
    pub factor: f64,
    /// None when the window holds no runs.
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    pub firing: bool,
}

/// Budget spent so far at the end of each coarse bucket, for the consumption chart.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BudgetPoint {
    pub at_ns: u64,
    /// Share of the window's budget consumed by then (can exceed 1).
    pub consumed: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SloStatus {
    pub name: String,
    pub flow: String,
    pub objective: f64,
    pub window_days: u32,
    pub good: u64,
    pub total: u64,
    /// 1 untouched, 0 exactly spent, negative overspent; None without runs in the window.
    pub budget_remaining: Option<f64>,
    /// Burn rate over the last hour; None without runs in it.
    pub burn_rate_1h: Option<f64>,
    pub checks: Vec<BurnCheck>,
    /// The most severe firing condition.
    pub firing: Option<Severity>,
    pub consumption: Vec<BudgetPoint>,
}

/// Good and total events in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SloEvents {
    pub start_ns: u64,
    pub good: u64,
    pub total: u64,
}

impl SloEvents {
    /// The SLI's view of a roll-up bucket.
    pub fn from_rollup(slo: &SloConfig, b: &RollupBucket) -> SloEvents {
        let good = match (slo.sli, slo.latency_threshold_ms) {
            (SliKind::Latency, Some(ms)) => b.within(ms).unwrap_or(0),
            _ => b.count.saturating_sub(b.errors),
        };
        SloEvents { start_ns: b.start_ns, good: good.min(b.count), total: b.count }
    }
}

const MINUTE_NS: u64 = 60 * NANOS_PER_SEC;

/// How far before a freshness SLO's window (or a report's period) its runs are read, at least:
/// counting starts at the window's start when the flow ran in the week before it, so an outage
/// across the start is counted, not mistaken for a canary that began later.
pub const FRESHNESS_LEAD_IN_SECS: u64 = 7 * 86_400;
/// The longest window a freshness SLO may have (it is counted minute by minute).
pub const MAX_FRESHNESS_WINDOW_DAYS: u32 = 90;

/// A freshness SLI walked minute by minute, carrying what it has seen, so a long period can be fed
/// in pieces. A minute is counted once a run (good or not) has been seen at or before it; it is
/// fresh when a passing run began within the last `max_age` minutes, itself included. Results
/// count from the minute their run began.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreshnessWalk {
    newest_good: Option<u64>,
    seen_run: bool,
}

impl FreshnessWalk {
    /// Feeds `minutes` (minute buckets of runs: good = passing; any order; those before `from_ns`
    /// only update what was seen) and calls `each(minute_start, fresh)` for each counted complete
    /// minute from `from_ns` (rounded up to a minute) to before `end_ns` (rounded down).
    pub fn walk(
        &mut self,
        minutes: &[SloEvents],
        max_age_minutes: u32,
        from_ns: u64,
        end_ns: u64,
        mut each: impl FnMut(u64, bool),
    ) {
        let floor = |ns: u64| ns - ns % MINUTE_NS;
        let mut runs: Vec<&SloEvents> = minutes.iter().filter(|b| b.total > 0).collect();
        runs.sort_by_key(|b| b.start_ns);
        let max_age = u64::from(max_age_minutes) * MINUTE_NS;
        let mut pending = runs.into_iter().peekable();
        let mut minute = floor(from_ns.saturating_add(MINUTE_NS - 1));
        let end = floor(end_ns);
        while minute < end {
            while let Some(run) = pending.next_if(|r| r.start_ns < minute + MINUTE_NS) {
                self.seen_run = true;
                if run.good > 0 {
                    self.newest_good = Some(floor(run.start_ns));
                }
            }
            if self.seen_run {
                each(minute, self.newest_good.is_some_and(|good| minute - good < max_age));
            }
            minute += MINUTE_NS;
        }
    }
}

/// A freshness SLI's events (one per counted minute, see `FreshnessWalk`) from `from_ns` to `now_ns`.
pub fn freshness_slices(minutes: &[SloEvents], max_age_minutes: u32, from_ns: u64, now_ns: u64) -> Vec<SloEvents> {
    let mut slices = Vec::new();
    FreshnessWalk::default().walk(minutes, max_age_minutes, from_ns, now_ns, |start_ns, fresh| {
        slices.push(SloEvents { start_ns, good: u64::from(fresh), total: 1 })
    });
    slices
}

/// A freshness SLO's status from minute buckets of its runs reaching back before its window (see
/// `freshness_reach_secs`): minute events over its alert windows, hour sums over the whole window.
pub fn freshness_status(slo: &SloConfig, minutes: &[SloEvents], now_ns: u64) -> SloStatus {
    let window_start = now_ns.saturating_sub(u64::from(slo.window_days) * 86_400 * NANOS_PER_SEC);
    let longest = alert_windows(slo.window_days).iter().map(|w| w.long_secs).max().unwrap_or(3600);
    let fine_from = now_ns.saturating_sub(longest * NANOS_PER_SEC);
    let hour = u64::from(COARSE_BUCKET_SECS) * NANOS_PER_SEC;
    let (mut fine, mut coarse): (Vec<SloEvents>, Vec<SloEvents>) = (Vec::new(), Vec::new());
    let max_age = slo.max_age_minutes.unwrap_or(1);
    FreshnessWalk::default().walk(minutes, max_age, window_start, now_ns, |start_ns, fresh| {
        let good = u64::from(fresh);
        if start_ns >= fine_from {
            fine.push(SloEvents { start_ns, good, total: 1 });
        }
        let hour_start = start_ns - start_ns % hour;
        match coarse.last_mut() {
            Some(last) if last.start_ns == hour_start => {
                last.good += good;
                last.total += 1;
            }
            _ => coarse.push(SloEvents { start_ns: hour_start, good, total: 1 }),
        }
    });
    status_from_buckets(slo, &fine, &coarse, now_ns)
}

/// How far back a freshness SLO's minutes are read: its window and a lead-in before it.
fn freshness_reach_secs(slo: &SloConfig) -> u64 {
    let max_age = u64::from(slo.max_age_minutes.unwrap_or(0)) * 60;
    u64::from(slo.window_days) * 86_400 + max_age.max(FRESHNESS_LEAD_IN_SECS)
}

fn sums(buckets: &[SloEvents], from_ns: u64) -> (u64, u64) {
    buckets.iter().filter(|b| b.start_ns >= from_ns).fold((0, 0), |(good, total), b| (good + b.good, total + b.total))
}

/// The status of `slo` at `now_ns` from minute buckets (covering at least the longest alert window)
/// and hour buckets (covering the SLO window).
pub fn status_from_buckets(slo: &SloConfig, fine: &[SloEvents], coarse: &[SloEvents], now_ns: u64) -> SloStatus {
    let window_start = now_ns.saturating_sub(u64::from(slo.window_days) * 86_400 * NANOS_PER_SEC);
    let (good, total) = sums(coarse, window_start);
    let budget = ErrorBudget::compute(good, total, slo.objective);
    let burn_over = |secs: u64| {
        let (good, total) = sums(fine, now_ns.saturating_sub(secs * NANOS_PER_SEC));
        ErrorBudget::compute(good, total, slo.objective).error_ratio.map(|r| burn_rate(r, slo.objective))
    };
    let checks: Vec<BurnCheck> = alert_windows(slo.window_days)
        .into_iter()
        .map(|w| {
            let (long_burn, short_burn) = (burn_over(w.long_secs), burn_over(w.short_secs));
            let firing = long_burn.is_some_and(|b| b > w.factor) && short_burn.is_some_and(|b| b > w.factor);
            BurnCheck {
                severity: w.severity,
                long_window: crate::slo::prom_duration(w.long_secs),
                short_window: crate::slo::prom_duration(w.short_secs),
                factor: w.factor,
                long_burn,
                short_burn,
                firing,
            }
        })
        .collect();
    let firing =
        [Severity::Page, Severity::Ticket].into_iter().find(|s| checks.iter().any(|c| c.firing && c.severity == *s));
    let mut bad_so_far = 0u64;
    let allowed = (1.0 - slo.objective) * total.max(1) as f64;
    let consumption = coarse
        .iter()
        .filter(|b| b.start_ns >= window_start)
        .map(|b| {
            bad_so_far += b.total - b.good;
            // The current hour is not over: its point is "now", not the hour's end.
            BudgetPoint {
                at_ns: (b.start_ns + u64::from(COARSE_BUCKET_SECS) * NANOS_PER_SEC).min(now_ns),
                consumed: bad_so_far as f64 / allowed,
            }
        })
        .collect();
    SloStatus {
        name: slo.name.clone(),
        flow: slo.source_label(),
        objective: slo.objective,
        window_days: slo.window_days,
        good,
        total,
        budget_remaining: budget.remaining,
        burn_rate_1h: burn_over(3600),
        checks,
        firing,
        consumption,
    }
}

/// Evaluates several SLOs at `now_ns`, in order, reading the roll-up for all of them at once (two
/// queries: minutes over the longest alert window, hours over the longest SLO window).
pub async fn evaluate_all<'a>(
    store: &impl TelemetryStore,
    slos: impl Iterator<Item = &'a SloConfig>,
    now_ns: u64,
) -> Result<Vec<(&'a SloConfig, SloStatus)>, StoreError> {
    let slos: Vec<&SloConfig> = slos.collect();
    if slos.is_empty() {
        return Ok(Vec::new());
    }
    let selections: Vec<SpanSelection> = slos.iter().map(|slo| slo.selection()).collect();
    let longest_alert =
        slos.iter().flat_map(|slo| alert_windows(slo.window_days)).map(|w| w.long_secs).max().unwrap_or(3600);
    let longest_window = slos.iter().map(|slo| u64::from(slo.window_days)).max().unwrap_or(28) * 86_400;
    let query = |secs: u64, bucket_secs: u32| RollupsQuery {
        selections: selections.clone(),
        from_ns: now_ns.saturating_sub(secs * NANOS_PER_SEC),
        to_ns: now_ns + 1,
        bucket_secs,
        histogram: slos.iter().any(|slo| slo.sli == SliKind::Latency),
    };
    // Freshness SLOs read minutes over their whole window (a third query, only when there are any).
    let fresh: Vec<usize> = (0..slos.len()).filter(|i| slos[*i].sli == SliKind::Freshness).collect();
    let minutes_query = RollupsQuery {
        selections: fresh.iter().map(|i| selections[*i].clone()).collect(),
        from_ns: now_ns
            .saturating_sub(fresh.iter().map(|i| freshness_reach_secs(slos[*i])).max().unwrap_or(0) * NANOS_PER_SEC),
        to_ns: now_ns + 1,
        bucket_secs: FINE_BUCKET_SECS,
        histogram: false,
    };
    let minutes = async {
        match fresh.is_empty() {
            true => Ok(Vec::new()),
            false => store.span_rollups(&minutes_query).await,
        }
    };
    let (fine, coarse, minutes) = futures_util::future::try_join3(
        store.span_rollups(&query(longest_alert, FINE_BUCKET_SECS)),
        store.span_rollups(&query(longest_window, COARSE_BUCKET_SECS)),
        minutes,
    )
    .await?;
    Ok(slos
        .iter()
        .enumerate()
        .map(|(i, slo)| {
            let events = |buckets: Option<&Vec<RollupBucket>>| -> Vec<SloEvents> {
                buckets.map(|b| b.iter().map(|b| SloEvents::from_rollup(slo, b)).collect()).unwrap_or_default()
            };
            let status = match fresh.iter().position(|f| *f == i) {
                Some(k) => freshness_status(slo, &events(minutes.get(k)), now_ns),
                None => status_from_buckets(slo, &events(fine.get(i)), &events(coarse.get(i)), now_ns),
            };
            (*slo, status)
        })
        .collect())
}

/// Fetches the buckets for `slo` and evaluates it at `now_ns`.
pub async fn evaluate(store: &impl TelemetryStore, slo: &SloConfig, now_ns: u64) -> Result<SloStatus, StoreError> {
    let mut evaluated = evaluate_all(store, std::iter::once(slo), now_ns).await?;
    Ok(evaluated.pop().map(|(_, status)| status).unwrap_or_else(|| status_from_buckets(slo, &[], &[], now_ns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60 * NANOS_PER_SEC;
    const HOUR: u64 = 3600 * NANOS_PER_SEC;

    fn bucket(start_ns: u64, count: u64, errors: u64) -> SloEvents {
        SloEvents { start_ns, good: count - errors, total: count }
    }

    /// One run a minute for `minutes` before `now`, `errors_per` of every ten failing.
    fn minutes(now: u64, minutes: u64, failing_tenths: u64) -> Vec<SloEvents> {
        (1..=minutes).map(|m| bucket(now - m * MIN, 10, failing_tenths)).collect()
    }

    fn hours(now: u64, hours: u64, count: u64, errors: u64) -> Vec<SloEvents> {
        (1..=hours).map(|h| bucket(now - h * HOUR, count, errors)).collect()
    }

    #[test]
    fn an_exactly_spent_budget_has_zero_remaining() {
        let slo = SloConfig::availability("pds");
        let now = 100 * 86_400 * NANOS_PER_SEC;
        // 28 days of hourly buckets, 100 runs each, 1 failing: exactly 1 %.
        let status = status_from_buckets(&slo, &[], &hours(now, 28 * 24, 100, 1), now);
        assert_eq!((status.good, status.total), (28 * 24 * 99, 28 * 24 * 100));
        assert!(status.budget_remaining.unwrap().abs() < 1e-9, "{:?}", status.budget_remaining);
        let last = status.consumption.last().unwrap();
        assert!((last.consumed - 1.0).abs() < 1e-9);
        assert!(status.consumption.windows(2).all(|w| w[0].consumed <= w[1].consumed));
    }

    #[test]
    fn no_runs_means_unknown_not_healthy() {
        let slo = SloConfig::availability("pds");
        let status = status_from_buckets(&slo, &[], &[], 10 * HOUR);
        assert_eq!((status.budget_remaining, status.burn_rate_1h, status.firing), (None, None, None));
        assert!(status.checks.iter().all(|c| !c.firing && c.long_burn.is_none()));
    }

    #[test]
    fn a_total_outage_pages_and_a_slow_burn_tickets() {
        let slo = SloConfig::availability("pds");
        let now = 10 * 86_400 * NANOS_PER_SEC;
        // Every run failing for the last 3 days: burn rate 100 everywhere.
        let status = status_from_buckets(&slo, &minutes(now, 3 * 1440, 10), &hours(now, 72, 600, 600), now);
        assert_eq!(status.firing, Some(Severity::Page));
        assert!((status.burn_rate_1h.unwrap() - 100.0).abs() < 1e-9);
        // 3 % failing: burn rate 3 — above the 1 d/2 h ticket factor (2.8), below every page factor.
        let fine: Vec<SloEvents> = (1..=3 * 1440).map(|m| bucket(now - m * MIN, 100, 3)).collect();
        let status = status_from_buckets(&slo, &fine, &hours(now, 72, 6000, 180), now);
        assert_eq!(status.firing, Some(Severity::Ticket), "{:#?}", status.checks);
        // Both windows must burn: 5 failing minutes after three clean days alert on nothing, though
        // the 5-minute window alone burns at 100.
        let mut fine = minutes(now, 3 * 1440, 0);
        fine.iter_mut().take(5).for_each(|b| b.good = 0);
        let status = status_from_buckets(&slo, &fine, &hours(now, 72, 600, 0), now);
        let fast = &status.checks[0];
        assert!(fast.short_burn.unwrap() > fast.factor && fast.long_burn.unwrap() < fast.factor, "{fast:?}");
        assert_eq!(status.firing, None);
    }

    fn freshness(max_age: u32) -> SloConfig {
        let mut slo = SloConfig::availability("mesh");
        slo.sli = SliKind::Freshness;
        slo.max_age_minutes = Some(max_age);
        slo
    }

    #[test]
    fn a_minute_is_fresh_while_the_newest_good_run_is_younger_than_the_maximum_age() {
        let now = 10 * HOUR + 30 * NANOS_PER_SEC; // half a minute into minute 600
                                                  // Runs every minute from minute 540; passing until minute 569, failing from 570.
        let runs: Vec<SloEvents> = (540..600).map(|m| bucket(m * MIN, 1, u64::from(m >= 570))).collect();
        let slices = freshness_slices(&runs, 15, 545 * MIN, now);
        // Minutes 545..=599 (600 is not complete); before 545 is outside the window.
        assert_eq!(slices.first().map(|s| s.start_ns), Some(545 * MIN));
        assert_eq!(slices.len(), 55);
        let fresh: Vec<u64> = slices.iter().filter(|s| s.good == 1).map(|s| s.start_ns / MIN).collect();
        // The newest good run began in minute 569: fresh through minute 583 (15 minutes), stale from 584.
        assert_eq!((fresh.first(), fresh.last()), (Some(&545), Some(&583)));
        assert_eq!(fresh.len(), 583 - 545 + 1);
        assert!(slices.iter().all(|s| s.total == 1));
    }

    #[test]
    fn a_stopped_canary_makes_every_later_minute_stale_and_a_late_start_is_not_blamed() {
        let now = 20 * HOUR;
        // The canary began at 18:00 and stopped after 18:10 (one passing run a minute).
        let runs: Vec<SloEvents> = (0..10).map(|m| bucket(18 * HOUR + m * MIN, 1, 0)).collect();
        let slices = freshness_slices(&runs, 5, 0, now);
        assert_eq!(slices.first().map(|s| s.start_ns), Some(18 * HOUR), "counted from the first run, not from 0");
        assert_eq!(slices.len(), 120);
        assert_eq!(slices.iter().filter(|s| s.good == 1).count(), 10 + 4);
        // Stale for the last hour and a half: the page conditions fire, as for an outage.
        let status = freshness_status(&freshness(5), &runs, now);
        assert_eq!(status.firing, Some(Severity::Page), "{:#?}", status.checks);
        assert_eq!((status.good, status.total), (14, 120));
        // No runs at all: unknown, as for the other kinds.
        let status = freshness_status(&freshness(5), &[], now);
        assert_eq!((status.total, status.firing, status.burn_rate_1h), (0, None, None));
    }

    #[test]
    fn runs_every_ten_minutes_are_fresh_enough_for_a_fifteen_minute_age_but_not_a_five_minute_one() {
        let now = 3 * 86_400 * NANOS_PER_SEC;
        let runs: Vec<SloEvents> = (0..3 * 144).map(|k| bucket(k * 10 * MIN, 1, 0)).collect();
        let relaxed = freshness_status(&freshness(15), &runs, now);
        assert_eq!(relaxed.good, relaxed.total);
        assert_eq!(relaxed.firing, None);
        let strict = freshness_status(&freshness(5), &runs, now);
        // Five of every ten minutes are stale: half the minutes bad, far past a 1 % budget.
        assert_eq!(strict.total - strict.good, strict.total / 2);
        assert_eq!(strict.firing, Some(Severity::Page));
        // The hour buckets add up to the minutes.
        assert_eq!(strict.total, 3 * 1440);
    }
}
