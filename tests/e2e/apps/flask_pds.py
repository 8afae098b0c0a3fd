"""A small real web app for the OTLP/gRPC test: run under `opentelemetry-instrument`, its HTTP server
spans go to the collector through the Python SDK's gRPC exporter. It answers with the id of the
trace its request was served in, so the test can look that trace up."""

import os

from flask import Flask, jsonify
from opentelemetry import trace

app = Flask(__name__)


@app.get("/FHIR/R4/Patient/<nhs_number>")
def patient(nhs_number):
    context = trace.get_current_span().get_span_context()
    return jsonify({"resourceType": "Patient", "id": nhs_number, "trace_id": format(context.trace_id, "032x")})


@app.get("/ready")
def ready():
    return "ok"


@app.post("/flush")
def flush():
    # Hands the spans ended so far to the exporter now, rather than at the batch processor's next
    # timed wake-up (which libfaketime, in the suite's moved-clock run, can put off indefinitely).
    return {"flushed": trace.get_tracer_provider().force_flush(10_000)}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["APP_PORT"]), threaded=True)
