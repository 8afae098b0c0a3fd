//! OpenSLO v1 (`apiVersion: openslo/v1`) in and out: Pathwatch's SLOs as `SLO` documents with an
//! inline `SLI` (a ratio of good to total events whose `metricSource` is `type: Pathwatch`), a rolling
//! window, one objective, and one `AlertPolicy` per burn-rate condition Pathwatch alerts on; and
//! back. What does not map is refused with a message naming the document and field: a metric
//! source of another type (Pathwatch measures its own canary runs and stored spans), a threshold or
//! raw metric, a calendar window, several objectives. Alert policies are derived, never imported:
//! Pathwatch's multi-window burn-rate conditions follow from the objective and the window.
//!
//! Freshness SLIs are `Timeslices` of one minute (a minute is good when fresh); the others are
//! `Occurrences`.

use serde_json::{json, Map, Value};

use crate::slo::{alert_windows, prom_duration, SliKind, SloConfig, SpanSelector};

/// The `metricSource.type` that names Pathwatch's own events.
pub const SOURCE_TYPE: &str = "Pathwatch";
const API_VERSION: &str = "openslo/v1";
/// An annotation carrying a burn-rate condition's short window (OpenSLO has one lookback window).
const SHORT_WINDOW: &str = "pathwatch/short-window";
/// An annotation carrying the Pathwatch SLO's own name (the OpenSLO name may have to differ).
const NAME: &str = "pathwatch/name";
/// The one notification target the exported policies name: Pathwatch's own `[alerts]` channels.
const TARGET: &str = "pathwatch-alerts";
/// The largest file `import` reads.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Why an OpenSLO file could not be imported: the document (its kind and name, or its place) and
/// what does not map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{document}: {message}")]
pub struct ImportError {
    pub document: String,
    pub message: String,
}

/// What an import made, and what it left out on purpose (alert policies, services, data sources).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub slos: Vec<SloConfig>,
    pub notes: Vec<String>,
}

fn sli_name(slo: &SloConfig) -> &'static str {
    match slo.sli {
        SliKind::Availability => "availability",
        SliKind::Latency => "latency",
        SliKind::Freshness => "freshness",
    }
}

/// Where the events come from, as the `metricSource.spec` says it.
fn source(slo: &SloConfig, events: &str) -> Value {
    let mut spec = Map::new();
    match &slo.spans {
        Some(sel) => {
            spec.insert("service".into(), json!(sel.service));
            if let Some(name) = &sel.name {
                spec.insert("spanName".into(), json!(name));
            }
        }
        None => {
            spec.insert("flow".into(), json!(slo.flow));
        }
    }
    spec.insert("events".into(), json!(events));
    if events == "good" {
        spec.insert("sli".into(), json!(sli_name(slo)));
        if let Some(ms) = slo.latency_threshold_ms {
            spec.insert("latencyThresholdMs".into(), json!(ms));
        }
        if let Some(m) = slo.max_age_minutes {
            spec.insert("maxAgeMinutes".into(), json!(m));
        }
    }
    json!({"metricSource": {"type": SOURCE_TYPE, "spec": spec}})
}

/// The SLOs as OpenSLO v1 documents, `---`-separated YAML.
pub fn export(slos: &[SloConfig]) -> Result<String, yaml_serde::Error> {
    let mut documents = Vec::new();
    for slo in slos {
        let freshness = slo.sli == SliKind::Freshness;
        let mut objective = json!({"displayName": slo.name, "target": slo.objective});
        if freshness {
            objective["timeSliceTarget"] = json!(1.0);
            objective["timeSliceWindow"] = json!("1m");
        }
        let policies: Vec<Value> =
            alert_windows(slo.window_days).iter().map(|w| json!({"alertPolicyRef": policy_name(slo, w)})).collect();
        documents.push(json!({
            "apiVersion": API_VERSION,
            "kind": "SLO",
            "metadata": {
                "name": object_name(&slo.name, ""),
                "displayName": slo.name.chars().take(63).collect::<String>(),
                "annotations": {NAME: slo.name},
            },
            "spec": {
                "description": slo.description,
                "service": slo.spans.as_ref().map_or(slo.flow.as_str(), |s| s.service.as_str()),
                "indicator": {
                    "metadata": {"name": object_name(&slo.name, "-sli")},
                    "spec": {"ratioMetric": {"counter": true, "good": source(slo, "good"), "total": source(slo, "total")}},
                },
                "timeWindow": [{"duration": format!("{}d", slo.window_days), "isRolling": true}],
                "budgetingMethod": if freshness { "Timeslices" } else { "Occurrences" },
                "objectives": [objective],
                "alertPolicies": policies,
            },
        }));
        for w in alert_windows(slo.window_days) {
            documents.push(json!({
                "apiVersion": API_VERSION,
                "kind": "AlertPolicy",
                "metadata": {
                    "name": policy_name(slo, &w),
                    "annotations": {SHORT_WINDOW: prom_duration(w.short_secs)},
                },
                "spec": {
                    "description": format!(
                        "{} when the error budget burns faster than {:.1}x over {} and over {} (Pathwatch's multi-window condition)",
                        w.severity.as_str(), w.factor, prom_duration(w.long_secs), prom_duration(w.short_secs)
                    ),
                    "alertWhenBreaching": true,
                    "alertWhenResolved": true,
                    "alertWhenNoData": false,
                    "conditions": [{
                        "kind": "AlertCondition",
                        "metadata": {"name": object_name(&policy_name(slo, &w), "-condition")},
                        "spec": {
                            "severity": w.severity.as_str(),
                            "condition": {
                                "kind": "burnrate", "op": "gt", "threshold": round(w.factor),
                                "lookbackWindow": prom_duration(w.long_secs), "alertAfter": "0m",
                            },
                        },
                    }],
                    "notificationTargets": [{"targetRef": TARGET}],
                },
            }));
        }
    }
    if !slos.is_empty() {
        documents.push(json!({
            "apiVersion": API_VERSION,
            "kind": "AlertNotificationTarget",
            "metadata": {"name": TARGET},
            "spec": {
                "description": "Pathwatch's own alert channels ([alerts]: e-mail, webhooks, Teams, Slack, PagerDuty, Alertmanager)",
                "target": "pathwatch",
            },
        }));
    }
    let mut text = String::new();
    for document in documents {
        text.push_str("---\n");
        text.push_str(&yaml_serde::to_string(&document)?);
    }
    Ok(text)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn policy_name(slo: &SloConfig, w: &crate::slo::BurnWindow) -> String {
    object_name(&slo.name, &format!("-{}-{}", w.severity.as_str(), prom_duration(w.long_secs)))
}

/// Reads OpenSLO v1 documents (several, `---`-separated): every SLO becomes a Pathwatch SLO,
/// checked as configuration is; SLIs referenced by `indicatorRef` are found among the documents.
pub fn import(text: &str) -> Result<Imported, ImportError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ImportError {
            document: "the file".into(),
            message: format!("is larger than {} KiB; split it", MAX_FILE_BYTES >> 10),
        });
    }
    let mut documents = Vec::new();
    for (i, document) in serde_yaml_documents(text)?.into_iter().enumerate() {
        if !document.is_null() {
            documents.push((i + 1, document));
        }
    }
    let label = |i: usize, d: &Value| match (d["kind"].as_str(), d["metadata"]["name"].as_str()) {
        (Some(kind), Some(name)) => format!("{kind} {name:?} (document {i})"),
        (Some(kind), None) => format!("{kind} (document {i})"),
        _ => format!("document {i}"),
    };
    let mut imported = Imported { slos: Vec::new(), notes: Vec::new() };
    let mut policies = 0;
    for (i, d) in &documents {
        let fail = |message: String| ImportError { document: label(*i, d), message };
        if d["apiVersion"] != API_VERSION {
            return Err(fail(format!("apiVersion {} is not openslo/v1", d["apiVersion"])));
        }
        match d["kind"].as_str() {
            Some("SLO") => {
                let sli =
                    match (&d["spec"]["indicator"], d["spec"]["indicatorRef"].as_str()) {
                        (indicator, _) if indicator.is_object() => indicator,
                        (_, Some(name)) => documents
                            .iter()
                            .map(|(_, s)| s)
                            .find(|s| s["kind"] == "SLI" && s["metadata"]["name"] == name)
                            .ok_or_else(|| fail(format!("spec.indicatorRef: no SLI named {name:?} in the file")))?,
                        _ if composite(d) => return Err(fail(
                            "a composite SLO (an indicator per objective) does not map: a Pathwatch SLO has one SLI"
                                .into(),
                        )),
                        _ => return Err(fail("spec: give an `indicator` or an `indicatorRef`".into())),
                    };
                let slo = slo_of(d, sli).map_err(fail)?;
                slo.validate().map_err(|(field, message)| fail(format!("as a Pathwatch SLO, `{field}`: {message}")))?;
                if imported.slos.iter().any(|s| s.name == slo.name) {
                    return Err(fail(format!("a second SLO named {:?}", slo.name)));
                }
                imported.slos.push(slo);
            }
            Some("SLI") => {}
            Some("AlertPolicy" | "AlertCondition") => policies += 1,
            Some("Service" | "DataSource" | "AlertNotificationTarget") => imported.notes.push(format!(
                "{}: not imported (notification targets are Pathwatch's [alerts] channels)",
                label(*i, d)
            )),
            other => return Err(fail(format!("kind {other:?} is not an OpenSLO v1 kind"))),
        }
    }
    if policies > 0 {
        imported.notes.push(format!(
            "{policies} alert policies and conditions not imported: Pathwatch derives its multi-window burn-rate \
             alerts (page and ticket) from each SLO's objective and window"
        ));
    }
    if imported.slos.is_empty() {
        return Err(ImportError { document: "the file".into(), message: "holds no SLO document".into() });
    }
    Ok(imported)
}

/// Whether an SLO names an indicator per objective.
fn composite(d: &Value) -> bool {
    d["spec"]["objectives"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o.get("indicator").is_some() || o.get("indicatorRef").is_some()))
}

/// Every YAML document of `text`, as JSON values.
fn serde_yaml_documents(text: &str) -> Result<Vec<Value>, ImportError> {
    let mut values = Vec::new();
    for (i, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(document)
            .map_err(|e| ImportError { document: format!("document {}", i + 1), message: format!("not YAML: {e}") })?;
        values.push(value);
    }
    Ok(values)
}

/// One SLO document and its SLI as a Pathwatch SLO; an error says the field that does not map.
fn slo_of(d: &Value, sli: &Value) -> Result<SloConfig, String> {
    let spec = &d["spec"];
    let name = d["metadata"]["annotations"][NAME]
        .as_str()
        .or_else(|| d["metadata"]["name"].as_str())
        .ok_or("metadata.name is missing")?
        .to_string();
    let ratio = &sli["spec"]["ratioMetric"];
    if sli["spec"]["thresholdMetric"].is_object() {
        return Err("the SLI's thresholdMetric does not map: Pathwatch SLIs are ratios of good to total events".into());
    }
    if !ratio.is_object() {
        return Err("the SLI needs a ratioMetric (good and total)".into());
    }
    if ratio["raw"].is_object() || ratio["bad"].is_object() {
        return Err(
            "ratioMetric: only `good` and `total` map (Pathwatch counts good events, not raw ratios or bad ones)"
                .into(),
        );
    }
    let good = &ratio["good"]["metricSource"];
    let total = &ratio["total"]["metricSource"];
    for (part, source) in [("good", good), ("total", total)] {
        match source["type"].as_str() {
            Some(t) if t.eq_ignore_ascii_case(SOURCE_TYPE) => {}
            other => {
                let named = other.map_or("(none)".to_string(), |t| format!("{t:?}"));
                return Err(format!(
                    "ratioMetric.{part}.metricSource.type {named} does not map: Pathwatch measures its own canary \
                     runs and the spans it stores (type {SOURCE_TYPE}, spec.flow or spec.service)"
                ));
            }
        }
    }
    let g = &good["spec"];
    let text = |key: &str| g[key].as_str().map(str::to_string);
    let (flow, spans) = match (text("flow"), text("service")) {
        (Some(flow), None) => (flow, None),
        (None, Some(service)) => (String::new(), Some(SpanSelector { service, name: text("spanName") })),
        _ => return Err("ratioMetric.good.metricSource.spec: give `flow` (a canary flow) or `service` (spans)".into()),
    };
    let same_source = total["spec"]["flow"] == g["flow"]
        && total["spec"]["service"] == g["service"]
        && total["spec"]["spanName"] == g["spanName"];
    if !same_source {
        return Err("ratioMetric: `good` and `total` must count the same flow, or the same service and span".into());
    }
    let sli_kind = match g["sli"].as_str().unwrap_or("availability") {
        "availability" => SliKind::Availability,
        "latency" => SliKind::Latency,
        "freshness" => SliKind::Freshness,
        other => {
            return Err(format!("ratioMetric.good.metricSource.spec.sli {other:?}: availability, latency or freshness"))
        }
    };
    let window_days = match spec["timeWindow"].as_array().map(Vec::as_slice) {
        None | Some([]) => 28,
        Some([window]) => {
            if window["calendar"].is_object() || window["isRolling"] == false {
                return Err(
                    "spec.timeWindow: a calendar-aligned window does not map: Pathwatch windows are rolling".into()
                );
            }
            let duration = window["duration"].as_str().unwrap_or("");
            days(duration).ok_or_else(|| {
                format!("spec.timeWindow[0].duration {duration:?}: give whole days or weeks (28d, 4w)")
            })?
        }
        Some(_) => return Err("spec.timeWindow holds exactly one window".into()),
    };
    let method = spec["budgetingMethod"].as_str().unwrap_or("Occurrences");
    let expected = if sli_kind == SliKind::Freshness { "Timeslices" } else { "Occurrences" };
    if method != expected {
        return Err(format!(
            "spec.budgetingMethod {method:?} does not map for a {} SLI: Pathwatch counts it as {expected}",
            g["sli"].as_str().unwrap_or("availability")
        ));
    }
    let objective = match spec["objectives"].as_array().map(Vec::as_slice) {
        Some([one]) => one,
        _ => return Err("spec.objectives: Pathwatch takes exactly one objective".into()),
    };
    if objective.get("op").is_some() || objective.get("value").is_some() {
        return Err("spec.objectives[0]: `op` and `value` belong to threshold metrics, which do not map".into());
    }
    if sli_kind == SliKind::Freshness {
        let window = &objective["timeSliceWindow"];
        if !(window.is_null() || *window == "1m" || *window == 60) {
            return Err(format!(
                "spec.objectives[0].timeSliceWindow {window}: Pathwatch's time slices are one minute (1m)"
            ));
        }
        if objective["timeSliceTarget"].as_f64().is_some_and(|t| t != 1.0) {
            return Err("spec.objectives[0].timeSliceTarget: a Pathwatch minute is good or not (1.0)".into());
        }
    }
    let target = match (objective["target"].as_f64(), objective["targetPercent"].as_f64()) {
        (Some(t), None) => t,
        // 99.9 / 100 is 0.9990000000000001 in floating point: rounded back to what was meant.
        (None, Some(p)) => (p / 100.0 * 1e9).round() / 1e9,
        _ => return Err("spec.objectives[0]: give `target` (0.99) or `targetPercent` (99)".into()),
    };
    Ok(SloConfig {
        name,
        description: spec["description"].as_str().unwrap_or_default().to_string(),
        flow,
        spans,
        sli: sli_kind,
        latency_threshold_ms: g["latencyThresholdMs"].as_u64(),
        max_age_minutes: g["maxAgeMinutes"].as_u64().and_then(|m| u32::try_from(m).ok()),
        objective: target,
        window_days,
    })
}

/// `28d` or `4w` as days.
fn days(duration: &str) -> Option<u32> {
    let (number, per) = match (duration.strip_suffix('d'), duration.strip_suffix('w')) {
        (Some(n), _) => (n, 1),
        (_, Some(n)) => (n, 7),
        _ => return None,
    };
    let n: u32 = number.parse().ok().filter(|n| *n > 0)?;
    n.checked_mul(per)
}

/// An OpenSLO name (RFC 1123 label: lowercase letters, digits and `-`, at most 63 characters)
/// for a Pathwatch name with `suffix`; the Pathwatch name itself travels in an annotation.
fn object_name(name: &str, suffix: &str) -> String {
    let mut label: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    label.push_str(suffix);
    if label.len() > 63 {
        let hash = label.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        label = format!("{}-{hash:08x}", &label[..54]);
    }
    label.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slos() -> Vec<SloConfig> {
        let mut latency = SloConfig::availability("gpconnect");
        latency.name = "gpconnect-latency".into();
        latency.sli = SliKind::Latency;
        latency.latency_threshold_ms = Some(1500);
        latency.window_days = 30;
        let mut fresh = SloConfig::availability("mesh");
        fresh.name = "mesh-freshness".into();
        fresh.sli = SliKind::Freshness;
        fresh.max_age_minutes = Some(15);
        fresh.objective = 0.995;
        let spans = SloConfig {
            name: "Booking_API".into(),
            description: "Booking requests that succeed".into(),
            flow: String::new(),
            spans: Some(SpanSelector { service: "gp-booking-api".into(), name: Some("POST /Appointment".into()) }),
            sli: SliKind::Availability,
            latency_threshold_ms: None,
            max_age_minutes: None,
            objective: 0.999,
            window_days: 28,
        };
        vec![SloConfig::availability("pds"), latency, fresh, spans]
    }

    #[test]
    fn export_then_import_gives_the_same_slos() {
        let yaml = export(&slos()).unwrap();
        assert!(yaml.contains("apiVersion: openslo/v1") && yaml.contains("kind: AlertPolicy"), "{yaml}");
        let imported = import(&yaml).unwrap();
        assert_eq!(imported.slos, slos());
        // Names are RFC 1123 labels; the Pathwatch name travels in an annotation and comes back.
        assert!(yaml.contains("name: booking-api\n") && yaml.contains("pathwatch/name: Booking_API"), "{yaml}");
        assert_eq!(imported.notes.len(), 2, "the policies, and the notification target: {:?}", imported.notes);
        assert!(imported.notes.iter().any(|n| n.starts_with("16 alert policies and conditions not imported")));
        // Each document is OpenSLO-shaped: one condition per policy, one window, one objective.
        let docs = serde_yaml_documents(&yaml).unwrap();
        let slo = docs.iter().find(|d| d["metadata"]["name"] == "mesh-freshness").unwrap();
        assert_eq!(slo["spec"]["budgetingMethod"], "Timeslices");
        assert_eq!(slo["spec"]["objectives"][0]["timeSliceWindow"], "1m");
        let page = docs.iter().find(|d| d["metadata"]["name"] == "pds-availability-page-1h").unwrap();
        assert_eq!(page["spec"]["notificationTargets"][0]["targetRef"], TARGET);
        assert!(docs.iter().any(|d| d["kind"] == "AlertNotificationTarget" && d["metadata"]["name"] == TARGET));
        assert_eq!(page["spec"]["conditions"][0]["spec"]["condition"]["threshold"], 13.44);
        assert_eq!(page["metadata"]["annotations"][SHORT_WINDOW], "5m");
    }

    #[test]
    fn an_sli_by_reference_and_a_percent_target_are_read() {
        let yaml = "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: runs}\nspec:\n  ratioMetric:\n    counter: true\n    good: {metricSource: {type: pathwatch, spec: {flow: nrl, events: good}}}\n    total: {metricSource: {type: pathwatch, spec: {flow: nrl, events: total}}}\n---\napiVersion: openslo/v1\nkind: SLO\nmetadata: {name: nrl-availability}\nspec:\n  indicatorRef: runs\n  timeWindow: [{duration: 4w, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{targetPercent: 99.5}]\n";
        let imported = import(yaml).unwrap();
        let slo = &imported.slos[0];
        assert_eq!((slo.flow.as_str(), slo.window_days, slo.objective), ("nrl", 28, 0.995));
        let tenth = import(&yaml.replace("targetPercent: 99.5", "targetPercent: 99.9")).unwrap();
        assert_eq!(tenth.slos[0].objective, 0.999);
    }

    #[test]
    fn what_does_not_map_is_refused_naming_the_document_and_field() {
        let base = export(&[SloConfig::availability("pds")]).unwrap();
        let refused = |from: &str, to: &str| {
            assert!(base.contains(from), "{from} not in {base}");
            import(&base.replacen(from, to, 1)).unwrap_err().to_string()
        };
        let datadog = refused("type: Pathwatch", "type: Datadog");
        assert!(
            datadog.starts_with("SLO \"pds-availability\" (document 1): ratioMetric.good.metricSource.type"),
            "{datadog}"
        );
        assert!(refused("isRolling: true", "isRolling: false").contains("calendar-aligned window does not map"));
        assert!(refused("duration: 28d", "duration: 1M").contains("give whole days or weeks"));
        assert!(refused("budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices").contains("budgetingMethod"));
        assert!(refused("apiVersion: openslo/v1", "apiVersion: openslo/v2alpha").contains("is not openslo/v1"));
        assert!(refused("target: 0.99", "target: 1.5").contains("as a Pathwatch SLO, `objective`"));
        let two = refused("  objectives:\n", "  objectives:\n  - target: 0.9\n");
        assert!(two.contains("exactly one objective"), "{two}");
        let threshold = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: cpu}\nspec:\n  indicator: {spec: {thresholdMetric: {metricSource: {type: Prometheus}}}}\n  objectives: [{target: 0.9}]\n";
        assert!(import(threshold).unwrap_err().to_string().contains("thresholdMetric does not map"));
        assert!(import("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: x}\n")
            .unwrap_err()
            .message
            .contains("no SLO"));
        assert!(import(": : :").unwrap_err().message.starts_with("not YAML"));
    }

    #[test]
    fn durations_are_whole_days_or_weeks() {
        assert_eq!(
            (days("28d"), days("4w"), days("0d"), days("1M"), days("d"), days("")),
            (Some(28), Some(28), None, None, None, None)
        );
        assert_eq!((days("28д"), days("7日"), days("4294967295w")), (None, None, None), "no panic, no overflow");
    }
}
