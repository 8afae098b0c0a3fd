//! Dashboard router tests, driven with `oneshot` (no port): sign-in, sessions, CSRF, throttling,
//! password change, roles on every route, security headers.

mod alerts;
mod api;
mod overview;
mod pathway;
mod slos;
mod trace;
mod web;
