//! Dashboard router tests, driven with `oneshot` (no port): sign-in, sessions, CSRF, throttling,
//! password change, roles on every route, security headers, OpenID Connect sign-in against an
//! in-process provider.

mod alerts;
mod api;
mod assurance;
mod audit_search;
mod cases;
mod compatibility;
mod credentials;
mod exceptions;
mod fake_idp;
mod fhir_trail;
mod findings;
mod fuzz;
mod hazards;
mod health;
mod incidents;
mod isolation;
mod known_errors;
mod oidc;
mod openapi;
mod outage;
mod overview;
mod pathway;
mod routes;
mod samples;
mod silences;
mod slos;
mod state_backends;
mod status;
mod trace;
mod web;
