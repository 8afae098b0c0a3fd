//! Bulk or unusual actions in a day (from 06:00, as the patient rules count days, so a night shift
//! is one day): exports, prints and searches judged against what is usual for the person (their
//! own working days over the last weeks) or, without enough history of their own, for their role at
//! their organisation; the fixed daily limits kept as an absolute ceiling, on each count and on
//! exports and prints together; every break-glass use. A ward clerk who exports 18 discharge letters every day is usual; a
//! receptionist who exports 18 records once is not.
//!
//! The store computes the daily counts ([`audit_store::TelemetryStore::user_activity`]); medians and
//! spreads over at most a few dozen days per person are arithmetic here.

use audit_store::UserActivity;

use super::*;

/// One of the counts a day is judged on.
#[derive(Clone, Copy)]
struct Measure {
    /// "exported", "printed", "ran … searches": how the explanation says it.
    verb: &'static str,
    noun: &'static str,
    count: fn(&UserActivity) -> u64,
    ceiling: u64,
    /// Below this many in a day, nothing is unusual however rare for the person.
    minimum: u64,
}

/// What is usual for a count: the median and how far days usually stray from it, and what it was
/// taken from.
struct Usual {
    median: f64,
    spread: f64,
    from: String,
}

/// The median and spread of `values`: the spread is the median absolute deviation scaled to a
/// standard deviation, and at least a count's own noise (its square root), so a person whose days
/// are all alike is not flagged for one more.
fn usual_of(values: &mut [u64]) -> Option<(f64, f64)> {
    let median = median(values)?;
    let mut deviations: Vec<u64> = values.iter().map(|v| (*v as f64 - median).abs().round() as u64).collect();
    let mad = super::median(&mut deviations).unwrap_or(0.0);
    Some((median, (1.4826 * mad).max(median.max(1.0).sqrt())))
}

/// Each person's days (from 06:00) over the period and the `baseline_days` before it, which make
/// their usual. The patient rules read the period's days from the same list (cover).
pub(super) async fn daily_activity<S: TelemetryStore>(
    store: &S,
    ctx: &Context<'_>,
) -> Result<Vec<UserActivity>, StoreError> {
    let day_ns = NS_PER_DAY as u64;
    let day_start = u64::from(DAY_STARTS_HOUR) * NS_PER_HOUR as u64;
    let from = ctx.bucket_start_utc(ctx.from_ns, day_ns, day_start);
    let baseline = u64::from(ctx.config.bulk_or_unusual.baseline_days) * day_ns;
    let history_from = ctx.bucket_start_utc(from.saturating_sub(baseline), day_ns, day_start);
    store.user_activity(&ctx.activity(history_from, ctx.to_ns, day_ns, day_start)).await
}

/// The bulk findings of the period's days, judged against `days` (from [`daily_activity`]).
pub(super) fn bulk_or_unusual(ctx: &Context<'_>, days: &[UserActivity]) -> Vec<Candidate> {
    let cfg = &ctx.config.bulk_or_unusual;
    let day_ns = NS_PER_DAY as u64;
    let day_start = u64::from(DAY_STARTS_HOUR) * NS_PER_HOUR as u64;
    let from = ctx.bucket_start_utc(ctx.from_ns, day_ns, day_start);
    let first_bucket = ctx.clock.local_ns(from);
    let window = i64::from(cfg.baseline_days) * NS_PER_DAY;
    // Each person's days, and each role's at each organisation, in day order.
    let mut by_person: HashMap<(&str, &str), Vec<&UserActivity>> = HashMap::new();
    let mut by_role: HashMap<(&str, &str), Vec<&UserActivity>> = HashMap::new();
    for d in days {
        by_person.entry((&d.user_id, &d.organisation)).or_default().push(d);
        by_role.entry((&d.role, &d.organisation)).or_default().push(d);
    }
    for list in by_person.values_mut().chain(by_role.values_mut()) {
        list.sort_by_key(|d| d.bucket);
    }
    let measures = [
        Measure {
            verb: "exported",
            noun: "records",
            count: |d| d.exports,
            ceiling: cfg.max_exports_per_day,
            minimum: cfg.min_exports,
        },
        Measure {
            verb: "printed",
            noun: "records",
            count: |d| d.prints,
            ceiling: cfg.max_prints_per_day,
            minimum: cfg.min_prints,
        },
        Measure {
            verb: "ran",
            noun: "searches",
            count: |d| d.searches,
            ceiling: cfg.max_searches_per_day,
            minimum: cfg.min_searches,
        },
    ];
    let mut out = Vec::new();
    for d in days.iter().filter(|d| d.bucket >= first_bucket) {
        // Each part of the explanation is a reason, with its points.
        let mut parts: Vec<Reason> = Vec::new();
        let together = d.exports + d.prints;
        if together > cfg.max_exports_and_prints_per_day {
            parts.push(Reason::new(
                format!(
                    "exported and printed {together} records together (more than {} a day)",
                    cfg.max_exports_and_prints_per_day
                ),
                anchor(together as f64, cfg.max_exports_and_prints_per_day as f64),
            ));
        }
        for m in measures {
            let x = (m.count)(d);
            if x > m.ceiling {
                parts.push(Reason::new(
                    format!("{} {x} {} (more than {} a day)", m.verb, m.noun, m.ceiling),
                    anchor(x as f64, m.ceiling as f64),
                ));
                continue;
            }
            if x < m.minimum.max(1) {
                continue;
            }
            // Only a count past its minimum and under its ceiling is weighed against what is usual:
            // the history is looked at for those few days alone.
            let own = before(window, by_person.get(&(d.user_id.as_str(), d.organisation.as_str())), d.bucket);
            let usual = if own.len() >= cfg.min_history_days.max(1) as usize {
                let mut values: Vec<u64> = own.iter().map(|o| (m.count)(o)).collect();
                usual_of(&mut values).map(|(median, spread)| Usual {
                    median,
                    spread,
                    from: format!("their median over {} working days", own.len()),
                })
            } else {
                let role = before(window, by_role.get(&(d.role.as_str(), d.organisation.as_str())), d.bucket);
                let mut values: Vec<u64> =
                    role.iter().filter(|o| o.user_id != d.user_id).map(|o| (m.count)(o)).collect();
                let role_name =
                    if d.role.is_empty() { "staff in their role".to_string() } else { format!("{}s", d.role) };
                (values.len() >= cfg.min_role_days.max(1) as usize).then(|| usual_of(&mut values)).flatten().map(
                    |(median, spread)| Usual {
                        median,
                        spread,
                        from: format!("the median of {} days of {role_name} at {}", values.len(), d.organisation),
                    },
                )
            };
            if let Some(u) = usual {
                let spreads = (x as f64 - u.median) / u.spread;
                if spreads >= cfg.unusual_spreads {
                    parts.push(Reason::new(
                        format!("{} {x} {}, where {} is {}", m.verb, m.noun, u.from, round(u.median)),
                        anchor(spreads, cfg.unusual_spreads),
                    ));
                }
            }
        }
        if cfg.break_glass && d.break_glass > 0 {
            parts.push(Reason::new(
                format!("used break-glass access {} time{}", d.break_glass, if d.break_glass == 1 { "" } else { "s" }),
                anchor(d.break_glass as f64, 1.0),
            ));
        }
        if parts.is_empty() {
            continue;
        }
        let texts: Vec<&str> = parts.iter().map(|r| r.text.as_str()).collect();
        let explanation = format!(
            "{} {} on the day from 06:00 on {}.",
            who(&d.user_id, &d.role, &d.organisation),
            texts.join(" and "),
            local_date(d.bucket)
        );
        out.push(candidate(Rule::BulkOrUnusual, cfg.severity, d, "", explanation, parts));
    }
    out
}

/// The days of `list` (in day order) in the `window` before `bucket`.
fn before<'l, 'a>(window: i64, list: Option<&'l Vec<&'a UserActivity>>, bucket: i64) -> &'l [&'a UserActivity] {
    list.map_or(&[], |list| {
        let a = list.partition_point(|o| o.bucket < bucket - window);
        let b = list.partition_point(|o| o.bucket < bucket);
        &list[a..b]
    })
}

/// A median as people say it: whole when it is, else to one place.
fn round(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_usual_is_their_median_and_a_spread_no_smaller_than_the_counts_own_noise() {
        // A clerk's exports: 15 to 18 a day.
        let (median, spread) = usual_of(&mut [15, 16, 18, 17, 15, 16, 18, 17, 16, 16]).unwrap();
        assert_eq!(median, 16.0);
        assert!((spread - 16f64.sqrt()).abs() < 1e-9, "{spread}");
        // Someone who never exports: any export stands out, but the spread is at least 1.
        assert_eq!(usual_of(&mut [0, 0, 0]), Some((0.0, 1.0)));
        // Days that vary widely make a wide spread.
        let (_, wide) = usual_of(&mut [0, 40, 5, 35, 10, 30, 2, 38]).unwrap();
        assert!(wide > 15.0, "{wide}");
        assert_eq!(usual_of(&mut []), None);
        assert_eq!((round(16.0), round(16.5)), ("16".to_string(), "16.5".to_string()));
    }
}
