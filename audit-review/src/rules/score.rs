//! How strong a finding's evidence is: each reason carries points, and a finding's score is their
//! sum. Points are decibans (ten times the base-10 logarithm of how much more likely the evidence
//! is under misuse than under normal work), so they add, and 30 points is about a thousand to one.
//!
//! - Evidence with a likelihood ratio (a shared surname of a given rarity) scores [`lr_points`].
//! - A rule with a threshold scores [`anchor`]: exactly at the threshold is 30, the default floor
//!   (`audit.rules.min_score`), so the default floor raises what the thresholds raise, and a higher
//!   floor asks for evidence further past them (twice the threshold is 36, ten times 50).
//! - A count against someone's usual scores how unlikely it is by chance ([`surprise_points`]).
//!
//! Reasons never name a patient or hold an NHS number: they go into e-mails and the API.

use serde::{Deserialize, Serialize};

/// The score from which findings are raised by default (`audit.rules.min_score`).
pub const DEFAULT_FLOOR: i32 = 30;
/// No one piece of evidence scores more than this.
const MAX_POINTS: f64 = 60.0;

/// One piece of a finding's evidence, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FindingReason)]
pub struct Reason {
    /// What was seen, in words.
    pub text: String,
    /// Its weight: ten times the base-10 logarithm of how much more likely it is under misuse (30
    /// is about a thousand to one). Negative for evidence against, such as a recorded exception.
    pub points: i32,
}

impl Reason {
    pub fn new(text: impl Into<String>, points: i32) -> Reason {
        Reason { text: text.into(), points }
    }
}

/// The score of a set of reasons: their sum.
pub fn total(reasons: &[Reason]) -> i32 {
    reasons.iter().map(|r| r.points).sum()
}

fn clamp(points: f64) -> i32 {
    points.clamp(0.0, MAX_POINTS).round() as i32
}

/// The points of evidence `lr` times more likely under misuse than under normal work.
pub fn lr_points(lr: f64) -> i32 {
    if lr.is_nan() || lr <= 0.0 {
        return 0;
    }
    clamp(10.0 * lr.log10())
}

/// The points of something with chance `p` under normal work.
pub fn surprise_points(p: f64) -> i32 {
    if p.is_nan() || p >= 1.0 {
        return 0;
    }
    if p <= 0.0 {
        return MAX_POINTS as i32;
    }
    clamp(-10.0 * p.log10())
}

/// The points of `x` against a threshold `limit` (reached at `x = limit`): 30 there, 6 more for
/// every doubling, up to 60.
pub fn anchor(x: f64, limit: f64) -> i32 {
    if limit <= 0.0 || x.is_nan() || x <= 0.0 {
        return if x > 0.0 { MAX_POINTS as i32 } else { 0 };
    }
    clamp(f64::from(DEFAULT_FLOOR) + 20.0 * (x / limit).log10())
}

/// The chance that a standard normal variable is at least `z` (Abramowitz and Stegun 7.1.26, good
/// to about 1e-7, ample for points).
pub fn normal_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

/// The points of a shared surname that `holders` of the index's `households` hold: how much more
/// likely a relative (who shares it half the time) is to share it than a stranger. The share is
/// pulled toward a prior of 1 in 2,000 as if from a thousand more households, so a small index
/// does not make every surname look rare.
pub fn surname_points(holders: u64, households: u64) -> i32 {
    let share = (holders as f64 + 0.5) / (households as f64 + 1000.0);
    lr_points(0.5 / share).min(40)
}

/// The most a shared postcode sector adds to a shared surname: the patients a user opens live nearer
/// to them than the whole index does (a practice's in a few sectors), so the index overstates how
/// unlikely a stranger in the same sector is.
const MAX_SECTOR_POINTS: i32 = 10;

/// What a shared postcode sector adds to a shared surname worth `surname` points: the surname's
/// points among the sector's `holders` ([`surname_in_sector_points`]) less its own, at most
/// [`MAX_SECTOR_POINTS`], never below 0.
pub fn sector_points(holders: u64, households: u64, surname: i32) -> i32 {
    (surname_in_sector_points(holders, households) - surname).clamp(0, MAX_SECTOR_POINTS)
}

/// How often a relative living apart lives in the same postcode sector (a few thousand households):
/// families stay near each other.
pub const RELATIVE_IN_SECTOR: f64 = 0.3;

/// The points of a shared surname and postcode sector that `holders` of all `households` hold
/// together: how much more likely a relative (who shares the surname half the time, and lives in
/// the sector [`RELATIVE_IN_SECTOR`] of the time) is to share both than a stranger, the share
/// pulled toward the prior as [`surname_points`] does. A surname common in the sector weighs
/// little; a common surname few households of the sector hold weighs more.
pub fn surname_in_sector_points(holders: u64, households: u64) -> i32 {
    let share = (holders as f64 + 0.5) / (households as f64 + 1000.0);
    lr_points(0.5 * RELATIVE_IN_SECTOR / share).min(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_score_thirty_at_the_threshold_and_six_per_doubling() {
        assert_eq!(anchor(20.0, 20.0), 30);
        assert_eq!(anchor(40.0, 20.0), 36);
        assert_eq!(anchor(200.0, 20.0), 50);
        assert_eq!(anchor(10.0, 20.0), 24);
        assert_eq!(anchor(1e9, 1.0), 60);
        assert_eq!(anchor(0.0, 5.0), 0);
        assert_eq!(anchor(3.0, 0.0), 60);
    }

    #[test]
    fn surprise_and_likelihood_points_are_decibans() {
        assert_eq!(surprise_points(0.001), 30);
        assert_eq!(surprise_points(0.5), 3);
        assert_eq!(surprise_points(1.0), 0);
        assert_eq!(surprise_points(0.0), 60);
        assert_eq!(lr_points(1000.0), 30);
        assert_eq!(lr_points(0.5), 0, "evidence against scores nothing here");
        assert_eq!(lr_points(f64::NAN), 0);
    }

    #[test]
    fn the_normal_tail_matches_the_tables() {
        for (z, p) in [(0.0, 0.5), (1.0, 0.158_655), (2.0, 0.022_750), (4.0, 3.167e-5), (-1.0, 0.841_345)] {
            assert!((normal_tail(z) - p).abs() < 1e-6, "z {z}: {} not {p}", normal_tail(z));
        }
        assert_eq!(surprise_points(normal_tail(4.0)), 45);
    }

    #[test]
    fn a_common_surname_weighs_little_and_a_rare_one_much() {
        // Patel in a catchment: 4 % of 10,000 households.
        assert_eq!(surname_points(400, 10_000), 11);
        // A surname three households of 10,000 hold.
        assert_eq!(surname_points(3, 10_000), 32);
        // A small index (nine patients) is pulled toward the prior: still rare, not infinitely so.
        assert_eq!(surname_points(1, 9), 25);
        assert!(surname_points(0, 0) <= 40);
    }

    #[test]
    fn a_surname_shared_in_a_sector_weighs_by_its_holders_there() {
        // Smith: 200 of 20,000 households; 5 of them in the sector they share.
        let (alone, in_sector) = (surname_points(200, 20_000), surname_in_sector_points(5, 20_000));
        assert_eq!((alone, in_sector), (17, 28));
        // A practice's catchment: a quarter of 5,000 households in the sector, Patel 4 % of them.
        assert_eq!(surname_in_sector_points(50, 5_000), 13);
        assert!(surname_in_sector_points(1, 20_000) <= 40);
        // What the sector adds: at most 10, never less than nothing.
        assert_eq!(sector_points(5, 20_000, alone), 10);
        assert_eq!(sector_points(200, 20_000, alone), 0);
        assert_eq!(sector_points(2, 1_000_000, 20), 10);
    }

    #[test]
    fn a_score_is_the_sum_of_its_reasons() {
        assert_eq!(total(&[Reason::new("a", 20), Reason::new("b", 15), Reason::new("c", -100)]), -65);
        assert_eq!(total(&[]), 0);
    }
}
