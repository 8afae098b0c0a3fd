#!/usr/bin/env bash
# Starts Debian's clickhouse-server on loopback for tests, in a directory of its own, and waits until
# it answers. Prints the HTTP URL. Usage: scripts/clickhouse-server.sh DIR HTTP_PORT TCP_PORT
# Stop it with: kill "$(cat DIR/clickhouse.pid)"
# With CLICKHOUSE_FOREGROUND=1 it writes the configuration and then becomes the server process
# (no daemon, no pid file), so a test can kill it as its own child.
# CLICKHOUSE_EXTRA_CONFIG: XML elements added to <yandex> (scripts/clickhouse-cluster.sh sets the
# cluster, ZooKeeper and the node's macros through it).
set -euo pipefail
dir=$(realpath -m "${1:?data directory}")
http_port=${2:-18123}
tcp_port=${3:-19000}
mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
${CLICKHOUSE_EXTRA_CONFIG:-}
</yandex>
XML
cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
if [ "${CLICKHOUSE_FOREGROUND:-}" = 1 ]; then
    exec "$server" --config-file="$dir/config.xml"
fi
"$server" --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" --daemon
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
        echo "http://127.0.0.1:$http_port"
        exit 0
    fi
    sleep 0.2
done
echo "clickhouse-server did not answer on port $http_port; log follows" >&2
tail -n 40 "$dir/log/server.err.log" >&2 || true
exit 1
