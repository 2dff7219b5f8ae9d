#!/usr/bin/env bash
# What the `loadbalancing` exporter costs a tier-1 gateway, against a plain OTLP forward:
# config-examples/tail-sampling-tier1.yaml (receivers -> batch -> loadbalancing over two
# backends) and config-examples/otlp-forward.yaml (receivers -> batch -> otlp), as shipped but
# for their ports, each fed flat out by the load generator over OTLP/gRPC, alternated ROUNDS
# times. The backends are two gateways (otlp -> nop). Reported per run: spans per CPU second of
# the gateway under test (its utime + stime from /proc/<pid>/stat, from before the first span to
# the moment the backends have every span it acknowledged), per span delivered. The load is
# paced (RATE) below what either gateway takes, so neither refuses and both do the same work.
#
# Usage: loadgen/bench-loadbalancing.sh
# Env: SPANS (default 2000000), RATE (spans/s, default 100000; 0: flat out), ROUNDS (default 3),
#      SHAPE (default|realistic), CONNECTIONS (4),
#      GATEWAY / LOADGEN (binaries; default target/release/..., built unless SKIP_BUILD=1).
set -euo pipefail

SPANS="${SPANS:-2000000}" RATE="${RATE:-100000}" ROUNDS="${ROUNDS:-3}" SHAPE="${SHAPE:-default}" CONNECTIONS="${CONNECTIONS:-4}"
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
cd "$ROOT"
bench_binaries

WORK="$(mktemp -d)"
cleanup_at_exit

# The backends: otlp -> nop, as config-examples/bench-nop.yaml.
SINK_PORTS=() SINK_METRICS=() port="" metrics=""
for i in 1 2; do
  free_port port
  free_port metrics
  cat >"$WORK/sink$i.yaml" <<EOF
receivers:
  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:$port, max_recv_msg_size_mib: 16 } } }
exporters:
  nop: {}
service:
  telemetry: { metrics: { address: 127.0.0.1:$metrics }, logs: { level: warn } }
  pipelines: { traces: { receivers: [otlp], exporters: [nop] } }
EOF
  start_gateway "$WORK/sink$i.log" "$port" --config "$WORK/sink$i.yaml"
  SINK_PORTS+=("$port") SINK_METRICS+=("$metrics")
done

accepted() { metric_sum "$1" tracegate_receiver_accepted_spans; }
TICKS="$(getconf CLK_TCK)"

# Every listener of the examples moved to a free loopback port.
SETS=()
listeners() {
  SETS=(--set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$1")
  local key port
  for key in receivers.otlp.protocols.http.endpoint extensions.health_check.endpoint service.telemetry.metrics.address "$@"; do
    [[ "$key" == "$1" ]] && continue
    free_port port
    SETS+=(--set "$key=127.0.0.1:$port")
  done
  SETS+=(--set service.telemetry.logs.level=warn)
}

run() {
  local variant=$1 port args=() before_sinks
  free_port port
  case "$variant" in
    forward)
      listeners "$port"
      args=(--config config-examples/otlp-forward.yaml "${SETS[@]}")
      export OTLP_ENDPOINT="127.0.0.1:${SINK_PORTS[0]}" ;;
    loadbalancing)
      listeners "$port" receivers.jaeger.protocols.thrift_compact.endpoint receivers.jaeger.protocols.thrift_http.endpoint \
        receivers.jaeger.protocols.grpc.endpoint receivers.zipkin.endpoint
      args=(--config config-examples/tail-sampling-tier1.yaml "${SETS[@]}")
      export SAMPLER_1="127.0.0.1:${SINK_PORTS[0]}" SAMPLER_2="127.0.0.1:${SINK_PORTS[1]}" ;;
  esac
  start_gateway "$WORK/$variant.log" "$port" "${args[@]}"
  local gw=$GW_PID
  before_sinks=$(( $(accepted "${SINK_METRICS[0]}") + $(accepted "${SINK_METRICS[1]}") ))
  local t0; t0="$(cpu_ticks "$gw")"
  local shape_args=()
  [[ "$SHAPE" == realistic ]] && shape_args=(--shape realistic --seed 7)
  [[ "$RATE" != 0 ]] && shape_args+=(--rate "$RATE")
  "$LOADGEN" --protocol grpc --endpoint "127.0.0.1:$port" --total-spans "$SPANS" --connections "$CONNECTIONS" \
    "${shape_args[@]}" --json-summary >"$WORK/$variant.json" 2>/dev/null
  local delivered=0 sent
  sent="$(python3 -c "import json; print(json.load(open('$WORK/$variant.json'))['spans_sent'])")"
  for _ in $(seq 600); do
    delivered=$(( $(accepted "${SINK_METRICS[0]}") + $(accepted "${SINK_METRICS[1]}") - before_sinks ))
    [[ "$delivered" -ge "$sent" ]] && break
    sleep 0.1
  done
  local t1; t1="$(cpu_ticks "$gw")"
  kill "$gw"; wait "$gw" 2>/dev/null || true
  local rate; rate="$(python3 -c "import json; s = json.load(open('$WORK/$variant.json')); print(round(s['spans_per_sec']), 'spans/s,', s['spans_failed'], 'failed')" 2>/dev/null || echo '?')"
  awk -v v="$variant" -v n="$sent" -v d="$delivered" -v t="$((t1 - t0))" -v hz="$TICKS" -v r="$rate" \
    'BEGIN { cpu = t / hz; printf "%-14s %9d spans acknowledged, %9d delivered  gateway CPU %6.2f s  %8.0f spans per gateway CPU s  (loadgen %s)\n", v, n, d, cpu, (cpu > 0 ? d / cpu : 0), r }'
}

echo "# $SPANS spans at ${RATE} spans/s (0: flat out), shape $SHAPE, $CONNECTIONS connections, $(nproc) CPUs, $(date -u +%FT%TZ)"
for _ in $(seq "$ROUNDS"); do
  run forward
  run loadbalancing
done
