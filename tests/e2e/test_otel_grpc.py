"""OTLP/gRPC with real clients: OpenTelemetry Python's gRPC span and log exporters, `grpcio` calls
made by hand for the status codes, and a Flask app run under `opentelemetry-instrument` whose HTTP
server spans arrive over gRPC."""

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HTTPLogExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from conftest import TOKEN, free_port

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def pathwatch(collector, *args):
    return subprocess.run([collector["bin"], "--data-dir", str(collector["data"]), *args],
                          env=collector["env"], capture_output=True, text=True, timeout=60)


def audit_events(collector, *args):
    out = pathwatch(collector, "audit", "search", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def raw_call(collector, path, payload, metadata=AUTH):
    """One unary call with bytes as they are; returns (code, details, trailing metadata, reply bytes)."""
    with grpc.insecure_channel(collector["grpc"]) as channel:
        method = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            reply, call = method.with_call(payload, metadata=metadata, timeout=20)
            return call.code(), call.details(), dict(call.trailing_metadata() or ()), reply
        except grpc.RpcError as error:
            return error.code(), error.details(), dict(error.trailing_metadata() or ()), None


def test_the_sdk_grpc_span_exporter_is_stored_and_pseudonymised(collector):
    exporter = OTLPSpanExporter(endpoint=collector["grpc"], insecure=True, headers=AUTH,
                                compression=grpc.Compression.Gzip, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "python-grpc-e2e"}))
    results = []

    class Recording(SimpleSpanProcessor):
        def on_end(self, span):
            results.append(exporter.export([span]))

    provider.add_span_processor(Recording(exporter))
    tracer = provider.get_tracer("pathwatch-e2e")
    with tracer.start_as_current_span("book appointment") as parent:
        parent.set_attribute("http.request.header.x-correlation-id", ["corr-grpc-1"])
        with tracer.start_as_current_span("GET /Patient/9000000009"):
            pass
    provider.shutdown()
    assert results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]

    out = pathwatch(collector, "trace", "corr-grpc-1")
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout)
    assert {s["service_name"] for s in spans} == {"python-grpc-e2e"} and len(spans) == 2
    assert "9000000009" not in out.stdout
    assert any(s["name"].startswith("GET /Patient/nhsp_") for s in spans)


def test_the_sdk_grpc_exporter_with_a_wrong_token_fails_without_retrying(collector):
    exporter = OTLPSpanExporter(endpoint=collector["grpc"], insecure=True,
                                headers=(("authorization", "Bearer not-the-token"),), timeout=10)
    provider = TracerProvider()
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span("x") as span:
        pass
    started = time.monotonic()
    assert exporter.export([span]) == SpanExportResult.FAILURE
    assert time.monotonic() - started < 5, "UNAUTHENTICATED is not retryable"
    code, details, _, _ = raw_call(collector, TRACES, b"", metadata=(("authorization", "Bearer nope"),))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "not a known ingest token" in details


def test_status_codes_for_bad_data_oversized_messages_and_other_signals(collector):
    code, details, trailers, _ = raw_call(collector, TRACES, b"\xff\xff\xff")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "protobuf" in details

    code, details, trailers, _ = raw_call(collector, TRACES, b"\x00" * (17 * 1024 * 1024))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert "google.rpc.retryinfo-bin" not in trailers, "too large: not to be retried"

    code, details, _, _ = raw_call(collector, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED and "not metrics" in details

    code, _, _, reply = raw_call(collector, TRACES, trace_service_pb2.ExportTraceServiceRequest().SerializeToString())
    assert code == grpc.StatusCode.OK
    assert not trace_service_pb2.ExportTraceServiceResponse.FromString(reply).HasField("partial_success")


def audit_logger(exporter):
    provider = LoggerProvider(resource=Resource.create({"service.name": "ehr-web"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"audit-{id(exporter)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    return logger, provider


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_audit_logs_from_the_sdk_log_exporters_become_audit_events(collector, transport):
    if transport == "grpc":
        exporter = OTLPLogExporter(endpoint=collector["grpc"], insecure=True, headers=AUTH, timeout=10)
    else:
        exporter = HTTPLogExporter(endpoint=f"{collector['url']}/v1/logs",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    logger, provider = audit_logger(exporter)
    logger.info("patient record viewed", extra={
        "log.record.uid": f"evt-{transport}-1", "enduser.id": "555021935107", "user.roles": ["R8000"],
        "nhs.ods_code": "A81001", "nhs.number": "9000000009", "pathwatch.audit.action": "read",
        "pathwatch.audit.outcome": "success", "pathwatch.audit.resource_type": "Patient",
    })
    # No audit attributes: refused (a partial success the exporter does not retry), the rest kept.
    logger.info("cache warmed")
    provider.shutdown()

    events = audit_events(collector, "--user", "555021935107")
    assert [e["event"]["event_id"] for e in events] == [f"evt-{transport}-1"]
    event = events[0]["event"]
    assert event["nhs_number"] == "9000000009" and event["actor"]["role"] == "R8000"
    assert event["source_system"] == "default/ehr-web"


def test_a_log_record_without_audit_attributes_is_a_partial_success_naming_them(collector):
    record = logs_pb2.LogRecord(time_unix_nano=time.time_ns(), body=common_pb2.AnyValue(string_value="hello"))
    request = logs_service_pb2.ExportLogsServiceRequest(resource_logs=[
        logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])])
    code, _, _, reply = raw_call(collector, LOGS, request.SerializeToString())
    assert code == grpc.StatusCode.OK
    partial = logs_service_pb2.ExportLogsServiceResponse.FromString(reply).partial_success
    assert partial.rejected_log_records == 1
    assert "lacks log.record.uid, user.id (or enduser.id)" in partial.error_message


def test_an_instrumented_flask_app_sends_its_server_spans_over_grpc(collector, tmp_path):
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, APP_PORT=str(port), OTEL_SERVICE_NAME="flask-pds", OTEL_TRACES_EXPORTER="otlp",
               OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none", OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{collector['grpc']}", OTEL_EXPORTER_OTLP_INSECURE="true",
               OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{TOKEN}", OTEL_BSP_SCHEDULE_DELAY="100")
    app = Path(__file__).parent / "apps" / "flask_pds.py"
    log = open(tmp_path / "app.log", "wb")
    proc = subprocess.Popen([str(bin_dir / "opentelemetry-instrument"), sys.executable, str(app)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1).read()
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, (tmp_path / "app.log").read_text()
                time.sleep(0.1)
        body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/FHIR/R4/Patient/9000000009").read())
        trace_id = body["trace_id"]
        deadline = time.time() + 30
        while True:
            flushed = urllib.request.Request(f"http://127.0.0.1:{port}/flush", data=b"", method="POST")
            urllib.request.urlopen(flushed, timeout=15).read()
            out = pathwatch(collector, "trace", trace_id)
            if out.returncode == 0:
                break
            assert time.time() < deadline, f"the app's span never arrived: {out.stderr}\n{(tmp_path / 'app.log').read_text()}"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    spans = json.loads(out.stdout)
    server = next(s for s in spans if s["kind"].lower() == "server")
    assert server["service_name"] == "flask-pds"
    attributes = dict(server["attributes"])
    assert attributes.get("http.route") == "/FHIR/R4/Patient/<nhs_number>"
    assert "9000000009" not in out.stdout, "the NHS number in the URL is pseudonymised"
