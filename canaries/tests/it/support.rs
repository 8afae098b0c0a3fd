//! Helpers: external servers come from `PATHWATCH_TEST_*` variables; without one a test is skipped
//! loudly, unless `PATHWATCH_REQUIRE_SERVICES=1`, where it fails.

use canaries::config::{CanaryConfig, EnvironmentConfig};
use canaries::{Canaries, CanaryRun, FlowConfig, FlowKind, StepOutcome};

/// The server address in `var`, or None after saying loudly why the test is skipped.
pub fn server(var: &str) -> Option<String> {
    domain::testing::service(var, "this test").map(|url| url.trim_end_matches('/').to_string())
}

/// A configuration with one flow of `kind` against `env`, fast timeouts, no export.
pub fn config(kind: FlowKind, env: EnvironmentConfig) -> CanaryConfig {
    let mut config = CanaryConfig { step_timeout_ms: 3_000, ..CanaryConfig::default() };
    config.environments.insert("test".into(), env);
    config.flows = vec![FlowConfig::builtin(kind, "test")];
    config
}

pub async fn run_once(config: &CanaryConfig) -> CanaryRun {
    let canaries = Canaries::new(config).expect("valid canary configuration");
    let name = config.flows[0].name.clone();
    canaries.run_named(&name, None).await.expect("flow runs")
}

/// Names of the steps with `outcome`.
pub fn steps_with(run: &CanaryRun, outcome: StepOutcome) -> Vec<&str> {
    run.steps.iter().filter(|s| s.outcome == outcome).map(|s| s.step.as_str()).collect()
}

pub fn describe(run: &CanaryRun) -> String {
    serde_json::to_string_pretty(run).unwrap_or_default()
}
