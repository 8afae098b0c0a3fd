#!/usr/bin/env bash
# Runs every Pathwatch test on a fresh machine: installs what the tests need (Debian packages,
# Python packages into .venv), starts on loopback a ClickHouse server, a two-node ClickHouse cluster
# with ZooKeeper, PostgreSQL, NHS England's mesh-sandbox and an SMTP server, then runs the Rust, Python
# and browser suites (and all of them again with the clock moved). External servers are REQUIRED here (PATHWATCH_REQUIRE_SERVICES=1): a missing one
# fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATHWATCH_REQUIRE_SERVICES="${PATHWATCH_REQUIRE_SERVICES:-1}"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
missing=()
[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
command -v curl >/dev/null || missing+=(curl)
# The state stores' conformance suite runs on PostgreSQL too.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# ... and the telemetry store's on a ClickHouse cluster, which ZooKeeper coordinates.
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || missing+=(zookeeper)
command -v promtool >/dev/null || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The reports' PDF test reads the rendered file back with poppler's pdfinfo and pdftotext.
command -v pdftotext >/dev/null || missing+=(poppler-utils)
# The Rust tests run a second time with the clock moved (libfaketime): no test may depend on today's date.
command -v faketime >/dev/null || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "clickhouse-server: $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null || echo '?')"
echo "promtool: $(promtool --version 2>&1 | head -1)"

step "node packages (tests/browser: playwright-core, axe-core)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "python packages (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt

step "ClickHouse on loopback"
work=$(mktemp -d)
mesh_pid=""
mesh_tls_pid=""
smtp_pid=""
cleanup() {
    if [ -f "$work/clickhouse/clickhouse.pid" ]; then kill "$(cat "$work/clickhouse/clickhouse.pid")" 2>/dev/null || true; fi
    scripts/postgres-server.sh stop "$work/postgres" || true
    scripts/clickhouse-cluster.sh stop "$work/cluster" || true
    for pid in $mesh_pid $mesh_tls_pid $smtp_pid; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
ports=$(.venv/bin/python - <<'PY'
import socket
socks = [socket.socket() for _ in range(13)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
read -r http_port tcp_port mesh_port mesh_tls_port smtp_port pg_port zk_port \
    node1_http node1_tcp node1_interserver node2_http node2_tcp node2_interserver <<<"$ports"
PATHWATCH_TEST_CLICKHOUSE_URL=$(scripts/clickhouse-server.sh "$work/clickhouse" "$http_port" "$tcp_port")
export PATHWATCH_TEST_CLICKHOUSE_URL
echo "ClickHouse $(curl -fsS "$PATHWATCH_TEST_CLICKHOUSE_URL/?query=SELECT%20version()") at $PATHWATCH_TEST_CLICKHOUSE_URL"

step "A ClickHouse cluster on loopback (ZooKeeper, two replicas of one shard)"
PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS=$(scripts/clickhouse-cluster.sh "$work/cluster" "$zk_port" \
    "$node1_http" "$node1_tcp" "$node1_interserver" "$node2_http" "$node2_tcp" "$node2_interserver")
export PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS
echo "ClickHouse cluster \`pathwatch\` at $PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS (ZooKeeper on 127.0.0.1:$zk_port)"

step "PostgreSQL on loopback"
# PostgreSQL runs as Debian's postgres user when this script runs as root: it must reach its directory.
chmod 755 "$work"
PATHWATCH_TEST_POSTGRES_URL=$(scripts/postgres-server.sh "$work/postgres" "$pg_port")
export PATHWATCH_TEST_POSTGRES_URL
echo "PostgreSQL at $PATHWATCH_TEST_POSTGRES_URL"

step "NHS England's mesh-sandbox on loopback (full HMAC authentication; plain and mutual TLS)"
# start_mesh NAME PORT [uvicorn TLS options...]: one mesh-sandbox with its own mailbox directory.
start_mesh() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$work/$name"
    (cd "$work/$name" && AUTH_MODE=full SHARED_KEY=TestKey STORE_MODE=file MAILBOXES_DATA_DIR="$work/$name" \
        exec "$root/.venv/bin/uvicorn" mesh_sandbox.api:app --host 127.0.0.1 --port "$port" "$@" \
        >"$work/$name/sandbox.log" 2>&1 </dev/null) &
    last_pid=$!
}
# ready URL PID NAME [curl options...]
ready() {
    local url=$1 pid=$2 name=$3
    shift 3
    for _ in $(seq 1 100); do
        curl -fsS "$@" "$url/health" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    cat "$work/$name/sandbox.log"
    echo "mesh-sandbox ($name) did not start" >&2
    exit 1
}
start_mesh mesh "$mesh_port"
mesh_pid=$last_pid
export PATHWATCH_TEST_MESH_SANDBOX_URL="http://127.0.0.1:$mesh_port"
ready "$PATHWATCH_TEST_MESH_SANDBOX_URL" "$mesh_pid" mesh
# Live MESH requires a client certificate: the same sandbox behind TLS that demands one.
export PATHWATCH_TEST_MESH_TLS_DIR="$work/mesh-certs"
.venv/bin/python scripts/mesh-tls-certs.py "$PATHWATCH_TEST_MESH_TLS_DIR"
start_mesh mesh-tls "$mesh_tls_port" --ssl-keyfile "$PATHWATCH_TEST_MESH_TLS_DIR/server.key" \
    --ssl-certfile "$PATHWATCH_TEST_MESH_TLS_DIR/server.pem" --ssl-ca-certs "$PATHWATCH_TEST_MESH_TLS_DIR/ca.pem" \
    --ssl-cert-reqs 2
mesh_tls_pid=$last_pid
export PATHWATCH_TEST_MESH_TLS_URL="https://127.0.0.1:$mesh_tls_port"
ready "$PATHWATCH_TEST_MESH_TLS_URL" "$mesh_tls_pid" mesh-tls --cacert "$PATHWATCH_TEST_MESH_TLS_DIR/ca.pem" \
    --cert "$PATHWATCH_TEST_MESH_TLS_DIR/client.pem" --key "$PATHWATCH_TEST_MESH_TLS_DIR/client.key"
echo "mesh-sandbox $(.venv/bin/pip show mesh-sandbox 2>/dev/null | sed -n 's/^Version: //p') at $PATHWATCH_TEST_MESH_SANDBOX_URL and (mutual TLS) $PATHWATCH_TEST_MESH_TLS_URL"

step "SMTP server on loopback (aiosmtpd, messages into a maildir)"
# The maildir must not exist yet: aiosmtpd creates it with its new/ cur/ tmp/ folders.
export PATHWATCH_TEST_SMTP_ADDR="127.0.0.1:$smtp_port" PATHWATCH_TEST_SMTP_MAILDIR="$work/maildir"
.venv/bin/python -m aiosmtpd -n -l "$PATHWATCH_TEST_SMTP_ADDR" -c aiosmtpd.handlers.Mailbox "$PATHWATCH_TEST_SMTP_MAILDIR" \
    >"$work/smtp.log" 2>&1 </dev/null &
smtp_pid=$!
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && break
    kill -0 "$smtp_pid" 2>/dev/null || { cat "$work/smtp.log"; echo "aiosmtpd exited" >&2; exit 1; }
    sleep 0.2
done
echo "aiosmtpd at $PATHWATCH_TEST_SMTP_ADDR"

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests"
# --no-fail-fast: one failing test binary must not hide the others.
cargo test --workspace --quiet --no-fail-fast

step "Python tests"
target_dir=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Given to the Python and browser suites only: the binary's own tests read PATHWATCH_* as configuration.
bin="$target_dir/debug/pathwatch"
PATHWATCH_BIN="$bin" .venv/bin/python -m pytest -q -p no:cacheprovider tests

step "Browser tests (headless Chromium, axe-core; screenshots in tests/browser/artifacts)"
(cd tests/browser && PATHWATCH_BIN="$bin" node --test --test-concurrency=1)

step "Every suite again with the clock moved ${PATHWATCH_TEST_CLOCK_SHIFT:=+400d} (faketime): none may depend on today's date"
# PATHWATCH_TEST_CLOCK_SHIFT takes any faketime -f offset (-30d) or start time ("@2026-08-20 12:00:00").
# The servers started above keep the real clock; tests that start their own ClickHouse start it
# without libfaketime (its allocator cannot start under it).
# Rust: only the wall clock moves. The standard library waits on futexes with absolute monotonic
# deadlines that libfaketime cannot see, so a moved monotonic clock turns a 100 ms wait into a year.
# Doc tests are left out: rustdoc hangs under faketime.
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$PATHWATCH_TEST_CLOCK_SHIFT" \
    cargo test --workspace --lib --bins --tests --quiet --no-fail-fast
# Python's and Node's sleeps need the monotonic clock moved with the wall clock (with it real,
# Python's time.sleep fails with EINVAL).
PATHWATCH_BIN="$bin" faketime -f "$PATHWATCH_TEST_CLOCK_SHIFT" .venv/bin/python -m pytest -q -p no:cacheprovider tests
(cd tests/browser && PATHWATCH_BIN="$bin" faketime -f "$PATHWATCH_TEST_CLOCK_SHIFT" node --test --test-concurrency=1)
