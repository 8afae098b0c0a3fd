//! `pathwatch slo export` and `slo import`: the configured SLOs go out as OpenSLO v1 and come back as
//! the same `[[slos]]` configuration; a file that does not map is refused, naming the document.

use crate::support::*;

const SLOS: &str = r#"
[[slos]]
name = "pds-availability"
flow = "pds"
sli = "availability"
objective = 0.99

[[slos]]
name = "gpconnect-latency"
description = "Record and booking within 1.5 s"
flow = "gpconnect"
sli = "latency"
latency_threshold_ms = 1500
objective = 0.95
window_days = 30

[[slos]]
name = "mesh-freshness"
flow = "mesh"
sli = "freshness"
max_age_minutes = 15
objective = 0.995

[[slos]]
name = "booking-api"
spans = { service = "gp-booking-api", name = "POST /Appointment" }
sli = "availability"
objective = 0.999
"#;

#[test]
fn slos_go_out_as_openslo_and_come_back_the_same() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("pathwatch.toml");
    std::fs::write(&config, SLOS).unwrap();
    let yaml = data.join("slos.yaml");
    let out = run(pathwatch(&data).arg("--config").arg(&config).args(["slo", "export", "--out"]).arg(&yaml));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = std::fs::read_to_string(&yaml).unwrap();
    assert_eq!(exported.matches("kind: SLO\n").count(), 4, "{exported}");

    let imported = data.join("imported.toml");
    let out = run(pathwatch(&data).args(["slo", "import"]).arg(&yaml).arg("--out").arg(&imported));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tables = std::fs::read_to_string(&imported).unwrap();
    assert!(tables.contains("# 16 alert policies and conditions not imported"), "{tables}");

    // The imported tables are configuration that exports to the same OpenSLO.
    let again = data.join("again.yaml");
    let out = run(pathwatch(&data).arg("--config").arg(&imported).args(["slo", "export", "--out"]).arg(&again));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), exported);

    // What does not map is refused, naming the document and field, and nothing is written.
    let datadog = data.join("datadog.yaml");
    std::fs::write(&datadog, exported.replacen("type: Pathwatch", "type: Datadog", 1)).unwrap();
    let refused = data.join("refused.toml");
    let out = run(pathwatch(&data).args(["slo", "import"]).arg(&datadog).arg("--out").arg(&refused));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("(document 1): ratioMetric.good.metricSource.type \"Datadog\" does not map"), "{stderr}");
    assert!(!refused.exists());
}
