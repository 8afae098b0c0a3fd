//! Dashboard: pathway health, SLO error budgets and burn-rate alerts behind a login.
//!
//! Built so far (issue 4, in progress): local accounts with roles (`accounts`), sessions
//! (`sessions`), sign-in throttling (`throttle`) and the signed-in web shell (`web`): sign-in and
//! sign-out, password change, an overview saying what runs, and the admin's account list. It never
//! serves telemetry or audit data to anyone not signed in with a role allowed to see it, and it
//! never writes telemetry. OpenID Connect single sign-on (NHS CIS2 or another provider) is in
//! `oidc` (provider client), `oidc_token` (ID-token checks) and `oidc_web` (routes).
//! Scripts reach the JSON API (`api`) with personal API tokens (`api_tokens`), never the pages.

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
