//! What access monitoring asks of the store: the context that explains an access (a staff
//! directory, a patient index with its flags, care relationships), and the aggregations the
//! anomaly rules are built on, computed in the store so no rule ever pulls raw events into memory.
//!
//! The rules themselves (thresholds, baselines, wording) live with the review tools; this module
//! only defines the questions and their answers, and the SQL fragments both backends share. It
//! must never decide what is suspicious.

use serde::{Deserialize, Serialize};

/// The source system of the events that record auditors' own actions (searches, reveals, review
/// decisions on the dashboard). The rules leave them out: reviewing a finding about a VIP is not
/// an access to the VIP's care record, and auditors' actions are reviewed by other IG leads.
pub const AUDITOR_SOURCE: &str = "pathwatch-dashboard";

/// What auditors' events are about: a search of the trail, a finding, a sample. The collector takes
/// nothing else from the dashboard's token.
pub const AUDITOR_RESOURCE_TYPES: [&str; 3] = ["AuditEvent", "AuditFinding", "AuditSample"];

const NS_PER_HOUR: i64 = 3_600_000_000_000;
pub const NS_PER_DAY: i64 = 24 * NS_PER_HOUR;

/// One member of staff as the organisation's directory knows them: what family-or-neighbour and
/// self-access rules compare with the patient index. Surname and address are kept as match keys only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StaffMember {
    /// The user id audit events carry for this person.
    pub user_id: String,
    #[serde(default)]
    pub surname: String,
    /// Home address, any layout: compared through [`match_key`].
    #[serde(default)]
    pub address: String,
    /// Their own NHS number, when known (empty otherwise).
    #[serde(default)]
    pub nhs_number: String,
    /// The teams (wards, clinics, services) they work in, compared through [`match_key`]. Where a
    /// patient's care names teams, only these (or being the named clinician) explain an access.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Their home postcode, when the directory has it apart from the address (empty: taken from the
    /// end of the address when it has a postcode's shape; see [`crate::places::Place`]).
    #[serde(default)]
    pub postcode: String,
}

/// One patient as the patient index knows them, with the flags that make a record sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PatientRecord {
    pub nhs_number: String,
    #[serde(default)]
    pub surname: String,
    #[serde(default)]
    pub address: String,
    /// A VIP or otherwise flagged patient (staff, public figure).
    #[serde(default)]
    pub vip: bool,
    /// A restricted record (PDS "S" flag, sensitive).
    #[serde(default)]
    pub restricted: bool,
    /// When the patient died, Unix nanoseconds; 0 while alive.
    #[serde(default)]
    pub deceased_ns: u64,
    /// The NHS number of the patient's next of kin, when the index has one (empty otherwise).
    #[serde(default)]
    pub next_of_kin: String,
    /// Their postcode, when the index has it apart from the address (as for staff).
    #[serde(default)]
    pub postcode: String,
}

/// A reason an organisation's staff may look at a patient's record: a registration, an
/// appointment, a referral, an encounter. Active over `[from_ns, to_ns)`; `to_ns` 0 is open-ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CareRelationship {
    /// ODS code of the organisation.
    pub organisation: String,
    pub nhs_number: String,
    /// "registration", "appointment", "referral", "encounter"… as the feed names it.
    pub kind: String,
    pub from_ns: u64,
    #[serde(default)]
    pub to_ns: u64,
    /// The team (ward, clinic, service) caring for the patient, when the feed says (empty: the
    /// whole organisation). Compared with staff teams through [`match_key`].
    #[serde(default)]
    pub team: String,
    /// The clinician caring for the patient, as the user id audit events carry (empty: none named).
    #[serde(default)]
    pub clinician: String,
}

impl CareRelationship {
    /// Whether this relationship is the care of a team or a named clinician, not of the whole
    /// organisation.
    pub fn is_scoped(&self) -> bool {
        !match_key(&self.team).is_empty() || !self.clinician.is_empty()
    }
}

/// Team keys as the stores list them (match keys, so never holding a comma), sorted and once each.
pub fn team_list(list: &str) -> Vec<String> {
    let mut teams: Vec<String> = list.split(',').filter(|t| !t.is_empty()).map(String::from).collect();
    teams.sort();
    teams.dedup();
    teams
}

/// How names and addresses are compared: case, spacing and punctuation do not matter
/// ("12 High St." and "12 HIGH ST" match). Empty stays empty and never matches.
pub fn match_key(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Local time as the store computes it: a UTC offset that changes at given instants (daylight
/// saving). The caller works it out for the period asked about; the store only adds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalClock {
    /// The offset before the first change, in seconds east of UTC.
    pub base_offset_s: i64,
    /// (instant the offset changes, Unix ns; the new offset in seconds), in time order.
    pub changes: Vec<(u64, i64)>,
}

impl LocalClock {
    pub fn utc() -> LocalClock {
        LocalClock::default()
    }

    /// Europe/London over `[from_ns, to_ns)`: GMT, or BST (+1 h) from 01:00 UTC on the last Sunday
    /// of March to 01:00 UTC on the last Sunday of October.
    pub fn europe_london(from_ns: u64, to_ns: u64) -> LocalClock {
        let mut changes: Vec<(u64, i64)> = (domain::uk_time::year_of(from_ns)..=domain::uk_time::year_of(to_ns))
            .flat_map(domain::uk_time::clock_changes)
            .collect();
        let base_offset_s = changes.iter().rev().find(|(at, _)| *at <= from_ns).map_or(0, |(_, o)| *o);
        changes.retain(|(at, _)| *at > from_ns && *at < to_ns);
        LocalClock { base_offset_s, changes }
    }

    /// The offset in force at `t_ns`, in seconds.
    pub fn offset_at(&self, t_ns: u64) -> i64 {
        self.changes.iter().rev().find(|(at, _)| *at <= t_ns).map_or(self.base_offset_s, |(_, o)| *o)
    }

    /// Local time at `t_ns`, as nanoseconds since the local epoch (a count whose day and hour are local).
    pub fn local_ns(&self, t_ns: u64) -> i64 {
        t_ns as i64 + self.offset_at(t_ns) * 1_000_000_000
    }
}

/// Working hours, local time: `start_hour..end_hour` on the listed weekdays (0 Monday … 6 Sunday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    pub start_hour: u8,
    pub end_hour: u8,
    pub weekdays: Vec<u8>,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours { start_hour: 8, end_hour: 18, weekdays: vec![0, 1, 2, 3, 4] }
    }
}

impl WorkingHours {
    /// Whether a local time (as [`LocalClock::local_ns`] gives it) falls within working hours.
    pub fn contains_local(&self, local_ns: i64) -> bool {
        let (day, hour) = (local_ns.div_euclid(NS_PER_DAY), local_ns.rem_euclid(NS_PER_DAY) / NS_PER_HOUR);
        self.weekdays.contains(&(weekday(day) as u8))
            && hour >= i64::from(self.start_hour)
            && hour < i64::from(self.end_hour)
    }
}

/// 0 Monday … 6 Sunday for a day number since 1970-01-01 (a Thursday).
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Per user and time bucket: what they did. Buckets are aligned in local time when `local` is set
/// (a "day" is a local day), otherwise in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityQuery {
    pub from_ns: u64,
    pub to_ns: u64,
    pub bucket_ns: u64,
    /// Where buckets start, counted from the local epoch: 4 days aligns weeks on Mondays.
    pub bucket_offset_ns: u64,
    pub clock: LocalClock,
    pub working: WorkingHours,
    /// Only buckets with at least this many failed or denied events (0: every bucket).
    pub min_failed: u64,
    /// Count only the events outside working hours (buckets with none are absent).
    pub only_off_hours: bool,
    /// Count only failed or denied events (what a burst of failures is made of).
    pub only_failed: bool,
    /// Fill `UserActivity::off_hours` (it costs a local-time computation per event); 0 otherwise.
    pub count_off_hours: bool,
}

/// One user's activity in one bucket. `bucket` is the bucket's start in local nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserActivity {
    pub user_id: String,
    pub role: String,
    pub organisation: String,
    pub bucket: i64,
    pub events: u64,
    /// Distinct patients.
    pub patients: u64,
    pub exports: u64,
    pub prints: u64,
    pub searches: u64,
    pub break_glass: u64,
    /// Events whose outcome was not success (denied or failed).
    pub failed: u64,
    pub off_hours: u64,
    pub first_seq: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// How many events a user had in each local hour of the day over a period: their usual hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourProfile {
    pub user_id: String,
    /// Per organisation the user acted for: habits at one trust say nothing about another.
    pub organisation: String,
    pub hour: u8,
    pub events: u64,
}

/// Per user, patient and local day: whether the access is explained by a care relationship and
/// whether anything about the patient makes it notable. Only notable or unexplained groups come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientAccessQuery {
    pub from_ns: u64,
    pub to_ns: u64,
    pub clock: LocalClock,
    /// Local hour at which a "day" starts: 6 keeps a night shift (20:00–06:00) in one day.
    pub day_starts_hour: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientAccess {
    pub user_id: String,
    pub role: String,
    pub organisation: String,
    pub nhs_number: String,
    /// Local day number (days since 1970-01-01, local time), days starting at `day_starts_hour`.
    pub day: i64,
    pub events: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub first_seq: u64,
    /// The access is explained: by the user's team or the user as the named clinician where the
    /// patient's active care names teams or a clinician (and the user's teams are known, or they
    /// match); otherwise by any active care relationship of the user's organisation.
    pub explained: bool,
    /// The user's organisation had a care relationship with the patient active during the access
    /// (team or not): the organisation-level meaning of `explained`.
    pub explained_org: bool,
    /// When the organisation's care explains the access but not the user's team: the teams (match
    /// keys) whose active care of the patient does, so a day's cover of another ward can be told
    /// from a single look at one of its patients. Empty otherwise.
    pub care_teams: Vec<String>,
    /// The user's teams (match keys) in the staff directory, for the rows that come back.
    pub user_teams: Vec<String>,
    /// The patient's next of kin is the user (the NHS number on their staff record).
    pub next_of_kin: bool,
    pub self_access: bool,
    pub same_surname: bool,
    pub same_address: bool,
    /// The first line of the address is the same ([`crate::places::line_key`]) and the postcodes do
    /// not differ (the same, or one of them unknown).
    pub same_line: bool,
    /// The same postcode unit (about fifteen households).
    pub same_postcode: bool,
    /// The same postcode sector (a few thousand households).
    pub same_sector: bool,
    pub vip: bool,
    pub restricted: bool,
    /// Accessed at or after the recorded date of death.
    pub deceased: bool,
    /// The patient's surname as the index keys it (empty when not in the index): how many
    /// households share it tells how much a shared surname says ([`SurnameHouseholds`]).
    pub surname_key: String,
    /// The patient's postcode sector as the index keys it (empty when unknown): how many households
    /// of the sector share the surname tells how much living near each other adds.
    pub sector_key: String,
}

/// How many households (distinct addresses in the patient index and the staff directory; a person
/// without one is a household alone) hold each of some surnames, in all and per postcode sector, and
/// how many households there are: a surname many households share (nearby, or at all) is weak
/// evidence that two people are family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SurnameHouseholds {
    pub households: u64,
    pub by_surname: std::collections::HashMap<String, u64>,
    /// The same per surname and postcode sector (households with a known sector only).
    #[serde(skip)]
    pub by_surname_sector: std::collections::HashMap<(String, String), u64>,
}

/// Audit events stored after a given sequence number: what an incremental rule run has to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrivals {
    pub events: u64,
    pub last_seq: u64,
    /// The oldest and newest occurrence times among them (events can arrive late).
    pub earliest_occurred_ns: u64,
    pub latest_occurred_ns: u64,
}

/// How a sample is drawn: which period, which seed, how many per stratum and what makes a stratum.
/// The same query on the same data gives the same sample, on either backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SampleQuery {
    pub from_ns: u64,
    pub to_ns: u64,
    pub seed: u64,
    /// Items drawn from each stratum (from the whole period when there are no strata).
    pub per_stratum: u32,
    pub by_organisation: bool,
    pub by_role: bool,
    /// Events only: users have no one action.
    pub by_action: bool,
}

/// A user drawn for review, with their activity over the sample's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampledUser {
    pub user_id: String,
    pub role: String,
    pub organisation: String,
    pub events: u64,
    /// Their first event in the period (what the draw is keyed on).
    pub first_seq: u64,
}

/// Events in a period per stratum (organisation, role, action): what sampling coverage is measured against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratumCount {
    pub organisation: String,
    pub role: String,
    pub action: String,
    pub events: u64,
}

const SAMPLE_PRIME: u64 = 2_147_483_647;
const SAMPLE_ROUNDS: [u64; 3] = [48_271, 69_621, 16_807];

/// The order in which a sample takes records: a seeded scramble of the sequence number, the same
/// in Rust, SQLite and ClickHouse (every product stays below 2^62: no overflow in either).
pub fn sample_key(seed: u64, seq: u64) -> u64 {
    let mut x = seq % SAMPLE_PRIME;
    for (i, a) in SAMPLE_ROUNDS.iter().enumerate() {
        let k = seed.wrapping_add(i as u64 * 0x9E37_79B9) % SAMPLE_PRIME;
        x = (x * a + k) % SAMPLE_PRIME;
        x ^= x >> (11 + 2 * i as u32);
    }
    x
}

/// The two SQL dialects the store speaks. Only arithmetic differs in what this module builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    ClickHouse,
}

impl Dialect {
    fn div(self, a: &str, b: i64) -> String {
        match self {
            Dialect::Sqlite => format!("(({a}) / {b})"),
            Dialect::ClickHouse => format!("intDiv({a}, {b})"),
        }
    }

    /// [`sample_key`] of `column` in SQL.
    pub(crate) fn sample_key(self, seed: u64, column: &str) -> String {
        let mut x = format!("({column} % {SAMPLE_PRIME})");
        for (i, a) in SAMPLE_ROUNDS.iter().enumerate() {
            let k = seed.wrapping_add(i as u64 * 0x9E37_79B9) % SAMPLE_PRIME;
            let shift = 11 + 2 * i as u32;
            let y = format!("(({x} * {a} + {k}) % {SAMPLE_PRIME})");
            x = match self {
                // No XOR operator in SQLite: a ^ b = (a | b) - (a & b).
                Dialect::Sqlite => format!("(({y} | ({y} >> {shift})) - ({y} & ({y} >> {shift})))"),
                Dialect::ClickHouse => format!("bitXor({y}, bitShiftRight({y}, {shift}))"),
            };
        }
        x
    }

    /// `column` (Unix ns) as local nanoseconds under `clock`.
    pub(crate) fn local_ns(self, clock: &LocalClock, column: &str) -> String {
        let ns = |s: i64| s * 1_000_000_000;
        if clock.changes.is_empty() {
            return match self {
                Dialect::Sqlite => format!("({column} + {})", ns(clock.base_offset_s)),
                Dialect::ClickHouse => format!("(toInt64({column}) + toInt64({}))", ns(clock.base_offset_s)),
            };
        }
        match self {
            Dialect::Sqlite => {
                let mut sql = format!("({column} + CASE");
                for (at, offset) in clock.changes.iter().rev() {
                    sql.push_str(&format!(" WHEN {column} >= {at} THEN {}", ns(*offset)));
                }
                sql.push_str(&format!(" ELSE {} END)", ns(clock.base_offset_s)));
                sql
            }
            Dialect::ClickHouse => {
                let mut sql = format!("(toInt64({column}) + multiIf(");
                for (at, offset) in clock.changes.iter().rev() {
                    sql.push_str(&format!("{column} >= {at}, toInt64({}), ", ns(*offset)));
                }
                sql.push_str(&format!("toInt64({})))", ns(clock.base_offset_s)));
                sql
            }
        }
    }

    /// The start (local ns) of the `bucket_ns`-long bucket holding `column`, buckets starting
    /// `offset_ns` after the local epoch.
    pub(crate) fn bucket(self, clock: &LocalClock, column: &str, bucket_ns: u64, offset_ns: u64) -> String {
        let b = bucket_ns.max(1) as i64;
        let off = (offset_ns as i64).rem_euclid(b);
        format!("({} * {b} + {off})", self.div(&format!("{} - {off}", self.local_ns(clock, column)), b))
    }

    /// The local day holding `column` when days start at `hour` (0: midnight).
    pub(crate) fn shifted_day(self, clock: &LocalClock, column: &str, hour: u8) -> String {
        let shift = i64::from(hour) * NS_PER_HOUR;
        self.div(&format!("{} - {shift}", self.local_ns(clock, column)), NS_PER_DAY)
    }

    pub(crate) fn local_day(self, clock: &LocalClock, column: &str) -> String {
        self.div(&self.local_ns(clock, column), NS_PER_DAY)
    }

    pub(crate) fn local_hour(self, clock: &LocalClock, column: &str) -> String {
        format!("({} % 24)", self.div(&self.local_ns(clock, column), NS_PER_HOUR))
    }

    /// True (1) when `column` falls outside working hours.
    pub(crate) fn off_hours(self, clock: &LocalClock, working: &WorkingHours, column: &str) -> String {
        let hour = self.local_hour(clock, column);
        let weekday = format!("(({} + 3) % 7)", self.local_day(clock, column));
        let days = if working.weekdays.is_empty() {
            "-1".to_string()
        } else {
            working.weekdays.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
        };
        format!("(NOT ({hour} >= {} AND {hour} < {} AND {weekday} IN ({days})))", working.start_hour, working.end_hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys_ignore_case_spacing_and_punctuation() {
        assert_eq!(match_key("12 High St."), match_key("12 HIGH ST"));
        assert_eq!(match_key("O'Brien"), "obrien");
        assert_ne!(match_key("Smith"), match_key("Smyth"));
        assert_eq!(match_key(" - "), "");
    }

    #[test]
    fn the_clock_applies_the_offset_in_force() {
        let clock = LocalClock { base_offset_s: 0, changes: vec![(1_000, 3600), (5_000, 0)] };
        assert_eq!(clock.offset_at(999), 0);
        assert_eq!(clock.offset_at(1_000), 3600);
        assert_eq!(clock.offset_at(4_999), 3600);
        assert_eq!(clock.offset_at(5_000), 0);
        assert_eq!(clock.local_ns(2_000), 2_000 + 3_600_000_000_000);
    }

    #[test]
    fn london_changes_clocks_on_the_last_sundays_of_march_and_october() {
        let s = |y, m, d, h| {
            let at = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 0, 0).unwrap();
            at.and_utc().timestamp() as u64 * 1_000_000_000
        };
        let clock = LocalClock::europe_london(s(2026, 1, 1, 0), s(2027, 1, 1, 0));
        assert_eq!(clock.base_offset_s, 0);
        assert_eq!(clock.changes, vec![(s(2026, 3, 29, 1), 3600), (s(2026, 10, 25, 1), 0)]);
        let summer = LocalClock::europe_london(s(2026, 7, 1, 0), s(2026, 7, 2, 0));
        assert_eq!((summer.base_offset_s, summer.changes.len()), (3600, 0));
    }

    #[test]
    fn sample_keys_scramble_sequence_numbers_by_seed() {
        let keys: Vec<u64> = (1..=20).map(|seq| sample_key(7, seq)).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_ne!(keys, sorted, "not in sequence order");
        sorted.dedup();
        assert_eq!(sorted.len(), 20, "no collisions among neighbours");
        assert_ne!(keys, (1..=20).map(|seq| sample_key(8, seq)).collect::<Vec<_>>());
        assert!(keys.iter().all(|k| *k < SAMPLE_PRIME));
    }

    #[test]
    fn working_hours_are_local_weekdays_and_hours() {
        let working = WorkingHours::default();
        // 1970-01-05 was a Monday.
        let monday = 4 * NS_PER_DAY;
        assert!(working.contains_local(monday + 8 * NS_PER_HOUR));
        assert!(working.contains_local(monday + 17 * NS_PER_HOUR + 59 * 60_000_000_000));
        assert!(!working.contains_local(monday + 18 * NS_PER_HOUR));
        assert!(!working.contains_local(monday + 7 * NS_PER_HOUR));
        assert!(!working.contains_local(monday + 5 * NS_PER_DAY + 10 * NS_PER_HOUR), "Saturday");
        assert_eq!(weekday(4), 0);
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
    }
}
