//! Fault injection: per-API plans set at runtime through `/_admin/faults/{api}` and applied by a middleware
//! in front of that API's routes. Latency is added before anything else; then a timeout, a rate limit or
//! an error may replace the real answer; `wrong_patient` and `drop_messages` travel to the handlers as a
//! request extension ([`ActiveFaults`]) because only they know what "another patient" means.
//!
//! Dice come from one ChaCha8 RNG seeded from the sandbox seed, so a run is reproducible; a rate of 1.0
//! always fires and 0.0 never does. This module never decides an API's error body: each API renders its
//! own (see `fault_response` in each API module).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::state::{lock, SandboxState};

/// The APIs a fault plan can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Token,
    Pds,
    Gpconnect,
    Nrl,
    Mesh,
    Cis2,
    #[serde(rename = "nhslogin")]
    NhsLogin,
}

impl Api {
    pub const ALL: [Api; 7] = [Api::Token, Api::Pds, Api::Gpconnect, Api::Nrl, Api::Mesh, Api::Cis2, Api::NhsLogin];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Token => "token",
            Api::Pds => "pds",
            Api::Gpconnect => "gpconnect",
            Api::Nrl => "nrl",
            Api::Mesh => "mesh",
            Api::Cis2 => "cis2",
            Api::NhsLogin => "nhslogin",
        }
    }

    pub fn parse(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.as_str() == name)
    }

    /// The API's own error answer for an injected status.
    fn fault_response(self, status: StatusCode, retry_after_s: Option<u64>) -> Response {
        let mut response = match self {
            Api::Token => crate::token::fault_response(status),
            Api::Pds => crate::pds::fault_response(status),
            Api::Gpconnect => crate::gpconnect::fault_response(status),
            Api::Nrl => crate::nrl::fault_response(status),
            Api::Mesh => crate::mesh::fault_response(status),
            Api::Cis2 | Api::NhsLogin => crate::identity::fault_response(status),
        };
        if let Some(seconds) = retry_after_s {
            if let Ok(value) = seconds.to_string().parse() {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// What to do to an API's requests. Every field is optional in the admin JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultPlan {
    /// Added before answering, on every request the plan applies to.
    pub latency_ms: u64,
    /// Probability of answering `error_status` instead of the real answer.
    pub error_rate: f64,
    pub error_status: u16,
    /// Probability of answering 429 with `Retry-After: retry_after_s`.
    pub rate_limit_rate: f64,
    pub retry_after_s: u64,
    /// Probability of holding the request `timeout_s` seconds and then answering 504.
    pub timeout_rate: f64,
    pub timeout_s: u64,
    /// PDS read, GP Connect structured record and NRL search answer with another patient's data.
    pub wrong_patient: bool,
    /// MESH send answers 202 but the message never reaches the recipient's inbox: it is undeliverable (410 to
    /// the recipient) and a non-delivery REPORT (status code 14) lands in the sender's inbox.
    pub drop_messages: bool,
    /// Identity (CIS2, NHS login): discovery answers 503.
    pub discovery_down: bool,
    /// Identity: the JWKS holds only the next key while ID tokens are still signed with the current one.
    pub keys_rotated: bool,
    /// Identity: the provider's clock, as its `Date` header and token times show it, this far ahead
    /// (negative: behind), in seconds.
    pub clock_skew_s: i64,
    /// Identity: the signing key's certificate (`x5c`) expires this many days from now, and no next key
    /// is published yet.
    pub key_expires_in_days: Option<u32>,
    /// Sent on every answer as the `Deprecation` header (RFC 9745: `@<Unix seconds>`; older
    /// servers send an HTTP date or `true`), as an API announces it will be retired.
    pub deprecation: Option<String>,
    /// Sent on every answer as the `Sunset` header (RFC 8594: an HTTP date), when it goes.
    pub sunset: Option<String>,
    /// Sent on every answer as a `Warning` header, e.g. `299 - "This version is deprecated"`.
    pub warning: Option<String>,
    /// Apply to the next N requests only, then the plan clears itself. `None`: until cleared.
    pub remaining: Option<u32>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            rate_limit_rate: 0.0,
            retry_after_s: 1,
            timeout_rate: 0.0,
            timeout_s: 60,
            wrong_patient: false,
            drop_messages: false,
            discovery_down: false,
            keys_rotated: false,
            clock_skew_s: 0,
            key_expires_in_days: None,
            deprecation: None,
            sunset: None,
            warning: None,
            remaining: None,
        }
    }
}

impl FaultPlan {
    /// Checks values serde accepts but that make no sense, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("rate_limit_rate", self.rate_limit_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0.0 and 1.0, got {rate}"));
            }
        }
        if self.clock_skew_s.unsigned_abs() > 86_400 {
            return Err(format!("clock_skew_s must be within a day (86400 s) either way, got {}", self.clock_skew_s));
        }
        if self.key_expires_in_days.is_some_and(|d| d > 3650) {
            return Err("key_expires_in_days must be at most 3650".into());
        }
        for (name, value) in [("deprecation", &self.deprecation), ("sunset", &self.sunset), ("warning", &self.warning)]
        {
            if let Some(v) = value {
                if v.is_empty() || v.len() > 200 || HeaderValue::from_str(v).is_err() {
                    return Err(format!("{name} must be a header value of 1 to 200 visible characters"));
                }
            }
        }
        if !(400..=599).contains(&self.error_status) {
            return Err(format!("error_status must be an HTTP error status (400-599), got {}", self.error_status));
        }
        Ok(())
    }
}

/// Faults a handler must act on itself, inserted into the request's extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveFaults {
    pub wrong_patient: bool,
    pub drop_messages: bool,
    pub discovery_down: bool,
    pub keys_rotated: bool,
    pub clock_skew_s: i64,
    pub key_expires_in_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Timeout(u64),
    RateLimit(u64),
    Error(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    latency_ms: u64,
    outcome: Outcome,
    flags: ActiveFaults,
    /// Deprecation, Sunset and Warning headers added to the answer.
    notices: Vec<(HeaderName, HeaderValue)>,
}

/// The plans in force and the dice.
#[derive(Debug)]
pub struct FaultBoard {
    plans: Mutex<BTreeMap<Api, FaultPlan>>,
    rng: Mutex<ChaCha8Rng>,
    seed: u64,
}

impl FaultBoard {
    pub fn new(seed: u64) -> Self {
        FaultBoard { plans: Mutex::new(BTreeMap::new()), rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)), seed }
    }

    pub fn set(&self, api: Api, plan: FaultPlan) {
        lock(&self.plans).insert(api, plan);
    }

    pub fn clear(&self, api: Api) {
        lock(&self.plans).remove(&api);
    }

    /// Clears every plan and re-seeds the dice, so a reset sandbox repeats the same run.
    pub fn clear_all(&self) {
        lock(&self.plans).clear();
        *lock(&self.rng) = ChaCha8Rng::seed_from_u64(self.seed);
    }

    pub fn snapshot(&self) -> BTreeMap<Api, FaultPlan> {
        lock(&self.plans).clone()
    }

    /// Takes one request's worth of the plan for `api`: counts `remaining` down and rolls the dice.
    fn draw(&self, api: Api) -> Option<Decision> {
        let plan = {
            let mut plans = lock(&self.plans);
            let plan = plans.get_mut(&api)?;
            let taken = plan.clone();
            match plan.remaining {
                Some(0) => {
                    plans.remove(&api);
                    return None;
                }
                Some(1) => {
                    plans.remove(&api);
                }
                Some(n) => plan.remaining = Some(n - 1),
                None => {}
            }
            taken
        };
        let mut rng = lock(&self.rng);
        let mut fires = |rate: f64| rate >= 1.0 || (rate > 0.0 && rng.random::<f64>() < rate);
        let outcome = if fires(plan.timeout_rate) {
            Outcome::Timeout(plan.timeout_s)
        } else if fires(plan.rate_limit_rate) {
            Outcome::RateLimit(plan.retry_after_s)
        } else if fires(plan.error_rate) {
            Outcome::Error(plan.error_status)
        } else {
            Outcome::Pass
        };
        let notices = [("deprecation", &plan.deprecation), ("sunset", &plan.sunset), ("warning", &plan.warning)]
            .into_iter()
            .filter_map(|(name, value)| {
                Some((HeaderName::from_static(name), HeaderValue::from_str(value.as_deref()?).ok()?))
            })
            .collect();
        Some(Decision {
            notices,
            latency_ms: plan.latency_ms,
            outcome,
            flags: ActiveFaults {
                wrong_patient: plan.wrong_patient,
                drop_messages: plan.drop_messages,
                discovery_down: plan.discovery_down,
                keys_rotated: plan.keys_rotated,
                clock_skew_s: plan.clock_skew_s,
                key_expires_in_days: plan.key_expires_in_days,
            },
        })
    }
}

/// Middleware in front of one API's routes (state: the sandbox and which API this is).
pub async fn inject(State((state, api)): State<(SandboxState, Api)>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let Some(decision) = state.faults().draw(api) else {
        let response = next.run(request).await;
        tracing::debug!(api = api.as_str(), %method, status = response.status().as_u16(), "sandbox request");
        return response;
    };
    tracing::debug!(api = api.as_str(), %method, ?decision, "sandbox request under a fault plan");
    // PDS and NRL mirror the caller's request and correlation IDs even on gateway errors.
    let echoed: Vec<(HeaderName, HeaderValue)> = if matches!(api, Api::Pds | Api::Nrl) {
        [HeaderName::from_static("x-request-id"), HeaderName::from_static("x-correlation-id")]
            .into_iter()
            .filter_map(|name| request.headers().get(&name).cloned().map(|value| (name, value)))
            .collect()
    } else {
        Vec::new()
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    let mut response = match decision.outcome {
        Outcome::Pass => {
            request.extensions_mut().insert(decision.flags);
            let mut response = next.run(request).await;
            response.headers_mut().extend(decision.notices);
            return response;
        }
        Outcome::Timeout(seconds) => {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            api.fault_response(StatusCode::GATEWAY_TIMEOUT, None)
        }
        Outcome::RateLimit(seconds) => api.fault_response(StatusCode::TOO_MANY_REQUESTS, Some(seconds)),
        Outcome::Error(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            api.fault_response(status, None)
        }
    };
    response.headers_mut().extend(echoed);
    response.headers_mut().extend(decision.notices);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_down_then_clears() {
        let board = FaultBoard::new(1);
        board.set(Api::Pds, FaultPlan { error_rate: 1.0, remaining: Some(2), ..FaultPlan::default() });
        assert_eq!(board.draw(Api::Pds).map(|d| d.outcome), Some(Outcome::Error(503)));
        assert_eq!(board.snapshot()[&Api::Pds].remaining, Some(1));
        assert_eq!(board.draw(Api::Pds).map(|d| d.outcome), Some(Outcome::Error(503)));
        assert!(board.draw(Api::Pds).is_none());
        assert!(board.snapshot().is_empty());
    }

    #[test]
    fn dice_are_reproducible_and_roughly_fair() {
        let roll = || {
            let board = FaultBoard::new(7);
            board.set(Api::Nrl, FaultPlan { error_rate: 0.3, ..FaultPlan::default() });
            (0..1000).map(|_| board.draw(Api::Nrl).map(|d| d.outcome) != Some(Outcome::Pass)).collect::<Vec<_>>()
        };
        let first = roll();
        assert_eq!(first, roll());
        let fired = first.iter().filter(|f| **f).count();
        assert!((200..400).contains(&fired), "{fired}");
    }

    #[test]
    fn validation_names_the_field() {
        let plan = FaultPlan { timeout_rate: 1.5, ..FaultPlan::default() };
        assert!(plan.validate().unwrap_err().contains("timeout_rate"));
        let plan = FaultPlan { error_status: 200, ..FaultPlan::default() };
        assert!(plan.validate().unwrap_err().contains("error_status"));
        assert_eq!(Api::parse("gpconnect"), Some(Api::Gpconnect));
        assert_eq!(Api::parse("GPConnect"), None);
    }
}
