//! `pathwatch slo rules`: the configured SLOs as Prometheus recording and alerting rules, and the
//! canary metrics those rules read; `pathwatch slo export` and `import`: OpenSLO v1 out and in.

use std::process::ExitCode;

use anyhow::Context;
use engine::slo::SliKind;

use crate::config::Config;

/// Canary metrics for the configured flows, with every latency-SLO threshold as a bucket bound.
pub fn canary_metrics(config: &Config) -> canaries::metrics::CanaryMetrics {
    let flows: Vec<String> = config.canaries.effective_flows().into_iter().map(|f| f.name).collect();
    let thresholds: Vec<f64> = config
        .effective_slos()
        .iter()
        .filter(|s| s.sli == SliKind::Latency)
        .filter_map(|s| s.latency_threshold_ms)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    canaries::metrics::CanaryMetrics::new(&flows, &thresholds)
}

pub fn rules(config: &Config, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let yaml = engine::slo_rules::prometheus_rules(&config.effective_slos(), &config.dashboard.runbook_base_url)
        .context("writing the rules as YAML")?;
    write(out, &yaml)
}

fn write(out: Option<&std::path::Path>, text: &str) -> anyhow::Result<ExitCode> {
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(config: &Config, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let yaml = engine::openslo::export(&config.effective_slos()).context("writing the SLOs as OpenSLO YAML")?;
    write(out, &yaml)
}

/// The SLOs of an OpenSLO file as `[[slos]]` tables, with what was left out as comments.
pub fn import(file: &std::path::Path, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
    if size > engine::openslo::MAX_FILE_BYTES as u64 {
        anyhow::bail!("{}: {size} bytes is more than an OpenSLO file of SLOs needs (at most 1 MiB)", file.display());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let imported = engine::openslo::import(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    #[derive(serde::Serialize)]
    struct Slos<'a> {
        slos: &'a [engine::slo::SloConfig],
    }
    let tables = toml::to_string(&Slos { slos: &imported.slos }).context("writing the SLOs as TOML")?;
    let mut config = format!("# From {} by `pathwatch slo import`: add to your configuration.\n", file.display());
    for note in &imported.notes {
        config.push_str(&format!("# {note}\n"));
    }
    config.push_str(&tables);
    write(out, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules' `le` matchers must be byte-identical to the bounds the exposition prints.
    #[test]
    fn latency_rule_buckets_match_the_exposition() {
        let mut config = Config::default();
        let mut slo = engine::slo::SloConfig::availability("mesh");
        slo.name = "mesh-latency".into();
        slo.sli = SliKind::Latency;
        slo.latency_threshold_ms = Some(1500);
        let mut slos = config.effective_slos();
        slos.push(slo.clone());
        config.slos = Some(slos);
        let metrics = canary_metrics(&config);
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        let labels = canaries::metrics::StepLabels { flow: "mesh".into(), step: "run".into() };
        metrics.duration.get_or_create(&labels).observe(1.2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let expr = engine::slo_rules::error_ratio_expr(&slo, "1h");
        let le = expr.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            text.contains(&format!("probe_duration_seconds_bucket{{le=\"{le}\",flow=\"mesh\",step=\"run\"}} 1")),
            "{le}\n{text}"
        );
        assert!(text.contains("pathwatch_canary_runs_total{flow=\"pds\",result=\"fail\"} 0"), "{text}");
    }
}
