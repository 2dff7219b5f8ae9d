#!/usr/bin/env bash
# Issue 3's benchmark: Jaeger UDP compact at a fixed rate into tracegate as a Jaeger agent
# (jaeger thrift_compact, 4 MiB socket buffer -> batch -> nop) on free local ports. UDP has no
# acknowledgement, so delivery comes from the gateway's own counters (--metrics-url): spans
# sent vs accepted, and packets dropped by reason. Gateway CPU comes from /proc/<pid>/stat.
#
# Usage: loadgen/bench-jaeger-udp.sh [SECONDS] [RATE]   (defaults: 60 s at 100000 spans/s)
# Env: SKIP_BUILD=1 to use existing binaries, GATEWAY / LOADGEN to use other binaries (not built
# then); SPAN_SIZE to pad spans (bytes).
set -euo pipefail

SECS="${1:-60}" RATE="${2:-100000}"
case "$SECS$RATE" in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [RATE]" >&2; exit 2 ;; esac

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
cd "$ROOT"
bench_binaries
WORK="$(mktemp -d)"
cleanup_at_exit
free_port UDP_PORT
free_port METRICS_PORT

cat >"$WORK/bench.yaml" <<EOF
receivers:
  jaeger:
    protocols:
      thrift_compact: { endpoint: 127.0.0.1:$UDP_PORT, socket_buffer_size: 4194304 }
processors:
  batch: {}
exporters:
  nop: {}
service:
  telemetry:
    metrics: { address: 127.0.0.1:$METRICS_PORT }
    logs: { level: warn }
  pipelines:
    traces: { receivers: [jaeger], processors: [batch], exporters: [nop] }
EOF

start_gateway "$WORK/gateway.log" "$METRICS_PORT" --config "$WORK/bench.yaml"
wait_for "the gateway to bind udp 127.0.0.1:$UDP_PORT" "$WORK/gateway.log" "$GW_PID" udp_port_in_use "$UDP_PORT"

echo "== jaeger-udp-compact at $RATE spans/s for ${SECS}s, 10-attribute spans${SPAN_SIZE:+ of $SPAN_SIZE bytes}"
before="$(cpu_ticks "$GW_PID")"
summary="$("$LOADGEN" --endpoint "127.0.0.1:$UDP_PORT" --protocol jaeger-udp-compact --rate "$RATE" \
  --duration "${SECS}s" --attributes 10 ${SPAN_SIZE:+--span-size "$SPAN_SIZE"} \
  --metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" --json-summary)"
after="$(cpu_ticks "$GW_PID")"
echo "loadgen: $summary"
if [[ "$summary" == *'"gateway":null'* ]]; then echo "could not scrape the gateway's metrics" >&2; exit 1; fi
awk -v sent="$(json_field spans_sent "$summary")" -v rate="$(json_field spans_per_sec "$summary")" \
    -v accepted="$(json_field accepted_spans "$summary")" -v drops="$(json_field dropped_packets_total "$summary")" \
    -v refused="$(json_field refused_spans "$summary")" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    -v secs="$(json_field elapsed_secs "$summary")" 'BEGIN {
  cpu = ticks / hz
  printf "spans sent:                        %d (%.0f/s)\n", sent, rate
  printf "spans accepted by the gateway:     %d (%.3f%%), refused %d\n", accepted, sent ? 100 * accepted / sent : 0, refused
  printf "packets dropped by the gateway:    %d\n", drops
  printf "gateway CPU seconds:               %.2f\n", cpu
  # The CPU includes the gateway draining its queue after the last send (a moment at most).
  printf "gateway CPU %% (of one core):       %.1f%% over %.1fs of sending\n", 100 * cpu / secs, secs
  if (accepted > 0) printf "gateway CPU s per million spans:   %.3f\n", cpu / (accepted / 1e6)
}'
