//! The compatibility matrix: for each environment and flow, the API version each canary step spoke
//! (and the one the service said it served), and any retirement the service announced on it
//! (`Deprecation`, `Sunset`, `Warning`), from the step spans of the flow's runs over the last day
//! (see `canaries::api_version`). Each step's newest HTTP span is its truth: a notice the service
//! stops sending disappears with it.

use audit_store::{Span, StoreError, TelemetryStore, TracesQuery, NANOS_PER_SEC};
use domain::canary::{attr, SERVICE as CANARY_SERVICE};
use serde::Serialize;

use crate::pathways::{attribute, recent_runs};

/// Runs read per flow: the newest step that made a request is among them unless the flow has
/// failed early this often in a row.
const RUNS_READ: u32 = 30;
const DAY_NS: u64 = 86_400 * NANOS_PER_SEC;

/// Where an API a step uses stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiState {
    /// Past its announced sunset date: it may stop answering at any time.
    Retired,
    /// A sunset date is announced.
    Retiring,
    /// Deprecated (a `Deprecation` header, or a `299` warning), with no sunset date yet.
    Deprecated,
    /// Nothing announced.
    Current,
}

impl ApiState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiState::Retired => "retired",
            ApiState::Retiring => "retiring",
            ApiState::Deprecated => "deprecated",
            ApiState::Current => "current",
        }
    }
}

/// One step's use of an API at its newest request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiUse {
    pub environment: String,
    pub flow: String,
    pub step: String,
    /// The request, as its span is named: `GET /Patient/{id}`.
    pub request: String,
    /// The version asked for (`FHIR R4`, `MESH v2`, GP Connect's interaction id).
    pub version: Option<String>,
    /// The version the answer said it was (`GP Connect 1.6.0`, `FHIR 4.0`).
    pub served_version: Option<String>,
    pub deprecated_at_ns: Option<u64>,
    /// The `Deprecation` header when it is no date (e.g. `true`).
    pub deprecation: Option<String>,
    pub sunset_at_ns: Option<u64>,
    /// The `Sunset` header when it is no date.
    pub sunset: Option<String>,
    pub warning: Option<String>,
    /// Where the service explains the change (`Link` rel=deprecation or sunset).
    pub notice_link: Option<String>,
    pub seen_ns: u64,
    pub state: ApiState,
}

fn time_ns(span: &Span, key: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(attribute(span, key)?).ok()?;
    Some((at.timestamp().max(0) as u64).saturating_mul(NANOS_PER_SEC))
}

impl ApiUse {
    fn of(span: &Span, environment: &str, flow: &str, now_ns: u64) -> Option<ApiUse> {
        let text = |key| attribute(span, key).map(str::to_string);
        let deprecated_at_ns = time_ns(span, attr::API_DEPRECATED_AT);
        let sunset_at_ns = time_ns(span, attr::API_SUNSET_AT);
        let announced = attribute(span, attr::API_DEPRECATION).is_some();
        let deprecation = text(attr::API_DEPRECATION).filter(|d| d != "announced");
        let warning = text(attr::API_WARNING);
        // A 299 warning is any persistent warning: only one that speaks of deprecation counts.
        let warned = warning
            .as_deref()
            .is_some_and(|w| w.trim_start().starts_with("299") && w.to_ascii_lowercase().contains("deprecat"));
        let deprecated = deprecated_at_ns.is_some() || announced || warned;
        let sunset = text(attr::API_SUNSET);
        let state = match sunset_at_ns {
            Some(at) if at <= now_ns => ApiState::Retired,
            Some(_) => ApiState::Retiring,
            None if deprecated || sunset.is_some() => ApiState::Deprecated,
            None => ApiState::Current,
        };
        Some(ApiUse {
            environment: environment.into(),
            flow: flow.into(),
            step: attribute(span, attr::STEP)?.to_string(),
            request: span.name.clone(),
            version: text(attr::API_VERSION),
            served_version: text(attr::API_SERVED_VERSION),
            deprecated_at_ns,
            deprecation,
            sunset_at_ns,
            sunset,
            warning,
            notice_link: text(attr::API_NOTICE_LINK).filter(|l| l.starts_with("https://") || l.starts_with("http://")),
            seen_ns: span.start_ns,
            state,
        })
    }

    /// "retires on 31 Jul 2027 23:59 (in 236 days)", "deprecated since …", "in use", in words.
    pub fn announcement(&self, now_ns: u64) -> String {
        let days = |at: u64| (at as i128 - now_ns as i128).div_euclid(DAY_NS as i128);
        let when = domain::uk_time::format_ns;
        match (self.state, self.sunset_at_ns) {
            (ApiState::Retired, Some(at)) => format!("past its sunset date, {}", when(at)),
            (ApiState::Retiring, Some(at)) => match days(at) {
                0 => format!("retires within a day, at {}", when(at)),
                1 => format!("retires in 1 day, on {}", when(at)),
                d => format!("retires in {d} days, on {}", when(at)),
            },
            (ApiState::Deprecated, _) => match (self.deprecated_at_ns, &self.sunset) {
                (Some(at), _) if at > now_ns => format!("deprecated from {}", when(at)),
                (Some(at), _) => format!("deprecated since {}", when(at)),
                (None, Some(sunset)) => format!("deprecated; sunset {sunset:?}"),
                (None, None) => "deprecated, no date announced".into(),
            },
            _ => "nothing announced".into(),
        }
    }
}

/// The matrix for `flows` (each with its environment), read at `now_ns`: every step that made a
/// request in the last day, newest request each, ordered by environment, flow and the step's place
/// in its run.
pub async fn matrix(
    store: &impl TelemetryStore,
    flows: &[(String, String)],
    now_ns: u64,
) -> Result<Vec<ApiUse>, StoreError> {
    let mut rows: Vec<(ApiUse, u64)> = Vec::new();
    for (flow, environment) in flows {
        let runs = recent_runs(store, flow, now_ns, RUNS_READ).await?;
        if runs.is_empty() {
            continue;
        }
        let spans = store
            .spans_in_traces(&TracesQuery {
                service_name: CANARY_SERVICE.into(),
                trace_ids: runs.iter().map(|r| r.trace_id.clone()).collect(),
                from_ns: now_ns.saturating_sub(DAY_NS),
                to_ns: now_ns + 1,
            })
            .await?;
        let mut steps: Vec<&Span> = spans
            .iter()
            .filter(|s| {
                !s.parent_span_id.is_empty()
                    && attribute(s, attr::FLOW) == Some(flow.as_str())
                    && attribute(s, "url.template").is_some()
            })
            .collect();
        // Newest first, answered ones before those that got no answer: a step whose newest request
        // timed out (an outage, an API switched off at its sunset) keeps what it last heard.
        steps.sort_by_key(|s| (attribute(s, attr::API_ANSWERED).is_none(), std::cmp::Reverse(s.start_ns)));
        let mut seen: Vec<&str> = Vec::new();
        for span in steps {
            let Some(step) = attribute(span, attr::STEP) else { continue };
            if seen.contains(&step) {
                continue;
            }
            seen.push(step);
            let root_start =
                runs.iter().find(|r| r.span_id == span.parent_span_id).map_or(span.start_ns, |r| r.start_ns);
            if let Some(row) = ApiUse::of(span, environment, flow, now_ns) {
                rows.push((row, span.start_ns.saturating_sub(root_start)));
            }
        }
    }
    rows.sort_by(|(a, at), (b, bt)| (&a.environment, &a.flow, at).cmp(&(&b.environment, &b.flow, bt)));
    Ok(rows.into_iter().map(|(row, _)| row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(attributes: &[(&str, &str)]) -> Span {
        Span {
            name: "GET /Patient/{id}".into(),
            parent_span_id: "01".into(),
            start_ns: 5,
            attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Span::default()
        }
    }

    #[test]
    fn each_use_is_current_deprecated_retiring_or_retired() {
        // Dates relative to a fixed "now": the classification depends on them, never on today.
        let now = 1_800_000_000 * NANOS_PER_SEC;
        let at = |days: i64| {
            let secs = (now / NANOS_PER_SEC) as i64 + days * 86_400;
            chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
        };
        let (year_ago, in_30_days, two_weeks_ago) = (at(-365), at(30), at(-14));
        let state = |pairs: &[(&str, &str)]| {
            let mut all = vec![(attr::STEP, "read_patient")];
            all.extend_from_slice(pairs);
            ApiUse::of(&step(&all), "production", "pds", now).unwrap()
        };
        assert_eq!(state(&[]).state, ApiState::Current);
        assert_eq!(state(&[]).announcement(now), "nothing announced");
        let deprecated = state(&[(attr::API_DEPRECATED_AT, year_ago.as_str()), (attr::API_DEPRECATION, "announced")]);
        assert_eq!((deprecated.state, deprecated.deprecation.as_deref()), (ApiState::Deprecated, None));
        assert!(deprecated.announcement(now).starts_with("deprecated since "), "{}", deprecated.announcement(now));
        assert_eq!(state(&[(attr::API_DEPRECATION, "true")]).announcement(now), "deprecated, no date announced");
        assert_eq!(state(&[(attr::API_WARNING, "299 - \"Deprecated\"")]).state, ApiState::Deprecated);
        assert_eq!(state(&[(attr::API_WARNING, "299 - \"Quota nearly used\"")]).state, ApiState::Current);
        let undated = state(&[(attr::API_DEPRECATION, "announced")]);
        assert_eq!(undated.state, ApiState::Deprecated, "a date we could not keep is still a deprecation");
        assert_eq!(state(&[(attr::API_WARNING, "110 - \"Response is stale\"")]).state, ApiState::Current);
        let retiring = state(&[(attr::API_SUNSET_AT, in_30_days.as_str())]);
        assert_eq!(retiring.state, ApiState::Retiring);
        assert!(retiring.announcement(now).starts_with("retires in 30 days, on "), "{}", retiring.announcement(now));
        let retired = state(&[(attr::API_SUNSET_AT, two_weeks_ago.as_str())]);
        assert_eq!(retired.state, ApiState::Retired);
        assert!(ApiUse::of(&step(&[]), "production", "pds", now).is_none(), "a span that is no step");
    }
}
