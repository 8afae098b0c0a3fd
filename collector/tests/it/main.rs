//! Collector integration tests: one binary; the router driven with `oneshot`, no port opened.

mod audit_ingest;
mod fuzz;
mod harness;
mod otlp_ingest;
mod spool;
