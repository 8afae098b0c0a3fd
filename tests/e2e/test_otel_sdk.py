"""A real OpenTelemetry SDK (Python's, with its OTLP/HTTP protobuf exporter) pointed at the
collector: its spans must be stored, correlate by correlation id, and lose their NHS numbers."""

import json
import subprocess

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import TOKEN


def export(collector, token, compression=Compression.Gzip):
    exporter = OTLPSpanExporter(
        endpoint=f"{collector['url']}/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        compression=compression,
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "python-sdk-e2e"}))
    results = []

    class Recording(SimpleSpanProcessor):
        def on_end(self, span):
            results.append(exporter.export([span]))

    provider.add_span_processor(Recording(exporter))
    tracer = provider.get_tracer("pathwatch-e2e")
    with tracer.start_as_current_span("book appointment") as parent:
        parent.set_attribute("http.request.header.x-correlation-id", ["corr-python-1"])
        with tracer.start_as_current_span("GET /Patient/9000000009") as child:
            child.set_attribute("url.full", "https://int.api.service.nhs.uk/personal-demographics/FHIR/R4/Patient/9000000009")
    provider.shutdown()
    return results


def pathwatch(collector, *args):
    return subprocess.run([collector["bin"], "--data-dir", str(collector["data"]), *args],
                          env=collector["env"], capture_output=True, text=True, timeout=60)


def test_python_sdk_export_is_stored_and_pseudonymised(collector):
    results = export(collector, TOKEN)
    assert results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]

    out = pathwatch(collector, "trace", "corr-python-1")
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout)
    assert len(spans) == 2
    assert {s["service_name"] for s in spans} == {"python-sdk-e2e"}
    assert len({s["trace_id"] for s in spans}) == 1
    child = next(s for s in spans if s["parent_span_id"])
    assert "9000000009" not in json.dumps(child)
    assert child["name"].startswith("GET /Patient/nhsp_")
    url = dict(child["attributes"])["url.full"]
    assert url.endswith(child["name"].removeprefix("GET /Patient/"))

    by_trace = pathwatch(collector, "trace", spans[0]["trace_id"])
    assert by_trace.returncode == 0 and len(json.loads(by_trace.stdout)) == 2


def test_python_sdk_with_a_wrong_token_is_refused(collector):
    results = export(collector, "not-the-token-at-all", compression=Compression.NoCompression)
    assert results == [SpanExportResult.FAILURE, SpanExportResult.FAILURE]
    assert pathwatch(collector, "trace", "corr-python-1").returncode == 1
