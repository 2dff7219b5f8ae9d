#!/usr/bin/env bash
# Measures what OTLP/gRPC ingest costs tracegate: a gateway (otlp grpc -> batch -> nop) on free
# local ports, the load generator flat out against it, and the gateway's own CPU time from
# /proc/<pid>/stat, so the numbers describe the gateway, not the generator sharing the box.
#
# Usage: loadgen/bench-otlp.sh [SECONDS] [--rss]
#   SECONDS  flat-out run length (default 20)
#   --rss    also run --rate 10000 for 20 s and print the gateway's VmRSS
# Env: CONNECTIONS (default 4), BATCH_SPANS (default 1000), SKIP_BUILD=1 to use existing binaries,
# GATEWAY / LOADGEN to use other binaries.
set -euo pipefail

SECONDS_FLAT=20
RSS=0
for arg in "$@"; do
  case "$arg" in
    --rss) RSS=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [--rss]" >&2; exit 2 ;;
    *) SECONDS_FLAT="$arg" ;;
  esac
done
CONNECTIONS="${CONNECTIONS:-4}" BATCH_SPANS="${BATCH_SPANS:-1000}"

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
cd "$ROOT"
bench_binaries
WORK="$(mktemp -d)"
GW_PID=""
cleanup_at_exit
free_port GRPC_PORT
free_port METRICS_PORT

cat >"$WORK/bench.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$GRPC_PORT }
processors:
  batch: {}
exporters:
  nop: {}
service:
  telemetry:
    metrics: { address: 127.0.0.1:$METRICS_PORT }
    logs: { level: warn }
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [nop] }
EOF

stop_gateway() { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }

TICKS="$(getconf CLK_TCK)"

loadgen() {
  "$LOADGEN" --endpoint "127.0.0.1:$GRPC_PORT" --protocol grpc --connections "$CONNECTIONS" \
    --batch-spans "$BATCH_SPANS" --attributes 10 --json-summary "$@"
}

echo "== flat out, ${SECONDS_FLAT}s, $CONNECTIONS connections, 10-attribute spans, batches of $BATCH_SPANS"
start_gateway "$WORK/gateway.log" "$GRPC_PORT" --config "$WORK/bench.yaml"
before="$(cpu_ticks "$GW_PID")"
summary="$(loadgen --duration "${SECONDS_FLAT}s")"
after="$(cpu_ticks "$GW_PID")"
spans="$(json_field spans_sent "$summary")"
rate="$(json_field spans_per_sec "$summary")"
echo "loadgen: $summary"
awk -v spans="$spans" -v rate="$rate" -v ticks=$((after - before)) -v hz="$TICKS" 'BEGIN {
  cpu = ticks / hz
  printf "spans/s:                           %.0f\n", rate
  printf "gateway CPU seconds:               %.2f\n", cpu
  if (spans > 0) printf "gateway CPU s per million spans:   %.3f\n", cpu / (spans / 1e6)
  if (cpu > 0)   printf "spans/s per core of gateway CPU:   %.0f\n", spans / cpu
}'
stop_gateway

if [[ "$RSS" == 1 ]]; then
  echo "== --rate 10000 for 20s"
  start_gateway "$WORK/gateway.log" "$GRPC_PORT" --config "$WORK/bench.yaml"
  summary="$(loadgen --rate 10000 --duration 20s)"
  echo "loadgen: $summary"
  echo "gateway VmRSS after 20s: $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$GW_PID/status")"
  stop_gateway
fi
