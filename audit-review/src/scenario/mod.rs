//! A labelled synthetic access log, to measure what the rules catch and what they wrongly raise.
//!
//! The world: organisations, staff in roles working day, late or night shifts (with leave, overtime
//! and early starts), patients registered with one organisation (some referred to another), a few
//! VIP, restricted or deceased, staff who are patients themselves and have relatives. Every day each
//! member of staff on shift opens patients' records, almost always patients their organisation
//! cares for; the rest of the time someone they cover for. Into the last weeks go labelled misuse
//! scenarios of every kind the rules look for. Everything follows from the seed: the same
//! configuration gives the same log, byte for byte, and the same labels.
//!
//! What it is not: a model of any real organisation. Its rates are plausible, not measured; the
//! figures it yields show how the rules behave on this world, and move when the world does.
//!
//! A little past 600 lines: the world's description and its generator read as one story; the
//! misuse cases are already in their own module.

use std::collections::HashMap;

use audit_store::{
    chain, Action, Actor, AuditEvent, CareRelationship, ChainLink, LocalClock, Outcome, PatientRecord, StaffMember,
    StoreError, TelemetryStore,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use self::people::{address, nhs_number, SURNAMES};
use crate::rules::Rule;

mod misuse;
mod people;
mod postcodes;
mod realistic;
mod surnames;

const NS_PER_SEC: u64 = 1_000_000_000;
const NS_PER_HOUR: u64 = 3_600 * NS_PER_SEC;
const NS_PER_DAY: u64 = 24 * NS_PER_HOUR;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioConfig {
    pub seed: u64,
    /// Midnight UTC of the first day.
    pub start_ns: u64,
    pub days: u32,
    /// Misuse goes into the last `injected_days` days, after enough history for baselines.
    pub injected_days: u32,
    pub organisations: u32,
    pub staff_per_organisation: u32,
    pub patients: u32,
    pub scenarios_per_kind: u32,
    /// Mean distinct patients one member of staff opens in a shift.
    pub patients_per_shift: f64,
    /// Which world: the classic one these settings describe, or the harder, realistic one (which
    /// fixes its own organisations, staff and cases, and takes only the seed, dates and patients).
    pub world: World,
}

/// The world the log is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum World {
    /// Four like organisations, uniform surnames, complete care data, misuse of every kind at
    /// every magnitude (`scenarios_per_kind` of each).
    #[default]
    Classic,
    /// An acute trust with wards and a GP practice, surnames as a city catchment holds them, care
    /// data that lag, clerks whose job is bulk, and 27 cases just past the thresholds
    /// (`scenario::realistic`).
    Realistic,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            seed: 1,
            // Monday 2026-09-07 00:00 UTC.
            start_ns: 1_788_739_200 * NS_PER_SEC,
            days: 56,
            injected_days: 14,
            organisations: 4,
            staff_per_organisation: 40,
            patients: 20_000,
            scenarios_per_kind: 8,
            patients_per_shift: 25.0,
            world: World::Classic,
        }
    }
}

impl ScenarioConfig {
    /// A configuration whose log holds about `events` events (staff numbers scale; at least one
    /// member of staff per organisation in each role).
    pub fn for_events(events: u64, seed: u64) -> ScenarioConfig {
        let base = ScenarioConfig { seed, ..ScenarioConfig::default() };
        // Measured: asking for 10 million with 2.1 events per patient opened and 0.82 shifts per day
        // per member of staff gave 8.26 million, so about 1.73 events per patient opened.
        let per_staff = f64::from(base.days) * 0.82 * base.patients_per_shift * 1.73;
        let staff = (events as f64 / per_staff / f64::from(base.organisations)).ceil().max(8.0) as u32;
        let patients = (staff * base.organisations * 120).max(20_000);
        ScenarioConfig { staff_per_organisation: staff, patients, ..base }
    }

    pub fn end_ns(&self) -> u64 {
        self.start_ns + u64::from(self.days) * NS_PER_DAY
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shift {
    /// 08:00–18:00, Monday to Friday.
    Day,
    /// 14:00–22:00, four days in seven.
    Late,
    /// 20:00–06:00, four nights in seven.
    Night,
}

#[derive(Debug, Clone, Serialize)]
pub struct Staff {
    pub user_id: String,
    pub role: &'static str,
    pub organisation: String,
    pub shift: Shift,
    pub surname: String,
    pub address: String,
    /// Index of their own patient record, if they are a patient in the index.
    pub own_patient: Option<usize>,
    /// Index of a relative's patient record (registered elsewhere), if any.
    pub relative: Option<usize>,
    /// Personal pace: multiplies the role's rate.
    pub pace: f64,
    /// Days on leave: `[from, to)` day numbers.
    pub leave: (u32, u32),
    /// The ward, clinic or other team they work in (the realistic world); empty when none.
    pub team: String,
}

/// One injected misuse: who, which patients, when, and which rule should catch it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub id: u32,
    pub rule: Rule,
    pub user_id: String,
    /// The patients involved (empty when the scenario is about volume rather than one patient).
    pub nhs_numbers: Vec<String>,
    pub from_ns: u64,
    pub to_ns: u64,
    pub description: String,
}

pub struct Scenario {
    pub config: ScenarioConfig,
    pub staff: Vec<Staff>,
    pub patients: Vec<PatientRecord>,
    pub relationships: Vec<CareRelationship>,
    pub labels: Vec<Label>,
    /// Patients each organisation cares for (indexes into `patients`), as a list and a set.
    related: Vec<Vec<usize>>,
    related_sets: Vec<std::collections::HashSet<usize>>,
    /// Injected events by day.
    injected: HashMap<u32, Vec<AuditEvent>>,
    clock: LocalClock,
    /// Teams and what the context files do not say yet: the realistic world only.
    layout: Option<realistic::Layout>,
}

/// Staff who are patients in the index get their own surname and home on their record; their
/// relatives get their home, and their surname where `shares_surname(patient index)` says so.
fn home_staff(staff: &[Staff], patients: &mut [PatientRecord], shares_surname: impl Fn(usize) -> bool) {
    for s in staff {
        if let Some(p) = s.own_patient {
            patients[p].surname = s.surname.clone();
            patients[p].address = s.address.clone();
        }
        if let Some(p) = s.relative {
            patients[p].address = s.address.clone();
            if shares_surname(p) {
                patients[p].surname = s.surname.clone();
            }
        }
    }
}

const ROLES: [(&str, f64); 4] = [("receptionist", 1.4), ("clinician", 1.0), ("nurse", 0.9), ("administrator", 0.5)];
impl Scenario {
    pub fn new(config: ScenarioConfig) -> Scenario {
        if config.world == World::Realistic {
            return realistic::build(config);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let clock = LocalClock::europe_london(config.start_ns, config.end_ns());
        let orgs: Vec<String> = (0..config.organisations).map(|i| format!("Y9{:04}", i + 1)).collect();
        let before = config.start_ns.saturating_sub(365 * NS_PER_DAY);

        // Patients, each registered with one organisation; one in ten referred to another.
        let mut patients = Vec::with_capacity(config.patients as usize);
        let mut registered = Vec::with_capacity(config.patients as usize);
        let mut related: Vec<Vec<usize>> = vec![Vec::new(); orgs.len()];
        let mut relationships = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..config.patients as usize {
            let mut nhs = nhs_number(&mut rng);
            while !seen.insert(nhs.clone()) {
                nhs = nhs_number(&mut rng);
            }
            let roll: f64 = rng.random();
            let deceased_ns = if roll < 0.01 {
                config.start_ns + rng.random_range(0..u64::from(config.days) * NS_PER_DAY)
            } else {
                0
            };
            // Households: most patients after the first join the previous one's (two or three to an
            // address, usually sharing a surname).
            let household = patients.last().filter(|_| rng.random::<f64>() < 0.55).map(|p: &PatientRecord| {
                let surname = if rng.random::<f64>() < 0.8 {
                    p.surname.clone()
                } else {
                    SURNAMES.choose(&mut rng).unwrap_or(&"Smith").to_string()
                };
                (surname, p.address.clone())
            });
            let (surname, home) = household
                .unwrap_or_else(|| (SURNAMES.choose(&mut rng).unwrap_or(&"Smith").to_string(), address(&mut rng)));
            patients.push(PatientRecord {
                nhs_number: nhs.clone(),
                surname,
                address: home,
                vip: (0.01..0.013).contains(&roll),
                restricted: (0.013..0.018).contains(&roll),
                deceased_ns,
                next_of_kin: String::new(),
                postcode: String::new(),
            });
            let org = rng.random_range(0..orgs.len());
            registered.push(org);
            related[org].push(i);
            relationships.push(CareRelationship {
                organisation: orgs[org].clone(),
                nhs_number: nhs.clone(),
                kind: "registration".into(),
                from_ns: before,
                ..Default::default()
            });
            if orgs.len() > 1 && rng.random::<f64>() < 0.1 {
                let other = (org + rng.random_range(1..orgs.len())) % orgs.len();
                related[other].push(i);
                relationships.push(CareRelationship {
                    organisation: orgs[other].clone(),
                    nhs_number: nhs,
                    kind: "referral".into(),
                    from_ns: before,
                    ..Default::default()
                });
            }
        }

        let related_sets: Vec<std::collections::HashSet<usize>> =
            related.iter().map(|r| r.iter().copied().collect()).collect();
        // Staff: roles in turn, mostly day shifts; a third are patients here themselves (registered
        // elsewhere), and some have a relative registered elsewhere.
        let mut staff = Vec::new();
        for (o, org) in orgs.iter().enumerate() {
            for n in 0..config.staff_per_organisation {
                let (role, _) = ROLES[n as usize % ROLES.len()];
                let shift = match rng.random_range(0..10) {
                    0 => Shift::Night,
                    1 => Shift::Late,
                    _ => Shift::Day,
                };
                let surname = SURNAMES.choose(&mut rng).unwrap_or(&"Smith").to_string();
                let home = address(&mut rng);
                let elsewhere = |rng: &mut ChaCha8Rng| -> Option<usize> {
                    (0..50)
                        .map(|_| rng.random_range(0..patients.len()))
                        .find(|p| registered[*p] != o && !related_sets[o].contains(p))
                };
                let own_patient = if rng.random::<f64>() < 0.35 { elsewhere(&mut rng) } else { None };
                let relative = if rng.random::<f64>() < 0.35 { elsewhere(&mut rng) } else { None };
                let leave_start = rng.random_range(0..config.days.saturating_sub(config.injected_days + 5).max(1));
                staff.push(Staff {
                    user_id: format!("{org}-{:03}", n + 1),
                    role,
                    organisation: org.clone(),
                    shift,
                    surname,
                    address: home,
                    own_patient,
                    relative,
                    pace: rng.random_range(0.7..1.3),
                    leave: (leave_start, leave_start + 5),
                    team: String::new(),
                });
            }
        }
        // Half of the relatives share surname and home (family), half only the address (the same
        // building).
        home_staff(&staff, &mut patients, |p| p % 2 == 0);

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
            layout: None,
        };
        scenario.inject(&mut rng);
        scenario
    }

    /// The staff directory a deployment would load.
    pub fn directory(&self) -> Vec<StaffMember> {
        self.staff
            .iter()
            .map(|s| StaffMember {
                user_id: s.user_id.clone(),
                surname: s.surname.clone(),
                address: s.address.clone(),
                nhs_number: s.own_patient.map(|p| self.patients[p].nhs_number.clone()).unwrap_or_default(),
                teams: if s.team.is_empty() { Vec::new() } else { vec![s.team.clone()] },
                postcode: String::new(),
            })
            .collect()
    }

    fn org_index(&self, org: &str) -> usize {
        self.staff
            .iter()
            .position(|s| s.organisation == org)
            .map_or(0, |i| i / self.config.staff_per_organisation.max(1) as usize)
    }

    fn works(&self, s: usize, day: u32) -> bool {
        let st = &self.staff[s];
        if day >= st.leave.0 && day < st.leave.1 {
            return false;
        }
        let weekday = ((self.config.start_ns / NS_PER_DAY) as i64 + i64::from(day) + 3).rem_euclid(7);
        match st.shift {
            Shift::Day => weekday < 5,
            Shift::Late | Shift::Night => (u64::from(day) + s as u64) % 7 < 4,
        }
    }

    /// A shift's start and end, UTC, on `day` (a night shift ends the next morning).
    fn shift_ns(&self, s: usize, day: u32) -> (u64, u64) {
        let (start, hours) = match self.staff[s].shift {
            Shift::Day => (8, 10),
            Shift::Late => (14, 8),
            Shift::Night => (20, 10),
        };
        let local = |hour: u64| self.config.start_ns + u64::from(day) * NS_PER_DAY + hour * NS_PER_HOUR;
        let to_utc =
            |local_ns: u64| local_ns.saturating_sub((self.clock.offset_at(local_ns).max(0) as u64) * NS_PER_SEC);
        (to_utc(local(start)), to_utc(local(start + hours)))
    }

    fn event(&self, id: String, s: usize, at_ns: u64, action: Action, patient: usize, outcome: Outcome) -> AuditEvent {
        let st = &self.staff[s];
        AuditEvent {
            event_id: id,
            occurred_ns: at_ns,
            actor: Actor {
                user_id: st.user_id.clone(),
                name: format!("{} {}", st.role, st.surname),
                role: st.role.into(),
                organisation: st.organisation.clone(),
            },
            purpose_of_use: if action == Action::BreakGlass { "emergency".into() } else { "direct care".into() },
            action,
            nhs_number: self.patients[patient].nhs_number.clone(),
            resource_type: "Patient".into(),
            resource_id: self.patients[patient].nhs_number.clone(),
            outcome,
            correlation_id: String::new(),
            request_id: String::new(),
            source_system: "synthetic-ehr".into(),
            client_address: String::new(),
            device: String::new(),
        }
    }

    /// A patient no relationship of `org` explains.
    fn unrelated(&self, org: usize, rng: &mut ChaCha8Rng, pred: impl Fn(&PatientRecord) -> bool) -> usize {
        for _ in 0..10_000 {
            let p = rng.random_range(0..self.patients.len());
            if !self.related_sets[org].contains(&p) && pred(&self.patients[p]) {
                return p;
            }
        }
        0
    }

    /// Every event of one day (UTC), legitimate and injected, in time order.
    pub fn day(&self, day: u32) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let day_start = self.config.start_ns + u64::from(day) * NS_PER_DAY;
        let day_end = day_start + NS_PER_DAY;
        // Shifts that started yesterday (nights) or today, clipped to today.
        for s in 0..self.staff.len() {
            for d in [day.checked_sub(1), Some(day)].into_iter().flatten() {
                if !self.works(s, d) {
                    continue;
                }
                let mut shift_rng = ChaCha8Rng::seed_from_u64(
                    self.config.seed ^ ((u64::from(d) << 32) | s as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                );
                // Event ids count within the shift: a night shift is generated on both of its days
                // (each keeps its own day's part), and its events get the same ids both times.
                let mut n = 0u64;
                let (mut start, mut end) = self.shift_ns(s, d);
                // Now and then an early start or a late finish: an hour either side.
                if shift_rng.random::<f64>() < 0.05 {
                    start = start.saturating_sub(NS_PER_HOUR);
                }
                if shift_rng.random::<f64>() < 0.05 {
                    end += NS_PER_HOUR;
                }
                match &self.layout {
                    Some(layout) => {
                        self.realistic_shift(layout, s, d, (start, end), &mut shift_rng, &mut events, &mut n)
                    }
                    None => self.shift_events(s, d, start, end, &mut shift_rng, &mut events, &mut n),
                }
            }
        }
        events.retain(|e| e.occurred_ns >= day_start && e.occurred_ns < day_end);
        if let Some(extra) = self.injected.get(&day) {
            events.extend(extra.iter().cloned());
        }
        events.sort_by(|a, b| a.occurred_ns.cmp(&b.occurred_ns).then_with(|| a.event_id.cmp(&b.event_id)));
        events
    }

    #[allow(clippy::too_many_arguments)]
    fn shift_events(
        &self,
        s: usize,
        d: u32,
        start: u64,
        end: u64,
        rng: &mut ChaCha8Rng,
        events: &mut Vec<AuditEvent>,
        n: &mut u64,
    ) {
        let st = &self.staff[s];
        let org = self.org_index(&st.organisation);
        let rate = ROLES.iter().find(|r| r.0 == st.role).map_or(1.0, |r| r.1);
        let mean = self.config.patients_per_shift * rate * st.pace;
        let patients = rng.random_range(mean * 0.6..mean * 1.4).round() as usize;
        let id = |n: &mut u64| {
            *n += 1;
            format!("syn-{}-{d}-{}", st.user_id, n)
        };
        for _ in 0..patients {
            // Almost always someone the organisation cares for; otherwise someone they cover for.
            let p = if rng.random::<f64>() < 0.985 || self.related[org].is_empty() {
                *self.related[org].choose(rng).unwrap_or(&0)
            } else {
                rng.random_range(0..self.patients.len())
            };
            let t = rng.random_range(start..end);
            if st.role == "receptionist" {
                events.push(self.event(id(n), s, t, Action::Search, p, Outcome::Success));
            }
            let outcome = if rng.random::<f64>() < 0.004 { Outcome::Denied } else { Outcome::Success };
            events.push(self.event(id(n), s, t + NS_PER_SEC, Action::Read, p, outcome));
            let more = rng.random_range(0..3u32);
            for k in 0..more {
                let action = if st.role == "clinician" && k == 0 { Action::Update } else { Action::Read };
                events.push(self.event(id(n), s, t + u64::from(k + 2) * 60 * NS_PER_SEC, action, p, Outcome::Success));
            }
        }
        // Administrators print and export a little every day.
        if st.role == "administrator" {
            for _ in 0..rng.random_range(0..5) {
                let p = *self.related[org].choose(rng).unwrap_or(&0);
                let action = if rng.random::<bool>() { Action::Print } else { Action::Export };
                events.push(self.event(id(n), s, rng.random_range(start..end), action, p, Outcome::Success));
            }
        }
        // Rarely, a clinician breaks the glass in a real emergency.
        if st.role == "clinician" && rng.random::<f64>() < 0.002 {
            let p = rng.random_range(0..self.patients.len());
            events.push(self.event(id(n), s, rng.random_range(start..end), Action::BreakGlass, p, Outcome::Success));
        }
    }

    /// Loads the world's context and every day's events into `store`, chained as the collector
    /// would (received when they occurred). Returns the number of events written.
    pub async fn load<S: TelemetryStore>(
        &self,
        store: &S,
        mut progress: impl FnMut(u32, u64),
    ) -> Result<u64, StoreError> {
        store.replace_staff_directory(&self.directory()).await?;
        store.replace_patient_index(&self.patients).await?;
        store.add_care_relationships(&self.relationships).await?;
        let mut head: Option<ChainLink> = None;
        let mut written = 0u64;
        for day in 0..self.config.days {
            let mut stored = Vec::new();
            for event in self.day(day) {
                let received = event.occurred_ns;
                let record = chain::link(head.as_ref(), received, event);
                head = Some(ChainLink { seq: record.seq, hash: record.hash.clone() });
                stored.push(record);
            }
            for chunk in stored.chunks(20_000) {
                store.insert_audit_events(chunk).await?;
            }
            written += stored.len() as u64;
            progress(day, written);
        }
        Ok(written)
    }
}
