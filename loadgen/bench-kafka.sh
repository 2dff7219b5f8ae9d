#!/usr/bin/env bash
# Measures the kafka exporter and receiver against a real broker (tansu, in memory):
#   1. OTLP/gRPC -> batch -> kafka exporter, the load generator flat out: spans/s, spans/s per
#      core of gateway CPU (from /proc/<pid>/stat), and bytes per span sent to the broker (the
#      kernel's bytes_sent of every connection to the broker's port, from `ss -tin`: produce
#      requests, compressed, with Kafka's framing), i.e. what the broker receives per span;
#   2. kafka receiver -> nop reading everything step 1 wrote, from the earliest offset:
#      spans/s and spans/s per core of gateway CPU.
# The broker and the load generator share the machine; the figures are the gateway's own CPU.
#
# Usage: loadgen/bench-kafka.sh [SECONDS]     (flat-out length, default 20)
# Env: ENCODING (otlp_proto), COMPRESSION (zstd), LEVEL (-1: the codec's default), PARTITIONS (4), CONNECTIONS (4),
#      BATCH_SPANS (1000), TANSU_BIN (else scripts/install-tansu), SKIP_BUILD=1, GATEWAY / LOADGEN
#      (other binaries, not built then).
set -euo pipefail

SECONDS_FLAT="${1:-20}"
[[ "$SECONDS_FLAT" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
ENCODING="${ENCODING:-otlp_proto}" COMPRESSION="${COMPRESSION:-zstd}" LEVEL="${LEVEL:--1}" PARTITIONS="${PARTITIONS:-4}"
CONNECTIONS="${CONNECTIONS:-4}" BATCH_SPANS="${BATCH_SPANS:-1000}"

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
cd "$ROOT"
bench_binaries
TANSU="${TANSU_BIN:-$(scripts/install-tansu)}"

WORK="$(mktemp -d)"
cleanup_at_exit
# Bytes sent so far on every open connection to the broker (only the gateway connects to it).
broker_bytes() {
  ss -tin state established "( dport = :$BROKER_PORT )" \
    | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_sent:/) { split($i, kv, ":"); s += kv[2] } } END { printf "%d\n", s }'
}
TICKS="$(getconf CLK_TCK)"

free_port BROKER_PORT
"$TANSU" broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
  --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
BROKER_PID=$!
track "$BROKER_PID"
wait_port "$BROKER_PORT" "$WORK/tansu.log" "$BROKER_PID"
"$TANSU" topic create bench --broker "tcp://127.0.0.1:$BROKER_PORT" --partitions "$PARTITIONS" >>"$WORK/tansu.log" 2>&1

free_port GRPC_PORT
free_port M1
free_port M2
cat >"$WORK/collector.yaml" <<EOF
receivers: { otlp: { protocols: { grpc: { endpoint: 127.0.0.1:$GRPC_PORT } } } }
processors: { batch: {} }
exporters:
  kafka:
    brokers: [127.0.0.1:$BROKER_PORT]
    topic: bench
    encoding: $ENCODING
    producer: { compression: $COMPRESSION, compression_params: { level: $LEVEL } }
service:
  telemetry: { metrics: { address: 127.0.0.1:$M1 }, logs: { level: warn } }
  pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [kafka] } }
EOF
cat >"$WORK/ingester.yaml" <<EOF
receivers:
  kafka: { brokers: [127.0.0.1:$BROKER_PORT], topic: bench, encoding: $ENCODING, group_id: bench, initial_offset: earliest }
exporters: { nop: {} }
service:
  telemetry: { metrics: { address: 127.0.0.1:$M2 }, logs: { level: warn } }
  pipelines: { traces: { receivers: [kafka], exporters: [nop] } }
EOF

echo "== OTLP -> kafka ($ENCODING, $COMPRESSION level $LEVEL, $PARTITIONS partitions), flat out ${SECONDS_FLAT}s, $CONNECTIONS connections, batches of $BATCH_SPANS"
start_gateway "$WORK/collector.log" "$GRPC_PORT" --config "$WORK/collector.yaml"
GW=$GW_PID
cpu0="$(cpu_ticks "$GW")" io0="$(broker_bytes)"
summary="$("$LOADGEN" --endpoint "127.0.0.1:$GRPC_PORT" --protocol grpc --connections "$CONNECTIONS" \
  --batch-spans "$BATCH_SPANS" --attributes 10 --json-summary --duration "${SECONDS_FLAT}s")"
accepted="$(json_field spans_sent "$summary")"
# Let the queue drain into the broker before reading the counters.
for _ in $(seq 600); do
  sent="$(metric_sum "$M1" tracegate_exporter_sent_spans)"
  (( sent >= ${accepted%.*} )) && break
  sleep 0.1
done
cpu1="$(cpu_ticks "$GW")" io1="$(broker_bytes)"
echo "loadgen: $summary"
awk -v spans="$sent" -v ticks=$((cpu1 - cpu0)) -v hz="$TICKS" -v bytes=$((io1 - io0)) -v secs="$SECONDS_FLAT" 'BEGIN {
  cpu = ticks / hz
  printf "spans delivered to the broker:     %d (%.0f/s)\n", spans, spans / secs
  printf "gateway CPU seconds:               %.2f\n", cpu
  if (cpu > 0)   printf "spans/s per core of gateway CPU:   %.0f\n", spans / cpu
  if (spans > 0) printf "bytes sent to the broker per span: %.1f\n", bytes / spans
}'
kill "$GW"; wait "$GW" 2>/dev/null || true

echo "== kafka -> nop, reading the $sent spans from the earliest offset"
start="$(date +%s.%N)"
start_gateway "$WORK/ingester.log" "$M2" --config "$WORK/ingester.yaml"
GW=$GW_PID
for _ in $(seq 3000); do
  got="$(metric_sum "$M2" tracegate_receiver_accepted_spans)"
  (( got >= sent )) && break
  sleep 0.1
done
end="$(date +%s.%N)"
cpu="$(cpu_ticks "$GW")"
awk -v spans="$got" -v ticks="$cpu" -v hz="$TICKS" -v t0="$start" -v t1="$end" 'BEGIN {
  cpu = ticks / hz; wall = t1 - t0
  printf "spans read:                        %d in %.1f s wall (%.0f/s, start-up and group join included)\n", spans, wall, spans / wall
  printf "gateway CPU seconds:               %.2f\n", cpu
  if (cpu > 0) printf "spans/s per core of gateway CPU:   %.0f\n", spans / cpu
}'
