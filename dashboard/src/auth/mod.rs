//! Who is asking, proved: local accounts and their roles (`accounts`), sessions (`sessions`),
//! sign-in throttling (`throttle`), personal API tokens (`api_tokens`), the sign-in, sign-out and
//! password pages (`signin`), OpenID Connect single sign-on (`oidc` the provider client,
//! `oidc_token` the ID-token checks, `oidc_web` the routes), and the client's address behind
//! trusted proxies (`peer`).
//!
//! Nothing here reads telemetry or audit data.

pub mod accounts;
pub mod api_tokens;
pub mod extract;
pub mod oidc;
pub mod oidc_config;
pub mod oidc_roles;
pub mod oidc_token;
pub mod oidc_web;
pub mod peer;
pub mod scope;
pub mod sessions;
pub mod signin;
pub mod throttle;
