//! Recording one run: a step at a time, then the run's verdict.

use std::time::{Duration, Instant};

use crate::model::{CanaryRun, ErrorClass, StepOutcome, StepResult};
use crate::probe::{Step, StepError};

/// Called with each step's result as soon as it is known (`pathwatch canary run` prints it).
pub type StepObserver<'a> = &'a (dyn Fn(&StepResult) + Send + Sync);

pub struct RunRecorder<'a> {
    pub flow: String,
    pub kind: String,
    pub environment: String,
    pub correlation_id: String,
    pub step_budget: Duration,
    trace_id: [u8; 16],
    root_span_id: [u8; 8],
    started: Instant,
    started_unix_ns: u64,
    steps: Vec<StepResult>,
    observer: Option<StepObserver<'a>>,
}

pub fn random_span_id() -> [u8; 8] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    if id == [0; 8] {
        id[7] = 1; // an all-zero span id is invalid in OTLP
    }
    id
}

impl<'a> RunRecorder<'a> {
    pub fn new(
        flow: &str,
        kind: &str,
        environment: &str,
        step_budget: Duration,
        observer: Option<StepObserver<'a>>,
    ) -> Self {
        let correlation = uuid::Uuid::new_v4();
        RunRecorder {
            flow: flow.into(),
            kind: kind.into(),
            environment: environment.into(),
            correlation_id: correlation.to_string(),
            step_budget,
            trace_id: correlation.into_bytes(),
            root_span_id: random_span_id(),
            started: Instant::now(),
            started_unix_ns: domain::system_now_ns(),
            steps: Vec::new(),
            observer,
        }
    }

    pub fn begin(&self, name: &str) -> Step {
        Step::new(name, self.step_budget)
    }

    pub fn begin_with_budget(&self, name: &str, budget: Duration) -> Step {
        Step::new(name, budget)
    }

    /// Records a finished step; returns its value when it passed.
    pub fn end<T>(&mut self, step: Step, result: Result<T, StepError>) -> Option<T> {
        let duration = step.started.elapsed();
        let (outcome, error_class, message, value) = match result {
            Ok(v) => (StepOutcome::Passed, None, None, Some(v)),
            Err(e) => (StepOutcome::Failed, Some(e.class), Some(e.message), None),
        };
        self.push(StepResult {
            step: step.name,
            outcome,
            error_class,
            message,
            http: step.http,
            attempts: step.attempts,
            retries: step.retries,
            started_unix_ns: step.started_unix_ns,
            duration_ms: millis(duration),
            wire_ms: millis(step.wire),
            waited_ms: millis(step.waited),
            span_id: random_span_id(),
            attributes: step.attributes,
        });
        value
    }

    /// Records a step that could not run because `because` failed.
    pub fn skip(&mut self, name: &str, because: &str) {
        self.push(StepResult {
            step: name.into(),
            outcome: StepOutcome::Skipped,
            error_class: None,
            message: Some(format!("skipped: {because} did not pass")),
            http: None,
            attempts: 0,
            retries: 0,
            started_unix_ns: domain::system_now_ns(),
            duration_ms: 0.0,
            wire_ms: 0.0,
            waited_ms: 0.0,
            span_id: random_span_id(),
            attributes: Default::default(),
        });
    }

    fn push(&mut self, result: StepResult) {
        if let Some(observe) = self.observer {
            observe(&result);
        }
        self.steps.push(result);
    }

    pub fn finish(self, degraded_after: Duration) -> CanaryRun {
        let duration_ms = millis(self.started.elapsed());
        let status = crate::model::classify_run(&self.steps, duration_ms, millis(degraded_after));
        let error_class: Option<ErrorClass> = self.steps.iter().find_map(|s| s.error_class);
        CanaryRun {
            flow: self.flow,
            kind: self.kind,
            environment: self.environment,
            correlation_id: self.correlation_id,
            trace_id: hex::encode(self.trace_id),
            started_unix_ns: self.started_unix_ns,
            duration_ms,
            status,
            error_class,
            steps: self.steps,
            root_span_id: self.root_span_id,
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
