//! audit-review integration tests: one binary. Rule tests run on SQLite and on ClickHouse (when
//! `PATHWATCH_TEST_CLICKHOUSE_URL` is set), like the store's own conformance suite.

mod evaluation;
mod exceptions;
mod places;
mod rules;
mod samples;
mod support;
mod teams;
mod workflow;
