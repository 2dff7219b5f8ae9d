#!/usr/bin/env bash
# Measures what OTLP/gRPC ingest costs tracegate: a gateway (otlp grpc -> batch -> nop) on free
# local ports, the load generator flat out against it, and the gateway's own CPU time from
# /proc/<pid>/stat, so the numbers describe the gateway, not the generator sharing the box.
#
# Usage: loadgen/bench-otlp.sh [SECONDS] [--rss]
#   SECONDS  flat-out run length (default 20)
#   --rss    also run --rate 10000 for 20 s and print the gateway's VmRSS
# Env: CONNECTIONS (default 4), BATCH_SPANS (default 1000), SKIP_BUILD=1 to use existing binaries.
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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release -p tracegate -p tracegate-loadgen
fi
GATEWAY="$ROOT/target/release/tracegate" LOADGEN="$ROOT/target/release/tracegate-loadgen"

WORK="$(mktemp -d)"
GW_PID=""
cleanup() {
  if [[ -n "$GW_PID" ]] && kill -0 "$GW_PID" 2>/dev/null; then
    kill "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! port_in_use "$p"; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; exit 1
}
GRPC_PORT="$(free_port)"
METRICS_PORT="$GRPC_PORT"
while [[ "$METRICS_PORT" == "$GRPC_PORT" ]]; do METRICS_PORT="$(free_port)"; done

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

start_gateway() {
  "$GATEWAY" --config "$WORK/bench.yaml" >"$WORK/gateway.log" 2>&1 &
  GW_PID=$!
  for _ in $(seq 100); do
    if port_in_use "$GRPC_PORT"; then return; fi
    if ! kill -0 "$GW_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "gateway did not start listening on 127.0.0.1:$GRPC_PORT; its log:" >&2
  cat "$WORK/gateway.log" >&2
  exit 1
}
stop_gateway() { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }

# utime + stime in clock ticks; fields counted after the ')' that closes the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
json_field() { sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\\1/" <<<"$2"; }
TICKS="$(getconf CLK_TCK)"

loadgen() {
  "$LOADGEN" --endpoint "127.0.0.1:$GRPC_PORT" --protocol grpc --connections "$CONNECTIONS" \
    --batch-spans "$BATCH_SPANS" --attributes 10 --json-summary "$@"
}

echo "== flat out, ${SECONDS_FLAT}s, $CONNECTIONS connections, 10-attribute spans, batches of $BATCH_SPANS"
start_gateway
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
  start_gateway
  summary="$(loadgen --rate 10000 --duration 20s)"
  echo "loadgen: $summary"
  echo "gateway VmRSS after 20s: $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$GW_PID/status")"
  stop_gateway
fi
