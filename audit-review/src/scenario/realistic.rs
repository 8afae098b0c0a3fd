//! The harder world (`World::Realistic`), built to be like the labelled log an IG lead tried the
//! rules on: an acute trust (wards and clinics, nurses on day and night shifts) and a GP practice;
//! surnames as a city catchment holds them (a few shared by many households); care data that lag,
//! so about one staff-day in two includes one legitimate access whose care relationship has not
//! reached the context files; ward clerks whose job is bulk (discharge letters: 15 to 18 exports
//! and a few prints a day); and 27 labelled misuse cases at magnitudes just past the rules'
//! thresholds, among them a celebrity admitted to the trust and opened by a nurse on another ward.
//!
//! Every member of the trust's ward and clinic staff belongs to a team, and every patient the trust
//! cares for to one: the world knows who cares for whom below the organisation, whether or not the
//! rules are told.

use std::collections::{HashMap, HashSet};

use audit_store::{Action, CareRelationship, LocalClock, Outcome, PatientRecord};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::people::{address, nhs_number};
use super::surnames::Surnames;
use super::{Scenario, ScenarioConfig, Shift, Staff, NS_PER_DAY, NS_PER_HOUR, NS_PER_SEC};
use crate::rules::Rule;

pub(super) const TRUST: &str = "Y90001";
pub(super) const PRACTICE: &str = "Y90002";
const WARDS: u32 = 10;
const CLINICS: [&str; 3] = ["Cardiology clinic", "Diabetes clinic", "Fracture clinic"];
/// The share of a ward nurse's or assistant's shifts worked on another ward.
const COVER_SHIFTS: f64 = 0.05;
/// The share of accesses to a patient anywhere in the organisation rather than the shift's team.
const ELSEWHERE: f64 = 0.01;
/// The share of staff relatives in the index who name the member of staff as next of kin.
const NEXT_OF_KIN: f64 = 0.3;
/// Days after a death during which routine work still opens the record.
const AFTER_DEATH_DAYS: u64 = 3;

/// Who cares for whom below the organisation, and what the context files do not say yet.
#[derive(Default)]
pub(super) struct Layout {
    /// Patients each team (a ward or a clinic) cares for whose relationship is loaded.
    pub team_patients: HashMap<String, Vec<usize>>,
    /// Patients each team cares for whose relationship has not reached the context files.
    pub team_pending: HashMap<String, Vec<usize>>,
    /// The same for the practice (no teams), by organisation index.
    pub org_pending: Vec<Vec<usize>>,
}

/// Distinct patients one member of staff opens in a shift, by role.
pub(super) fn patients_per_shift(role: &str) -> f64 {
    match role {
        "nurse" => 18.0,
        "healthcare assistant" => 12.0,
        "doctor" => 16.0,
        "ward clerk" => 10.0,
        "outpatient receptionist" | "receptionist" => 30.0,
        "GP" => 22.0,
        "practice nurse" => 14.0,
        _ => 8.0,
    }
}

pub(super) fn build(config: ScenarioConfig) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let clock = LocalClock::europe_london(config.start_ns, config.end_ns());
    let orgs = [TRUST.to_string(), PRACTICE.to_string()];
    let before = config.start_ns.saturating_sub(365 * NS_PER_DAY);
    let surnames = Surnames::new();
    let teams: Vec<String> =
        (1..=WARDS).map(|w| format!("Ward {w}")).chain(CLINICS.iter().map(|c| c.to_string())).collect();

    // Patients in households; the practice registers some, the trust treats some on a ward or in a
    // clinic; for a few of each, the relationship is not in the files yet.
    let mut patients: Vec<PatientRecord> = Vec::with_capacity(config.patients as usize);
    let mut relationships = Vec::new();
    let mut related: Vec<Vec<usize>> = vec![Vec::new(); 2];
    let mut layout = Layout { org_pending: vec![Vec::new(); 2], ..Layout::default() };
    let mut seen = HashSet::new();
    for i in 0..config.patients as usize {
        let mut nhs = nhs_number(&mut rng);
        while !seen.insert(nhs.clone()) {
            nhs = nhs_number(&mut rng);
        }
        let household = patients.last().filter(|_| rng.random::<f64>() < 0.55).map(|p| {
            let surname = if rng.random::<f64>() < 0.8 { p.surname.clone() } else { surnames.draw(&mut rng) };
            (surname, p.address.clone())
        });
        let (surname, home) = household.unwrap_or_else(|| (surnames.draw(&mut rng), address(&mut rng)));
        let roll: f64 = rng.random();
        patients.push(PatientRecord {
            nhs_number: nhs.clone(),
            surname,
            address: home,
            vip: roll < 0.005,
            restricted: (0.005..0.01).contains(&roll),
            deceased_ns: if (0.01..0.02).contains(&roll) {
                config.start_ns + rng.random_range(0..u64::from(config.days) * NS_PER_DAY)
            } else {
                0
            },
            next_of_kin: String::new(),
            postcode: String::new(),
        });
        let mut relate = |org: usize, kind: &str, team: Option<&String>, rng: &mut ChaCha8Rng| {
            let pending = rng.random::<f64>() < 0.04;
            if pending {
                match team {
                    Some(t) => layout.team_pending.entry(t.clone()).or_default().push(i),
                    None => layout.org_pending[org].push(i),
                }
                return;
            }
            related[org].push(i);
            if let Some(t) = team {
                layout.team_patients.entry(t.clone()).or_default().push(i);
            }
            relationships.push(CareRelationship {
                organisation: orgs[org].clone(),
                nhs_number: nhs.clone(),
                kind: kind.into(),
                from_ns: before,
                team: team.cloned().unwrap_or_default(),
                ..Default::default()
            });
        };
        if rng.random::<f64>() < 0.45 {
            relate(1, "registration", None, &mut rng);
        }
        if rng.random::<f64>() < 0.25 {
            let team = teams.choose(&mut rng).cloned().unwrap_or_default();
            let kind = if team.starts_with("Ward") { "admission" } else { "outpatient" };
            relate(0, kind, Some(&team), &mut rng);
        }
    }
    // A celebrity on a ward: a VIP the trust does care for.
    if let Some(p) = layout.team_patients.get("Ward 3").and_then(|w| w.first()) {
        patients[*p].vip = true;
    }

    // Staff: wards (nurses, healthcare assistants, a ward clerk, doctors), clinics, the practice.
    let mut staff = Vec::new();
    let mut add = |org: usize, role: &'static str, team: &str, shift: Shift, rng: &mut ChaCha8Rng| {
        let n = staff.iter().filter(|s: &&Staff| s.organisation == orgs[org]).count();
        let leave_start = rng.random_range(0..config.days.saturating_sub(config.injected_days + 5).max(1));
        staff.push(Staff {
            user_id: format!("{}-{:03}", orgs[org], n + 1),
            role,
            organisation: orgs[org].clone(),
            shift,
            surname: surnames.draw(rng),
            address: address(rng),
            own_patient: None,
            relative: None,
            pace: rng.random_range(0.7..1.3),
            leave: (leave_start, leave_start + 5),
            team: team.to_string(),
        });
    };
    for w in 1..=WARDS {
        let ward = format!("Ward {w}");
        for k in 0..6 {
            let shift = if k < 2 { Shift::Night } else { Shift::Day };
            add(0, "nurse", &ward, shift, &mut rng);
        }
        for k in 0..2 {
            add(0, "healthcare assistant", &ward, if k == 0 { Shift::Night } else { Shift::Day }, &mut rng);
        }
        add(0, "ward clerk", &ward, Shift::Day, &mut rng);
        for _ in 0..2 {
            add(0, "doctor", &ward, Shift::Day, &mut rng);
        }
    }
    for clinic in CLINICS {
        for _ in 0..2 {
            add(0, "outpatient receptionist", clinic, Shift::Day, &mut rng);
            add(0, "nurse", clinic, Shift::Day, &mut rng);
        }
    }
    for (role, count) in [("receptionist", 6), ("GP", 6), ("practice nurse", 3), ("administrator", 3)] {
        for _ in 0..count {
            add(1, role, "", Shift::Day, &mut rng);
        }
    }
    // A third are patients here themselves, and a third have a relative in the index, neither
    // cared for by their own organisation.
    let related_sets: Vec<HashSet<usize>> = related.iter().map(|r| r.iter().copied().collect()).collect();
    for st in &mut staff {
        let o = usize::from(st.organisation == PRACTICE);
        let elsewhere = |rng: &mut ChaCha8Rng| {
            (0..50).map(|_| rng.random_range(0..patients.len())).find(|p| !related_sets[o].contains(p))
        };
        if rng.random::<f64>() < 0.35 {
            st.own_patient = elsewhere(&mut rng);
        }
        if rng.random::<f64>() < 0.35 {
            st.relative = elsewhere(&mut rng);
        }
    }
    super::home_staff(&staff, &mut patients, |_| true);
    // Some relatives name the member of staff as their next of kin (when the index knows them).
    for st in &staff {
        if let (Some(own), Some(relative)) = (st.own_patient, st.relative) {
            if rng.random::<f64>() < NEXT_OF_KIN {
                patients[relative].next_of_kin = patients[own].nhs_number.clone();
            }
        }
    }

    let config = ScenarioConfig { organisations: 2, ..config };
    let mut scenario = Scenario {
        config,
        staff,
        patients,
        relationships,
        labels: Vec::new(),
        related,
        related_sets,
        injected: HashMap::new(),
        clock,
        layout: Some(layout),
    };
    scenario.inject_realistic(&mut rng, &surnames);
    scenario.give_postcodes(scenario.config.seed);
    scenario
}

impl Scenario {
    /// One shift's legitimate work in the realistic world.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn realistic_shift(
        &self,
        layout: &Layout,
        s: usize,
        d: u32,
        (start, end): (u64, u64),
        rng: &mut ChaCha8Rng,
        events: &mut Vec<super::AuditEvent>,
        n: &mut u64,
    ) {
        let st = &self.staff[s];
        let org = usize::from(st.organisation == PRACTICE);
        let id = |n: &mut u64| {
            *n += 1;
            format!("syn-{}-{d}-{}", st.user_id, n)
        };
        let empty = Vec::new();
        // Now and then a ward's nurses and assistants are moved to another ward for a shift (cover):
        // that shift, their patients are the other ward's.
        let cover = (matches!(st.role, "nurse" | "healthcare assistant") && rng.random::<f64>() < COVER_SHIFTS)
            .then(|| format!("Ward {}", rng.random_range(1..=WARDS)));
        let team = cover.as_deref().unwrap_or(&st.team);
        let pool = if team.is_empty() { &self.related[org] } else { layout.team_patients.get(team).unwrap_or(&empty) };
        let mean = patients_per_shift(st.role) * st.pace;
        let count = rng.random_range(mean * 0.6..mean * 1.4).round() as usize;
        for _ in 0..count {
            // The shift's team's patients; now and then anyone the organisation cares for (on call,
            // a question from another ward).
            let p = if rng.random::<f64>() >= ELSEWHERE && !pool.is_empty() {
                *pool.choose(rng).unwrap_or(&0)
            } else {
                *self.related[org].choose(rng).unwrap_or(&0)
            };
            let t = rng.random_range(start..end);
            self.routine_access(s, p, t, rng, events, &mut || id(n));
        }
        // About one shift in two, a patient whose care the files do not show yet.
        let pending = if st.team.is_empty() {
            &layout.org_pending[org]
        } else {
            layout.team_pending.get(&st.team).unwrap_or(&empty)
        };
        if rng.random::<f64>() < 0.5 {
            if let Some(p) = pending.choose(rng) {
                let t = rng.random_range(start..end);
                self.routine_access(s, *p, t, rng, events, &mut || id(n));
            }
        }
        // Discharge letters: a ward clerk's day is 15 to 18 exports, and a few prints.
        if st.role == "ward clerk" {
            let exports = rng.random_range(15..=18);
            let prints = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3].choose(rng).copied().unwrap_or(0);
            for k in 0..exports + prints {
                let action = if k < exports { Action::Export } else { Action::Print };
                let p = *pool.choose(rng).unwrap_or(&0);
                events.push(self.event(id(n), s, rng.random_range(start..end), action, p, Outcome::Success));
            }
        }
        if st.role == "administrator" {
            for _ in 0..rng.random_range(0..5) {
                let p = *pool.choose(rng).unwrap_or(&0);
                let action = if rng.random::<bool>() { Action::Print } else { Action::Export };
                events.push(self.event(id(n), s, rng.random_range(start..end), action, p, Outcome::Success));
            }
        }
    }

    /// Opening one patient's record as the role does: receptionists search first, clinicians
    /// update, a few reads more; now and then refused.
    fn routine_access(
        &self,
        s: usize,
        p: usize,
        t: u64,
        rng: &mut ChaCha8Rng,
        events: &mut Vec<super::AuditEvent>,
        id: &mut dyn FnMut() -> String,
    ) {
        let role = self.staff[s].role;
        // A record is opened for a few days after death (certificates, the discharge summary), not
        // in routine work weeks later.
        let died = self.patients[p].deceased_ns;
        if died > 0 && t > died + AFTER_DEATH_DAYS * NS_PER_DAY {
            return;
        }
        if role.ends_with("receptionist") {
            events.push(self.event(id(), s, t, Action::Search, p, Outcome::Success));
        }
        let outcome = if rng.random::<f64>() < 0.004 { Outcome::Denied } else { Outcome::Success };
        events.push(self.event(id(), s, t + NS_PER_SEC, Action::Read, p, outcome));
        for k in 0..rng.random_range(0..3u32) {
            let action = if matches!(role, "doctor" | "GP") && k == 0 { Action::Update } else { Action::Read };
            events.push(self.event(id(), s, t + u64::from(k + 2) * 60 * NS_PER_SEC, action, p, Outcome::Success));
        }
    }

    /// The 27 labelled cases, each just past the threshold of the rule that should see it.
    fn inject_realistic(&mut self, rng: &mut ChaCha8Rng, surnames: &Surnames) {
        use Rule::*;
        let plan: [(Rule, &str); 27] = [
            (FamilyOrNeighbour, "relative at home"),
            (FamilyOrNeighbour, "relative at home"),
            (FamilyOrNeighbour, "neighbour"),
            (FamilyOrNeighbour, "relative elsewhere, rare surname"),
            (FamilyOrNeighbour, "relative elsewhere, rare surname"),
            (FamilyOrNeighbour, "relative elsewhere, common surname"),
            (SelfAccess, "own record"),
            (SelfAccess, "own record"),
            (SensitiveRecord, "celebrity on another ward"),
            (SensitiveRecord, "VIP not cared for"),
            (SensitiveRecord, "VIP not cared for"),
            (SensitiveRecord, "restricted record"),
            (SensitiveRecord, "after death"),
            (NoCareRelationship, "browsing"),
            (NoCareRelationship, "browsing"),
            (NoCareRelationship, "browsing"),
            (NoCareRelationship, "browsing"),
            (BulkOrUnusual, "receptionist exports 18 once"),
            (BulkOrUnusual, "ward clerk far past usual"),
            (BulkOrUnusual, "receptionist searches"),
            (BulkOrUnusual, "nurse prints"),
            (BulkOrUnusual, "break-glass without care"),
            (VolumeSpike, "week of many more records"),
            (VolumeSpike, "week of many more records"),
            (OutOfHours, "evening at home"),
            (OutOfHours, "evening at home"),
            (FailedAccessBurst, "refused again and again"),
        ];
        let first_day = self.config.days.saturating_sub(self.config.injected_days);
        for (i, (rule, variant)) in plan.into_iter().enumerate() {
            let fits = |st: &Staff| match variant {
                "relative at home" | "neighbour" | "relative elsewhere, rare surname" => st.relative.is_some(),
                "relative elsewhere, common surname" => surnames.is_common(&st.surname),
                "own record" => st.own_patient.is_some(),
                "celebrity on another ward" => st.role == "nurse" && st.team.starts_with("Ward") && st.team != "Ward 3",
                "receptionist exports 18 once" | "receptionist searches" => st.role.ends_with("receptionist"),
                "ward clerk far past usual" => st.role == "ward clerk",
                "nurse prints" => st.role == "nurse",
                "break-glass without care" => st.role == "doctor",
                "week of many more records" | "evening at home" => st.shift == Shift::Day && st.role != "ward clerk",
                _ => true,
            };
            let mut pick = None;
            for _ in 0..5_000 {
                let s = rng.random_range(0..self.staff.len());
                // Not the last day: a night shift's events run into the next, which must be in the log.
                let day = rng.random_range(first_day..self.config.days - 1);
                let busy = self.labels.iter().any(|l| l.user_id == self.staff[s].user_id);
                if fits(&self.staff[s]) && !busy && self.works(s, day) {
                    pick = Some((s, day));
                    break;
                }
            }
            let Some((s, day)) = pick else { continue };
            self.plan_realistic(rule, variant, i as u32 + 1, s, day, rng, surnames);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_realistic(
        &mut self,
        rule: Rule,
        variant: &str,
        id: u32,
        s: usize,
        day: u32,
        rng: &mut ChaCha8Rng,
        surnames: &Surnames,
    ) {
        let org = usize::from(self.staff[s].organisation == PRACTICE);
        let (start, end) = self.shift_ns(s, day);
        let at = |rng: &mut ChaCha8Rng| rng.random_range(start..end);
        // A session of bulk work: within three hours of the shift, so one day's whatever the shift.
        let session = |rng: &mut ChaCha8Rng| start + rng.random_range(0..(end - start).min(3 * NS_PER_HOUR));
        let mut events = Vec::new();
        let mut touched = Vec::new();
        let mut k = 0u32;
        let mut eid = || {
            k += 1;
            format!("inj-{id}-{k}")
        };
        let read = |this: &Scenario, p: usize, t: u64, events: &mut Vec<super::AuditEvent>, id: String| {
            events.push(this.event(id, s, t, Action::Read, p, Outcome::Success));
        };
        let description = match variant {
            "relative at home"
            | "neighbour"
            | "relative elsewhere, rare surname"
            | "relative elsewhere, common surname" => {
                let p = match variant {
                    "relative elsewhere, common surname" => self.unrelated(org, rng, |_| true),
                    _ => self.staff[s].relative.unwrap_or(0),
                };
                let (surname, home) = (self.staff[s].surname.clone(), self.staff[s].address.clone());
                match variant {
                    "relative at home" => (self.patients[p].surname, self.patients[p].address) = (surname, home),
                    "neighbour" => {
                        self.patients[p].address = home;
                        self.patients[p].surname = surnames.rare(rng);
                    }
                    "relative elsewhere, rare surname" => {
                        // Their own surname made rare, shared only with the relative (another address).
                        let rare = surnames.rare(rng);
                        self.staff[s].surname = rare.clone();
                        self.patients[p].surname = rare;
                        self.patients[p].address = address(rng);
                    }
                    _ => {
                        // A common surname, another address: only a next-of-kin link (when the
                        // index has the member of staff's own record, and the relative named them)
                        // tells family from a stranger of the same name.
                        self.patients[p].surname = surname;
                        self.patients[p].address = address(rng);
                        if let Some(own) = self.staff[s].own_patient.filter(|_| rng.random::<f64>() < NEXT_OF_KIN) {
                            self.patients[p].next_of_kin = self.patients[own].nhs_number.clone();
                        }
                    }
                }
                touched.push(p);
                for _ in 0..rng.random_range(1..3) {
                    read(self, p, at(rng), &mut events, eid());
                }
                format!("[{variant}] opened a relative's or neighbour's record")
            }
            "own record" => {
                let p = self.staff[s].own_patient.unwrap_or(0);
                touched.push(p);
                read(self, p, at(rng), &mut events, eid());
                format!("[{variant}] opened their own record")
            }
            "celebrity on another ward" | "VIP not cared for" | "restricted record" | "after death" => {
                let p = match variant {
                    "celebrity on another ward" => self
                        .layout
                        .as_ref()
                        .and_then(|l| l.team_patients.get("Ward 3"))
                        .and_then(|w| w.iter().copied().find(|p| self.patients[*p].vip))
                        .unwrap_or(0),
                    "VIP not cared for" => self.unrelated(org, rng, |p| p.vip),
                    "restricted record" => self.unrelated(org, rng, |p| p.restricted),
                    _ => self.unrelated(org, rng, |p| p.deceased_ns > 0 && p.deceased_ns < start),
                };
                touched.push(p);
                for _ in 0..rng.random_range(1..3) {
                    read(self, p, at(rng), &mut events, eid());
                }
                format!("[{variant}] opened a flagged record without a reason")
            }
            "browsing" => {
                // Within two hours, so the session is one day's whatever the shift.
                let n = rng.random_range(5..=7);
                let t0 = start + (end - start) / 4;
                for _ in 0..n {
                    let p = self.unrelated(org, rng, |_| true);
                    touched.push(p);
                    read(self, p, t0 + rng.random_range(0..2 * NS_PER_HOUR), &mut events, eid());
                }
                format!("[{variant}] browsed {n} records of patients their organisation does not care for")
            }
            "receptionist exports 18 once" | "ward clerk far past usual" | "nurse prints" => {
                let (n, action) = match variant {
                    "receptionist exports 18 once" => (18, Action::Export),
                    "ward clerk far past usual" => (rng.random_range(30..=34), Action::Export),
                    _ => (22, Action::Print),
                };
                for _ in 0..n {
                    let p = *self.related[org].choose(rng).unwrap_or(&0);
                    events.push(self.event(eid(), s, session(rng), action, p, Outcome::Success));
                }
                format!(
                    "[{variant}] {} {n} records in a day",
                    if action == Action::Print { "printed" } else { "exported" }
                )
            }
            "receptionist searches" => {
                for _ in 0..155 {
                    let p = *self.related[org].choose(rng).unwrap_or(&0);
                    events.push(self.event(eid(), s, session(rng), Action::Search, p, Outcome::Success));
                }
                format!("[{variant}] searched 155 times in a day")
            }
            "break-glass without care" => {
                let p = self.unrelated(org, rng, |_| true);
                touched.push(p);
                events.push(self.event(eid(), s, at(rng), Action::BreakGlass, p, Outcome::Success));
                format!("[{variant}] broke the glass on a record with no care relationship")
            }
            "week of many more records" => {
                let week_start = day - day % 7;
                let usual = patients_per_shift(self.staff[s].role) * self.staff[s].pace * 5.0;
                let extra = (usual * rng.random_range(2.6..3.2)) as usize;
                for _ in 0..extra {
                    let d = week_start + rng.random_range(0..5).min(self.config.days - 1 - week_start);
                    let (a, b) = self.shift_ns(s, d);
                    let p = *self.related[org].choose(rng).unwrap_or(&0);
                    touched.push(p);
                    read(self, p, rng.random_range(a..b), &mut events, eid());
                }
                touched.clear();
                format!("[{variant}] opened {extra} extra records in one week")
            }
            "evening at home" => {
                let evening = self.config.start_ns + u64::from(day) * NS_PER_DAY + 19 * NS_PER_HOUR;
                let local_start = evening + rng.random_range(0..5 * NS_PER_HOUR);
                let begin = local_start - (self.clock.offset_at(local_start).max(0) as u64) * NS_PER_SEC;
                let n = rng.random_range(3..=5);
                for _ in 0..n {
                    let p = *self.related[org].choose(rng).unwrap_or(&0);
                    touched.push(p);
                    read(self, p, begin + rng.random_range(0..NS_PER_HOUR), &mut events, eid());
                }
                format!("[{variant}] opened {n} records out of hours")
            }
            _ => {
                let t0 = at(rng).min(end.saturating_sub(10 * 60 * NS_PER_SEC));
                for _ in 0..11 {
                    let p = rng.random_range(0..self.patients.len());
                    let t = t0 + rng.random_range(0..5 * 60 * NS_PER_SEC);
                    events.push(self.event(eid(), s, t, Action::Read, p, Outcome::Denied));
                }
                format!("[{variant}] was refused 11 times within five minutes")
            }
        };
        self.label(rule, id, s, start, events, touched, description);
    }
}
