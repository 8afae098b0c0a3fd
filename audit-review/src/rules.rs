//! The anomaly rules. Each reads aggregates the store computes ([`TelemetryStore::user_activity`],
//! [`TelemetryStore::hour_profiles`], [`TelemetryStore::patient_access`]) and turns the notable ones
//! into [`Candidate`] findings that explain themselves in words an IG lead can act on. Rules never
//! read raw events, so a full scan costs a handful of store queries whatever the log's size.

use std::collections::{BTreeMap, HashMap};

use audit_store::access::NS_PER_DAY;
use audit_store::{
    ActivityQuery, LocalClock, PatientAccessQuery, StoreError, SurnameHouseholds, TelemetryStore, UserActivity,
};
use serde::{Deserialize, Serialize};

use crate::config::RulesConfig;
use crate::exceptions::Exception;

/// The rules about one person and one patient (family, self, sensitive records, no care relationship).
mod patient;
use patient::{no_care_relationship, patient_findings};
/// Exports, prints and searches against the person's usual, with the fixed ceilings.
mod bulk;
use bulk::bulk_or_unusual;
/// How strong each piece of evidence is, in points.
pub mod score;
use score::anchor;
pub use score::Reason;

const NS_PER_HOUR: i64 = 3_600_000_000_000;
/// The patient rules' days run from 06:00 to 06:00 local time: a night shift is one day.
const DAY_STARTS_HOUR: u8 = 6;
const NS_PER_WEEK: u64 = 7 * NS_PER_DAY as u64;
/// 1970-01-05 was a Monday: weeks start there.
const MONDAY_OFFSET_NS: u64 = 4 * NS_PER_DAY as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FindingRule)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    VolumeSpike,
    OutOfHours,
    FamilyOrNeighbour,
    SelfAccess,
    SensitiveRecord,
    NoCareRelationship,
    BulkOrUnusual,
    FailedAccessBurst,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::VolumeSpike,
        Rule::OutOfHours,
        Rule::FamilyOrNeighbour,
        Rule::SelfAccess,
        Rule::SensitiveRecord,
        Rule::NoCareRelationship,
        Rule::BulkOrUnusual,
        Rule::FailedAccessBurst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::VolumeSpike => "volume_spike",
            Rule::OutOfHours => "out_of_hours",
            Rule::FamilyOrNeighbour => "family_or_neighbour",
            Rule::SelfAccess => "self_access",
            Rule::SensitiveRecord => "sensitive_record",
            Rule::NoCareRelationship => "no_care_relationship",
            Rule::BulkOrUnusual => "bulk_or_unusual",
            Rule::FailedAccessBurst => "failed_access_burst",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the rule looks for, as a heading.
    pub fn title(self) -> &'static str {
        match self {
            Rule::VolumeSpike => "Sudden rise in records accessed",
            Rule::OutOfHours => "Access out of hours",
            Rule::FamilyOrNeighbour => "Family member or neighbour",
            Rule::SelfAccess => "Own record",
            Rule::SensitiveRecord => "Sensitive record",
            Rule::NoCareRelationship => "No care relationship",
            Rule::BulkOrUnusual => "Bulk or unusual action",
            Rule::FailedAccessBurst => "Burst of failed or denied access",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FindingSeverity)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High].into_iter().find(|v| v.as_str() == s)
    }
}

/// A finding as a rule raises it, before the findings store de-duplicates and tracks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub rule: Rule,
    pub severity: Severity,
    pub user_id: String,
    pub role: String,
    pub organisation: String,
    /// The patient, when the finding is about one (empty otherwise).
    pub nhs_number: String,
    /// The rule's own time bucket (local week, day, hour or window start): with the rule, user and
    /// patient it makes the finding's identity, so a later run finds the same finding again.
    pub bucket: i64,
    /// The evidence: the user's events (for this patient, if any) in `[from_ns, to_ns)`.
    pub from_ns: u64,
    pub to_ns: u64,
    pub events: u64,
    pub first_seq: u64,
    pub explanation: String,
    /// How strong the evidence is: the sum of the reasons' points (see [`score`]).
    pub score: i32,
    /// The evidence, piece by piece, strongest first.
    pub reasons: Vec<Reason>,
}

impl Candidate {
    /// Sets the reasons, strongest first, and the score they make.
    fn with_reasons(mut self, mut reasons: Vec<Reason>) -> Candidate {
        reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
        self.score = score::total(&reasons);
        self.reasons = reasons;
        self
    }

    /// The finding's identity: the same rule, user, organisation, patient and bucket is the same
    /// finding. A person's activity at two organisations makes two findings, one each, so each
    /// organisation's IG lead sees only their own.
    pub fn key(&self) -> String {
        format!("{}|{}|{}|{}|{}", self.rule.as_str(), self.user_id, self.organisation, self.nhs_number, self.bucket)
    }
}

/// Runs every enabled rule over `[from_ns, to_ns)` (reading history before it for baselines).
pub async fn evaluate<S: TelemetryStore>(
    store: &S,
    config: &RulesConfig,
    from_ns: u64,
    to_ns: u64,
) -> Result<Vec<Candidate>, StoreError> {
    Ok(evaluate_with(store, config, &[], from_ns, to_ns).await?.candidates)
}

/// What the rules raised, weighing the exceptions in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluated {
    pub candidates: Vec<Candidate>,
    /// How many findings or accesses each exception (by id) covered.
    pub used: BTreeMap<i64, u64>,
}

/// [`evaluate`], with recorded exceptions: an access a patient exception covers counts as
/// explained (so it adds to no browsing count), and a finding an exception covers is dropped.
pub async fn evaluate_with<S: TelemetryStore>(
    store: &S,
    config: &RulesConfig,
    exceptions: &[Exception],
    from_ns: u64,
    to_ns: u64,
) -> Result<Evaluated, StoreError> {
    let history_from = from_ns.saturating_sub(config.lookback_ns());
    let clock = LocalClock::europe_london(history_from, to_ns);
    let ctx = Context { config, clock, from_ns, to_ns };
    let mut out = Vec::new();
    let mut used = BTreeMap::new();
    // Each person's daily counts, read once for the bulk rule and cover alike.
    let mut daily_rows: Option<Vec<UserActivity>> = None;
    if config.volume_spike.enabled {
        out.extend(volume_spike(store, &ctx).await?);
    }
    if config.out_of_hours.enabled {
        out.extend(out_of_hours(store, &ctx).await?);
    }
    if config.bulk_or_unusual.enabled {
        let days = bulk::daily_activity(store, &ctx).await?;
        out.extend(bulk_or_unusual(&ctx, &days));
        daily_rows = Some(days);
    }
    if config.failed_access_burst.enabled {
        out.extend(failed_access_burst(store, &ctx).await?);
    }
    let patient_rules = [Rule::FamilyOrNeighbour, Rule::SelfAccess, Rule::SensitiveRecord, Rule::NoCareRelationship];
    if patient_rules.iter().any(|r| config.enabled(*r)) {
        // Whole days (06:00 to 06:00, so a night shift is one day), so a day's count does not
        // depend on where a run started.
        let day_start = u64::from(DAY_STARTS_HOUR) * NS_PER_HOUR as u64;
        let from_ns = ctx.bucket_start_utc(from_ns, NS_PER_DAY as u64, day_start);
        let query = PatientAccessQuery { from_ns, to_ns, clock: ctx.clock.clone(), day_starts_hour: DAY_STARTS_HOUR };
        let rows = store.patient_access(&query).await?;
        // Cover is judged against everyone each user opened that day: read only where care
        // names teams that did not explain an access.
        let outside_team = rows.iter().any(|a| !a.care_teams.is_empty());
        let daily = if config.team_cover_patients > 0 && outside_team {
            let days = match daily_rows.take() {
                Some(days) => days,
                None => store.user_activity(&ctx.activity(from_ns, to_ns, NS_PER_DAY as u64, day_start)).await?,
            };
            days.into_iter()
                .map(|d| {
                    ((d.user_id, d.organisation, (d.bucket - day_start as i64).div_euclid(NS_PER_DAY)), d.patients)
                })
                .collect()
        } else {
            HashMap::new()
        };
        let mut rows = patient::with_cover(rows, config.team_cover_patients, &daily);
        // Patient exceptions by who and whom, so each access looks up its own.
        let mut by_patient: HashMap<(&str, &str, &str), Vec<&Exception>> = HashMap::new();
        for e in exceptions.iter().filter(|e| e.revoked_ns == 0 && !e.nhs_number.is_empty()) {
            by_patient.entry((&e.organisation, &e.user_id, &e.nhs_number)).or_default().push(e);
        }
        for a in rows.iter_mut() {
            let expected = by_patient
                .get(&(a.organisation.as_str(), a.user_id.as_str(), a.nhs_number.as_str()))
                .and_then(|list| list.iter().find(|e| e.from_ns <= a.first_ns && a.last_ns < e.to_ns));
            if let Some(e) = expected {
                *used.entry(e.id).or_insert(0) += 1;
                a.explained = true;
                a.explained_org = true;
            }
        }
        // How common each surname shared by a user and a patient (and nothing else) is.
        let keys: Vec<String> = rows.iter().filter(|a| a.same_surname).map(|a| a.surname_key.clone()).collect();
        let surnames =
            if keys.is_empty() { SurnameHouseholds::default() } else { store.surname_households(&keys).await? };
        out.extend(patient_findings(&ctx, &rows, &surnames));
        if config.no_care_relationship.enabled {
            out.extend(no_care_relationship(&ctx, &rows));
        }
    }
    // A finding an exception covers is dropped, whatever its score.
    out.retain(|c| match exceptions.iter().find(|e| e.covers(c)) {
        Some(e) => {
            *used.entry(e.id).or_insert(0) += 1;
            false
        }
        None => true,
    });
    // Nothing below its rule's floor is raised.
    out.retain(|c| c.score >= config.floor(c.rule));
    Ok(Evaluated { candidates: out, used })
}

struct Context<'a> {
    config: &'a RulesConfig,
    clock: LocalClock,
    from_ns: u64,
    to_ns: u64,
}

impl Context<'_> {
    fn activity(&self, from_ns: u64, to_ns: u64, bucket_ns: u64, offset_ns: u64) -> ActivityQuery {
        ActivityQuery {
            from_ns,
            to_ns,
            bucket_ns,
            bucket_offset_ns: offset_ns,
            clock: self.clock.clone(),
            working: self.config.working_hours.to_store(),
            min_failed: 0,
            only_off_hours: false,
            only_failed: false,
            count_off_hours: false,
        }
    }

    /// The UTC instant at which the local bucket holding `t_ns` starts.
    fn bucket_start_utc(&self, t_ns: u64, bucket_ns: u64, offset_ns: u64) -> u64 {
        let local = self.clock.local_ns(t_ns);
        let (b, off) = (bucket_ns as i64, offset_ns as i64);
        let start_local = (local - off).div_euclid(b) * b + off;
        (start_local - self.clock.offset_at(t_ns) * 1_000_000_000).max(0) as u64
    }
}

/// "Tue 10 Nov 2026" for a local-nanosecond time.
pub fn local_date(local_ns: i64) -> String {
    // Every i64 of ns is a representable day (1677 to 2262), so there is no failure to answer.
    chrono::DateTime::from_timestamp_nanos(local_ns).format("%a %-d %b %Y").to_string()
}

fn hour_range(from_hour: i64, to_hour: i64) -> String {
    let end = if to_hour == 24 { 24 } else { to_hour.rem_euclid(24) };
    format!("{:02}:00–{:02}:00", from_hour.rem_euclid(24), end)
}

/// "08:00–18:00, 20:00–22:00" for the hours of the day that are set.
fn hour_ranges(hours: &[bool]) -> String {
    let mut ranges = Vec::new();
    let mut h = 0;
    while h < hours.len() {
        if hours[h] {
            let start = h;
            while h < hours.len() && hours[h] {
                h += 1;
            }
            ranges.push(hour_range(start as i64, h as i64));
        } else {
            h += 1;
        }
    }
    if ranges.is_empty() {
        "none".into()
    } else {
        ranges.join(", ")
    }
}

fn median(values: &mut [u64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] as f64 } else { (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0 })
}

fn candidate(
    rule: Rule,
    severity: crate::rules::Severity,
    a: &UserActivity,
    nhs: &str,
    explanation: String,
    reasons: Vec<Reason>,
) -> Candidate {
    Candidate {
        rule,
        severity,
        user_id: a.user_id.clone(),
        role: a.role.clone(),
        organisation: a.organisation.clone(),
        nhs_number: nhs.to_string(),
        bucket: a.bucket,
        from_ns: a.first_ns,
        to_ns: a.last_ns + 1,
        events: a.events,
        first_seq: a.first_seq,
        explanation,
        score: 0,
        reasons: Vec::new(),
    }
    .with_reasons(reasons)
}

fn who(user: &str, role: &str, organisation: &str) -> String {
    match (role.is_empty(), organisation.is_empty()) {
        (false, false) => format!("{user} ({role}, {organisation})"),
        (false, true) => format!("{user} ({role})"),
        (true, false) => format!("{user} ({organisation})"),
        (true, true) => user.to_string(),
    }
}

async fn volume_spike<S: TelemetryStore>(store: &S, ctx: &Context<'_>) -> Result<Vec<Candidate>, StoreError> {
    let cfg = &ctx.config.volume_spike;
    let first_week = ctx.bucket_start_utc(ctx.from_ns, NS_PER_WEEK, MONDAY_OFFSET_NS);
    let history_from = first_week.saturating_sub(u64::from(cfg.baseline_weeks) * NS_PER_WEEK);
    let weeks = store.user_activity(&ctx.activity(history_from, ctx.to_ns, NS_PER_WEEK, MONDAY_OFFSET_NS)).await?;
    let window_first_bucket = ctx.clock.local_ns(first_week);
    // A person's weeks at each organisation apart: their usual at one trust is not their usual at
    // another, and a finding belongs to one organisation.
    let mut by_user: HashMap<(&str, &str), Vec<&UserActivity>> = HashMap::new();
    let mut by_role_week: HashMap<(&str, i64), Vec<(&str, u64)>> = HashMap::new();
    for w in &weeks {
        by_user.entry((&w.user_id, &w.organisation)).or_default().push(w);
        by_role_week.entry((&w.role, w.bucket)).or_default().push((&w.user_id, w.patients));
    }
    let span = i64::from(cfg.baseline_weeks) * NS_PER_WEEK as i64;
    let mut out = Vec::new();
    for w in weeks.iter().filter(|w| w.bucket >= window_first_bucket - NS_PER_HOUR && w.patients >= cfg.min_patients) {
        let own: Vec<u64> = by_user[&(w.user_id.as_str(), w.organisation.as_str())]
            .iter()
            .filter(|h| h.bucket < w.bucket - NS_PER_HOUR && h.bucket >= w.bucket - span - NS_PER_HOUR)
            .map(|h| h.patients)
            .collect();
        let own_usual = (!own.is_empty()).then(|| own.iter().sum::<u64>() as f64 / own.len() as f64);
        let mut peers: Vec<u64> = by_role_week
            .get(&(w.role.as_str(), w.bucket))
            .map(|v| v.iter().filter(|(u, _)| *u != w.user_id).map(|(_, n)| *n).collect())
            .unwrap_or_default();
        let peer_usual = if peers.len() >= 3 { median(&mut peers) } else { None };
        if own_usual.is_none() && peer_usual.is_none() {
            continue;
        }
        let n = w.patients as f64;
        let above_own = own_usual.is_none_or(|u| n >= cfg.own_factor * u.max(1.0));
        let above_peers = peer_usual.is_none_or(|u| n >= cfg.peer_factor * u.max(1.0));
        if !(above_own && above_peers) {
            continue;
        }
        // How far past the higher of the two thresholds (both must be passed) the week is.
        let limit = [own_usual.map(|u| cfg.own_factor * u.max(1.0)), peer_usual.map(|u| cfg.peer_factor * u.max(1.0))]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max);
        let own_text = own_usual.map_or("no history of their own".into(), |u| format!("their usual is {u:.0}"));
        let peer_text =
            peer_usual.map_or("too few peers in their role to compare".into(), |u| format!("their role's is {u:.0}"));
        let explanation = format!(
            "{} accessed {} patients' records in the week starting {}; {own_text}, {peer_text}.",
            who(&w.user_id, &w.role, &w.organisation),
            w.patients,
            local_date(w.bucket)
        );
        let reason = Reason::new(
            format!(
                "{} patients in a week, {:.1} times the level that raises a finding",
                w.patients,
                n / limit.max(1.0)
            ),
            anchor(n, limit.max(1.0)),
        );
        out.push(candidate(Rule::VolumeSpike, cfg.severity, w, "", explanation, vec![reason]));
    }
    Ok(out)
}

async fn out_of_hours<S: TelemetryStore>(store: &S, ctx: &Context<'_>) -> Result<Vec<Candidate>, StoreError> {
    let cfg = &ctx.config.out_of_hours;
    let history_from = ctx.from_ns.saturating_sub(u64::from(cfg.history_days) * NS_PER_DAY as u64);
    // Usual hours per person and organisation (a locum's hours at one practice are not another's).
    let mut profiles: HashMap<(String, String), [u64; 24]> = HashMap::new();
    for p in store.hour_profiles(history_from, ctx.to_ns, &ctx.clock).await? {
        profiles.entry((p.user_id, p.organisation)).or_insert([0; 24])[usize::from(p.hour % 24)] += p.events;
    }
    let profile_of = |h: &UserActivity| profiles.get(&(h.user_id.clone(), h.organisation.clone()));
    let usual = |profile: Option<&[u64; 24]>, hour: usize| -> bool {
        let Some(p) = profile else { return false };
        let total: u64 = p.iter().sum();
        if total < cfg.min_history_events {
            return false;
        }
        [hour + 23, hour, hour + 1].iter().any(|h| p[h % 24] as f64 >= cfg.usual_share * total as f64)
    };
    let from = ctx.bucket_start_utc(ctx.from_ns, NS_PER_DAY as u64, 0);
    let mut query = ctx.activity(from, ctx.to_ns, NS_PER_HOUR as u64, 0);
    query.only_off_hours = true;
    let hours = store.user_activity(&query).await?;
    // Unusual hours, gathered per user and local day. An hour that carries straight on from a
    // usual one (work running over the end of a shift) counts as usual too: `hours` is ordered by
    // user and bucket, so the hour before is the previous row.
    let mut days: BTreeMap<(String, String, i64), Vec<&UserActivity>> = BTreeMap::new();
    let mut previous: Option<(&str, &str, i64, bool)> = None;
    for h in &hours {
        let hour = (h.bucket.rem_euclid(NS_PER_DAY) / NS_PER_HOUR) as usize;
        let carries_on = previous.is_some_and(|(user, org, bucket, fine)| {
            fine && user == h.user_id && org == h.organisation && bucket == h.bucket - NS_PER_HOUR
        });
        let fine = usual(profile_of(h), hour) || carries_on;
        if !fine {
            days.entry((h.user_id.clone(), h.organisation.clone(), h.bucket.div_euclid(NS_PER_DAY)))
                .or_default()
                .push(h);
        }
        previous = Some((&h.user_id, &h.organisation, h.bucket, fine));
    }
    let mut out = Vec::new();
    for ((_, _, day), hs) in days {
        let first = hs[0];
        let events: u64 = hs.iter().map(|h| h.events).sum();
        let hours_text: Vec<String> = hs
            .iter()
            .map(|h| {
                let hour = h.bucket.rem_euclid(NS_PER_DAY) / NS_PER_HOUR;
                hour_range(hour, hour + 1)
            })
            .collect();
        let usual_text = match profile_of(first) {
            Some(p) if p.iter().sum::<u64>() >= cfg.min_history_events => {
                let total: u64 = p.iter().sum();
                let busy: Vec<bool> = (0..24).map(|h| p[h] as f64 >= cfg.usual_share * total as f64).collect();
                format!("outside their usual hours ({})", hour_ranges(&busy))
            }
            _ => "they have too little history to have usual hours".into(),
        };
        let explanation = format!(
            "{} had {events} access event{} at {} on {}: outside working hours ({}) and {usual_text}.",
            who(&first.user_id, &first.role, &first.organisation),
            if events == 1 { "" } else { "s" },
            hours_text.join(", "),
            local_date(day * NS_PER_DAY),
            ctx.config.working_hours.describe()
        );
        let reason = Reason::new(
            format!(
                "{events} event{} in {} hour{} outside working hours and the person's usual hours",
                if events == 1 { "" } else { "s" },
                hs.len(),
                if hs.len() == 1 { "" } else { "s" }
            ),
            anchor(events as f64, 1.0),
        );
        let mut c = candidate(Rule::OutOfHours, cfg.severity, first, "", explanation, vec![reason]);
        c.bucket = day;
        c.events = events;
        c.from_ns = hs.iter().map(|h| h.first_ns).min().unwrap_or(first.first_ns);
        c.to_ns = hs.iter().map(|h| h.last_ns).max().unwrap_or(first.last_ns) + 1;
        c.first_seq = hs.iter().map(|h| h.first_seq).min().unwrap_or(first.first_seq);
        out.push(c);
    }
    Ok(out)
}

async fn failed_access_burst<S: TelemetryStore>(store: &S, ctx: &Context<'_>) -> Result<Vec<Candidate>, StoreError> {
    let cfg = &ctx.config.failed_access_burst;
    let window = u64::from(cfg.window_minutes) * 60_000_000_000;
    let from = ctx.bucket_start_utc(ctx.from_ns, window, 0);
    let mut query = ctx.activity(from, ctx.to_ns, window, 0);
    query.min_failed = cfg.min_failed;
    query.only_failed = true;
    let mut out = Vec::new();
    for w in store.user_activity(&query).await? {
        let minute = w.bucket.rem_euclid(NS_PER_DAY) / 60_000_000_000;
        let end = minute + i64::from(cfg.window_minutes);
        let explanation = format!(
            "{} had {} failed or denied accesses between {:02}:{:02} and {:02}:{:02} on {}.",
            who(&w.user_id, &w.role, &w.organisation),
            w.failed,
            minute / 60,
            minute % 60,
            (end / 60) % 24,
            end % 60,
            local_date(w.bucket)
        );
        let reason = Reason::new(
            format!(
                "{} failed or denied accesses in {} minutes (raised from {})",
                w.failed, cfg.window_minutes, cfg.min_failed
            ),
            anchor(w.failed as f64, cfg.min_failed as f64),
        );
        out.push(candidate(Rule::FailedAccessBurst, cfg.severity, &w, "", explanation, vec![reason]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_severities_round_trip_their_names() {
        for r in Rule::ALL {
            assert_eq!(Rule::parse(r.as_str()), Some(r));
        }
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Rule::parse("nope"), None);
    }

    #[test]
    fn dates_and_medians() {
        assert_eq!(local_date(0), "Thu 1 Jan 1970");
        assert_eq!(median(&mut [5, 1, 3]), Some(3.0));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2.5));
        assert_eq!(median(&mut []), None);
        let mut hours = vec![false; 24];
        hours[8..18].iter_mut().for_each(|h| *h = true);
        hours[22] = true;
        hours[23] = true;
        assert_eq!(hour_ranges(&hours), "08:00–18:00, 22:00–24:00");
        assert_eq!(hour_ranges(&[false; 24]), "none");
    }
}
