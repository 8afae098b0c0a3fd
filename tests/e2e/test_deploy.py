"""What deploy/ ships is consistent with the binary: the Kubernetes manifests' configuration passes
`pathwatch config check`, every role's probes reach the port its configuration listens on (/readyz
for readiness, /healthz for liveness), the kustomization names every manifest, and there is a
systemd unit for every role that runs that role."""

import pathlib
import subprocess
import tomllib

import yaml

from conftest import clean_env, pathwatch_bin

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
ROLES = ["collector", "dashboard", "monitor", "canaries"]


def documents():
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        out[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def configuration():
    (config,) = documents()["config.example.yaml"]
    return config["stringData"]["pathwatch.toml"]


def listen_port(config, role):
    address = {
        "collector": config["collector"]["listen"],
        "dashboard": config["dashboard"]["listen"],
        "monitor": config["roles"]["monitor_listen"],
        "canaries": config["roles"]["canaries_listen"],
    }[role]
    return int(address.rsplit(":", 1)[1])


def test_the_manifests_configuration_passes_config_check(tmp_path):
    config_file = tmp_path / "pathwatch.toml"
    config_file.write_text(configuration())
    (secret,) = documents()["secret.example.yaml"]
    env = clean_env(**secret["stringData"])
    out = subprocess.run(
        [pathwatch_bin(), "--config", str(config_file), "--data-dir", str(tmp_path / "data"), "config", "check"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "ClickHouse cluster pathwatch" in out.stdout and "PostgreSQL at" in out.stdout, out.stdout
    assert "CHANGE-ME" not in out.stdout, "the state password is never printed"
    # Every role runs apart here: nothing any of them would lack (the canaries' and the dashboards'
    # tokens).
    assert "warning:" not in out.stdout, out.stdout


def test_every_role_runs_with_probes_on_its_own_port():
    config = tomllib.loads(configuration())
    workloads = {}
    for docs in documents().values():
        for d in docs:
            if d["kind"] in ("Deployment", "StatefulSet"):
                (container,) = d["spec"]["template"]["spec"]["containers"]
                workloads[container["args"][-1]] = (d, container)
    assert sorted(workloads) == sorted(ROLES)
    for role, (workload, container) in workloads.items():
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
            http = container[probe]["httpGet"]
            assert http["path"] == path, (role, probe)
            assert ports[http["port"]] == listen_port(config, role), (role, probe, ports)
        assert "--config" in container["args"] and "/etc/pathwatch/pathwatch.toml" in container["args"]
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
        assert {"secretRef": {"name": "pathwatch-secrets"}} in container["envFrom"]
    # The collector's spool is durable: a volume per replica, not the pod's scratch space.
    collector, _ = workloads["collector"]
    assert collector["kind"] == "StatefulSet" and collector["spec"]["volumeClaimTemplates"]
    for role in ["dashboard", "monitor", "canaries"]:
        assert workloads[role][0]["kind"] == "Deployment"


def test_the_kustomization_names_every_manifest_but_the_examples():
    (kustomization,) = documents()["kustomization.yaml"]
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml") if not p.name.endswith(".example.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_config_check_warns_of_what_a_role_run_apart_would_lack(tmp_path):
    config_file = tmp_path / "pathwatch.toml"
    config_file.write_text('[collector.ingest_tokens]\ndefault = "a-token-of-sixteen-or-more"\n')
    out = subprocess.run(
        [pathwatch_bin(), "--config", str(config_file), "--data-dir", str(tmp_path / "data"), "config", "check"],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "warning: `pathwatch canaries` would not start" in out.stdout, out.stdout
    assert "warning: `pathwatch dashboard` would run with the audit pages off" in out.stdout, out.stdout


def test_a_systemd_unit_runs_each_role():
    for role in ROLES:
        unit = (ROOT / "deploy" / f"pathwatch-{role}.service").read_text()
        exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
        assert exec_start.split()[-1] == role, exec_start
