//! Audit review figures that the review store computes and the assurance reports print.

use serde::{Deserialize, Serialize};

/// One stratum's review coverage over a period (a DSPT year, or a report's period): how many
/// events of this organisation, role and action there were, how many were drawn into samples, how
/// many of those have been reviewed, and how many were found inappropriate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StratumCoverage {
    pub organisation: String,
    pub role: String,
    /// Empty for users sampled as a whole.
    pub action: String,
    pub events: u64,
    pub sampled: u64,
    pub reviewed: u64,
    pub inappropriate: u64,
}
