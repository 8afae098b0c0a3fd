//! The trace page: find a trace by correlation id or trace id and show its spans as a waterfall
//! (a table in start order with a bar per span), so on-call staff can see where time went and
//! which call failed.

use askama::Template;
use audit_store::{Span, SpanStatus};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::web::{render, DashboardState, User, UserView, WebError};

pub struct SpanRow {
    pub indent: String,
    pub name: String,
    pub service: String,
    pub offset: String,
    pub duration: String,
    pub status: String,
    /// SVG from numbers only.
    pub bar: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    title: &'static str,
    user: Option<UserView>,
    query: String,
    error: Option<String>,
    summary: String,
    rows: Vec<SpanRow>,
}

#[derive(Deserialize)]
pub struct TraceQuery {
    #[serde(default)]
    q: String,
}

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Depth of each span below its trace's roots (parents first in start order).
fn depth(span: &Span, spans: &[Span]) -> usize {
    let mut depth = 0;
    let mut parent = span.parent_span_id.as_str();
    while !parent.is_empty() && depth < 32 {
        match spans.iter().find(|s| s.span_id == parent) {
            Some(p) => {
                depth += 1;
                parent = p.parent_span_id.as_str();
            }
            None => break,
        }
    }
    depth
}

/// Whether `q` could be a trace or correlation id (what the page and the API accept).
pub fn plausible_id(q: &str) -> bool {
    !q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub fn rows(spans: &[Span]) -> (String, Vec<SpanRow>) {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.start_ns + s.duration_ns).max().unwrap_or(start);
    let total = (end - start).max(1) as f64;
    let errors = spans.iter().filter(|s| s.status == SpanStatus::Error).count();
    let traces: std::collections::BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    let summary = format!(
        "{} spans in {} trace{}, {} in all, {} with errors. Started {}.",
        spans.len(),
        traces.len(),
        if traces.len() == 1 { "" } else { "s" },
        ms(end - start),
        errors,
        crate::uk_time::format_ns(start)
    );
    let rows = spans
        .iter()
        .map(|s| {
            let x = (s.start_ns - start) as f64 / total * 200.0;
            let w = (s.duration_ns as f64 / total * 200.0).max(1.0);
            let colour = if s.status == SpanStatus::Error { "#d5281b" } else { "#005eb8" };
            let status = match s.status {
                SpanStatus::Error if s.status_message.is_empty() => "error".to_string(),
                SpanStatus::Error => format!("error: {}", s.status_message),
                SpanStatus::Ok => "ok".into(),
                SpanStatus::Unset => "—".into(),
            };
            SpanRow {
                indent: "· ".repeat(depth(s, spans)),
                name: s.name.clone(),
                service: s.service_name.clone(),
                offset: ms(s.start_ns - start),
                duration: ms(s.duration_ns),
                status,
                bar: format!(
                    "<svg aria-hidden=\"true\" viewBox=\"0 0 200 10\" width=\"200\" height=\"10\">\
                     <rect x=\"{x:.1}\" y=\"1\" width=\"{w:.1}\" height=\"8\" fill=\"{colour}\"/></svg>"
                ),
            }
        })
        .collect();
    (summary, rows)
}

pub async fn trace_page(
    State(state): State<DashboardState>,
    User(user): User,
    Query(query): Query<TraceQuery>,
) -> Result<Response, WebError> {
    user.allowed("GET", "/trace")?;
    let q = query.q.trim().to_string();
    let mut page = TracePage {
        title: "Find a trace",
        user: Some(user.view()),
        query: q.clone(),
        error: None,
        summary: String::new(),
        rows: Vec::new(),
    };
    if q.is_empty() {
        return Ok(render(StatusCode::OK, &page));
    }
    if !plausible_id(&q) {
        page.error = Some(
            "That is not an id: use the letters, digits and dashes of a correlation id or a 32-digit trace id.".into(),
        );
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    let Some(store) = state.store() else {
        page.error = Some("This dashboard reads no telemetry store, so it has no traces to search.".into());
        return Ok(render(StatusCode::NOT_FOUND, &page));
    };
    // Outside the user's organisations reads exactly as unknown, so an id gives nothing away.
    let mut spans = state.visible_spans(&user.account, audit_store::spans_for_id(store, &q).await?);
    if spans.is_empty() {
        page.error =
            Some(format!("No spans found for {q}. Traces are kept for the retention period (retention.spans_days)."));
        return Ok(render(StatusCode::NOT_FOUND, &page));
    }
    spans.sort_by(|a, b| a.start_ns.cmp(&b.start_ns).then_with(|| a.span_id.cmp(&b.span_id)));
    let (summary, rows) = rows(&spans);
    page.summary = summary;
    page.rows = rows;
    Ok(render(StatusCode::OK, &page))
}
