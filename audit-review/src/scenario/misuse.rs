//! The misuse scenarios injected into the synthetic log: one plan per rule, each labelled with
//! who, which patients and when, so findings can be scored against it.

use audit_store::{Action, Outcome, PatientRecord};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Label, Scenario, Shift, NS_PER_DAY, NS_PER_HOUR, NS_PER_SEC, ROLES};
use crate::rules::Rule;

impl Scenario {
    /// Plans every misuse scenario: `scenarios_per_kind` of each, in the last `injected_days`.
    pub(super) fn inject(&mut self, rng: &mut ChaCha8Rng) {
        let first_day = self.config.days.saturating_sub(self.config.injected_days);
        let mut next_id = 0u32;
        for rule in Rule::ALL {
            for _ in 0..self.config.scenarios_per_kind {
                // Someone on day shifts (for volume and hours) or anyone, working that day.
                let mut pick = None;
                for _ in 0..1_000 {
                    let s = rng.random_range(0..self.staff.len());
                    let day = rng.random_range(first_day..self.config.days);
                    let st = &self.staff[s];
                    let fits = match rule {
                        Rule::VolumeSpike | Rule::OutOfHours => st.shift == Shift::Day,
                        Rule::SelfAccess => st.own_patient.is_some(),
                        Rule::FamilyOrNeighbour => st.relative.is_some(),
                        _ => true,
                    };
                    let busy = self.labels.iter().any(|l| l.user_id == st.user_id);
                    if fits && !busy && self.works(s, day) {
                        pick = Some((s, day));
                        break;
                    }
                }
                let Some((s, day)) = pick else { continue };
                next_id += 1;
                self.plan(rule, next_id, s, day, rng);
            }
        }
    }

    fn plan(&mut self, rule: Rule, id: u32, s: usize, day: u32, rng: &mut ChaCha8Rng) {
        let org = self.org_index(&self.staff[s].organisation);
        let (start, end) = self.shift_ns(s, day);
        let at = |rng: &mut ChaCha8Rng| rng.random_range(start..end);
        let mut events = Vec::new();
        let mut touched = Vec::new();
        let mut k = 0u32;
        let mut eid = || {
            k += 1;
            format!("inj-{id}-{k}")
        };
        let description;
        match rule {
            Rule::VolumeSpike => {
                // A week of opening many more records than usual, beside normal work. Magnitudes straddle
                // the rule's thresholds: a modest rise is misuse too, and may be missed.
                let week_start = day - day % 7;
                let usual = self.config.patients_per_shift
                    * ROLES.iter().find(|r| r.0 == self.staff[s].role).map_or(1.0, |r| r.1)
                    * self.staff[s].pace
                    * 5.0;
                let extra = (usual * rng.random_range(1.5..6.0)) as usize;
                for _ in 0..extra {
                    let d = week_start + rng.random_range(0..5).min(self.config.days - 1 - week_start);
                    let (a, b) = self.shift_ns(s, d);
                    let p = rng.random_range(0..self.patients.len());
                    touched.push(p);
                    events.push(self.event(eid(), s, rng.random_range(a..b), Action::Read, p, Outcome::Success));
                }
                description = format!("opened {extra} extra records in one week");
            }
            Rule::OutOfHours => {
                // Records the organisation does care for, opened in the evening or at night: from
                // 18:30 (just after a day shift, hard to tell from overtime) to 01:00.
                let evening = self.config.start_ns + u64::from(day) * NS_PER_DAY + 18 * NS_PER_HOUR + NS_PER_HOUR / 2;
                let local_start = evening + rng.random_range(0..13 * NS_PER_HOUR / 2);
                let begin = local_start - (self.clock.offset_at(local_start).max(0) as u64) * NS_PER_SEC;
                let n = rng.random_range(2..6);
                for _ in 0..n {
                    let p = *self.related[org].choose(rng).unwrap_or(&0);
                    touched.push(p);
                    let t = begin + rng.random_range(0..NS_PER_HOUR);
                    events.push(self.event(eid(), s, t, Action::Read, p, Outcome::Success));
                }
                description = format!("opened {n} records out of hours");
            }
            Rule::FamilyOrNeighbour | Rule::SelfAccess => {
                let p = if rule == Rule::SelfAccess { self.staff[s].own_patient } else { self.staff[s].relative }
                    .unwrap_or(0);
                touched.push(p);
                for _ in 0..rng.random_range(1..3) {
                    events.push(self.event(eid(), s, at(rng), Action::Read, p, Outcome::Success));
                }
                description = if rule == Rule::SelfAccess {
                    "opened their own record".into()
                } else {
                    "opened a relative's or neighbour's record".into()
                };
            }
            Rule::SensitiveRecord => {
                let when = start;
                let flagged = |p: &PatientRecord| p.vip || p.restricted || (p.deceased_ns > 0 && p.deceased_ns < when);
                // One in four looks at a flagged patient their organisation does care for: curiosity
                // a care relationship seems to explain, which explanation-based rules cannot see.
                let explained = rng.random::<f64>() < 0.25;
                let p = if explained {
                    self.related[org].iter().copied().find(|p| flagged(&self.patients[*p]))
                } else {
                    None
                }
                .unwrap_or_else(|| self.unrelated(org, rng, flagged));
                touched.push(p);
                for _ in 0..rng.random_range(1..3) {
                    events.push(self.event(eid(), s, at(rng), Action::Read, p, Outcome::Success));
                }
                description = if explained {
                    "opened a flagged record of a patient their organisation cares for, without a reason".into()
                } else {
                    "opened a flagged record with no care relationship".into()
                };
            }
            Rule::NoCareRelationship => {
                let n = rng.random_range(4..13);
                for _ in 0..n {
                    let p = self.unrelated(org, rng, |_| true);
                    touched.push(p);
                    events.push(self.event(eid(), s, at(rng), Action::Read, p, Outcome::Success));
                }
                description = format!("browsed {n} records of patients their organisation does not care for");
            }
            Rule::BulkOrUnusual => {
                if id.is_multiple_of(2) {
                    let n = rng.random_range(15..80);
                    for _ in 0..n {
                        let p = *self.related[org].choose(rng).unwrap_or(&0);
                        events.push(self.event(eid(), s, at(rng), Action::Export, p, Outcome::Success));
                    }
                    description = format!("exported {n} records in a day");
                } else {
                    let p = self.unrelated(org, rng, |_| true);
                    touched.push(p);
                    events.push(self.event(eid(), s, at(rng), Action::BreakGlass, p, Outcome::Success));
                    description = "broke the glass on a record with no care relationship".into();
                }
            }
            Rule::FailedAccessBurst => {
                let t0 = at(rng).min(end.saturating_sub(10 * 60 * NS_PER_SEC));
                let n = rng.random_range(8..40);
                for _ in 0..n {
                    let p = rng.random_range(0..self.patients.len());
                    let t = t0 + rng.random_range(0..5 * 60 * NS_PER_SEC);
                    events.push(self.event(eid(), s, t, Action::Read, p, Outcome::Denied));
                }
                description = format!("was refused {n} times within five minutes");
            }
        }
        self.label(rule, id, s, start, events, touched, description);
    }

    /// Labels one planned misuse (who, which patients, when) and schedules its events.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn label(
        &mut self,
        rule: Rule,
        id: u32,
        s: usize,
        start: u64,
        events: Vec<audit_store::AuditEvent>,
        mut touched: Vec<usize>,
        description: String,
    ) {
        let from_ns = events.iter().map(|e| e.occurred_ns).min().unwrap_or(start);
        let to_ns = events.iter().map(|e| e.occurred_ns).max().unwrap_or(start) + 1;
        touched.sort_unstable();
        touched.dedup();
        self.labels.push(Label {
            id,
            rule,
            user_id: self.staff[s].user_id.clone(),
            nhs_numbers: touched.iter().map(|p| self.patients[*p].nhs_number.clone()).collect(),
            from_ns,
            to_ns,
            description,
        });
        for e in events {
            let d = ((e.occurred_ns - self.config.start_ns) / NS_PER_DAY) as u32;
            self.injected.entry(d).or_default().push(e);
        }
    }
}
