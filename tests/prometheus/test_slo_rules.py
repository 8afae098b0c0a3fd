"""`pathwatch slo rules` output checked by Prometheus's own promtool: the file is valid
(`promtool check rules`), and a unit test (`promtool test rules`) shows the page and ticket alerts
fire when a flow's canary runs fail, stay quiet when they pass, and the recorded error ratio is right."""

import os
import shutil
import subprocess

import pytest
import yaml


def required():
    return os.environ.get("PATHWATCH_REQUIRE_SERVICES") == "1"


def need(what, value, hint):
    if not value:
        if required():
            pytest.fail(f"PATHWATCH_REQUIRE_SERVICES=1 but {what} is missing ({hint})")
        pytest.skip(f"SKIPPED: {what} is missing ({hint})")
    return value


def generate(tmp_path):
    binary = need("PATHWATCH_BIN", os.environ.get("PATHWATCH_BIN"), "scripts/test.sh sets it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHWATCH_")}
    env["PATHWATCH_DASHBOARD__RUNBOOK_BASE_URL"] = "https://runbooks.example/slo/"
    rules = tmp_path / "rules.yml"
    subprocess.run(
        [binary, "--data-dir", str(tmp_path / "data"), "slo", "rules", "--out", str(rules)],
        check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
    )
    return rules


def alert(rules_file, group, name):
    doc = yaml.safe_load(rules_file.read_text())
    for g in doc["groups"]:
        if g["name"] == group:
            for rule in g["rules"]:
                if rule.get("alert") == name:
                    return rule
    raise AssertionError(f"no alert {name} in group {group}")


def test_generated_rules_pass_promtool_and_fire_only_when_the_budget_burns(tmp_path):
    promtool = need("promtool", shutil.which("promtool"), "Debian package prometheus; scripts/test.sh installs it")
    rules = generate(tmp_path)
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    group = "pathwatch-slo-pds-availability-alerts"
    page = alert(rules, group, "PathwatchSLOBurnRatePage")
    ticket = alert(rules, group, "PathwatchSLOBurnRateTicket")
    assert page["annotations"]["runbook_url"] == "https://runbooks.example/slo/pds-availability"
    labels = {"slo": "pds-availability", "flow": "pds"}
    failing = [
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="fail"}', "values": "0+1x240"},
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="pass"}', "values": "0+0x240"},
    ]
    healthy = [
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="fail"}', "values": "0+0x240"},
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="pass"}', "values": "0+1x240"},
    ]
    # One failure in ten runs: a 10 % error ratio against a 1 % budget burns 10 times too fast:
    # enough for the 6 h / 30 m page condition (5.6) and the ticket (2.8), not the 1 h / 5 m (13.44).
    slow_burn = [
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="fail"}', "values": "0+1x240"},
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="pass"}', "values": "0+9x240"},
    ]

    # Failing for the first hour, fine since: at 3 h the 6 h window still burns (ratio 1/3, burn 33)
    # but the 30 m window does not, so the page must NOT fire — it would with "or" instead of "and".
    recovered = [
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="fail"}', "values": "0+1x60 60+0x180"},
        {"series": 'pathwatch_canary_runs_total{flow="pds",result="pass"}', "values": "0+0x60 0+1x180"},
    ]

    def expect(eval_time, name, rule, fires):
        exp = [{"exp_labels": {"severity": rule["labels"]["severity"], **labels}, "exp_annotations": rule["annotations"]}]
        return {"eval_time": eval_time, "alertname": name, "exp_alerts": exp if fires else []}

    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": failing,
                "alert_rule_test": [
                    expect("30m", "PathwatchSLOBurnRatePage", page, True),
                    expect("30m", "PathwatchSLOBurnRateTicket", ticket, True),
                ],
                "promql_expr_test": [
                    {
                        "expr": 'pathwatch:slo_error_ratio:rate5m{slo="pds-availability"}',
                        "eval_time": "30m",
                        "exp_samples": [{"labels": 'pathwatch:slo_error_ratio:rate5m{slo="pds-availability",flow="pds"}', "value": 1}],
                    }
                ],
            },
            {
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [
                    expect("3h", "PathwatchSLOBurnRatePage", page, False),
                    expect("3h", "PathwatchSLOBurnRateTicket", ticket, False),
                ],
            },
            {
                "interval": "1m",
                "input_series": recovered,
                "alert_rule_test": [expect("3h", "PathwatchSLOBurnRatePage", page, False)],
                "promql_expr_test": [
                    {
                        # The long window alone is over the 6 h factor (5.6 × 1 %)...
                        "expr": 'count(pathwatch:slo_error_ratio:rate6h{slo="pds-availability"} > 0.056)',
                        "eval_time": "3h",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            },
            {
                "interval": "1m",
                "input_series": slow_burn,
                "alert_rule_test": [
                    expect("3h", "PathwatchSLOBurnRatePage", page, True),
                    expect("3h", "PathwatchSLOBurnRateTicket", ticket, True),
                ],
                "promql_expr_test": [
                    {
                        "expr": 'pathwatch:slo_error_ratio:rate1h{slo="pds-availability"} > 13.44 * 0.01',
                        "eval_time": "3h",
                        "exp_samples": [],
                    }
                ],
            },
        ],
    }
    test_file = tmp_path / "slo_test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_freshness_rules_count_the_minutes_whose_newest_pass_is_too_old(tmp_path):
    """A freshness SLO over the MESH flow: the generated rule reads the last-pass gauge each minute.
    While the gauge keeps up, the error ratio is 0; once passes stop, every minute past the maximum
    age is bad and the page fires."""
    promtool = need("promtool", shutil.which("promtool"), "Debian package prometheus; scripts/test.sh installs it")
    config = tmp_path / "pathwatch.toml"
    config.write_text(
        '[[slos]]\nname = "mesh-fresh"\nflow = "mesh"\nsli = "freshness"\nmax_age_minutes = 10\n'
        'objective = 0.99\nwindow_days = 28\n'
    )
    binary = need("PATHWATCH_BIN", os.environ.get("PATHWATCH_BIN"), "scripts/test.sh sets it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHWATCH_")}
    rules = tmp_path / "rules.yml"
    subprocess.run(
        [binary, "--config", str(config), "--data-dir", str(tmp_path / "data"), "slo", "rules", "--out", str(rules)],
        check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
    )
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    page = alert(rules, "pathwatch-slo-mesh-fresh-alerts", "PathwatchSLOBurnRatePage")
    labels = {"slo": "mesh-fresh", "flow": "mesh"}
    series = 'pathwatch_canary_last_pass_timestamp_seconds{flow="mesh"}'
    ratio = 'pathwatch:slo_error_ratio:rate1h{slo="mesh-fresh"}'

    def case(values, fires, error_ratio):
        """The gauge's `values` (one a minute); at 3 h, whether the page fires and the 1 h error ratio."""
        firing = [{"exp_labels": {"severity": "page", **labels}, "exp_annotations": page["annotations"]}]
        recorded = 'pathwatch:slo_error_ratio:rate1h{slo="mesh-fresh",flow="mesh"}'
        return {
            "interval": "1m",
            "input_series": [{"series": series, "values": values}],
            "alert_rule_test": [
                {"eval_time": "3h", "alertname": "PathwatchSLOBurnRatePage", "exp_alerts": firing if fires else []}
            ],
            "promql_expr_test": [
                {"expr": ratio, "eval_time": "3h", "exp_samples": [{"labels": recorded, "value": error_ratio}]}
            ],
        }

    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            # The gauge holds when the newest pass began: a pass every minute (t = 60 s x n)...
            case("0+60x240", False, 0),
            # ... then none after minute 30 (the gauge stays at 1800) ...
            case("0+60x30 1800x210", True, 1),
            # ... or the canaries down after minute 30: the gauge is gone, and those minutes still
            # count as stale.
            case("0+60x30 _x210", True, 1),
        ],
    }
    test_file = tmp_path / "fresh_test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
