//! The dashboard, the web side only: who is asking (`auth`: accounts, sessions, throttling, API
//! tokens, sign-in, OpenID Connect), the pages (`pages`), the JSON API (`api`), what both show alike
//! (`view`), the route table and router (`web`), the one error type (`error`) and the state they
//! share (`state`). What it shows is worked out by the `engine` crate.
//!
//! It never serves telemetry or audit data to anyone not signed in with a role the route admits,
//! never writes telemetry, and records what auditors do with audit data (`audit_trail`) before
//! showing it. Scripts reach the JSON API with personal API tokens, never the pages.

pub mod api;
pub mod audit_trail;
pub mod auth;
pub mod error;
pub mod pages;
pub mod state;
pub mod view;
pub mod web;

/// What `pathwatch up` started, shown on the overview until pathway health exists.
#[derive(Clone, Debug)]
pub struct RunningParts {
    pub lines: Vec<String>,
}
