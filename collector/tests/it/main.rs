//! Collector integration tests: one binary; the router driven with `oneshot`, no port opened.

mod audit_ingest;
mod fuzz;
mod grpc_ingest;
mod harness;
mod logs_ingest;
mod otlp_ingest;
mod spool;
