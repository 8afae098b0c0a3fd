//! The configuration's checks, run once at start-up: every problem found, each naming its key.

use anyhow::bail;

use crate::config::{Backend, Config};

/// A CIDR range, or one address as a range of one.
pub fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Oldest span start the collector may accept in front of ClickHouse: these days, the future skew
/// allowance's day and today stay within ClickHouse's 100 partitions per insert.
const MAX_SPAN_AGE_DAYS_CLICKHOUSE: u64 = 90;

/// The longest retention accepted: 100 years.
const MAX_RETENTION_DAYS: u32 = 36_525;

pub fn validate(c: &Config) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if c.collector.max_body_bytes < 1024 {
        problems.push("key `collector.max_body_bytes`: must be at least 1024".to_string());
    }
    let framed = c.collector.max_body_bytes.saturating_add(64 * 1024);
    if c.collector.max_inflight_bytes < framed.saturating_mul(2) {
        problems.push(format!(
            "key `collector.max_inflight_bytes`: must be at least twice `collector.max_body_bytes` plus 128 KiB ({} bytes), \
             or the largest body allowed could never be read and decompressed",
            framed.saturating_mul(2)
        ));
    }
    // Spans are partitioned by the day they start; current ClickHouse refuses an insert that
    // touches more than 100 partitions (max_partitions_per_insert_block), and a spool drain step
    // can hold spans of every day the collector accepts.
    if c.store.backend == Backend::Clickhouse && c.collector.max_span_age_days > MAX_SPAN_AGE_DAYS_CLICKHOUSE {
        problems.push(format!(
            "key `collector.max_span_age_days`: at most {MAX_SPAN_AGE_DAYS_CLICKHOUSE} with ClickHouse \
             (one insert may touch at most 100 daily partitions), not {}",
            c.collector.max_span_age_days
        ));
    }
    if c.collector.max_inflight_bytes_per_source < framed.saturating_mul(2)
        || c.collector.max_inflight_bytes_per_source > c.collector.max_inflight_bytes
    {
        problems.push(format!(
            "key `collector.max_inflight_bytes_per_source`: must be between twice `collector.max_body_bytes` \
             plus 128 KiB ({} bytes) and `collector.max_inflight_bytes`",
            framed.saturating_mul(2)
        ));
    }
    if c.collector.header_timeout_secs == 0 {
        problems.push("key `collector.header_timeout_secs`: must be at least 1".to_string());
    }
    if c.collector.max_connections == 0 {
        problems.push("key `collector.max_connections`: must be at least 1".to_string());
    }
    if c.collector.max_audit_records == 0 {
        problems.push("key `collector.max_audit_records`: must be at least 1".to_string());
    }
    if c.collector.queue_depth == 0 {
        problems.push("key `collector.queue_depth`: must be at least 1".to_string());
    }
    if c.collector.max_batch_rows == 0 {
        problems.push("key `collector.max_batch_rows`: must be at least 1".to_string());
    }
    if !c.roles.collector_url.is_empty()
        && !url::Url::parse(&c.roles.collector_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        problems.push(format!("key `roles.collector_url`: {:?} is not an http(s) URL", c.roles.collector_url));
    }
    if !(3..=3600).contains(&c.roles.lease_secs) {
        problems.push("key `roles.lease_secs`: between 3 and 3600 seconds".to_string());
    }
    let postgres_url = url::Url::parse(&c.state.url).is_ok_and(|u| matches!(u.scheme(), "postgres" | "postgresql"));
    match c.state.backend {
        crate::state_config::StateBackend::Postgres if !postgres_url => problems.push(
            "key `state.url`: with state.backend = \"postgres\", give postgres://user@host:port/database \
             (a password through PATHWATCH_STATE__URL)"
                .to_string(),
        ),
        crate::state_config::StateBackend::Sqlite if !c.state.url.is_empty() => {
            problems.push("key `state.url`: only means something with state.backend = \"postgres\"".to_string())
        }
        _ => {}
    }
    if c.retention.spans_days == 0 || c.retention.audit_days == 0 {
        problems.push("key `retention`: retention periods must be at least 1 day".to_string());
    }
    for (key, days) in [("spans_days", c.retention.spans_days), ("audit_days", c.retention.audit_days)] {
        if days > MAX_RETENTION_DAYS {
            problems.push(format!(
                "key `retention.{key}`: at most {MAX_RETENTION_DAYS} days (100 years), which keeps data for as long as \
                 anything needs it; not {days}"
            ));
        }
    }
    for source in c.collector.ingest_tokens.keys() {
        if source.is_empty() || !source.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            problems.push(format!(
                "key `collector.ingest_tokens.{source}`: a source name is letters, digits, '-', '_' and '.' \
                 (it is stored before any name an event gives, as `<source>/<name>`)"
            ));
        }
        // Pathwatch's own sources are spelt exactly; another spelling would pass for one in logs
        // and stored events without its rights or limits.
        for own in [collector::auth::AUDITOR_SOURCE, collector::auth::CANARY_SOURCE] {
            if source.eq_ignore_ascii_case(own) && source != own {
                problems
                    .push(format!("key `collector.ingest_tokens.{source}`: Pathwatch's own source is spelt `{own}`"));
            }
        }
    }
    // One token, one source: a value two sources share would give its holder either's rights.
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    let default = c.ingest_token.as_deref().map(|t| ("default", t));
    for (source, token) in c.collector.ingest_tokens.iter().map(|(s, t)| (s.as_str(), t.as_str())).chain(default) {
        if let Some(first) = seen.insert(token, source) {
            problems.push(format!(
                "keys `collector.ingest_tokens.{first}` and `collector.ingest_tokens.{source}`: the same token for two \
                 sources; give each its own"
            ));
        }
    }
    for (source, scope) in &c.collector.ingest_scopes {
        let has_token =
            c.collector.ingest_tokens.contains_key(source) || (source == "default" && c.ingest_token.is_some());
        if !has_token {
            problems.push(format!("key `collector.ingest_scopes.{source}`: no ingest token has the source {source:?}"));
        }
        for org in &scope.organisations {
            if org.len() < 3 || org.len() > 10 || !org.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                problems.push(format!(
                    "key `collector.ingest_scopes.{source}.organisations`: {org:?} is not an ODS code (capital letters and digits)"
                ));
            }
        }
    }
    for (source, token) in &c.collector.ingest_tokens {
        if token.len() < 16 {
            problems.push(format!("key `collector.ingest_tokens.{source}`: a token needs at least 16 characters"));
        }
    }
    if let Some(token) = &c.ingest_token {
        if token.len() < 16 {
            problems
                .push("key `ingest_token` (PATHWATCH_INGEST_TOKEN): a token needs at least 16 characters".to_string());
        }
    }
    for (i, cidr) in c.dashboard.trusted_proxies.iter().enumerate() {
        if parse_cidr(cidr).is_none() {
            problems.push(format!(
                "key `dashboard.trusted_proxies[{i}]`: {cidr:?} is not an address or CIDR range (e.g. \"10.0.0.0/8\")"
            ));
        }
    }
    if c.sandbox.allow_remote && c.sandbox.admin_token.as_deref().is_none_or(|t| t.len() < 16) {
        problems.push(
            "key `sandbox.admin_token`: needed (16 characters or more) when `sandbox.allow_remote` is set, or \
             anyone who reaches the sandboxes can inject faults"
                .to_string(),
        );
    }
    if !c.sandbox.listen.ip().is_loopback() && !c.sandbox.allow_remote {
        problems.push(format!(
            "key `sandbox.listen`: {} is reachable from other machines, where anyone could inject faults \
             into the sandboxes; listen on 127.0.0.1, or set `sandbox.allow_remote = true` (and `sandbox.admin_token`)",
            c.sandbox.listen
        ));
    }
    if c.collector.listen == c.dashboard.listen {
        problems.push(format!("keys `collector.listen` and `dashboard.listen` are both {}", c.collector.listen));
    }
    let grpc = c.collector.grpc_listen;
    for (key, addr) in [("collector.listen", c.collector.listen), ("dashboard.listen", c.dashboard.listen)] {
        if grpc == addr && grpc.port() != 0 {
            problems.push(format!("keys `collector.grpc_listen` and `{key}` are both {grpc}"));
        }
    }
    if c.store.backend == Backend::Clickhouse && !c.store.clickhouse.url.starts_with("http") {
        problems.push(format!("key `store.clickhouse.url`: {:?} is not an http(s) URL", c.store.clickhouse.url));
    }
    if let Some(chain) = c.collector.audit_chain {
        if chain == 0 || chain > audit_store::chain::MAX_CHAIN {
            problems.push(format!(
                "key `collector.audit_chain`: {chain} is not a chain number (1 to {}; 0 is the embedded store's)",
                audit_store::chain::MAX_CHAIN
            ));
        }
    }
    if let Some(cluster) = &c.store.clickhouse.cluster {
        if cluster.is_empty() || !cluster.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
            problems.push(format!(
                "key `store.clickhouse.cluster`: {cluster:?} is not a cluster name (letters, digits and underscores, \
                 as in the servers' <remote_servers>)"
            ));
        }
    }
    if let Some(endpoint) = &c.self_telemetry.otlp_endpoint {
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            problems.push(format!("key `self_telemetry.otlp_endpoint`: {endpoint:?} is not an http(s) URL"));
        }
    }
    if let Err(e) = c.audit.validate() {
        problems.push(format!("key {e}"));
    } else if !c.audit.notify.is_empty() && c.alerts.email.is_none() {
        problems.push(
            "key `audit.notify`: e-mail needs an SMTP server; set [alerts.email] (smtp_host, from, to)".to_string(),
        );
    }
    if c.evidence.check_every_minutes == 0 || c.evidence.full_chain_walk_hours == 0 {
        problems.push("key `evidence`: check_every_minutes and full_chain_walk_hours must be at least 1".to_string());
    }
    if !c.evidence.notify.is_empty() {
        if let Err(e) = engine::notify::check_addresses("evidence.notify", &c.evidence.notify) {
            problems.push(format!("key {e}"));
        } else if c.alerts.email.is_none() {
            problems.push(
                "key `evidence.notify`: e-mail needs an SMTP server; set [alerts.email] (smtp_host, from, to)"
                    .to_string(),
            );
        }
    }
    if let Err(e) = c.status_page.validate(&c.effective_pathways()) {
        problems.push(format!("key `{e}`"));
    }
    if let Err(e) = c.reports.validate() {
        problems.push(format!("key {e}"));
    } else if !c.reports.schedules.is_empty() && c.alerts.email.is_none() {
        problems.push(
            "key `reports.schedules`: delivery by e-mail needs an SMTP server; set [alerts.email] (smtp_host, from, to)"
                .to_string(),
        );
    }
    let d = &c.dashboard;
    for (key, value, max) in [
        ("dashboard.idle_timeout_minutes", d.idle_timeout_minutes, 24 * 60),
        ("dashboard.max_session_hours", d.max_session_hours, 30 * 24),
        ("dashboard.max_failed_sign_ins", d.max_failed_sign_ins as u64, 1000),
        ("dashboard.failed_sign_in_window_minutes", d.failed_sign_in_window_minutes, 24 * 60),
        ("alerts.evaluate_every_secs", c.alerts.evaluate_every_secs, 3600),
        ("alerts.repeat_interval_minutes", c.alerts.repeat_interval_minutes, 7 * 24 * 60),
    ] {
        if !(1..=max).contains(&value) {
            problems.push(format!("key `{key}`: {value} is outside 1..={max}"));
        }
    }
    if !d.public_url.is_empty() && !d.public_url.starts_with("http://") && !d.public_url.starts_with("https://") {
        problems.push(format!("key `dashboard.public_url`: {:?} is not an http(s) URL", d.public_url));
    }
    if let Some(oidc) = &d.oidc {
        problems.extend(crate::oidc_config::validate(oidc, &crate::serve::public_url(d)));
    }
    if c.sandbox.listen == c.collector.listen
        || c.sandbox.listen == c.dashboard.listen
        || c.sandbox.listen == c.collector.grpc_listen
    {
        problems
            .push(format!("key `sandbox.listen`: {} is already used by the collector or dashboard", c.sandbox.listen));
    }
    // The `demo` environment is filled in at run time (it needs the generated demo key); a stand-in
    // with the same shape lets every other canary rule be checked now.
    let mut canaries = c.canaries.clone();
    canaries.environments.entry(crate::demo::DEMO_ENVIRONMENT.into()).or_insert_with(crate::demo::environment_shape);
    if let Err(e) = canaries.validate() {
        problems.push(e.to_string().replacen("invalid configuration key", "key", 1));
    }
    for (i, url) in c.alerts.webhooks.iter().enumerate() {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            problems.push(format!("key `alerts.webhooks[{i}]`: {url:?} is not an http(s) URL"));
        }
    }
    for (i, channel) in c.alerts.channels.iter().enumerate() {
        if let Err((field, message)) = channel.check() {
            problems.push(format!("key `alerts.channels[{i}].{field}`: {message}"));
        }
    }
    let flows: Vec<String> = c.canaries.effective_flows().into_iter().map(|f| f.name).collect();
    let mut pathway_ids = std::collections::BTreeSet::new();
    let pathways = c.effective_pathways();
    for (i, p) in pathways.iter().enumerate() {
        // A compared flow's runs are shown to whoever sees this pathway: it must not be the flow of
        // a pathway other organisations see.
        let organisations = |q: &engine::pathways::PathwayConfig| {
            q.organisations.iter().cloned().collect::<std::collections::BTreeSet<String>>()
        };
        for (j, flow) in p.compare_flows.iter().enumerate() {
            let other = pathways.iter().find(|q| {
                q.id != p.id
                    && (q.flow == *flow || q.compare_flows.contains(flow))
                    && organisations(q) != organisations(p)
            });
            if let Some(q) = other {
                problems.push(format!(
                    "key `pathways[{i}].compare_flows[{j}]`: flow {flow:?} also measures pathway {:?}, which \
                     belongs to other organisations; compare a flow of this pathway's own",
                    q.id
                ));
            }
        }
        if let Err((field, message)) = p.validate() {
            problems.push(format!("key `pathways[{i}].{field}`: {message}"));
        }
        if !pathway_ids.insert(p.id.clone()) {
            problems.push(format!("key `pathways[{i}].id`: {:?} is used twice", p.id));
        }
        if !p.flow.is_empty() && !flows.contains(&p.flow) {
            problems.push(format!(
                "key `pathways[{i}].flow`: no canary flow {:?} (flows: {})",
                p.flow,
                flows.join(", ")
            ));
        }
        // Each compared flow must exist and run against an environment of its own: one column each.
        let mut seen: Vec<&str> = p.flow_environments.get(&p.flow).map(String::as_str).into_iter().collect();
        for (j, flow) in p.compare_flows.iter().enumerate() {
            match p.flow_environments.get(flow) {
                None => problems.push(format!(
                    "key `pathways[{i}].compare_flows[{j}]`: no canary flow {flow:?} (flows: {})",
                    flows.join(", ")
                )),
                Some(env) if seen.contains(&env.as_str()) => problems.push(format!(
                    "key `pathways[{i}].compare_flows[{j}]`: flow {flow:?} runs against environment {env:?}, which \
                     another of this pathway's flows already measures; compare one flow per environment"
                )),
                Some(env) => seen.push(env),
            }
        }
        let links = std::iter::once(("runbook_url".to_string(), &p.runbook_url))
            .chain(p.runbooks.links().into_iter().map(|(state, url)| (format!("runbooks.{state}"), url)))
            .chain(p.known_errors.iter().enumerate().map(|(k, e)| (format!("known_errors[{k}].link"), &e.link)));
        for (key, url) in links {
            if let Some(url) = url.as_ref().filter(|u| !u.starts_with("https://") && !u.starts_with("http://")) {
                problems.push(format!("key `pathways[{i}].{key}`: {url:?} is not an http(s) URL"));
            }
        }
    }
    let mut slo_names = std::collections::BTreeSet::new();
    for (i, slo) in c.effective_slos().iter().enumerate() {
        if let Err((field, message)) = slo.validate() {
            problems.push(format!("key `slos[{i}].{field}`: {message}"));
        }
        if !slo_names.insert(slo.name.clone()) {
            problems.push(format!("key `slos[{i}].name`: {:?} is used twice", slo.name));
        }
        if slo.spans.is_none() && !flows.contains(&slo.flow) {
            problems.push(format!("key `slos[{i}].flow`: no canary flow {:?} (flows: {})", slo.flow, flows.join(", ")));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("invalid configuration:\n  {}", problems.join("\n  "))
    }
}
