//! Issue 14's "done when": `pathwatch up` takes a barrage of malformed, oversized, amplified and
//! poisoned input from one token holder, and afterwards the process is up, its memory stayed
//! bounded, ordinary data still flows, every page answers 200 with the SLOs evaluated, and the
//! audit chain verifies.

use std::io::{BufRead, Write};
use std::process::{Child, Stdio};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::json;

use crate::support::*;

const ADMIN_PASSWORD: &str = "barrage-admin-password-0123";
const NANOS_PER_DAY: u64 = 86_400_000_000_000;

struct Up {
    child: Child,
    collector: String,
    dashboard: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up(data: &std::path::Path) -> Up {
    let (collector, dashboard) = (free_port(), free_port());
    let mut child = pathwatch(data)
        .arg("up")
        .env("PATHWATCH_INGEST_TOKEN", TOKEN)
        .env("PATHWATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{collector}"))
        .env("PATHWATCH_DASHBOARD__LISTEN", format!("127.0.0.1:{dashboard}"))
        .env("PATHWATCH_SANDBOX__LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.any(|l| l.is_ok_and(|l| l == "ready"));
    assert!(ready, "pathwatch up did not start");
    Up { child, collector: format!("http://127.0.0.1:{collector}"), dashboard: format!("http://127.0.0.1:{dashboard}") }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn span(i: u64, start: u64, end: u64) -> Span {
    Span {
        trace_id: [[9u8; 8], i.to_be_bytes()].concat(),
        span_id: (i + 1).to_be_bytes().to_vec(),
        name: "canary pds".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    }
}

fn traces(resource: Vec<KeyValue>, spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// (path, content type, gzipped, body): everything issue 14 found, and more.
fn barrage(now_ns: u64) -> Vec<(&'static str, &'static str, bool, Vec<u8>)> {
    let canary = || kv("service.name", "pathwatch-canary");
    let amplified = traces(
        vec![canary(), kv("padding", &"x".repeat(1 << 20))],
        (0..3_000).map(|i| span(i, now_ns, now_ns + 1)).collect(),
    );
    let mut bomb = span(1, now_ns, now_ns + 1);
    bomb.attributes = vec![KeyValue::default(); 2_000_000];
    let extremes = traces(
        vec![canary()],
        vec![span(1, now_ns, u64::MAX - 1), span(2, now_ns, now_ns - 1), span(3, now_ns / 2, now_ns)]
            .into_iter()
            .chain((0..101).map(|d| span(10 + d, now_ns - d * NANOS_PER_DAY / 4, now_ns - d * NANOS_PER_DAY / 4 + 1)))
            .collect(),
    );
    let poisoned_audit = json!([
        {"event_id": "p1", "time": "9999-12-31T23:59:59Z", "actor": {"user_id": "?", "role": "R8000", "organisation": "A81001"},
         "purpose_of_use": "direct-care", "action": "read", "patient_nhs_number": "9000000009", "outcome": "success"},
        {"event_id": "p2\u{0}?'\"\\😀", "time": "2026-13-45T99:99:99Z"},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "AuditEvent", "recorded": -1}}]},
    ]);
    vec![
        ("/v1/traces", "application/x-protobuf", true, gzip(&amplified)),
        ("/v1/traces", "application/x-protobuf", false, traces(vec![canary()], vec![bomb])),
        ("/v1/traces", "application/x-protobuf", true, gzip(&vec![0u8; 64 << 20])),
        ("/v1/traces", "application/x-protobuf", false, extremes),
        ("/v1/traces", "application/x-protobuf", false, [0x0a, 0xff, 0xff, 0xff, 0x0f].repeat(10_000)),
        ("/v1/traces", "application/json", false, format!("[{}1]", "1,".repeat(2_000_000)).into_bytes()),
        ("/v1/traces", "application/json", false, "[".repeat(100_000).into_bytes()),
        // An attribute value object of unknown keys, which serde buffers whole before it looks.
        ("/v1/traces", "application/json", false, {
            let ones = vec!["1"; 2_000_000].join(",");
            format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{{"x":[{ones}]}}}}]}}]}}]}}]}}"#)
                .into_bytes()
        }),
        ("/v1/audit", "application/json", false, serde_json::to_vec(&poisoned_audit).unwrap()),
        ("/v1/audit", "application/x-ndjson", true, gzip(&"{\"a\":[[[[[[[[1]]]]]]]]}\n".repeat(100_000).into_bytes())),
        ("/v1/audit", "application/json", false, vec![b'x'; 17 << 20]),
    ]
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
}

/// Signs in to the dashboard with the form, as a browser does; returns the session cookie.
async fn sign_in(client: &reqwest::Client, dashboard: &str) -> String {
    let form = client.get(format!("{dashboard}/login")).send().await.unwrap();
    let login_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("pathwatch_login"))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let html = form.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let reply = client
        .post(format!("{dashboard}/login"))
        .header("cookie", login_cookie)
        .header("host", dashboard.trim_start_matches("http://"))
        .form(&[("name", "admin"), ("password", ADMIN_PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 303, "{}", reply.text().await.unwrap());
    reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("pathwatch_session"))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_barrage_of_hostile_input_pathwatch_is_up_bounded_and_answering_and_the_chain_verifies() {
    let (_tmp, data) = temp_dir();
    let mut up = up(&data);
    let now_ns = fixture_ns();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Ten rounds of every hostile request, eight connections at once.
    let bodies = std::sync::Arc::new(barrage(now_ns));
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..8usize {
        let (client, bodies, url) = (client.clone(), bodies.clone(), up.collector.clone());
        senders.spawn(async move {
            let mut statuses = Vec::new();
            for round in 0..10 {
                let (path, content_type, gzipped, body) = &bodies[(worker + round) % bodies.len()];
                let mut request =
                    client.post(format!("{url}{path}")).bearer_auth(TOKEN).header("content-type", *content_type);
                if *gzipped {
                    request = request.header("content-encoding", "gzip");
                }
                if let Ok(reply) = request.body(body.clone()).send().await {
                    statuses.push((*path, reply.status().as_u16()));
                }
            }
            statuses
        });
    }
    let mut answered = 0;
    while let Some(statuses) = senders.join_next().await {
        for (path, status) in statuses.unwrap() {
            assert!(status < 500, "{path} answered {status}");
            answered += 1;
        }
    }
    assert!(answered >= 60, "most hostile requests were answered: {answered}");

    // Up, and its memory stayed bounded.
    assert!(up.child.try_wait().unwrap().is_none(), "the process died");
    let peak = peak_rss_mib(up.child.id());
    assert!(peak < 256.0, "peak RSS {peak:.0} MiB under the barrage");
    eprintln!("barrage: {answered} hostile requests answered; pathwatch up peak RSS {peak:.1} MiB");

    // Ordinary data still flows.
    let ordinary = traces(vec![kv("service.name", "ordinary")], vec![span(500, now_ns, now_ns + 1_000_000)]);
    let reply = client
        .post(format!("{}/v1/traces", up.collector))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-protobuf")
        .body(ordinary)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let event = audit_event("after-the-barrage");
    let reply =
        client.post(format!("{}/v1/audit", up.collector)).bearer_auth(TOKEN).json(&vec![event]).send().await.unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());

    // Every page answers 200, and the SLOs are evaluated.
    let session = sign_in(&client, &up.dashboard).await;
    for page in [
        "/",
        "/slos",
        "/alerts",
        "/hazards",
        "/reports",
        "/trace",
        "/admin/health",
        "/admin/accounts",
        "/api/v1/pathways",
        "/api/v1/alerts",
    ] {
        let reply = client.get(format!("{}{page}", up.dashboard)).header("cookie", &session).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{page}: {}", reply.text().await.unwrap());
    }
    let slos: serde_json::Value = client
        .get(format!("{}/api/v1/slos", up.dashboard))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!slos["slos"].as_array().unwrap().is_empty(), "{slos}");
    let ready = client.get(format!("{}/readyz", up.collector)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());

    // And the audit chain verifies.
    let verified = run(pathwatch(&data).args(["audit", "verify"]));
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}
