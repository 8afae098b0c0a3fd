//! Dashboard: pathway health, SLO error budgets and burn-rate alerts behind a login.
//!
//! Not built yet (issue 4). Until it is, the dashboard port serves one plain page saying what is
//! running and where, and a health check. It must never serve telemetry or audit data without the
//! sign-in and roles issue 4 defines, and it never writes telemetry.

pub mod accounts;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// What `pathwatch up` started, shown on the placeholder page.
#[derive(Clone, Debug)]
pub struct RunningParts {
    pub lines: Vec<String>,
}

pub fn router(parts: RunningParts) -> Router {
    let page = render(&parts);
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
                            (header::REFERRER_POLICY, "no-referrer"),
                        ],
                        page,
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn render(parts: &RunningParts) -> String {
    let items: String = parts.lines.iter().flat_map(|l| l.lines()).map(|l| format!("<li>{}</li>", escape(l))).collect();
    format!(
        "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>Pathwatch</title></head>\
         <body><main><h1>Pathwatch is running</h1><p>The dashboard is not built yet. Running now:</p>\
         <ul>{items}</ul></main></body></html>"
    )
}
