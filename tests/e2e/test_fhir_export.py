"""`pathwatch audit export --format fhir-ndjson`: every line is a FHIR R4 AuditEvent that a FHIR
library built from HL7's published definitions accepts (fhir.resources, R4B, whose AuditEvent is
R4's), carrying its place in the hash chain, and the file's SHA-256 is the one printed."""

import hashlib
import json
import re
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from fhir.resources.R4B.auditevent import AuditEvent

from conftest import TOKEN

CHAIN = "urn:pathwatch:fhir:StructureDefinition/audit-chain-position"


def post_audit(collector, events):
    request = urllib.request.Request(f"{collector['url']}/v1/audit", data=json.dumps(events).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def export(collector, *args):
    from test_otel_grpc import pathwatch
    return pathwatch(collector, "audit", "export", "--format", "fhir-ndjson", *args)


def test_the_export_is_valid_fhir_r4_with_chain_positions_and_its_checksum(collector, tmp_path):
    # An hour ago, relative to now: the collector refuses events from the future.
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    stamp = lambda minutes: (at + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    events = [
        {"event_id": "e-read", "time": stamp(0), "action": "read", "outcome": "success",
         "actor": {"user_id": "555021935107", "role": "R8000", "organisation": "A81001", "name": "Dr A"},
         "patient_nhs_number": "9000000009", "resource_type": "Patient", "resource_id": "9000000009",
         "purpose_of_use": "direct-care", "client_address": "10.1.2.3", "request_id": "req-1", "correlation_id": "c-1"},
        {"event_id": "e-search", "time": stamp(1), "action": "search", "outcome": "denied",
         "actor": {"user_id": "555021935108"}, "resource_type": "Patient", "resource_id": "family=Smith"},
        {"event_id": "e-export", "time": stamp(2), "action": "export", "outcome": "serious-failure",
         "actor": {"user_id": "555021935109"}, "device": "ward-pc-12"},
        {"event_id": "e-login", "time": stamp(3), "action": "login", "outcome": "success",
         "actor": {"user_id": "555021935109"}},
    ]
    assert post_audit(collector, events)["accepted"] == 4
    out = tmp_path / "trail.ndjson"
    day = at.strftime("%Y-%m-%d")
    to = (at + timedelta(days=1)).strftime("%Y-%m-%d")
    result = export(collector, "--from", day, "--to", to, "--out", str(out))
    assert result.returncode == 0, result.stderr

    lines = out.read_text().splitlines()
    assert len(lines) == 4
    resources = [json.loads(line) for line in lines]
    for resource in resources:
        AuditEvent.model_validate(resource)  # raises on anything R4 does not allow
        assert resource["outcome"] in {"0", "4", "8", "12"} and resource["action"] in {"C", "R", "U", "D", "E"}
        chain = next(e for e in resource["extension"] if e["url"] == CHAIN)
        parts = {e["url"]: e for e in chain["extension"]}
        assert re.fullmatch(r"[0-9a-f]{64}", parts["hash"]["valueString"])
    positions = [int(next(e for e in r["extension"] if e["url"] == CHAIN)["extension"][1]["valueString"]) for r in resources]
    assert positions == sorted(positions) and len(set(positions)) == 4
    read = resources[0]
    assert read["entity"][0]["what"]["identifier"]["value"] == "9000000009", "the host's export is not masked"
    assert [r["outcome"] for r in resources] == ["0", "4", "8", "0"]

    assert out.stat().st_mode & 0o777 == 0o600, "whole NHS numbers: readable by its owner only"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".pathwatch-export")], "nothing left beside it"
    printed = re.search(r"SHA-256 ([0-9a-f]{64})", result.stderr).group(1)
    assert printed == hashlib.sha256(out.read_bytes()).hexdigest()

    auditors = export(collector, "--from", day, "--to", to, "--auditors")
    assert auditors.returncode == 0 and auditors.stdout == "", "no auditor acted"


def test_a_period_that_ends_before_it_starts_is_refused_naming_the_flags(collector):
    result = export(collector, "--from", "2026-11-02", "--to", "2026-11-01")
    assert result.returncode != 0 and "--to" in result.stderr and "--from" in result.stderr
    result = export(collector, "--from", "last tuesday", "--to", "2026-11-01")
    assert result.returncode != 0 and "--from" in result.stderr
