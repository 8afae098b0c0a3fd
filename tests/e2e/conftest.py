"""Shared fixtures: a running `pathwatch collector` built by scripts/test.sh (PATHWATCH_BIN)."""

import os
import socket
import subprocess
import time

import pytest

TOKEN = "python-e2e-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pathwatch_bin():
    binary = os.environ.get("PATHWATCH_BIN")
    if not binary:
        if os.environ.get("PATHWATCH_REQUIRE_SERVICES") == "1":
            pytest.fail("PATHWATCH_REQUIRE_SERVICES=1 but PATHWATCH_BIN (the built pathwatch binary) is not set")
        pytest.skip("SKIPPED: set PATHWATCH_BIN to a built pathwatch binary (scripts/test.sh does)")
    return binary


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHWATCH_")}
    env["PATHWATCH_LOG"] = "warn"
    env.update(extra)
    return env


@pytest.fixture
def collector(tmp_path):
    binary = pathwatch_bin()
    port, grpc_port = free_port(), free_port()
    data = tmp_path / "data"
    env = clean_env(PATHWATCH_INGEST_TOKEN=TOKEN, PATHWATCH_COLLECTOR__LISTEN=f"127.0.0.1:{port}",
                    PATHWATCH_COLLECTOR__GRPC_LISTEN=f"127.0.0.1:{grpc_port}")
    data.mkdir(parents=True)
    log = open(data / "collector.log", "ab")
    proc = subprocess.Popen([binary, "--data-dir", str(data), "collector"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 30
    for listening in (port, grpc_port):
        while True:
            try:
                socket.create_connection(("127.0.0.1", listening), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    proc.kill()
                    pytest.fail("pathwatch collector did not start")
                time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "grpc": f"127.0.0.1:{grpc_port}", "data": data, "bin": binary,
           "env": clean_env()}
    proc.kill()
    proc.wait()
    log.close()
