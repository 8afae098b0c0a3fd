"""The ClickHouse schema and every query Pathwatch issues, run on a current ClickHouse (chDB, in
process). The Rust conformance suite runs the same SQL on Debian's ClickHouse 18.16 server; between
them, both ends of the supported range are covered.

The SQL comes from the code itself (`cargo run -p audit-store --example clickhouse_queries`), so a
query changed in Rust is checked here without editing this file.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

chdb = pytest.importorskip("chdb", reason="chdb-core is not installed (scripts/test.sh installs it)")
from chdb import session  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sql():
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "audit-store", "--example", "clickhouse_queries"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def db(sql, tmp_path_factory):
    s = session.Session(str(tmp_path_factory.mktemp("chdb")))
    s.query("CREATE DATABASE IF NOT EXISTS pathwatch")
    s.query("USE pathwatch")
    for statement in sql["schema"]:
        s.query(statement)
    t0 = 1_795_132_800
    ns = t0 * 1_000_000_000
    s.query(
        "INSERT INTO spans (Timestamp, TimestampNs, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, "
        "ScopeName, DurationNs, StatusCode, StatusMessage, CorrelationId, AttributeKeys, AttributeValues, ResourceKeys, "
        "ResourceValues, EventTimesNs, EventNames, EventAttributes, LinkTraceIds, LinkSpanIds) VALUES "
        f"({t0}, {ns}, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', '', 'GET /Patient/{{id}}', 3, 'pds-canary', "
        f"'s', 5000000, 2, 'boom', 'corr-1', ['k'], ['v'], ['service.name'], ['pds-canary'], [{ns}], ['sent'], ['[]'], [], [])"
    )
    s.query(
        "INSERT INTO audit_events (Seq, EventId, Occurred, OccurredNs, Received, ReceivedNs, ActorUserId, ActorName, "
        "ActorRole, ActorOrg, PurposeOfUse, Action, NhsNumber, ResourceType, ResourceId, Outcome, CorrelationId, RequestId, "
        "SourceSystem, ClientAddress, Device, PrevHash, Hash) VALUES "
        f"(1, 'e1', {t0}, {ns + 5}, {t0}, {ns}, 'alice', 'Alice', 'R8000', 'A81001', 'direct-care', 'read', '9000000009', "
        "'Patient', '9000000009', 'success', 'c''1', 'r', 'ehr', '10.0.0.1', 'ws', '00', 'ab')"
    )
    # Read before any test runs the backfill query, which adds the same spans again.
    s.rollup_at_start = rows(
        s,
        "SELECT toUInt32(Minute) AS m, sum(Count) AS n, sum(Errors) AS e, sum(Le5) AS le5, sum(Le10) AS le10 "
        "FROM span_minutes WHERE ServiceName = 'pds-canary' GROUP BY Minute",
    )
    yield s
    s.close()


def test_every_query_runs_on_current_clickhouse(sql, db):
    failures = []
    for q in sql["queries"]:
        try:
            db.query(q["sql"], "JSONEachRow")
        except Exception as e:  # chdb raises its own error type per version
            failures.append(f"{q['name']}: {e}")
    assert not failures, "\n".join(failures)


def rows(db, query):
    text = str(db.query(query, "JSONEachRow"))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_name(sql, name):
    return next(q["sql"] for q in sql["queries"] if q["name"] == name)


def test_materialized_views_feed_the_lookup_tables(sql, db):
    assert int(rows(db, by_name(sql, "trace_range"))[0]["start_ns"]) == 1_795_132_800 * 10**9
    spans = rows(db, by_name(sql, "spans_by_correlation_id"))
    assert [s["SpanId"] for s in spans] == ["00f067aa0ba902b7"]
    events = rows(db, by_name(sql, "audit_events"))
    assert [e["EventId"] for e in events] == ["e1"]


def test_latency_buckets_agree_with_the_definition(sql, db):
    buckets = rows(db, by_name(sql, "latency_buckets"))
    assert len(buckets) == 1
    assert int(buckets[0]["n"]) == 1 and int(buckets[0]["errors"]) == 1
    assert [int(v) for v in buckets[0]["q"]] == [5_000_000] * 3


def test_the_server_is_current(db):
    version = rows(db, "SELECT version() AS v")[0]["v"]
    assert int(version.split(".")[0]) >= 24, version


def test_the_rollup_view_counts_each_span_in_its_minute(db):
    got = db.rollup_at_start
    assert [(int(r["m"]), int(r["n"]), int(r["e"]), int(r["le5"]), int(r["le10"])) for r in got] == [
        (1_795_132_800, 1, 1, 1, 1)
    ]
