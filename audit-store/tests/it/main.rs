//! audit-store integration tests: one binary, one conformance suite run against every backend.

mod chains;
mod cluster;
mod conformance;
