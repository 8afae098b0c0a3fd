//! Collector integration tests: one binary; the router driven with `oneshot`, no port opened.

mod audit_ingest;
mod fhir_round_trip;
mod fuzz;
mod grpc_ingest;
mod harness;
mod logs_ingest;
mod otlp_ingest;
mod spool;
