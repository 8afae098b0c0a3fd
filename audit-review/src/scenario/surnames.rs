//! Surnames as a real population holds them: a few shared by many households, most by few.
//!
//! The leading surnames of England and Wales with their shares, per 10,000 people, from the 1996
//! electoral register as tabulated in "Comparative Table of 300 Leading Surnames" (Guild of
//! One-Name Studies, surnamestudies.org.uk, from ONS and registration data); rounded. To them the
//! world adds what a city catchment adds (surnames of South Asian heritage, shared by many
//! households where a community lives), and a long tail of rare surnames made up from syllables, so
//! a surname drawn at random is held by one household in a thousand or less. Shares are what
//! matter here, not which names: the tail's names are invented and belong to no one.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// (surname, people per 10,000): England and Wales, 1996 (see above).
const LEADING: [(&str, u32); 21] = [
    ("Smith", 120),
    ("Jones", 90),
    ("Williams", 62),
    ("Brown", 58),
    ("Taylor", 56),
    ("Davies", 47),
    ("Wilson", 42),
    ("Evans", 38),
    ("Thomas", 34),
    ("Johnson", 33),
    ("Roberts", 32),
    ("Wright", 30),
    ("Walker", 30),
    ("Robinson", 29),
    ("Thompson", 29),
    ("White", 28),
    ("Edwards", 26),
    ("Green", 26),
    ("Hall", 26),
    ("Wood", 25),
    ("Harris", 25),
];

/// The catchment's own common surnames (people per 10,000): a community where a handful of
/// surnames are shared by many households, as in many English cities.
const LOCAL: [(&str, u32); 8] = [
    ("Patel", 400),
    ("Khan", 200),
    ("Begum", 150),
    ("Ahmed", 120),
    ("Hussain", 120),
    ("Ali", 100),
    ("Kaur", 100),
    ("Singh", 100),
];

const FIRST: [&str; 24] = [
    "Ash", "Brad", "Carn", "Dal", "Elm", "Fair", "Gar", "Hol", "Ing", "Kel", "Lang", "Mar", "Nor", "Oak", "Pem",
    "Quen", "Rad", "Shel", "Thorn", "Ul", "Vern", "Wal", "Yar", "Zel",
];
const MIDDLE: [&str; 4] = ["", "er", "ing", "en"];
const SECOND: [&str; 20] = [
    "by", "croft", "den", "field", "ford", "gate", "ham", "hurst", "ley", "low", "mere", "more", "ridge", "shaw",
    "stead", "ston", "thwaite", "ton", "well", "worth",
];

/// A surname drawn as a person of the catchment would have it.
pub(super) struct Surnames {
    /// Cumulative weights over `names`.
    cumulative: Vec<u32>,
    names: Vec<String>,
}

impl Surnames {
    pub(super) fn new() -> Surnames {
        let mut names = Vec::new();
        let mut weights = Vec::new();
        for (name, per_10k) in LEADING.iter().chain(LOCAL.iter()) {
            names.push(name.to_string());
            weights.push(*per_10k);
        }
        // The rest of the 10,000 goes to the tail: 1,920 invented surnames, each held by a few.
        let used: u32 = weights.iter().sum();
        let tail: Vec<String> = FIRST
            .iter()
            .flat_map(|a| MIDDLE.iter().flat_map(move |m| SECOND.iter().map(move |b| format!("{a}{m}{b}"))))
            .collect();
        let each = (10_000u32.saturating_sub(used)) / tail.len() as u32;
        for name in tail {
            names.push(name);
            weights.push(each.max(1));
        }
        let mut total = 0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Surnames { cumulative, names }
    }

    pub(super) fn draw(&self, rng: &mut ChaCha8Rng) -> String {
        let total = *self.cumulative.last().unwrap_or(&1);
        let x = rng.random_range(0..total);
        let i = self.cumulative.partition_point(|c| *c <= x);
        self.names[i.min(self.names.len() - 1)].clone()
    }

    /// Whether `name` is one of the catchment's common surnames (one in a hundred or more).
    pub(super) fn is_common(&self, name: &str) -> bool {
        LEADING.iter().chain(LOCAL.iter()).any(|(n, share)| *n == name && *share >= 100)
    }

    /// A surname from the tail: held by very few households.
    pub(super) fn rare(&self, rng: &mut ChaCha8Rng) -> String {
        let first = LEADING.len() + LOCAL.len();
        self.names[rng.random_range(first..self.names.len())].clone()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_few_surnames_are_shared_by_many_and_most_by_few() {
        let surnames = Surnames::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..100_000 {
            *counts.entry(surnames.draw(&mut rng)).or_insert(0u32) += 1;
        }
        let share = |name: &str| f64::from(counts.get(name).copied().unwrap_or(0)) / 100_000.0;
        assert!((share("Patel") - 0.04).abs() < 0.005, "{}", share("Patel"));
        assert!((share("Smith") - 0.012).abs() < 0.003, "{}", share("Smith"));
        // Two people drawn at random share a surname about one time in a hundred and fifty.
        let same: f64 = counts.values().map(|c| (f64::from(*c) / 100_000.0).powi(2)).sum();
        assert!((0.003..0.012).contains(&same), "{same}");
        assert!(surnames.is_common("Khan") && !surnames.is_common("Ashby"));
        assert!(!surnames.is_common(&surnames.rare(&mut rng)));
    }
}
