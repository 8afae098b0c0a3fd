//! The anomaly rules' settings: each rule can be switched off, given a severity and its thresholds.
//! Every key has a default tuned on the scenario generator (`pathwatch audit evaluate`); an
//! operator changes them under `[audit.rules.*]`. Validation names the offending key.

use serde::{Deserialize, Serialize};

use crate::rules::{Rule, Severity};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The score (the sum of a finding's reasons' points) below which nothing is raised; a rule's
    /// own `min_score` replaces it for that rule. 30 raises what each rule's thresholds raise.
    pub min_score: i32,
    /// Where care names teams: distinct patients of another team a user opens in one day from which
    /// the day counts as cover of that team, so its patients' care explains those accesses (a nurse
    /// moved to another ward for a shift). 0: never.
    pub team_cover_patients: u64,
    /// Working hours, Europe/London.
    pub working_hours: WorkingHoursConfig,
    pub volume_spike: VolumeSpike,
    pub out_of_hours: OutOfHours,
    pub family_or_neighbour: FamilyOrNeighbour,
    pub self_access: SelfAccess,
    pub sensitive_record: SensitiveRecord,
    pub no_care_relationship: NoCareRelationship,
    pub bulk_or_unusual: BulkOrUnusual,
    pub failed_access_burst: FailedAccessBurst,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkingHoursConfig {
    /// First working hour (0–23).
    pub start_hour: u8,
    /// The hour working ends (1–24): 18 means until 18:00.
    pub end_hour: u8,
    /// Working days: "mon" … "sun".
    pub days: Vec<String>,
}

impl Default for WorkingHoursConfig {
    fn default() -> Self {
        WorkingHoursConfig {
            start_hour: 8,
            end_hour: 18,
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WorkingHoursConfig {
    pub fn to_store(&self) -> audit_store::WorkingHours {
        audit_store::WorkingHours {
            start_hour: self.start_hour,
            end_hour: self.end_hour,
            weekdays: self.days.iter().filter_map(|d| DAYS.iter().position(|x| x == d)).map(|i| i as u8).collect(),
        }
    }

    /// "08:00–18:00 Mon–Fri" style, for explanations.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self
            .days
            .iter()
            .map(|d| {
                let mut c = d.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect();
        format!("{:02}:00–{:02}:00 {}", self.start_hour, self.end_hour, days.join(", "))
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            min_score: crate::rules::score::DEFAULT_FLOOR,
            team_cover_patients: 5,
            working_hours: WorkingHoursConfig::default(),
            volume_spike: VolumeSpike::default(),
            out_of_hours: OutOfHours::default(),
            family_or_neighbour: FamilyOrNeighbour::default(),
            self_access: SelfAccess::default(),
            sensitive_record: SensitiveRecord::default(),
            no_care_relationship: NoCareRelationship::default(),
            bulk_or_unusual: BulkOrUnusual::default(),
            failed_access_burst: FailedAccessBurst::default(),
        }
    }
}

macro_rules! rule_settings {
    ($name:ident, $severity:expr, { $($(#[$doc:meta])* $field:ident : $ty:ty = $default:expr),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub enabled: bool,
            pub severity: Severity,
            /// This rule's floor, in place of `audit.rules.min_score`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub min_score: Option<i32>,
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { enabled: true, severity: $severity, min_score: None, $($field: $default,)* }
            }
        }
    };
}

rule_settings!(VolumeSpike, Severity::Medium, {
    /// Distinct patients in a week below which nothing is raised, however sharp the rise.
    min_patients: u64 = 30,
    /// Raise when the week is at least this many times the user's usual week…
    own_factor: f64 = 3.0,
    /// …and this many times the median of peers in the same role that week.
    peer_factor: f64 = 3.0,
    /// Weeks of history that make the user's usual.
    baseline_weeks: u32 = 6,
});

rule_settings!(OutOfHours, Severity::Medium, {
    /// An hour is usual for a user when it (or an hour either side) holds at least this share of
    /// their events over the history.
    usual_share: f64 = 0.02,
    /// Below this many events of history, every hour outside working hours counts as unusual.
    min_history_events: u64 = 50,
    /// Days of history that make a user's usual hours.
    history_days: u32 = 28,
});

rule_settings!(FamilyOrNeighbour, Severity::High, {
    /// Raise on a shared surname (only without a care relationship unless `surname_when_explained`).
    surname: bool = true,
    /// Raise on a shared address (always: a care relationship does not explain a neighbour).
    address: bool = true,
    /// Raise when the patient index names the user (their NHS number) as the patient's next of kin
    /// (always, as for an address).
    next_of_kin: bool = true,
    /// Weigh where they live (see `audit-store/src/places.rs`): the same first line of the address
    /// and postcode is the same home; the same first line alone (one postcode known, and the other the same or unknown) or
    /// the same postcode alone weighs 15; the same postcode sector weighs only beside a shared
    /// surname, by how many of the sector's households hold it.
    places: bool = true,
    surname_when_explained: bool = false,
    /// A shared surname with nothing else (no shared address, first line, postcode or sector, no
    /// next of kin) is evidence only when the surname is rare: held by at most this share of the
    /// households of the patient index and staff directory, or by three households or fewer. A
    /// surname many households hold (a Patel, a Smith) says little about family.
    surname_max_share: f64 = 0.002,
});

rule_settings!(SelfAccess, Severity::Medium, {});

rule_settings!(SensitiveRecord, Severity::High, {
    vip: bool = true,
    restricted: bool = true,
    deceased: bool = true,
    /// Also raise when a care relationship explains the access.
    when_explained: bool = false,
    /// Colleagues sharing a team with the user (both in the staff directory with teams) who also
    /// opened a restricted or deceased patient's record within a week, none explained by care: from
    /// this many the care is taken as evident but not yet recorded (a patient on the ward before the
    /// files say so), which weighs 15 points against the finding. Never for a VIP. 0: never.
    colleagues_corroborate: u64 = 2,
});

rule_settings!(NoCareRelationship, Severity::Medium, {
    /// Distinct patients without a care relationship, in one day, that raise a finding.
    min_patients: u64 = 5,
    /// Count patients whose care the organisation has but not the user's team (where team data are
    /// loaded). Off by default: cover across wards is common and would flood the rule.
    by_team: bool = false,
});

rule_settings!(BulkOrUnusual, Severity::Medium, {
    /// Exports in one day above which a finding is raised whatever is usual for the person.
    max_exports_per_day: u64 = 20,
    /// Prints in one day above which a finding is raised whatever is usual for the person.
    max_prints_per_day: u64 = 20,
    /// Searches in one day above which a finding is raised whatever is usual for the person.
    max_searches_per_day: u64 = 150,
    /// Exports and prints together in one day above which a finding is raised whatever is usual.
    max_exports_and_prints_per_day: u64 = 30,
    /// Below the ceilings, a day's count is unusual when it is this many spreads above the person's
    /// median (or, without `min_history_days` of their own, their role's at their organisation).
    unusual_spreads: f64 = 4.0,
    /// Days before each day whose counts make the person's usual.
    baseline_days: u32 = 28,
    /// Working days of their own, in `baseline_days`, that make a person's usual; with fewer, their
    /// role's days at their organisation do (at least `min_role_days` of them); with fewer still,
    /// only the ceilings apply.
    min_history_days: u32 = 10,
    min_role_days: u32 = 20,
    /// Counts below these are never unusual, however rare for the person.
    min_exports: u64 = 10,
    min_prints: u64 = 10,
    min_searches: u64 = 50,
    /// Raise on every break-glass use.
    break_glass: bool = true,
});

rule_settings!(FailedAccessBurst, Severity::Medium, {
    /// Failed or denied events within one window that raise a finding.
    min_failed: u64 = 10,
    window_minutes: u32 = 10,
});

impl RulesConfig {
    pub fn enabled(&self, rule: Rule) -> bool {
        match rule {
            Rule::VolumeSpike => self.volume_spike.enabled,
            Rule::OutOfHours => self.out_of_hours.enabled,
            Rule::FamilyOrNeighbour => self.family_or_neighbour.enabled,
            Rule::SelfAccess => self.self_access.enabled,
            Rule::SensitiveRecord => self.sensitive_record.enabled,
            Rule::NoCareRelationship => self.no_care_relationship.enabled,
            Rule::BulkOrUnusual => self.bulk_or_unusual.enabled,
            Rule::FailedAccessBurst => self.failed_access_burst.enabled,
        }
    }

    /// The score from which `rule`'s findings are raised: its own `min_score`, else the global one.
    pub fn floor(&self, rule: Rule) -> i32 {
        let own = match rule {
            Rule::VolumeSpike => self.volume_spike.min_score,
            Rule::OutOfHours => self.out_of_hours.min_score,
            Rule::FamilyOrNeighbour => self.family_or_neighbour.min_score,
            Rule::SelfAccess => self.self_access.min_score,
            Rule::SensitiveRecord => self.sensitive_record.min_score,
            Rule::NoCareRelationship => self.no_care_relationship.min_score,
            Rule::BulkOrUnusual => self.bulk_or_unusual.min_score,
            Rule::FailedAccessBurst => self.failed_access_burst.min_score,
        };
        own.unwrap_or(self.min_score)
    }

    /// The history before a period that the rules read for baselines.
    pub fn lookback_ns(&self) -> u64 {
        let day = 86_400_000_000_000u64;
        let weeks = u64::from(self.volume_spike.baseline_weeks + 1) * 7 * day;
        let hours = u64::from(self.out_of_hours.history_days) * day;
        let bulk = u64::from(self.bulk_or_unusual.baseline_days + 1) * day;
        weeks.max(hours).max(bulk)
    }

    /// Checks every value, naming the key (under `prefix`, e.g. "audit.rules") that is wrong.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if !(0..=100).contains(&self.min_score) {
            return Err(format!("{prefix}.min_score must be 0–100, not {}", self.min_score));
        }
        for rule in Rule::ALL {
            let floor = self.floor(rule);
            if !(0..=100).contains(&floor) {
                return Err(format!("{prefix}.{}.min_score must be 0–100, not {floor}", rule.as_str()));
            }
        }
        let w = &self.working_hours;
        if w.start_hour > 23 {
            return Err(format!("{prefix}.working_hours.start_hour must be 0–23, not {}", w.start_hour));
        }
        if w.end_hour > 24 || w.end_hour <= w.start_hour {
            return Err(format!(
                "{prefix}.working_hours.end_hour must be after start_hour and at most 24, not {}",
                w.end_hour
            ));
        }
        if let Some(bad) = w.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
            return Err(format!("{prefix}.working_hours.days: {bad:?} is not one of {}", DAYS.join(", ")));
        }
        let v = &self.volume_spike;
        for (key, factor) in [("own_factor", v.own_factor), ("peer_factor", v.peer_factor)] {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(format!("{prefix}.volume_spike.{key} must be a number of at least 1, not {factor}"));
            }
        }
        if v.baseline_weeks == 0 || v.baseline_weeks > 52 {
            return Err(format!("{prefix}.volume_spike.baseline_weeks must be 1–52, not {}", v.baseline_weeks));
        }
        let o = &self.out_of_hours;
        if !(0.0..=1.0).contains(&o.usual_share) {
            return Err(format!("{prefix}.out_of_hours.usual_share must be between 0 and 1, not {}", o.usual_share));
        }
        if o.history_days == 0 || o.history_days > 366 {
            return Err(format!("{prefix}.out_of_hours.history_days must be 1–366, not {}", o.history_days));
        }
        let b = &self.bulk_or_unusual;
        if b.baseline_days == 0 || b.baseline_days > 366 {
            return Err(format!("{prefix}.bulk_or_unusual.baseline_days must be 1–366, not {}", b.baseline_days));
        }
        if b.min_history_days == 0 || b.min_history_days > b.baseline_days {
            return Err(format!(
                "{prefix}.bulk_or_unusual.min_history_days must be 1 to baseline_days ({}), not {}",
                b.baseline_days, b.min_history_days
            ));
        }
        if !(b.unusual_spreads.is_finite() && b.unusual_spreads >= 1.0) {
            return Err(format!(
                "{prefix}.bulk_or_unusual.unusual_spreads must be a number of at least 1, not {}",
                b.unusual_spreads
            ));
        }
        let share = self.family_or_neighbour.surname_max_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("{prefix}.family_or_neighbour.surname_max_share must be between 0 and 1, not {share}"));
        }
        if self.team_cover_patients == 1 {
            return Err(format!(
                "{prefix}.team_cover_patients must be 0 (never) or at least 2: one other patient is no day's cover"
            ));
        }
        if self.no_care_relationship.min_patients == 0 {
            return Err(format!("{prefix}.no_care_relationship.min_patients must be at least 1"));
        }
        let f = &self.failed_access_burst;
        if f.min_failed == 0 {
            return Err(format!("{prefix}.failed_access_burst.min_failed must be at least 1"));
        }
        if f.window_minutes == 0 || f.window_minutes > 1440 {
            return Err(format!(
                "{prefix}.failed_access_burst.window_minutes must be 1–1440, not {}",
                f.window_minutes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        assert_eq!(RulesConfig::default().validate("audit.rules"), Ok(()));
        let mut c = RulesConfig::default();
        c.working_hours.days.push("funday".into());
        assert!(c.validate("audit.rules").unwrap_err().contains("audit.rules.working_hours.days"));
        let mut c = RulesConfig::default();
        c.volume_spike.own_factor = 0.5;
        assert!(c.validate("audit.rules").unwrap_err().contains("audit.rules.volume_spike.own_factor"));
        let mut c = RulesConfig::default();
        c.bulk_or_unusual.unusual_spreads = f64::NAN;
        assert!(c.validate("x").unwrap_err().contains("x.bulk_or_unusual.unusual_spreads"));
        let mut c = RulesConfig::default();
        c.bulk_or_unusual.min_history_days = 0;
        assert!(c.validate("x").unwrap_err().contains("x.bulk_or_unusual.min_history_days"));
        let mut c = RulesConfig::default();
        c.bulk_or_unusual.baseline_days = 0;
        assert!(c.validate("x").unwrap_err().contains("x.bulk_or_unusual.baseline_days"));
        let c = RulesConfig { min_score: 101, ..Default::default() };
        assert!(c.validate("x").unwrap_err().contains("x.min_score"));
        let mut c = RulesConfig::default();
        c.sensitive_record.min_score = Some(-1);
        assert!(c.validate("x").unwrap_err().contains("x.sensitive_record.min_score"));
        let c: RulesConfig =
            serde_json::from_str(r#"{"min_score": 40, "sensitive_record": {"min_score": 20}}"#).unwrap();
        assert_eq!((c.floor(Rule::SensitiveRecord), c.floor(Rule::SelfAccess)), (20, 40));
        assert_eq!(RulesConfig::default().floor(Rule::VolumeSpike), 30);
        let mut c = RulesConfig::default();
        c.working_hours.end_hour = 7;
        assert!(c.validate("x").unwrap_err().contains("x.working_hours.end_hour"));
    }

    #[test]
    fn working_days_map_to_store_weekdays() {
        let w = WorkingHoursConfig { days: vec!["mon".into(), "sun".into()], ..Default::default() };
        assert_eq!(w.to_store().weekdays, vec![0, 6]);
        assert_eq!(WorkingHoursConfig::default().describe(), "08:00–18:00 Mon, Tue, Wed, Thu, Fri");
    }
}
