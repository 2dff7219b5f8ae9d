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
#      GATEWAY / LOADGEN (binaries; default target/release/...), SKIP_BUILD=1.
set -euo pipefail

SPANS="${SPANS:-2000000}" RATE="${RATE:-100000}" ROUNDS="${ROUNDS:-3}" SHAPE="${SHAPE:-default}" CONNECTIONS="${CONNECTIONS:-4}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 && -z "${GATEWAY:-}" ]]; then
  cargo build --release -p tracegate -p tracegate-loadgen
fi
GATEWAY="${GATEWAY:-$ROOT/target/release/tracegate}" LOADGEN="${LOADGEN:-$ROOT/target/release/tracegate-loadgen}"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Sets PORT to a free loopback port never handed out before in this run (a function, not a
# subshell, so the record of handed-out ports survives).
TAKEN=" " PORT=""
next_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if [[ "$TAKEN" != *" $p "* ]] && ! port_in_use "$p"; then TAKEN="$TAKEN$p "; PORT="$p"; return; fi
  done
  echo "no free port found" >&2; exit 1
}

wait_port() {
  for _ in $(seq 600); do
    if port_in_use "$1"; then return; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1; its log:" >&2
  tail -20 "$2" >&2
  exit 1
}

# The backends: otlp -> nop, as config-examples/bench-nop.yaml.
SINK_PORTS=() SINK_METRICS=()
for i in 1 2; do
  next_port; port="$PORT"
  next_port; metrics="$PORT"
  cat >"$WORK/sink$i.yaml" <<EOF
receivers:
  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:$port, max_recv_msg_size_mib: 16 } } }
exporters:
  nop: {}
service:
  telemetry: { metrics: { address: 127.0.0.1:$metrics }, logs: { level: warn } }
  pipelines: { traces: { receivers: [otlp], exporters: [nop] } }
EOF
  "$GATEWAY" --config "$WORK/sink$i.yaml" >"$WORK/sink$i.log" 2>&1 &
  PIDS+=($!)
  SINK_PORTS+=("$port") SINK_METRICS+=("$metrics")
done
for i in 0 1; do wait_port "${SINK_PORTS[$i]}" "$WORK/sink$((i + 1)).log"; done

accepted() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^tracegate_receiver_accepted_spans\{/ { s += $2 } END { printf "%d", s }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# Every listener of the examples moved to a free loopback port (picked here, not in a
# subshell, so no port is handed out twice).
SETS=()
listeners() {
  SETS=(--set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$1")
  local key
  for key in receivers.otlp.protocols.http.endpoint extensions.health_check.endpoint service.telemetry.metrics.address "$@"; do
    [[ "$key" == "$1" ]] && continue
    next_port
    SETS+=(--set "$key=127.0.0.1:$PORT")
  done
  SETS+=(--set service.telemetry.logs.level=warn)
}

run() {
  local variant=$1 port args=() before_sinks
  next_port; port="$PORT"
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
  "$GATEWAY" "${args[@]}" >"$WORK/$variant.log" 2>&1 &
  local gw=$!
  PIDS+=("$gw")
  wait_port "$port" "$WORK/$variant.log"
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
for round in $(seq "$ROUNDS"); do
  run forward
  run loadbalancing
done
