//! What a canary run produces: step results, error classes and the run's overall status.
//!
//! These types are the contract with everything downstream (the JSON lines `pathwatch canary run`
//! prints, the span attributes the dashboard reads). Renaming a variant changes stored data.

use serde::Serialize;

/// Why a step failed, in the words on-call staff use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No answer within the step's time budget.
    Timeout,
    /// The connection could not be made (DNS, refused, TLS).
    Connect,
    /// A 4xx other than 401/403/429: our request was refused as wrong.
    #[serde(rename = "4xx")]
    ClientError,
    /// A 5xx: the service failed.
    #[serde(rename = "5xx")]
    ServerError,
    /// 429: the service is throttling us.
    #[serde(rename = "429")]
    RateLimited,
    /// The service answered, but not what the pathway needs (wrong patient, missing header...).
    Assertion,
    /// Credentials refused: token endpoint failure, 401, 403.
    Auth,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::ClientError => "4xx",
            ErrorClass::ServerError => "5xx",
            ErrorClass::RateLimited => "429",
            ErrorClass::Assertion => "assertion",
            ErrorClass::Auth => "auth",
        }
    }

    /// The class an unexpected HTTP status belongs to.
    pub fn from_status(status: u16) -> ErrorClass {
        match status {
            401 | 403 => ErrorClass::Auth,
            408 | 504 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimited,
            400..=499 => ErrorClass::ClientError,
            500..=599 => ErrorClass::ServerError,
            // 1xx/3xx where an answer was expected (redirects are not followed): the service
            // answered, but not with anything the pathway can use.
            _ => ErrorClass::Assertion,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Passed,
    Failed,
    /// Not attempted because a step it depends on failed.
    Skipped,
}

/// The HTTP exchange a step made (its last attempt), named as OpenTelemetry's HTTP client
/// conventions name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpExchange {
    pub method: String,
    /// The URL with identifiers replaced by placeholders, e.g. `/Patient/{id}`.
    pub url_template: String,
    pub url: String,
    pub server_address: String,
    pub server_port: u16,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub step: String,
    pub outcome: StepOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpExchange>,
    /// Requests sent, counting retries and polls (0 for a cached token or a skipped step).
    pub attempts: u32,
    /// Requests that repeated a failed one. Polling is not retrying.
    pub retries: u32,
    pub started_unix_ns: u64,
    pub duration_ms: f64,
    /// Time spent waiting on the network (request sent → body read), summed over attempts.
    pub wire_ms: f64,
    /// Time deliberately spent waiting (Retry-After, backoff, polling intervals).
    pub waited_ms: f64,
    #[serde(skip)]
    pub span_id: [u8; 8],
    /// Flow-specific facts (e.g. MESH delivery time), also recorded as span attributes.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl StepResult {
    pub fn retried(&self) -> bool {
        self.retries > 0
    }

    /// Time spent in Pathwatch itself: neither on the wire nor deliberately waiting.
    pub fn own_ms(&self) -> f64 {
        (self.duration_ms - self.wire_ms - self.waited_ms).max(0.0)
    }
}

pub use domain::RunStatus;

/// Classifies a run from its steps. Authentication steps (token) do not count as the pathway
/// working: a run whose token step passed and everything else failed is an outage.
pub fn classify_run(steps: &[StepResult], duration_ms: f64, degraded_after_ms: f64) -> RunStatus {
    let business: Vec<&StepResult> = steps.iter().filter(|s| !crate::flows::is_housekeeping(&s.step)).collect();
    let passed = business.iter().filter(|s| s.outcome == StepOutcome::Passed).count();
    let failed = steps.iter().any(|s| s.outcome != StepOutcome::Passed);
    if passed == 0 {
        RunStatus::Outage
    } else if failed {
        RunStatus::Partial
    } else if duration_ms > degraded_after_ms || steps.iter().any(StepResult::retried) {
        RunStatus::Degraded
    } else {
        RunStatus::Healthy
    }
}

/// One run of one flow: one trace, one correlation id.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryRun {
    pub flow: String,
    pub kind: String,
    pub environment: String,
    /// UUID sent upstream on every request; its 32 hex digits are also the run's trace id.
    pub correlation_id: String,
    pub trace_id: String,
    pub started_unix_ns: u64,
    pub duration_ms: f64,
    pub status: RunStatus,
    /// The class of the first failing step, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    pub steps: Vec<StepResult>,
    #[serde(skip)]
    pub root_span_id: [u8; 8],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: StepOutcome, attempts: u32) -> StepResult {
        StepResult {
            step: name.into(),
            outcome,
            error_class: None,
            message: None,
            http: None,
            attempts,
            retries: attempts.saturating_sub(1),
            waited_ms: 0.0,
            started_unix_ns: 0,
            duration_ms: 1.0,
            wire_ms: 1.0,
            span_id: [0; 8],
            attributes: Default::default(),
        }
    }

    #[test]
    fn classification_covers_every_status() {
        use StepOutcome::*;
        let all_ok = [step("token", Passed, 1), step("read", Passed, 1)];
        assert_eq!(classify_run(&all_ok, 10.0, 100.0), RunStatus::Healthy);
        assert_eq!(classify_run(&all_ok, 101.0, 100.0), RunStatus::Degraded);
        let retried = [step("token", Passed, 1), step("read", Passed, 2)];
        assert_eq!(classify_run(&retried, 10.0, 100.0), RunStatus::Degraded);
        let partial = [step("read", Passed, 1), step("search", Failed, 1)];
        assert_eq!(classify_run(&partial, 10.0, 100.0), RunStatus::Partial);
        let only_token = [step("token", Passed, 1), step("read", Failed, 1), step("search", Skipped, 0)];
        assert_eq!(classify_run(&only_token, 10.0, 100.0), RunStatus::Outage);
        let token_failed = [step("token", Failed, 1), step("read", Skipped, 0)];
        assert_eq!(classify_run(&token_failed, 10.0, 100.0), RunStatus::Outage);
    }

    #[test]
    fn serialised_names_are_the_span_attribute_names() {
        for class in [ErrorClass::Timeout, ErrorClass::ClientError, ErrorClass::ServerError, ErrorClass::RateLimited] {
            assert_eq!(serde_json::to_value(class).unwrap(), class.as_str());
        }
    }

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(ErrorClass::from_status(401), ErrorClass::Auth);
        assert_eq!(ErrorClass::from_status(403), ErrorClass::Auth);
        assert_eq!(ErrorClass::from_status(404), ErrorClass::ClientError);
        assert_eq!(ErrorClass::from_status(408), ErrorClass::Timeout);
        assert_eq!(ErrorClass::from_status(429), ErrorClass::RateLimited);
        assert_eq!(ErrorClass::from_status(503), ErrorClass::ServerError);
        assert_eq!(ErrorClass::from_status(302), ErrorClass::Assertion);
    }
}
