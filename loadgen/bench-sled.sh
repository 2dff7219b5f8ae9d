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
# binaries, GATEWAY / LOADGEN to use other binaries (not built then), SLED_LEVEL (zstd level,
# default: the exporter's default).
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

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
cd "$ROOT"
bench_binaries
WORK="$(mktemp -d)"
GW_PID=""
cleanup_at_exit
free_port GRPC_PORT
free_port METRICS_PORT

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

# SIGTERM: the gateway drains its queues and the sled exporter flushes before exiting.
stop_gateway() { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }

TICKS="$(getconf CLK_TCK)"

flat_out() { # $1 = label; prints the figures, leaves the gateway running
  echo "== $1: flat out, ${SECONDS_FLAT}s, $CONNECTIONS connections, 10-attribute spans, batches of $BATCH_SPANS"
  start_gateway "$WORK/gateway.log" "$GRPC_PORT" --config "$WORK/bench.yaml"
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
