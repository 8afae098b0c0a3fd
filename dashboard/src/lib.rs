//! Dashboard: pathway health, SLO error budgets and burn-rate alerts behind a login.
//!
//! Not built yet (issue 4). It will read telemetry through `audit-store` and never write it.
