//! DCB0129's clinical risk: severity and likelihood on five-point scales and the risk rating the
//! standard's matrix gives their pair. The matrix is data, written once here; everything else
//! (pages, reports, closing rules) asks `rating`.

use serde::{Deserialize, Serialize};

use crate::HazardError;

/// How bad the harm would be: 1 Minor … 5 Catastrophic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = HazardSeverity)]
#[serde(try_from = "u8", into = "u8")]
pub struct Severity(u8);

/// How likely the harm is: 1 Very low … 5 Very high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = HazardLikelihood)]
#[serde(try_from = "u8", into = "u8")]
pub struct Likelihood(u8);

/// The risk rating: 1 acceptable … 5 unacceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct RiskRating(u8);

const SEVERITY_NAMES: [&str; 5] = ["Minor", "Significant", "Considerable", "Major", "Catastrophic"];
const LIKELIHOOD_NAMES: [&str; 5] = ["Very low", "Low", "Medium", "High", "Very high"];
const RATING_MEANINGS: [&str; 5] = [
    "acceptable",
    "acceptable where further reduction is impractical",
    "undesirable: needs the Clinical Safety Officer's justification",
    "mandatory elimination or reduction",
    "unacceptable",
];

/// DCB0129's matrix: rows likelihood 1..5, columns severity 1..5.
const MATRIX: [[u8; 5]; 5] = [[1, 1, 2, 2, 3], [1, 2, 2, 3, 4], [2, 2, 3, 3, 4], [2, 3, 3, 4, 5], [3, 4, 4, 5, 5]];

fn on_scale(what: &'static str, value: u8) -> Result<u8, HazardError> {
    if (1..=5).contains(&value) {
        Ok(value)
    } else {
        Err(HazardError::Invalid { field: what.into(), message: format!("{value} is not on the 1 to 5 scale") })
    }
}

macro_rules! scale {
    ($t:ident, $what:literal, $names:ident) => {
        impl $t {
            pub fn new(value: u8) -> Result<Self, HazardError> {
                on_scale($what, value).map($t)
            }
            pub fn value(self) -> u8 {
                self.0
            }
            /// The standard's word for it ("Major", "Very low", "acceptable").
            pub fn name(self) -> &'static str {
                $names[usize::from(self.0 - 1)]
            }
            pub fn all() -> impl DoubleEndedIterator<Item = $t> {
                (1..=5).map($t)
            }
        }
        impl TryFrom<u8> for $t {
            type Error = HazardError;
            fn try_from(value: u8) -> Result<Self, HazardError> {
                $t::new(value)
            }
        }
        impl From<$t> for u8 {
            fn from(value: $t) -> u8 {
                value.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} ({})", self.0, self.name())
            }
        }
    };
}

scale!(Severity, "severity", SEVERITY_NAMES);
scale!(Likelihood, "likelihood", LIKELIHOOD_NAMES);
scale!(RiskRating, "risk rating", RATING_MEANINGS);

/// The rating DCB0129's matrix gives a likelihood and a severity.
pub fn rating(likelihood: Likelihood, severity: Severity) -> RiskRating {
    RiskRating(MATRIX[usize::from(likelihood.0 - 1)][usize::from(severity.0 - 1)])
}

/// A severity and likelihood, before or after the additional controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    pub severity: Severity,
    pub likelihood: Likelihood,
}

impl Assessment {
    pub fn rating(&self) -> RiskRating {
        rating(self.likelihood, self.severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All 25 cells, typed from the standard's table (rows likelihood, columns severity).
    #[test]
    fn every_cell_of_the_matrix() {
        let table = "1 1 2 2 3\n1 2 2 3 4\n2 2 3 3 4\n2 3 3 4 5\n3 4 4 5 5";
        for (l, row) in table.lines().enumerate() {
            for (s, cell) in row.split(' ').enumerate() {
                let got = rating(Likelihood::new(l as u8 + 1).unwrap(), Severity::new(s as u8 + 1).unwrap());
                assert_eq!(got.value().to_string(), cell, "likelihood {}, severity {}", l + 1, s + 1);
            }
        }
    }

    #[test]
    fn scales_refuse_values_off_them_and_have_names() {
        assert!(Severity::new(0).is_err() && Severity::new(6).is_err() && Likelihood::new(9).is_err());
        assert_eq!(Severity::new(5).unwrap().name(), "Catastrophic");
        assert_eq!(Likelihood::new(1).unwrap().to_string(), "1 (Very low)");
        assert_eq!(
            RiskRating::new(3).unwrap().name(),
            "undesirable: needs the Clinical Safety Officer's justification"
        );
        let err = serde_json::from_str::<Assessment>(r#"{"severity": 7, "likelihood": 1}"#).unwrap_err().to_string();
        assert!(err.contains("7 is not on the 1 to 5 scale"), "{err}");
    }
}
