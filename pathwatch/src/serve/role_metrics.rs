//! `/metrics` for the roles that are not the collector (whose own `/metrics` counts ingest): each
//! background loop's state, whether this instance holds its leases, and the canaries' results
//! where they run. Gathered at each scrape from
//! the supervisor's states, in the Prometheus text format.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::supervisor::LoopStates;

/// A lease this process may hold, by name, as the leadership loop publishes it.
pub(crate) type LeaseView = (&'static str, tokio::sync::watch::Receiver<Option<state::lease::Fence>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabel {
    lease: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoopLabel {
    name: String,
}

/// The Prometheus text for `loops` (and `canaries`, when given).
pub(crate) fn render(
    loops: &LoopStates,
    leases: &[LeaseView],
    canaries: Option<&canaries::metrics::CanaryMetrics>,
) -> String {
    let mut registry = Registry::default();
    let running = Family::<LoopLabel, Gauge>::default();
    let restarts = Family::<LoopLabel, Gauge>::default();
    let failing = Family::<LoopLabel, Gauge>::default();
    for (name, state) in loops.snapshot() {
        let label = LoopLabel { name: name.to_string() };
        running.get_or_create(&label).set(i64::from(state.running));
        restarts.get_or_create(&label).set(i64::try_from(state.restarts).unwrap_or(i64::MAX));
        failing.get_or_create(&label).set(i64::from(state.failures_in_a_row));
    }
    let pathwatch = registry.sub_registry_with_prefix("pathwatch");
    pathwatch.register(
        "loop_running",
        "Whether a background loop is running now (1) or waiting to restart (0)",
        running,
    );
    pathwatch.register("loop_restarts", "Times a background loop has been restarted", restarts);
    pathwatch.register("loop_failures_in_a_row", "A background loop's failures since it last ran ten minutes", failing);
    if !leases.is_empty() {
        let held = Family::<LeaseLabel, Gauge>::default();
        for (name, leading) in leases {
            held.get_or_create(&LeaseLabel { lease: name.to_string() }).set(i64::from(leading.borrow().is_some()));
        }
        pathwatch.register(
            "lease_held",
            "Whether this instance holds the lease now (1) and runs what it guards; across instances the sum \
             should be 1",
            held,
        );
    }
    if let Some(canaries) = canaries {
        canaries.register(&mut registry);
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::error!(error = %e, "encoding metrics");
    }
    text
}

/// `GET /metrics`.
pub(crate) fn routes(
    loops: LoopStates,
    leases: Vec<LeaseView>,
    canaries: Option<canaries::metrics::CanaryMetrics>,
) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = render(&loops, &leases, canaries.as_ref());
            async move {
                let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
                ([(header::CONTENT_TYPE, content_type)], text).into_response() as Response
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_loop_is_a_labelled_series() {
        let mut loops = crate::supervisor::Supervisor::new(0);
        loops.spawn("alert engine", std::future::pending::<()>);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (_published, leading) = tokio::sync::watch::channel(None);
        let text = render(&loops.states(), &[("monitor", leading)], None);
        assert!(text.contains("pathwatch_loop_running{name=\"alert engine\"} 1"), "{text}");
        assert!(text.contains("pathwatch_loop_restarts{name=\"alert engine\"} 0"), "{text}");
        assert!(text.contains("pathwatch_lease_held{lease=\"monitor\"} 0"), "{text}");
    }
}
