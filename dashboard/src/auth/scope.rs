//! Organisation scope: what of the engine's sources one account may see. An account without
//! organisations sees everything; one with organisations sees the pathways of those organisations
//! and national ones, the SLOs that measure them, and the traces they measure. What is out of
//! scope reads exactly as if it did not exist.

use crate::auth::accounts::Account;

/// One account's view of the sources.
pub struct Scope<'a> {
    sources: &'a engine::Sources,
    user: &'a Account,
}

impl<'a> Scope<'a> {
    pub fn new(sources: &'a engine::Sources, user: &'a Account) -> Scope<'a> {
        Scope { sources, user }
    }

    /// The SLOs `user` may see: all but those measuring only pathways outside their organisations.
    pub fn slos(&self) -> impl Iterator<Item = &'a engine::slo::SloConfig> + 'a {
        let (sources, user) = (self.sources, self.user);
        sources.slos.iter().filter(move |slo| {
            let measuring: Vec<&engine::pathways::PathwayConfig> =
                sources.pathways.iter().filter(|p| p.measured_by(slo)).collect();
            measuring.is_empty() || measuring.iter().any(|p| user.sees(p))
        })
    }

    /// Whether `user` may change what concerns the pathway (silence it): it belongs wholly to their
    /// organisations, or they are not limited to any. A national pathway, or one shared with an
    /// organisation of someone else, is not theirs alone: what they silence or acknowledge there
    /// would hold back everyone's notifications.
    pub fn owns_pathway(&self, pathway: &engine::pathways::PathwayConfig) -> bool {
        let user = self.user;
        user.organisations.is_empty()
            || (!pathway.organisations.is_empty()
                && pathway.organisations.iter().all(|o| user.organisations.contains(o)))
    }

    /// Whether `user` may change what concerns the SLO named `slo` (silence it, acknowledge its
    /// alerts): every pathway it measures is theirs (`owns_pathway`), and it measures at least one,
    /// unless they are not limited to any organisation.
    pub fn owns_slo(&self, slo: &str) -> bool {
        if self.user.organisations.is_empty() {
            return true;
        }
        let Some(config) = self.sources.slo(slo) else { return false };
        let measuring: Vec<&engine::pathways::PathwayConfig> =
            self.sources.pathways.iter().filter(|p| p.measured_by(config)).collect();
        !measuring.is_empty() && measuring.iter().all(|p| self.owns_pathway(p))
    }

    /// Whether `user` sees the SLO named `slo`: one of `slos()`, or one no longer configured when
    /// they are not limited to organisations.
    pub fn sees_slo(&self, slo: &str) -> bool {
        match self.sources.slo(slo) {
            Some(_) => self.slos().any(|s| s.name == slo),
            None => self.user.organisations.is_empty(),
        }
    }

    /// Whether `user` sees the pathway `id` (a configured one in scope, or any when unscoped).
    pub fn sees_pathway(&self, id: &str) -> bool {
        match self.sources.pathways.iter().find(|p| p.id == id) {
            Some(p) => self.user.sees(p),
            None => self.user.organisations.is_empty(),
        }
    }

    /// What a silence covers: seen, and owned (may be silenced or ended by `user`).
    pub fn sees_target(&self, target: &engine::silences::Target) -> bool {
        match target {
            engine::silences::Target::Slo(name) => self.sees_slo(name),
            engine::silences::Target::Pathway(id) => self.sees_pathway(id),
        }
    }

    pub fn owns_target(&self, target: &engine::silences::Target) -> bool {
        match target {
            engine::silences::Target::Slo(name) => self.owns_slo(name),
            // A pathway's silence covers every SLO that measures it, and an SLO may measure
            // other pathways too (a shared flow): each of those SLOs must be theirs as well.
            engine::silences::Target::Pathway(id) => match self.sources.pathways.iter().find(|p| p.id == *id) {
                Some(p) => {
                    self.owns_pathway(p)
                        && self.sources.slos.iter().filter(|s| p.measured_by(s)).all(|s| self.owns_slo(&s.name))
                }
                None => self.user.organisations.is_empty(),
            },
        }
    }

    /// What a page says when it has nothing to list for `user`: why, in words they can act on.
    /// `what` is "pathways" or "SLOs", `configured` how many the configuration has, `key` its key.
    pub fn nothing_to_show(&self, what: &str, configured: usize, key: &str) -> String {
        if self.sources.store().is_none() {
            format!("This dashboard reads no telemetry store, so it has no {what} to show.")
        } else if configured == 0 {
            format!("No {what} are configured (configuration key {key}).")
        } else {
            // Not how many there are: what is out of scope reads as if it did not exist.
            format!(
                "None of the {what} belongs to your organisations ({}). Ask an administrator if you expected to \
                 see some.",
                self.user.organisations.join(", ")
            )
        }
    }

    /// Organisation scope on traces: the spans of `spans` that `user` may see, decided trace by
    /// trace (a correlation id can span several). An account without organisations sees every
    /// trace. One with organisations sees a trace when a pathway they see measures one of its spans
    /// (a national pathway's, or one of their organisations') and no pathway they do not see
    /// measures any; a trace no pathway measures is not theirs.
    pub fn spans(&self, spans: Vec<audit_store::Span>) -> Vec<audit_store::Span> {
        let user = self.user;
        if user.organisations.is_empty() {
            return spans;
        }
        // A read cut at the cap may hide the spans that would show the trace is another
        // organisation's: for a scoped reader, a runaway trace shows nothing.
        if spans.len() >= audit_store::MAX_SPANS_PER_TRACE {
            return Vec::new();
        }
        let mut by_trace: std::collections::BTreeMap<String, Vec<audit_store::Span>> = Default::default();
        for span in spans {
            by_trace.entry(span.trace_id.clone()).or_default().push(span);
        }
        let (seen, unseen): (Vec<_>, Vec<_>) = self.sources.pathways.iter().partition(|p| user.sees(p));
        by_trace
            .into_values()
            .filter(|trace| {
                seen.iter().any(|p| engine::pathways::measures_trace(p, trace))
                    && !unseen.iter().any(|p| engine::pathways::measures_trace(p, trace))
            })
            .flatten()
            .collect()
    }
}
