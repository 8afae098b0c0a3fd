//! Postcodes for the realistic world: fictional ones (outward codes `ZZ1` to `ZZ4`, which no real
//! postcode uses; the NHS's `ZZ99` pseudo-postcodes are not among them), laid out as a city's are.
//!
//! - The trust's catchment is twelve postcode sectors; the practice's is three of them, where most
//!   of its registered patients live (85 %) and most of its staff (80 %).
//! - A unit is one street of a town within a sector.
//! - A relative living apart from a member of staff lives in the same sector
//!   [`RELATIVE_IN_SECTOR`] of the time (families stay near each other): what makes a shared
//!   common surname worth something.
//!
//! Drawn from a random stream of their own, so the rest of the world (events, labels) is the same
//! with them as without them. Each address gets its postcode at its end, where the store finds it.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::realistic::PRACTICE;
use super::Scenario;
use crate::rules::score::RELATIVE_IN_SECTOR;

/// The trust's sectors; the practice's are the first three.
const SECTORS: [&str; 12] =
    ["ZZ1 1", "ZZ1 2", "ZZ1 3", "ZZ2 1", "ZZ2 2", "ZZ2 3", "ZZ3 1", "ZZ3 2", "ZZ3 4", "ZZ4 1", "ZZ4 5", "ZZ4 7"];
const PRACTICE_SECTORS: usize = 3;

fn sector(rng: &mut ChaCha8Rng, local_share: f64) -> usize {
    if rng.random::<f64>() < local_share {
        rng.random_range(0..PRACTICE_SECTORS)
    } else {
        rng.random_range(0..SECTORS.len())
    }
}

impl Scenario {
    /// Gives every household (an address) a postcode, appended to the address.
    pub(super) fn give_postcodes(&mut self, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x706f_7374_636f_6465);
        let mut sectors: HashMap<String, usize> = HashMap::new();
        // Staff first, then the relatives who live apart from them, then everyone else.
        for st in &self.staff {
            let local = if st.organisation == PRACTICE { 0.8 } else { 0.0 };
            let s = sector(&mut rng, local);
            sectors.entry(st.address.clone()).or_insert(s);
        }
        let mut relatives: Vec<(usize, usize)> =
            self.staff.iter().enumerate().filter_map(|(s, st)| st.relative.map(|p| (s, p))).collect();
        for label in self.labels.iter().filter(|l| l.description.starts_with("[relative elsewhere")) {
            let s = self.staff.iter().position(|st| st.user_id == label.user_id);
            for nhs in &label.nhs_numbers {
                let p = self.patients.iter().position(|p| &p.nhs_number == nhs);
                if let (Some(s), Some(p)) = (s, p) {
                    relatives.push((s, p));
                }
            }
        }
        for (s, p) in relatives {
            let (home, theirs) = (&self.staff[s].address, &self.patients[p].address);
            if home != theirs && !sectors.contains_key(theirs) && rng.random::<f64>() < RELATIVE_IN_SECTOR {
                let near = sectors.get(home).copied().unwrap_or(0);
                sectors.insert(theirs.clone(), near);
            }
        }
        let registered: std::collections::HashSet<usize> = self.related_sets[1]
            .iter()
            .copied()
            .chain(self.layout.iter().flat_map(|l| l.org_pending[1].iter().copied()))
            .collect();
        for (p, patient) in self.patients.iter().enumerate() {
            let local = if registered.contains(&p) { 0.85 } else { 0.0 };
            let s = sector(&mut rng, local);
            sectors.entry(patient.address.clone()).or_insert(s);
        }
        // Units: a street of a town within the sector is one unit (about five households in this
        // world, fifteen in the UK's), so a shared first line and postcode is one home, as it is.
        let mut addresses: Vec<(&String, &usize)> = sectors.iter().collect();
        addresses.sort();
        let letters: Vec<char> = ('A'..='Z').filter(|c| !"CIKMOV".contains(*c)).collect();
        let mut units: HashMap<(usize, &str), usize> = HashMap::new();
        let postcodes: HashMap<String, String> = addresses
            .into_iter()
            .map(|(address, s)| {
                let street = address.split_once(' ').map_or(address.as_str(), |(_, street)| street);
                let next = units.keys().filter(|(sector, _)| sector == s).count();
                let unit = *units.entry((*s, street)).or_insert(next) % (letters.len() * letters.len());
                let (a, b) = (letters[unit / letters.len()], letters[unit % letters.len()]);
                (address.clone(), format!("{}{a}{b}", SECTORS[*s]))
            })
            .collect();
        let with_postcode = |address: &mut String| {
            if let Some(code) = postcodes.get(address.as_str()) {
                *address = format!("{address}, {code}");
            }
        };
        self.staff.iter_mut().for_each(|st| with_postcode(&mut st.address));
        self.patients.iter_mut().for_each(|p| with_postcode(&mut p.address));
    }
}
