//! What Pathwatch saw over an incident: its pathways' alerts, canary state changes and silences
//! (read live while it is open, kept in its timeline when it resolves), and how long users could
//! not use each pathway, measured from the canary runs.

use super::{Entry, Incident, LEAD_UP_NS};
use crate::pathways::{status_of, PathwayConfig};
use crate::Sources;

const NS_PER_MIN: i64 = 60_000_000_000;

/// What Pathwatch saw over an incident's pathways from `LEAD_UP_NS` before it was declared until
/// it resolved (or `now_ns`): its alerts' histories, its canaries' state changes, and silences
/// over them. Read live; a store that does not answer leaves out the canary changes and says so.
pub async fn observed(sources: &Sources, pool: &state::Pool, incident: &Incident, now_ns: i64) -> Vec<Entry> {
    let from = incident.declared_ns - LEAD_UP_NS;
    let to = incident.resolved_ns.unwrap_or(now_ns);
    let pathways: Vec<&PathwayConfig> = sources.pathways.iter().filter(|p| incident.pathways.contains(&p.id)).collect();
    let slos: Vec<&str> =
        sources.slos.iter().filter(|s| pathways.iter().any(|p| p.measured_by(s))).map(|s| s.name.as_str()).collect();
    let mut seen = Vec::new();
    match crate::alerts::recent(pool, 500).await {
        Ok(alerts) => {
            let overlaps = |a: &&crate::alerts::Alert| a.started_ns <= to && a.resolved_ns.is_none_or(|r| r >= from);
            for alert in alerts.iter().filter(|a| slos.contains(&a.slo.as_str())).filter(overlaps).take(50) {
                let Ok(history) = crate::alerts::history(pool, alert.id).await else { continue };
                for h in history.into_iter().filter(|h| h.at_ns >= from && h.at_ns <= to) {
                    let who = if h.actor.is_empty() { String::new() } else { format!(" by {}", h.actor) };
                    let text = format!(
                        "Alert #{} ({}): {}{who}. {}",
                        alert.id,
                        alert.slo,
                        h.event.replace('_', " "),
                        h.detail
                    );
                    seen.push(Entry {
                        at_ns: h.at_ns,
                        kind: "alert".into(),
                        author: String::new(),
                        text,
                        public: false,
                    });
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "an incident's alerts were not read"),
    }
    if let Ok(silences) = crate::silences::current(pool, from).await {
        for s in silences.iter().filter(|s| {
            s.created_ns <= to
                && match &s.target {
                    crate::silences::Target::Pathway(id) => incident.pathways.contains(id),
                    crate::silences::Target::Slo(name) => slos.contains(&name.as_str()),
                }
        }) {
            let text = format!("Silence #{} set by {} ({}): {}", s.id, s.author, s.describe(), s.reason);
            seen.push(Entry {
                at_ns: s.created_ns.max(from),
                kind: "silence".into(),
                author: String::new(),
                text,
                public: false,
            });
        }
    }
    if let Some(store) = sources.store() {
        for p in &pathways {
            match canary_changes(store, p, from, to).await {
                Ok(changes) => seen.extend(changes),
                Err(e) => seen.push(Entry {
                    at_ns: to,
                    kind: "canary".into(),
                    author: String::new(),
                    text: format!(
                        "The canary runs of {} could not be read ({e}): their changes are missing here",
                        p.name
                    ),
                    public: false,
                }),
            }
        }
    }
    seen.sort_by_key(|e| e.at_ns);
    seen
}

/// Each change of a pathway's canary state between two times, from its runs.
async fn canary_changes(
    store: &audit_store::AnyStore,
    pathway: &PathwayConfig,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<Entry>, audit_store::StoreError> {
    let runs = runs_between(store, pathway, from_ns, to_ns).await?;
    let mut last: Option<&str> = None;
    let mut out = Vec::new();
    for run in &runs {
        let state = crate::pathways::status_text(status_of(run));
        if last != Some(state) {
            let text = match last {
                None => format!("{}: {state} (its canary's first run in this period)", pathway.name),
                Some(before) => format!("{}: {before} → {state}", pathway.name),
            };
            out.push(Entry {
                at_ns: run.start_ns as i64,
                kind: "canary".into(),
                author: String::new(),
                text,
                public: false,
            });
            last = Some(state);
        }
    }
    Ok(out)
}

/// A pathway's canary runs between two times, oldest first (at most 20,000).
async fn runs_between(
    store: &audit_store::AnyStore,
    pathway: &PathwayConfig,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<audit_store::Span>, audit_store::StoreError> {
    use audit_store::SpanStore;
    if pathway.flow.is_empty() {
        return Ok(Vec::new());
    }
    let mut runs = store
        .recent_spans(&audit_store::RecentQuery {
            service_name: domain::canary::SERVICE.into(),
            span_name: Some(domain::canary::run_span_name(&pathway.flow)),
            from_ns: from_ns.max(0) as u64,
            to_ns: to_ns.max(0) as u64 + 1,
            limit: 20_000,
        })
        .await?;
    runs.sort_by_key(|r| r.start_ns);
    Ok(runs)
}

/// How long users could not use each of the incident's pathways: the time its canary runs said
/// outage, between declaration less `LEAD_UP_NS` and resolution (or now), in minutes, with the
/// pathway's name. A run's state holds until the next run (or the end).
pub async fn outage_minutes(sources: &Sources, incident: &Incident, now_ns: i64) -> Vec<(String, i64)> {
    let from = incident.declared_ns - LEAD_UP_NS;
    let to = incident.resolved_ns.unwrap_or(now_ns);
    let Some(store) = sources.store() else { return Vec::new() };
    let mut out = Vec::new();
    for p in sources.pathways.iter().filter(|p| incident.pathways.contains(&p.id)) {
        let Ok(runs) = runs_between(store, p, from, to).await else { continue };
        let mut down = 0i64;
        for (i, run) in runs.iter().enumerate() {
            if status_of(run) == Some(domain::canary::RunStatus::Outage) {
                let until = runs.get(i + 1).map_or(to, |next| next.start_ns as i64);
                down += until.min(to) - (run.start_ns as i64).max(from);
            }
        }
        out.push((p.name.clone(), down.max(0) / NS_PER_MIN));
    }
    out
}

/// The outage minutes measured at resolution, as timeline entries to keep (kind `outage`, the
/// minutes after the pathway's name and a tab).
pub fn outage_entries(outage: &[(String, i64)], at_ns: i64) -> Vec<Entry> {
    outage
        .iter()
        .map(|(name, minutes)| Entry {
            at_ns,
            kind: "outage".into(),
            author: String::new(),
            text: format!("{name}\t{minutes}"),
            public: false,
        })
        .collect()
}

/// The outage minutes kept in a resolved incident's timeline.
pub fn kept_outage(timeline: &[Entry]) -> Vec<(String, i64)> {
    timeline
        .iter()
        .filter(|e| e.kind == "outage")
        .filter_map(|e| {
            let (name, minutes) = e.text.rsplit_once('\t')?;
            Some((name.to_string(), minutes.parse().ok()?))
        })
        .collect()
}
