//! The hostile half of `pathwatch bench ingest`: a fresh collector takes amplifying, attribute-bomb,
//! gzip-bomb, oversized, stalled, malformed and extreme-time requests from many connections beside
//! ordinary traffic; the figures are its peak RSS and the ordinary spans it still took. Measures
//! and asserts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::bench::{kv, peak_rss_mib, start_collector, TOKEN};

/// The memory target of issue 14 under any hostile mix.
pub const HOSTILE_TARGET_MIB: f64 = 256.0;

/// Hostile request bodies, each with its content type and encoding, built once.
fn hostile_bodies(t0_ns: u64) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use std::io::Write;
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    };
    let span = |i: u64, start: u64, end: u64| Span {
        trace_id: [[7u8; 8], i.to_be_bytes()].concat(),
        span_id: (i + 1).to_be_bytes().to_vec(),
        name: "canary pds".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    };
    let request = |resource: Vec<KeyValue>, spans: Vec<Span>| {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: resource, ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    };
    let canary = kv("service.name", "pathwatch-canary");
    // 1. A 1 MiB resource attribute shared by 3,000 spans, gzipped to a few kilobytes.
    let amplified = gzip(&request(
        vec![canary.clone(), kv("padding", &"x".repeat(1 << 20))],
        (0..3_000).map(|i| span(i, t0_ns, t0_ns + 1)).collect(),
    ));
    // 2. Two million empty attributes: 4 MB that would decode to hundreds of megabytes.
    let mut bomb_span = span(1, t0_ns, t0_ns + 1);
    bomb_span.attributes = vec![KeyValue::default(); 2_000_000];
    let attribute_bomb = request(vec![canary.clone()], vec![bomb_span]);
    // 3. A gzip bomb: 1 GiB of zeros... as far as the body limit lets it inflate.
    let zeros = gzip(&vec![0u8; 64 << 20]);
    // 4. Spans ending near 2^64, lasting negative time, dated decades ago, spread over 101 days.
    let extremes = request(
        vec![canary.clone()],
        vec![span(1, t0_ns, u64::MAX - 1), span(2, t0_ns, t0_ns - 1), span(3, t0_ns / 2, t0_ns)]
            .into_iter()
            .chain(
                (0..101)
                    .map(|d| span(10 + d, t0_ns - d * 86_400_000_000_000 / 4, t0_ns - d * 86_400_000_000_000 / 4 + 1)),
            )
            .collect(),
    );
    // 5. Malformed protobuf and JSON; 6. a body over the size limit.
    let malformed = [0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01].repeat(1_000);
    let json_values = format!("[{}1]", "1,".repeat(4_000_000)).into_bytes();
    let oversized = vec![b'x'; 17 << 20];
    vec![
        ("application/json", "gzip", amplified.clone()),
        ("application/x-protobuf", "gzip", amplified),
        ("application/x-protobuf", "", attribute_bomb),
        ("application/x-protobuf", "gzip", zeros.clone()),
        ("application/json", "gzip", zeros),
        ("application/x-protobuf", "", extremes),
        ("application/x-protobuf", "", malformed),
        ("application/json", "", json_values),
        ("application/x-protobuf", "", oversized),
    ]
}

/// Sends the headers and half of `body` over a raw connection and waits for the answer (the
/// collector's body timeout); returns its status, 0 if none came.
async fn stalled(url: &str, content_type: &str, encoding: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(authority) = url.strip_prefix("http://").and_then(|rest| rest.split('/').next()) else { return 0 };
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else { return 0 };
    let encoding = if encoding.is_empty() { String::new() } else { format!("Content-Encoding: {encoding}\r\n") };
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {content_type}\r\n{encoding}Content-Length: {}\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&body[..body.len() / 2]).await.is_err() {
        return 0;
    }
    let mut answer = [0u8; 12];
    match tokio::time::timeout(Duration::from_secs(45), stream.read_exact(&mut answer)).await {
        Ok(Ok(_)) => std::str::from_utf8(&answer[9..12]).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}

/// What the hostile mix did to a fresh collector.
pub struct HostileFigures {
    pub baseline_mib: f64,
    pub peak_rss_mib: f64,
    pub hostile_requests: u64,
    pub answers: std::collections::BTreeMap<u16, u64>,
    pub ordinary_spans_per_s: f64,
}

/// `connections` clients send hostile bodies (and some keep bodies stalled) for `secs`, while one
/// sends ordinary batches; the collector must stay up, bounded, and keep taking the ordinary data.
pub async fn measure_hostile(
    dir: &Path,
    ordinary: Arc<Vec<Vec<u8>>>,
    batch: usize,
    connections: usize,
    secs: u64,
    t0_ns: u64,
) -> anyhow::Result<HostileFigures> {
    let collector = start_collector(&dir.join("hostile"), &[])?;
    let baseline_mib = peak_rss_mib(collector.child.id());
    let bodies = Arc::new(hostile_bodies(t0_ns));
    let until = Instant::now() + Duration::from_secs(secs);
    let url = format!("{}/v1/traces", collector.url);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (client, bodies, url) = (client.clone(), bodies.clone(), url.clone());
        tasks.spawn(async move {
            let mut answers = std::collections::BTreeMap::<u16, u64>::new();
            let mut n = c;
            while Instant::now() < until {
                let (content_type, encoding, body) = &bodies[n % bodies.len()];
                n += 1;
                // Every fourth client trickles: it announces a body and sends only half of it.
                let status = if c % 4 == 3 {
                    stalled(&url, content_type, encoding, body).await
                } else {
                    let mut request = client.post(&url).bearer_auth(TOKEN).header("content-type", *content_type);
                    if !encoding.is_empty() {
                        request = request.header("content-encoding", *encoding);
                    }
                    match tokio::time::timeout(Duration::from_secs(45), request.body(body.clone()).send()).await {
                        Ok(Ok(reply)) => reply.status().as_u16(),
                        _ => 0,
                    }
                };
                *answers.entry(status).or_default() += 1;
            }
            answers
        });
    }
    // Ordinary traffic alongside, counted by what was acknowledged.
    let started = Instant::now();
    let mut sent = 0usize;
    for body in ordinary.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        let reply = client
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await?;
        if reply.status() == 200 {
            sent += batch;
        }
    }
    let ordinary_spans_per_s = sent as f64 / started.elapsed().as_secs_f64();
    let mut answers = std::collections::BTreeMap::<u16, u64>::new();
    while let Some(client_answers) = tasks.join_next().await {
        for (status, n) in client_answers? {
            *answers.entry(status).or_default() += n;
        }
    }
    if collector.child.id() == 0 || std::fs::metadata(format!("/proc/{}", collector.child.id())).is_err() {
        bail!("the collector died under the hostile mix");
    }
    Ok(HostileFigures {
        baseline_mib,
        peak_rss_mib: peak_rss_mib(collector.child.id()),
        hostile_requests: answers.values().sum(),
        answers,
        ordinary_spans_per_s,
    })
}
