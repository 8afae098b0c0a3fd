#!/usr/bin/env bash
# Starts a ClickHouse cluster on loopback for tests: Debian's ZooKeeper and two clickhouse-server
# processes, two replicas of one shard (cluster `pathwatch`), each in a directory of its own.
# Prints the two nodes' HTTP URLs on one line. Usage:
#   scripts/clickhouse-cluster.sh DIR ZK_PORT HTTP1 TCP1 INTERSERVER1 HTTP2 TCP2 INTERSERVER2
# Stop it with: scripts/clickhouse-cluster.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = stop ]; then
    dir=$(realpath -m "$2")
    for node in node1 node2; do
        [ -f "$dir/$node/clickhouse.pid" ] && kill "$(cat "$dir/$node/clickhouse.pid")" 2>/dev/null || true
    done
    [ -f "$dir/zookeeper.pid" ] && kill "$(cat "$dir/zookeeper.pid")" 2>/dev/null || true
    exit 0
fi
dir=$(realpath -m "${1:?directory}")
zk_port=$2
http=("$3" "$6") tcp=("$4" "$7") interserver=("$5" "$8")
mkdir -p "$dir/zookeeper/data"
cat > "$dir/zookeeper/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/zookeeper/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
zk=/usr/share/zookeeper/bin/zkServer.sh
[ -x "$zk" ] || { echo "ZooKeeper not found (apt-get install zookeeper)" >&2; exit 1; }
# A small heap is plenty for two nodes' coordination.
SERVER_JVMFLAGS="-Xmx256m" ZOO_LOG_DIR="$dir/zookeeper" ZOOPIDFILE="$dir/zookeeper.pid" "$zk" start "$dir/zookeeper/zoo.cfg" >"$dir/zookeeper/start.log" 2>&1
zk_ready=""
for _ in $(seq 1 150); do
    # `timeout`: a ZooKeeper that accepts the connection while still starting may never answer or
    # close it, and a read without a limit would hang the test run.
    if [ "$(echo ruok | timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$zk_port"'; cat >&3; cat <&3' 2>/dev/null)" = imok ]; then
        zk_ready=1
        break
    fi
    sleep 0.2
done
if [ -z "$zk_ready" ]; then
    cat "$dir/zookeeper/start.log" "$dir"/zookeeper/*.out 2>/dev/null >&2 || true
    echo "ZooKeeper did not answer on 127.0.0.1:$zk_port within 30 s" >&2
    exit 1
fi
remote="<remote_servers><pathwatch><shard><internal_replication>true</internal_replication>"
for i in 0 1; do
    remote+="<replica><host>127.0.0.1</host><port>${tcp[$i]}</port></replica>"
done
remote+="</shard></pathwatch></remote_servers>"
urls=()
for i in 0 1; do
    node="node$((i + 1))"
    extra="$remote
    <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node></zookeeper>
    <macros><cluster>pathwatch</cluster><shard>1</shard><replica>$node</replica></macros>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    <interserver_http_port>${interserver[$i]}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>"
    urls+=("$(CLICKHOUSE_EXTRA_CONFIG="$extra" "$here/clickhouse-server.sh" "$dir/$node" "${http[$i]}" "${tcp[$i]}")")
done
echo "${urls[*]}"
