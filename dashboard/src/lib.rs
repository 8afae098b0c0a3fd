//! Dashboard: pathway health, SLO error budgets and burn-rate alerts behind a login.
//!
//! Built so far (issue 4, in progress): local accounts with roles (`accounts`), sessions
//! (`sessions`), sign-in throttling (`throttle`) and the signed-in web shell (`web`): sign-in and
//! sign-out, password change, an overview saying what runs, and the admin's account list. It never
//! serves telemetry or audit data to anyone not signed in with a role allowed to see it, and it
//! never writes telemetry. OpenID Connect single sign-on (NHS CIS2 or another provider) is in
//! `oidc` (provider client), `oidc_token` (ID-token checks) and `oidc_web` (routes).
//! Scripts reach the JSON API (`api`) with personal API tokens (`api_tokens`), never the pages.

pub mod accounts;
pub mod alerts;
pub mod api;
pub mod api_tokens;
pub mod audit_monitor;
pub mod audit_search;
pub mod audit_trail;
pub mod evidence;
pub mod evidence_monitor;
pub mod finding_pages;
pub mod hazard_pages;
pub mod health;
pub mod notify;
pub mod oidc;
pub mod oidc_token;
pub mod oidc_web;
pub mod overview;
pub mod pathway_page;
pub mod pathways;
pub mod peer;
pub mod report_delivery;
pub mod report_inputs;
pub mod report_pages;
pub mod sample_pages;
pub mod sessions;
pub mod signin;
pub mod slo;
pub mod slo_eval;
pub mod slo_page;
pub mod slo_rules;
pub mod throttle;
pub mod trace_page;
pub mod web;

/// What `pathwatch up` started, shown on the overview until pathway health exists.
#[derive(Clone, Debug)]
pub struct RunningParts {
    pub lines: Vec<String>,
}
