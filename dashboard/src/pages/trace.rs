//! The trace page: find a trace by correlation id or trace id and show its spans as a waterfall
//! (a table in start order with a bar per span), so on-call staff can see where time went and
//! which call failed.

use askama::Template;
use audit_store::{Span, SpanStatus};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::auth::extract::{User, UserView};
use crate::auth::scope::Scope;
use crate::error::{render, WebError};

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

/// Most spans one page shows (in start order); a trace with more says so.
const MAX_SPANS_SHOWN: usize = 2_000;
/// Deepest nesting shown; deeper spans are drawn at this depth.
const MAX_DEPTH: usize = 32;

/// Depth of each span below its trace's roots: one map of parents, then at most `MAX_DEPTH` steps
/// a span, so a huge or cyclic trace costs time in proportion to its size.
fn depths(spans: &[Span]) -> Vec<usize> {
    let parent_of: std::collections::HashMap<&str, &str> =
        spans.iter().map(|s| (s.span_id.as_str(), s.parent_span_id.as_str())).collect();
    spans
        .iter()
        .map(|span| {
            let (mut depth, mut parent) = (0, span.parent_span_id.as_str());
            while !parent.is_empty() && depth < MAX_DEPTH {
                match parent_of.get(parent) {
                    Some(grandparent) => {
                        depth += 1;
                        parent = grandparent;
                    }
                    None => break,
                }
            }
            depth
        })
        .collect()
}

/// Whether `q` could be a trace or correlation id (what the page and the API accept).
pub fn plausible_id(q: &str) -> bool {
    !q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub fn rows(spans: &[Span]) -> (String, Vec<SpanRow>) {
    let all = spans.len();
    let spans = &spans[..all.min(MAX_SPANS_SHOWN)];
    let depths = depths(spans);
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
        domain::uk_time::format_ns(start)
    );
    let summary = if all > spans.len() {
        format!("{summary} Showing the first {} of {all} spans, in start order.", spans.len())
    } else {
        summary
    };
    let rows = spans
        .iter()
        .zip(&depths)
        .map(|(s, depth)| {
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
                indent: "· ".repeat(*depth),
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
    State(sources): State<engine::Sources>,
    User(user): User,
    Query(query): Query<TraceQuery>,
) -> Result<Response, WebError> {
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
    let Some(store) = sources.store() else {
        page.error = Some("This dashboard reads no telemetry store, so it has no traces to search.".into());
        return Ok(render(StatusCode::NOT_FOUND, &page));
    };
    // Outside the user's organisations reads exactly as unknown, so an id gives nothing away.
    let mut spans = Scope::new(&sources, &user.account).spans(audit_store::spans_for_id(store, &q).await?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn span(n: usize, parent: Option<usize>) -> Span {
        Span {
            trace_id: "ab".repeat(16),
            span_id: format!("{n:016x}"),
            parent_span_id: parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
            name: format!("step {n}"),
            kind: audit_store::SpanKind::Internal,
            service_name: "svc".into(),
            start_ns: 1_000 + n as u64,
            duration_ns: 10,
            status: SpanStatus::Ok,
            ..Span::default()
        }
    }

    #[test]
    fn a_huge_deep_cyclic_trace_is_drawn_capped_and_says_so() {
        // One long chain: each span the child of the one before (a cycle at the end, too).
        let mut spans: Vec<Span> = (0..50_000).map(|n| span(n, n.checked_sub(1))).collect();
        spans[0].parent_span_id = spans[49_999].span_id.clone();
        let (summary, rows) = rows(&spans);
        assert_eq!(rows.len(), MAX_SPANS_SHOWN);
        assert!(summary.contains("Showing the first 2000 of 50000 spans"), "{summary}");
        assert_eq!(rows[1].indent.matches('·').count(), 1);
        assert_eq!(rows[1_999].indent.matches('·').count(), MAX_DEPTH, "nesting is drawn to a limit");
    }
}
