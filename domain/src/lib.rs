//! What several Pathwatch crates share, and nothing else: NHS numbers and their masking
//! ([`nhs_number`]), the canaries' span conventions ([`canary`]: service name, attribute keys,
//! [`canary::RunStatus`]), where "now" comes from ([`clock`]: one [`Clock`], timestamps as
//! nanoseconds since the Unix epoch in `u64`), times as people in the UK read them ([`uk_time`]), and the audit review
//! figures the review store computes and the reports print ([`audit`]).
//!
//! This crate does no I/O and depends on no other Pathwatch crate; every other crate may depend on it.

pub mod audit;
pub mod canary;
pub mod clock;
pub mod nhs_number;
#[cfg(feature = "testing")]
pub mod testing;
pub mod uk_time;

pub use crate::audit::StratumCoverage;
pub use crate::canary::RunStatus;
pub use crate::clock::{system_now_ns, Clock, NANOS_PER_SEC};
pub use crate::nhs_number::{mask, NhsNumber, NhsNumberError};
