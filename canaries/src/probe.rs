//! One step's HTTP exchanges: time budget, retries, and the split between time on the wire and
//! time spent in Pathwatch.
//!
//! Retries follow the rules on-call staff can trust: only 425/429/502/503/504 and connection
//! failures are retried; `Retry-After` is honoured (never beyond the step's budget); a
//! non-idempotent request (book, create, send) is retried only when it provably did not take
//! effect — it never connected, or the server said 429 — never blindly after a 5xx or a timeout.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;

use crate::model::{ErrorClass, HttpExchange};

/// Why a step failed: the class and a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub class: ErrorClass,
    pub message: String,
}

impl StepError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> StepError {
        StepError { class, message: message.into() }
    }
    pub fn assertion(message: impl Into<String>) -> StepError {
        StepError::new(ErrorClass::Assertion, message)
    }
}

/// Fails with an assertion error unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), StepError> {
    if condition {
        Ok(())
    } else {
        Err(StepError::assertion(message()))
    }
}

/// A request a flow wants made. The body is bytes so a retry resends exactly the same thing.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// `url.template` for the span, e.g. `/Patient/{id}`.
    pub template: &'static str,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub idempotent: bool,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>, template: &'static str) -> Request {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
        Request { method, url: url.into(), template, headers: HeaderMap::new(), body: None, idempotent }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        // Header values we build are ASCII; an unrepresentable one is dropped rather than panicking,
        // and the server's rejection then shows up as a step failure.
        if let Ok(mut value) = HeaderValue::from_str(value) {
            // Credentials never show in Debug output (reqwest and http honour the flag).
            value.set_sensitive(name == "authorization");
            self.headers.insert(HeaderName::from_static(name), value);
        }
        self
    }

    pub fn json(self, content_type: &'static str, body: &Value) -> Request {
        self.body_bytes(content_type, Bytes::from(body.to_string()))
    }

    pub fn body_bytes(mut self, content_type: &'static str, body: Bytes) -> Request {
        self.headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.body = Some(body);
        self
    }

    /// A POST that is safe to repeat (a read expressed as POST, e.g. `$gpc.getstructuredrecord`).
    pub fn idempotent(mut self) -> Request {
        self.idempotent = true;
        self
    }
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Result<Value, StepError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| StepError::assertion(format!("HTTP {} body is not JSON: {e}", self.status)))
    }

    /// Passes the reply through when its status is one of `expected`; otherwise a step error of
    /// the status's class, quoting the NHS error code when the body carries one.
    pub fn expect_status(self, expected: &[u16]) -> Result<Reply, StepError> {
        if expected.contains(&self.status) {
            return Ok(self);
        }
        let detail = error_detail(&self.body);
        let message = match detail {
            Some(d) => format!("HTTP {} (expected {}): {d}", self.status, list(expected)),
            None => format!("HTTP {} (expected {})", self.status, list(expected)),
        };
        Err(StepError::new(ErrorClass::from_status(self.status), message))
    }
}

fn list(statuses: &[u16]) -> String {
    statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ")
}

/// The error code and text from an OperationOutcome, a MESH error or an OAuth error body.
pub fn error_detail(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value["resourceType"] == "OperationOutcome" {
        let issue = &value["issue"][0];
        let coding = &issue["details"]["coding"][0];
        let code = coding["code"].as_str().or(issue["code"].as_str()).unwrap_or("?");
        let text = issue["diagnostics"].as_str().or(coding["display"].as_str()).unwrap_or("");
        return Some(format!("{code} {text}").trim().to_string());
    }
    if let Some(error) = value["error"].as_str() {
        let description = value["error_description"].as_str().unwrap_or("");
        return Some(format!("{error} {description}").trim().to_string());
    }
    for (code, text) in [("errorCode", "errorDescription"), ("code", "msg")] {
        let node = if value["detail"].is_array() { &value["detail"][0] } else { &value };
        if let Some(c) = node[code].as_str().map(str::to_string).or(node[code].as_u64().map(|n| n.to_string())) {
            return Some(format!("code {c}: {}", node[text].as_str().unwrap_or("")).trim().to_string());
        }
    }
    None
}

/// The shared HTTP machinery of all flows.
#[derive(Debug, Clone)]
pub struct Probe {
    pub client: reqwest::Client,
    pub max_attempts: u32,
}

const RETRYABLE: [u16; 5] = [425, 429, 502, 503, 504];
/// Longest `Retry-After` honoured before giving up (the step budget caps it further).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The largest answer read: a FHIR Bundle of 50 patients or a MESH message the canary sent is far
/// smaller.
pub const MAX_BODY: usize = 16 << 20;

/// The state of one step while it runs.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub started: Instant,
    pub started_unix_ns: u64,
    pub deadline: Instant,
    /// Time on the network: request sent → body read, summed over requests.
    pub wire: Duration,
    /// Time deliberately spent waiting: `Retry-After`, backoff, polling intervals.
    pub waited: Duration,
    /// Requests sent (polling sends several; each retry is one more).
    pub attempts: u32,
    /// Requests that repeated an earlier one because it failed. A retried step is a degraded one;
    /// polling is not retrying.
    pub retries: u32,
    pub http: Option<HttpExchange>,
    /// Extra span attributes the flow wants recorded (e.g. MESH delivery time).
    pub attributes: std::collections::BTreeMap<String, String>,
}

enum Next {
    Done(Result<Reply, StepError>),
    /// Try again after the wait; if the step's budget cannot cover it, the result is `fallback`.
    Retry {
        wait: Duration,
        fallback: Result<Reply, StepError>,
    },
}

impl Step {
    pub fn new(name: &str, budget: Duration) -> Step {
        let started = Instant::now();
        Step {
            name: name.to_string(),
            started,
            started_unix_ns: domain::system_now_ns(),
            deadline: started + budget,
            wire: Duration::ZERO,
            waited: Duration::ZERO,
            attempts: 0,
            retries: 0,
            http: None,
            attributes: Default::default(),
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Waits `duration` (counted as waiting, not as our own work).
    pub async fn wait(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
        self.waited += duration;
    }

    /// Sends `request`, retrying as the module docs describe, and returns the final reply whatever
    /// its status. Errors only for timeouts and connection failures.
    pub async fn send(&mut self, probe: &Probe, request: &Request) -> Result<Reply, StepError> {
        self.send_with(probe, || request.clone()).await
    }

    /// Like `send`, but builds the request afresh for every attempt: for requests carrying
    /// one-time values (an APIM client assertion's `jti`, a MESH nonce) that a resend must not reuse.
    pub async fn send_with(&mut self, probe: &Probe, build: impl Fn() -> Request) -> Result<Reply, StepError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.remaining();
            if remaining.is_zero() {
                return Err(StepError::new(ErrorClass::Timeout, "step budget spent before the request was sent"));
            }
            let request = build();
            self.attempts += 1;
            if attempt > 1 {
                self.retries += 1;
            }
            self.http = Some(exchange(&request, None));
            // What was asked for is known before any answer, so an outage still shows the version.
            crate::api_version::note_request(&mut self.attributes, &request);
            let mut builder = probe
                .client
                .request(request.method.clone(), &request.url)
                .headers(request.headers.clone())
                .timeout(remaining);
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let sent = Instant::now();
            let result = async {
                let mut response = builder.send().await?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                // Read with a cap: an answer the size of a disk must not become the canaries' memory.
                // An oversized error answer is judged by its status alone (and retried as any is).
                let too_big = response.content_length().is_some_and(|n| n > MAX_BODY as u64);
                let mut body = Vec::new();
                let mut oversized = too_big;
                while !oversized {
                    let Some(chunk) = response.chunk().await? else { break };
                    if body.len() + chunk.len() > MAX_BODY {
                        oversized = true;
                        body = Vec::new();
                    } else {
                        body.extend_from_slice(&chunk);
                    }
                }
                Ok::<_, reqwest::Error>((Reply { status, headers, body: Bytes::from(body) }, oversized))
            }
            .await;
            let result = match result {
                Ok((reply, true)) if (200..300).contains(&reply.status) => {
                    self.wire += sent.elapsed();
                    self.http = Some(exchange(&request, Some(reply.status)));
                    crate::api_version::note(&mut self.attributes, &request, &reply.headers);
                    return Err(StepError::new(
                        ErrorClass::Assertion,
                        format!("the answer to {} is larger than {} MiB", request.template, MAX_BODY >> 20),
                    ));
                }
                Ok((reply, _)) => Ok(reply),
                Err(e) => Err(e),
            };
            self.wire += sent.elapsed();
            let can_retry = attempt < probe.max_attempts;
            let next = match result {
                Ok(reply) => {
                    self.http = Some(exchange(&request, Some(reply.status)));
                    crate::api_version::note(&mut self.attributes, &request, &reply.headers);
                    let retryable = RETRYABLE.contains(&reply.status) && (request.idempotent || reply.status == 429);
                    if !(retryable && can_retry) {
                        Next::Done(Ok(reply))
                    } else {
                        match retry_after(&reply) {
                            RetryAfter::Absent => Next::Retry { wait: backoff(attempt), fallback: Ok(reply) },
                            RetryAfter::Wait(wait) if wait <= MAX_RETRY_AFTER => {
                                Next::Retry { wait, fallback: Ok(reply) }
                            }
                            // Too long, or a value we cannot read: asking sooner than the server
                            // said would be rude, so report what we have.
                            RetryAfter::Wait(_) | RetryAfter::Unreadable => Next::Done(Ok(reply)),
                        }
                    }
                }
                // Checked before `is_timeout`: a connect timeout never sent the request.
                Err(e) if e.is_connect() => {
                    let error = StepError::new(ErrorClass::Connect, format!("cannot connect: {}", source_chain(&e)));
                    match can_retry {
                        true => Next::Retry { wait: backoff(attempt), fallback: Err(error) },
                        false => Next::Done(Err(error)),
                    }
                }
                Err(e) if e.is_timeout() => Next::Done(Err(StepError::new(
                    ErrorClass::Timeout,
                    format!("no answer from {} within the step's budget", request.template),
                ))),
                // The connection broke after the request may have been processed.
                Err(e) if request.idempotent && can_retry => {
                    let message = format!("connection failed: {}", source_chain(&e));
                    tracing::debug!(error = %message, "retrying idempotent request");
                    Next::Retry { wait: backoff(attempt), fallback: Err(StepError::new(ErrorClass::Connect, message)) }
                }
                Err(e) => Next::Done(Err(StepError::new(
                    ErrorClass::Connect,
                    format!("connection failed: {}", source_chain(&e)),
                ))),
            };
            match next {
                Next::Done(result) => return result,
                // A wait that would outlast the step's budget is not worth starting: report the
                // failure we have now, under its own class.
                Next::Retry { wait, fallback } if Instant::now() + wait >= self.deadline => return fallback,
                Next::Retry { wait, .. } => self.wait(wait).await,
            }
        }
    }
}

/// The URL as it may be recorded: without credentials (OpenTelemetry: `url.full` MUST NOT carry them).
pub fn recordable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let _ = parsed.set_username("REDACTED");
                let _ = parsed.set_password(Some("REDACTED"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

fn exchange(request: &Request, status: Option<u16>) -> HttpExchange {
    let parsed = url::Url::parse(&request.url).ok();
    HttpExchange {
        method: request.method.to_string(),
        url_template: request.template.to_string(),
        url: recordable_url(&request.url),
        server_address: parsed.as_ref().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default(),
        server_port: parsed.as_ref().and_then(|u| u.port_or_known_default()).unwrap_or(0),
        status,
    }
}

enum RetryAfter {
    Absent,
    Wait(Duration),
    Unreadable,
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(reply: &Reply) -> RetryAfter {
    let Some(value) = reply.header("retry-after").map(str::trim) else { return RetryAfter::Absent };
    if let Ok(seconds) = value.parse::<u64>() {
        return RetryAfter::Wait(Duration::from_secs(seconds));
    }
    match chrono::DateTime::parse_from_rfc2822(value) {
        Ok(at) => {
            RetryAfter::Wait((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
        }
        Err(_) => RetryAfter::Unreadable,
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_detail_reads_each_dialect() {
        let outcome = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found",
            "details":{"coding":[{"system":"https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode",
            "code":"RESOURCE_NOT_FOUND","display":"Resource not found"}]}}]}"#;
        assert_eq!(error_detail(outcome).unwrap(), "RESOURCE_NOT_FOUND Resource not found");
        assert_eq!(
            error_detail(br#"{"error":"invalid_client","error_description":"bad kid"}"#).unwrap(),
            "invalid_client bad kid"
        );
        assert_eq!(
            error_detail(
                br#"{"internal_id":"x","detail":[{"event":"SEND","code":"12","msg":"Unregistered to address"}]}"#
            )
            .unwrap(),
            "code 12: Unregistered to address"
        );
        assert_eq!(error_detail(b"<html>"), None);
    }

    #[test]
    fn unexpected_status_names_class_and_code() {
        let reply = Reply {
            status: 429,
            headers: HeaderMap::new(),
            body: Bytes::from_static(
                br#"{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"TOO_MANY_REQUESTS"}]}}]}"#,
            ),
        };
        let error = reply.expect_status(&[200]).unwrap_err();
        assert_eq!(error.class, ErrorClass::RateLimited);
        assert!(error.message.contains("TOO_MANY_REQUESTS"), "{}", error.message);
    }

    #[test]
    fn credentials_never_reach_recorded_urls_or_debug_output() {
        assert_eq!(
            recordable_url("https://user:secret@ssp.example/gpconnect/fhir/Slot"),
            "https://REDACTED:REDACTED@ssp.example/gpconnect/fhir/Slot"
        );
        assert_eq!(recordable_url("http://x/Patient/1"), "http://x/Patient/1");
        let request = Request::new(Method::GET, "http://x", "/").header("authorization", "Bearer s3cret-token");
        assert!(!format!("{request:?}").contains("s3cret-token"));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let reply = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", HeaderValue::from_str(value).unwrap());
            Reply { status: 429, headers, body: Bytes::new() }
        };
        assert!(matches!(retry_after(&reply("3")), RetryAfter::Wait(d) if d == Duration::from_secs(3)));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(20)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        assert!(matches!(retry_after(&reply(&soon)), RetryAfter::Wait(d) if d > Duration::from_secs(15)));
        let past = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert!(matches!(retry_after(&reply(past)), RetryAfter::Wait(d) if d.is_zero()));
        assert!(matches!(retry_after(&reply("soon")), RetryAfter::Unreadable));
    }

    #[test]
    fn only_safe_methods_are_idempotent_by_default() {
        assert!(Request::new(Method::GET, "http://x", "/").idempotent);
        assert!(Request::new(Method::DELETE, "http://x", "/").idempotent);
        assert!(!Request::new(Method::POST, "http://x", "/").idempotent);
        assert!(Request::new(Method::POST, "http://x", "/").idempotent().idempotent);
    }
}
