//! The pages, one module each: what a signed-in person sees. Each handler starts from an extractor
//! that proves who is asking, checks the route's roles, reads through the engine and the stores,
//! and renders a template. Pages never use each other's handlers; what two pages share is in
//! `view` or the engine.

pub mod accounts;
pub mod alerts;
pub mod audit_search;
pub mod cases;
pub mod compatibility;
pub mod credentials;
pub mod exceptions;
pub mod findings;
pub mod hazards;
pub mod health;
pub mod incidents;
pub mod known_errors;
pub mod overview;
pub mod pathway;
pub mod postmortem;
pub mod reports;
pub mod samples;
pub mod silences;
pub mod slos;
pub mod status;
pub mod trace;
