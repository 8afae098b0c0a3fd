//! Every flow against our sandboxes, then each injected fault and the error class, status and
//! retry behaviour it must produce.

use canaries::config::{CanaryConfig, EnvironmentConfig, GpConnectEnvironment, IdentityEnvironment, MeshEnvironment};
use canaries::{ErrorClass, FlowKind, RunStatus, SecretRef, StepOutcome};
use serde_json::json;

use crate::support::{config, describe, run_once, steps_with};

const API_KEY: &str = "canary-test-app";
const KID: &str = "test-1";

struct Rig {
    sandbox: sandboxes::Sandbox,
    env: EnvironmentConfig,
    admin: String,
    client: reqwest::Client,
}

impl Rig {
    async fn start() -> Rig {
        Rig::start_with(sandboxes::RequireAuth::ALL).await
    }

    async fn start_with(require_auth: sandboxes::RequireAuth) -> Rig {
        let (private, public) = canaries::credentials::generate_rsa_key().unwrap();
        let sandbox_config = sandboxes::SandboxConfig {
            client_keys: vec![sandboxes::ClientKey {
                api_key: API_KEY.into(),
                kid: KID.into(),
                public_key_pem: public,
            }],
            require_auth,
            ..sandboxes::SandboxConfig::default()
        };
        let sandbox = sandboxes::Sandbox::start(([127, 0, 0, 1], 0).into(), sandbox_config).await.unwrap();
        let urls = sandbox.urls();
        let env = EnvironmentConfig {
            token_url: Some(urls.token.clone()),
            api_key: Some(SecretRef::inline(API_KEY)),
            private_key: Some(SecretRef::inline(private)),
            kid: Some(KID.into()),
            kid_rotate_by: None,
            pds_url: Some(urls.pds.clone()),
            nrl_producer_url: Some(urls.nrl_producer.clone()),
            nrl_consumer_url: Some(urls.nrl_consumer.clone()),
            ods_code: Some("Y05868".into()),
            gpconnect: GpConnectEnvironment { url: Some(urls.gpconnect.clone()), ..GpConnectEnvironment::default() },
            mesh: MeshEnvironment {
                url: Some(urls.mesh.clone()),
                password: Some(SecretRef::inline("password")),
                shared_key: Some(SecretRef::inline("TestKey")),
                recipient: Some("X26ABC2".into()),
                delivery_timeout_s: 2,
                poll_interval_ms: 50,
                ..MeshEnvironment::default()
            },
            cis2: IdentityEnvironment {
                issuer: Some(urls.cis2.clone()),
                client_id: Some("pathwatch-tests".into()),
                client_secret: Some(SecretRef::inline("s3cret")),
                sign_in: true,
                ..IdentityEnvironment::default()
            },
            nhslogin: IdentityEnvironment {
                issuer: Some(urls.nhslogin.clone()),
                client_id: Some("pathwatch-tests".into()),
                sign_in: true,
                vtr: Some(r#"["P5.Cp.Cd"]"#.into()),
                ..IdentityEnvironment::default()
            },
        };
        Rig { admin: urls.admin.clone(), sandbox, env, client: reqwest::Client::new() }
    }

    fn config(&self, kind: FlowKind) -> CanaryConfig {
        config(kind, self.env.clone())
    }

    async fn fault(&self, api: &str, plan: serde_json::Value) {
        let reply = self.client.put(format!("{}/faults/{api}", self.admin)).json(&plan).send().await.unwrap();
        assert!(reply.status().is_success(), "fault {plan} on {api}: {}", reply.text().await.unwrap());
    }
}

fn step<'r>(run: &'r canaries::CanaryRun, name: &str) -> &'r canaries::StepResult {
    run.steps.iter().find(|s| s.step == name).unwrap_or_else(|| panic!("no step {name}: {}", describe(run)))
}

/// Both identity flows sign a test user in against our mock CIS2 and NHS login and pass every check;
/// each identity fault fails the step that is about it.
#[tokio::test]
async fn identity_flows_pass_and_each_identity_fault_fails_its_step() {
    let rig = Rig::start().await;
    let all = ["discovery", "jwks", "token_endpoint", "clock_skew", "signing_key", "sign_in"];
    for kind in [FlowKind::Cis2, FlowKind::NhsLogin] {
        let run = run_once(&rig.config(kind)).await;
        assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));
        assert_eq!(steps_with(&run, StepOutcome::Passed), all, "{}", describe(&run));
    }
    // Each fault fails its own step; a clock ten minutes ahead also makes the ID token "issued in the
    // future", which is what it would do to a real client.
    let cases: [(&str, FlowKind, serde_json::Value, &str, &[&str]); 4] = [
        ("cis2", FlowKind::Cis2, json!({"discovery_down": true}), "discovery", &[]),
        ("cis2", FlowKind::Cis2, json!({"keys_rotated": true}), "sign_in", &[]),
        ("nhslogin", FlowKind::NhsLogin, json!({"clock_skew_s": 600}), "clock_skew", &["sign_in"]),
        ("nhslogin", FlowKind::NhsLogin, json!({"key_expires_in_days": 3}), "signing_key", &[]),
    ];
    for (api, kind, plan, failing, also) in cases {
        rig.client.delete(format!("{}/faults", rig.admin)).send().await.unwrap();
        rig.fault(api, plan.clone()).await;
        let run = run_once(&rig.config(kind)).await;
        let s = step(&run, failing);
        let class = if failing == "discovery" { ErrorClass::ServerError } else { ErrorClass::Assertion };
        assert_eq!((s.outcome, s.error_class), (StepOutcome::Failed, Some(class)), "{api} {plan}: {}", describe(&run));
        assert!(!run.status.passes(), "{api} {plan}");
        let others_failed: Vec<&str> = run
            .steps
            .iter()
            .filter(|x| x.outcome == StepOutcome::Failed && x.step != failing)
            .map(|x| x.step.as_str())
            .collect();
        assert_eq!(others_failed, also, "{api} {plan}: {}", describe(&run));
    }
    // Discovery down: nothing else can be tried, and signing in is out: an outage.
    rig.client.delete(format!("{}/faults", rig.admin)).send().await.unwrap();
    rig.fault("cis2", json!({"discovery_down": true})).await;
    let run = run_once(&rig.config(FlowKind::Cis2)).await;
    assert_eq!(
        steps_with(&run, StepOutcome::Skipped),
        ["jwks", "token_endpoint", "clock_skew", "signing_key", "sign_in"]
    );
    assert_eq!(run.status, RunStatus::Outage, "{}", describe(&run));
    rig.client.delete(format!("{}/faults", rig.admin)).send().await.unwrap();
    rig.client.delete(format!("{}/faults", rig.admin)).send().await.unwrap();
}

#[tokio::test]
async fn every_flow_passes_against_our_sandboxes() {
    let rig = Rig::start().await;
    let expected: [(FlowKind, &[&str]); 4] = [
        (FlowKind::Pds, &["token", "read_patient", "search_patient", "read_restricted_patient"]),
        (
            FlowKind::GpConnect,
            &[
                "get_capability_statement",
                "get_structured_record",
                "search_free_slots",
                "book_appointment",
                "cancel_appointment",
            ],
        ),
        (FlowKind::Nrl, &["token", "create_pointer", "search_pointers", "read_pointer", "delete_pointer"]),
        (
            FlowKind::Mesh,
            &[
                "handshake",
                "send_message",
                "await_delivery",
                "download_message",
                "acknowledge_message",
                "check_tracking",
            ],
        ),
    ];
    for (kind, steps) in expected {
        // Twice: the second GP Connect booking must find the slot the first one freed, and the
        // second PDS run uses the cached token.
        for _ in 0..2 {
            let run = run_once(&rig.config(kind)).await;
            assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));
            assert_eq!(steps_with(&run, StepOutcome::Passed), steps, "{}", describe(&run));
            assert_eq!(run.trace_id, run.correlation_id.replace('-', ""));
        }
    }
    rig.sandbox.shutdown().await;
}

/// With the token requirement off (as NHS England's hosted sandboxes), the PDS and NRL flows pass
/// both with their APIM credentials (the token they send is shaped like APIM's) and without any
/// (an environment with no token endpoint, as for NHS's open sandboxes).
#[tokio::test]
async fn pds_and_nrl_flows_pass_with_the_token_requirement_off_with_or_without_credentials() {
    let rig = Rig::start_with(sandboxes::RequireAuth::NONE).await;
    let mut open = rig.env.clone();
    (open.token_url, open.api_key, open.private_key, open.kid) = (None, None, None, None);
    for env in [rig.env.clone(), open] {
        let with_token = env.token_url.is_some();
        for kind in [FlowKind::Pds, FlowKind::Nrl] {
            // Several runs: each token is freshly random, and every one must pass the shape check.
            for _ in 0..3 {
                let run = run_once(&config(kind, env.clone())).await;
                assert_eq!(run.status, RunStatus::Healthy, "token {with_token}: {}", describe(&run));
                assert_eq!(steps_with(&run, StepOutcome::Passed).contains(&"token"), with_token, "{}", describe(&run));
            }
        }
    }
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_500_is_a_server_error_and_is_not_retried() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"error_rate": 1.0, "error_status": 500})).await;
    let run = run_once(&rig.config(FlowKind::Pds)).await;
    assert_eq!((run.status, run.error_class), (RunStatus::Outage, Some(ErrorClass::ServerError)), "{}", describe(&run));
    let read = step(&run, "read_patient");
    assert_eq!((read.attempts, read.http.as_ref().unwrap().status), (1, Some(500)));
}

#[tokio::test]
async fn a_502_on_a_read_is_retried_then_reported() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"error_rate": 1.0, "error_status": 502})).await;
    let run = run_once(&rig.config(FlowKind::Pds)).await;
    assert_eq!(run.error_class, Some(ErrorClass::ServerError), "{}", describe(&run));
    assert_eq!(step(&run, "read_patient").attempts, 3, "{}", describe(&run));
}

#[tokio::test]
async fn a_retry_after_beyond_the_step_budget_is_not_waited_for() {
    let rig = Rig::start().await;
    // PDS's 503 carries Retry-After: 5; the test budget per step is 3 s.
    rig.fault("pds", json!({"error_rate": 1.0, "error_status": 503})).await;
    let run = run_once(&rig.config(FlowKind::Pds)).await;
    let read = step(&run, "read_patient");
    assert_eq!((read.attempts, read.error_class), (1, Some(ErrorClass::ServerError)), "{}", describe(&run));
    assert_eq!(read.waited_ms, 0.0);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_the_run_is_degraded() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"rate_limit_rate": 1.0, "retry_after_s": 1, "remaining": 1})).await;
    let run = run_once(&rig.config(FlowKind::Pds)).await;
    assert_eq!(run.status, RunStatus::Degraded, "{}", describe(&run));
    let read = step(&run, "read_patient");
    assert_eq!((read.attempts, read.retries), (2, 1));
    assert_eq!(read.waited_ms.round(), 1000.0, "Retry-After: 1 was not honoured: {}", describe(&run));
}

#[tokio::test]
async fn persistent_429_is_rate_limited() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"rate_limit_rate": 1.0, "retry_after_s": 60})).await;
    let run = run_once(&rig.config(FlowKind::Pds)).await;
    assert_eq!(run.error_class, Some(ErrorClass::RateLimited), "{}", describe(&run));
    // Retry-After beyond the step's budget is not waited for.
    assert_eq!(step(&run, "read_patient").attempts, 1);
}

#[tokio::test]
async fn a_failed_create_is_not_repeated_blindly_but_a_429_is_retried() {
    let rig = Rig::start().await;
    rig.fault("nrl", json!({"error_rate": 1.0, "error_status": 503, "remaining": 1})).await;
    let run = run_once(&rig.config(FlowKind::Nrl)).await;
    let create = step(&run, "create_pointer");
    assert_eq!((create.outcome, create.attempts), (StepOutcome::Failed, 1), "{}", describe(&run));
    assert_eq!(steps_with(&run, StepOutcome::Skipped), ["search_pointers", "read_pointer", "delete_pointer"]);
    // A 503 may hide a create that happened: the run looks for its own pointer to remove. The
    // clean-up is housekeeping, so the run is still an outage.
    let clean_up = step(&run, "clean_up");
    assert_eq!(clean_up.outcome, StepOutcome::Passed, "{}", describe(&run));
    assert_eq!(clean_up.attributes.get("pathwatch.canary.cleaned_up").map(String::as_str), Some("0"));
    assert_eq!(run.status, RunStatus::Outage);

    rig.fault("nrl", json!({"rate_limit_rate": 1.0, "retry_after_s": 0, "remaining": 1})).await;
    let run = run_once(&rig.config(FlowKind::Nrl)).await;
    assert_eq!(step(&run, "create_pointer").attempts, 2, "{}", describe(&run));
    assert_eq!(run.status, RunStatus::Degraded, "{}", describe(&run));
}

#[tokio::test]
async fn slowness_beyond_the_threshold_is_degraded() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"latency_ms": 150})).await;
    let mut config = rig.config(FlowKind::Pds);
    config.degraded_after_ms = 300;
    let run = run_once(&config).await;
    assert_eq!(run.status, RunStatus::Degraded, "{}", describe(&run));
    assert!(run.steps.iter().all(|s| s.outcome == StepOutcome::Passed && s.attempts <= 1));
}

#[tokio::test]
async fn a_hung_request_is_a_timeout() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"timeout_rate": 1.0, "timeout_s": 30})).await;
    let mut config = rig.config(FlowKind::Pds);
    config.step_timeout_ms = 500;
    let run = run_once(&config).await;
    assert_eq!((run.status, run.error_class), (RunStatus::Outage, Some(ErrorClass::Timeout)), "{}", describe(&run));
}

#[tokio::test]
async fn wrong_patient_answers_fail_assertions_in_every_api() {
    let rig = Rig::start().await;
    for (api, kind, failing) in [
        ("pds", FlowKind::Pds, "read_patient"),
        ("gpconnect", FlowKind::GpConnect, "get_structured_record"),
        ("nrl", FlowKind::Nrl, "search_pointers"),
    ] {
        rig.fault(api, json!({"wrong_patient": true})).await;
        let run = run_once(&rig.config(kind)).await;
        let s = step(&run, failing);
        assert_eq!(
            (s.outcome, s.error_class),
            (StepOutcome::Failed, Some(ErrorClass::Assertion)),
            "{}",
            describe(&run)
        );
        assert!(!run.status.passes());
    }
}

#[tokio::test]
async fn a_dropped_mesh_message_is_a_delivery_timeout() {
    let rig = Rig::start().await;
    rig.fault("mesh", json!({"drop_messages": true})).await;
    let run = run_once(&rig.config(FlowKind::Mesh)).await;
    let wait = step(&run, "await_delivery");
    assert_eq!(
        (wait.outcome, wait.error_class),
        (StepOutcome::Failed, Some(ErrorClass::Timeout)),
        "{}",
        describe(&run)
    );
    assert_eq!(steps_with(&run, StepOutcome::Skipped), ["download_message", "acknowledge_message"]);
    // Tracking still runs, and says why: the sandbox reported the message undeliverable.
    let tracking = step(&run, "check_tracking");
    assert_eq!(tracking.error_class, Some(ErrorClass::Assertion), "{}", describe(&run));
    assert!(tracking.message.as_deref().unwrap_or("").to_lowercase().contains("undeliverable"), "{}", describe(&run));
    assert_eq!(run.status, RunStatus::Partial);
}

#[tokio::test]
async fn token_endpoint_failure_is_auth_and_nothing_else_runs() {
    let rig = Rig::start().await;
    let mut env = rig.env.clone();
    env.api_key = Some(SecretRef::inline("not-registered"));
    let run = run_once(&config(FlowKind::Pds, env)).await;
    assert_eq!((run.status, run.error_class), (RunStatus::Outage, Some(ErrorClass::Auth)), "{}", describe(&run));
    assert_eq!(steps_with(&run, StepOutcome::Skipped), ["read_patient", "search_patient", "read_restricted_patient"]);
}

#[tokio::test]
async fn an_unreachable_api_is_a_connect_failure() {
    let rig = Rig::start().await;
    let mut env = rig.env.clone();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    env.gpconnect.url = Some(format!("http://{closed}/gpconnect/fhir"));
    let run = run_once(&config(FlowKind::GpConnect, env)).await;
    assert_eq!((run.status, run.error_class), (RunStatus::Outage, Some(ErrorClass::Connect)), "{}", describe(&run));
}

#[tokio::test]
async fn a_flow_in_progress_is_never_started_twice() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"latency_ms": 300})).await;
    let canaries = canaries::Canaries::new(&rig.config(FlowKind::Pds)).unwrap();
    let flow = canaries.flow("pds").unwrap();
    let (a, b) = tokio::join!(canaries.run_flow(flow, None), canaries.run_flow(flow, None));
    assert!(a.is_some() != b.is_some(), "exactly one of two simultaneous starts may run");
    assert!(matches!(
        canaries.run_named("nope", None).await,
        Err(canaries::CanaryError::UnknownFlow(name, known)) if name == "nope" && known == "pds"
    ));
}

#[tokio::test]
async fn a_token_revoked_early_is_replaced_within_the_step_and_the_run_is_degraded() {
    let rig = Rig::start().await;
    let canaries = canaries::Canaries::new(&rig.config(FlowKind::Pds)).unwrap();
    let first = canaries.run_named("pds", None).await.unwrap();
    assert_eq!(first.status, RunStatus::Healthy, "{}", describe(&first));
    let expired = rig.client.post(format!("{}/tokens/expire", rig.admin)).send().await.unwrap();
    assert!(expired.status().is_success());
    // The cached token is still "valid" by its expires_in, so the run uses it and meets a 401.
    let second = canaries.run_named("pds", None).await.unwrap();
    assert_eq!(second.status, RunStatus::Degraded, "{}", describe(&second));
    let token = step(&second, "token");
    assert_eq!(token.attributes.get("pathwatch.canary.token_cached").map(String::as_str), Some("true"));
    let read = step(&second, "read_patient");
    assert_eq!((read.attempts, read.retries), (3, 1), "401, token, resend: {}", describe(&second));
    assert_eq!(read.attributes.get("pathwatch.canary.token_refreshed").map(String::as_str), Some("true"));
    let third = canaries.run_named("pds", None).await.unwrap();
    assert_eq!(third.status, RunStatus::Healthy, "the new token is cached: {}", describe(&third));
}

/// The PDS flow configured with patients from the synthetic generator (the sandbox's own population:
/// same seed, same count), including a superseded record, which the canary must flag.
#[tokio::test]
async fn generated_synthetic_patients_drive_the_pds_flow_and_a_superseded_one_is_caught() {
    use sandboxes::patients::generate;
    let rig = Rig::start().await;
    let defaults = sandboxes::SandboxConfig::default();
    let population = generate(defaults.seed, defaults.synthetic_patients);
    let ordinary = population
        .iter()
        .find(|p| !p.restricted && p.deceased.is_none() && p.superseded_by.is_none())
        .expect("an ordinary patient");
    let restricted = population.iter().find(|p| p.restricted && p.superseded_by.is_none()).expect("a restricted one");
    let superseded = population.iter().find(|p| p.superseded_by.is_some()).expect("a superseded one");

    let mut config = rig.config(FlowKind::Pds);
    config.synthetic_patients = population.iter().map(|p| p.nhs_number.as_str().to_string()).collect();
    let flow = &mut config.flows[0];
    flow.patient = Some(ordinary.nhs_number.as_str().into());
    flow.restricted_patient = Some(restricted.nhs_number.as_str().into());
    flow.search = Some(canaries::config::PdsSearch {
        family: ordinary.family.clone(),
        gender: ordinary.gender.as_fhir().into(),
        birthdate: ordinary.birth_date.to_string(),
    });
    let run = run_once(&config).await;
    assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));

    let flow = &mut config.flows[0];
    flow.patient = Some(superseded.nhs_number.as_str().into());
    flow.search = None;
    let run = run_once(&config).await;
    let read = step(&run, "read_patient");
    assert_eq!(read.error_class, Some(ErrorClass::Assertion), "{}", describe(&run));
    let successor = superseded.superseded_by.as_ref().unwrap();
    assert!(read.message.as_deref().unwrap().contains(successor.as_str()), "{}", describe(&run));
}

#[tokio::test]
async fn the_scheduler_bounds_concurrency_and_reports_every_run() {
    let rig = Rig::start().await;
    rig.fault("pds", json!({"latency_ms": 100})).await;
    let mut config = rig.config(FlowKind::Pds);
    config.concurrency = 1;
    let mut second = config.flows[0].clone();
    second.name = "pds-2".into();
    config.flows.push(second);
    for flow in &mut config.flows {
        flow.schedule = "* * * * * *".into(); // every second
        flow.jitter_s = 0;
    }
    let canaries = std::sync::Arc::new(canaries::Canaries::new(&config).unwrap());
    let mut runs = canaries.subscribe();
    let scheduler =
        tokio::spawn(canaries.clone().run_scheduled(tokio::time::sleep(std::time::Duration::from_millis(2500))));
    let mut seen = Vec::new();
    while let Ok(Ok(run)) = tokio::time::timeout(std::time::Duration::from_secs(4), runs.recv()).await {
        seen.push(run);
        if seen.len() == 4 {
            break;
        }
    }
    scheduler.await.unwrap();
    assert!(seen.len() >= 4, "only {} runs reported", seen.len());
    assert!(seen.iter().any(|r| r.flow == "pds") && seen.iter().any(|r| r.flow == "pds-2"));
    // concurrency = 1: no two runs overlap in time.
    let mut spans: Vec<(u64, u64)> =
        seen.iter().map(|r| (r.started_unix_ns, r.started_unix_ns + (r.duration_ms * 1e6) as u64)).collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlapped: {pair:?}");
    }
}

#[tokio::test]
async fn a_tick_that_finds_its_flow_still_running_is_skipped() {
    let rig = Rig::start().await;
    // Each run takes longer than the one-second period between ticks.
    rig.fault("pds", json!({"latency_ms": 700})).await;
    let mut config = rig.config(FlowKind::Pds);
    config.concurrency = 4;
    config.flows[0].schedule = "* * * * * *".into();
    config.flows[0].jitter_s = 0;
    let canaries = std::sync::Arc::new(canaries::Canaries::new(&config).unwrap());
    let mut runs = canaries.subscribe();
    let window = std::time::Duration::from_millis(4500);
    let scheduler = tokio::spawn(canaries.clone().run_scheduled(tokio::time::sleep(window)));
    let mut seen = Vec::new();
    while let Ok(Ok(run)) = tokio::time::timeout(std::time::Duration::from_secs(6), runs.recv()).await {
        seen.push(run);
    }
    scheduler.await.unwrap();
    // About 5 ticks in 4.5 s, each run about 2.1 s (three PDS requests at 700 ms): most ticks skipped.
    assert!((1..=3).contains(&seen.len()), "{} runs", seen.len());
    let mut spans: Vec<(u64, u64)> =
        seen.iter().map(|r| (r.started_unix_ns, r.started_unix_ns + (r.duration_ms * 1e6) as u64)).collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "one flow ran twice at once: {pair:?}");
    }
}

/// Every API × the failures it can inject, and the class and first failing step each must produce.
#[tokio::test]
async fn each_injected_fault_on_each_api_yields_its_error_class() {
    let rig = Rig::start().await;
    let cases: &[(&str, FlowKind, serde_json::Value, &str, ErrorClass)] = &[
        ("token", FlowKind::Pds, json!({"error_rate": 1.0, "error_status": 500}), "token", ErrorClass::Auth),
        ("token", FlowKind::Nrl, json!({"rate_limit_rate": 1.0, "retry_after_s": 60}), "token", ErrorClass::Auth),
        (
            "pds",
            FlowKind::Pds,
            json!({"error_rate": 1.0, "error_status": 404}),
            "read_patient",
            ErrorClass::ClientError,
        ),
        ("pds", FlowKind::Pds, json!({"error_rate": 1.0, "error_status": 401}), "read_patient", ErrorClass::Auth),
        (
            "gpconnect",
            FlowKind::GpConnect,
            json!({"error_rate": 1.0, "error_status": 500}),
            "get_capability_statement",
            ErrorClass::ServerError,
        ),
        (
            "gpconnect",
            FlowKind::GpConnect,
            json!({"rate_limit_rate": 1.0, "retry_after_s": 60}),
            "get_capability_statement",
            ErrorClass::RateLimited,
        ),
        (
            "gpconnect",
            FlowKind::GpConnect,
            json!({"timeout_rate": 1.0, "timeout_s": 30}),
            "get_capability_statement",
            ErrorClass::Timeout,
        ),
        (
            "nrl",
            FlowKind::Nrl,
            json!({"error_rate": 1.0, "error_status": 500}),
            "create_pointer",
            ErrorClass::ServerError,
        ),
        (
            "nrl",
            FlowKind::Nrl,
            json!({"rate_limit_rate": 1.0, "retry_after_s": 60}),
            "create_pointer",
            ErrorClass::RateLimited,
        ),
        ("nrl", FlowKind::Nrl, json!({"timeout_rate": 1.0, "timeout_s": 30}), "create_pointer", ErrorClass::Timeout),
        ("mesh", FlowKind::Mesh, json!({"error_rate": 1.0, "error_status": 500}), "handshake", ErrorClass::ServerError),
        (
            "mesh",
            FlowKind::Mesh,
            json!({"rate_limit_rate": 1.0, "retry_after_s": 60}),
            "handshake",
            ErrorClass::RateLimited,
        ),
        ("mesh", FlowKind::Mesh, json!({"timeout_rate": 1.0, "timeout_s": 30}), "handshake", ErrorClass::Timeout),
    ];
    for (api, kind, plan, failing, class) in cases {
        rig.client.delete(format!("{}/faults", rig.admin)).send().await.unwrap();
        rig.fault(api, plan.clone()).await;
        let mut config = rig.config(*kind);
        config.step_timeout_ms = 1_000;
        // The token comes from a fresh cache each time (new Canaries), so token faults always bite.
        let run = run_once(&config).await;
        let first_failure = run.steps.iter().find(|s| s.outcome == StepOutcome::Failed);
        let got = first_failure.map(|s| (s.step.as_str(), s.error_class));
        assert_eq!(got, Some((*failing, Some(*class))), "{api} {plan}: {}", describe(&run));
        assert!(!run.status.passes(), "{api} {plan}");
    }
}

/// A busy test mailbox: more messages than one inbox page holds (500), so the canary's own message
/// is only found by following `links.next`.
#[tokio::test]
async fn delivery_is_found_beyond_the_first_inbox_page() {
    let rig = Rig::start().await;
    let urls = rig.sandbox.urls();
    let sender = canaries::credentials::MeshCredentials {
        mailbox: "X26ABC1".into(),
        password: canaries::Secret::new("password"),
        shared_key: canaries::Secret::new("TestKey"),
    };
    for i in 0..510 {
        let reply = rig
            .client
            .post(format!("{}/X26ABC1/outbox", urls.mesh))
            .header("authorization", sender.authorization())
            .header("accept", "application/vnd.mesh.v2+json")
            .header("mex-from", "X26ABC1")
            .header("mex-to", "X26ABC2")
            .header("mex-workflowid", "TEST_WORKFLOW")
            .header("content-type", "application/octet-stream")
            .body(format!("backlog {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 202);
    }
    let run = run_once(&rig.config(FlowKind::Mesh)).await;
    assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));
    let wait = step(&run, "await_delivery");
    assert!(wait.attempts >= 2, "the first page alone cannot have held the message: {}", describe(&run));
}
