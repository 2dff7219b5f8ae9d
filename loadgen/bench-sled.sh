#!/usr/bin/env bash
# Measures what storing spans costs tracegate end to end: a gateway (otlp grpc -> batch ->
# sled, every index on) on free local ports, the load generator flat out against it, the
# gateway's own CPU time from /proc/<pid>/stat, its RSS, and the database's disk bytes per
# span. The same run with the `nop` exporter first gives the ceiling the receiver and batch
# processor leave on this machine in this window, so the sled figure can be read against it.
#
# Usage: loadgen/bench-sled.sh [SECONDS] [--no-nop]
#   SECONDS  flat-out run length per pipeline (default 20)
#   --no-nop skip the nop run
# Env: CONNECTIONS (default 4), BATCH_SPANS (default 1000), SKIP_BUILD=1 to use existing
# binaries, GATEWAY / LOADGEN to use other binaries, SLED_LEVEL (zstd level, default: the
# exporter's default).
set -euo pipefail

SECONDS_FLAT=20
NOP=1
for arg in "$@"; do
  case "$arg" in
    --no-nop) NOP=0 ;;
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [--no-nop]" >&2; exit 2 ;;
    *) SECONDS_FLAT="$arg" ;;
  esac
done
CONNECTIONS="${CONNECTIONS:-4}" BATCH_SPANS="${BATCH_SPANS:-1000}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release -p tracegate -p tracegate-loadgen
fi
GATEWAY="${GATEWAY:-$ROOT/target/release/tracegate}" LOADGEN="${LOADGEN:-$ROOT/target/release/tracegate-loadgen}"

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

write_config() { # $1 = exporter block (YAML flow map), $2 = exporter id
  cat >"$WORK/bench.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$GRPC_PORT }
processors:
  batch: {}
exporters:
  $2: $1
service:
  telemetry:
    metrics: { address: 127.0.0.1:$METRICS_PORT }
    logs: { level: warn }
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [$2] }
EOF
}

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
# SIGTERM: the gateway drains its queues and the sled exporter flushes before exiting.
stop_gateway() { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }

# utime + stime in clock ticks; fields counted after the ')' that closes the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
json_field() { sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\\1/" <<<"$2"; }
TICKS="$(getconf CLK_TCK)"

flat_out() { # $1 = label; prints the figures, leaves the gateway running
  echo "== $1: flat out, ${SECONDS_FLAT}s, $CONNECTIONS connections, 10-attribute spans, batches of $BATCH_SPANS"
  start_gateway
  local before after summary spans rate
  before="$(cpu_ticks "$GW_PID")"
  summary="$("$LOADGEN" --endpoint "127.0.0.1:$GRPC_PORT" --protocol grpc --connections "$CONNECTIONS" \
    --batch-spans "$BATCH_SPANS" --attributes 10 --json-summary --duration "${SECONDS_FLAT}s")"
  # The exporter queue may still hold batches: count the CPU spent storing them too.
  sleep 2
  after="$(cpu_ticks "$GW_PID")"
  spans="$(json_field spans_sent "$summary")"
  rate="$(json_field spans_per_sec "$summary")"
  SPANS="$spans"
  echo "loadgen: $summary"
  awk -v spans="$spans" -v rate="$rate" -v ticks=$((after - before)) -v hz="$TICKS" 'BEGIN {
    cpu = ticks / hz
    printf "spans/s:                           %.0f\n", rate
    printf "gateway CPU seconds:               %.2f\n", cpu
    if (spans > 0) printf "gateway CPU s per million spans:   %.3f\n", cpu / (spans / 1e6)
    if (cpu > 0)   printf "spans/s per core of gateway CPU:   %.0f\n", spans / cpu
  }'
  echo "gateway VmRSS / VmHWM: $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$GW_PID/status") / $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$GW_PID/status")"
}

if [[ "$NOP" == 1 ]]; then
  write_config "{}" nop
  flat_out "otlp -> batch -> nop (ceiling)"
  stop_gateway
fi

LEVEL_LINE=""
if [[ -n "${SLED_LEVEL:-}" ]]; then LEVEL_LINE=", compression_level: $SLED_LEVEL"; fi
write_config "{ path: $WORK/db$LEVEL_LINE }" sled
flat_out "otlp -> batch -> sled"
stop_gateway
bytes="$(du -sb --apparent-size "$WORK/db" | cut -f1)"
blocks="$(du -sB1 "$WORK/db" | cut -f1)"
awk -v spans="$SPANS" -v bytes="$bytes" -v blocks="$blocks" 'BEGIN {
  if (spans > 0) printf "disk after shutdown:               %.1f bytes/span (allocated %.1f)\n", bytes / spans, blocks / spans
}'
