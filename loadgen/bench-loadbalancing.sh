#!/usr/bin/env bash
# What the `loadbalancing` exporter costs a tier-1 gateway, against a plain OTLP forward:
# config-examples/tail-sampling-tier1.yaml (receivers -> batch -> loadbalancing over two
# backends) and config-examples/otlp-forward.yaml (receivers -> batch -> otlp), as shipped but
# for their ports, each fed flat out by the load generator over OTLP/gRPC, alternated ROUNDS
# times. The backends are two gateways (otlp -> nop). Reported per run: spans per CPU second of
# the gateway under test (its utime + stime from /proc/<pid>/stat, from before the first span to
# the moment the backends have every span), and the backends' share.
#
# Usage: loadgen/bench-loadbalancing.sh
# Env: SPANS (default 2000000), ROUNDS (default 3), SHAPE (default|realistic), CONNECTIONS (4),
#      GATEWAY / LOADGEN (binaries; default target/release/...), SKIP_BUILD=1.
set -euo pipefail

SPANS="${SPANS:-2000000}" ROUNDS="${ROUNDS:-3}" SHAPE="${SHAPE:-default}" CONNECTIONS="${CONNECTIONS:-4}"
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
TAKEN=" "
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if [[ "$TAKEN" != *" $p "* ]] && ! port_in_use "$p"; then TAKEN="$TAKEN$p "; echo "$p"; return; fi
  done
  echo "no free port found" >&2; exit 1
}

wait_port() {
  for _ in $(seq 300); do
    if port_in_use "$1"; then return; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1; logs in $WORK" >&2; exit 1
}

# The backends: otlp -> nop, as config-examples/bench-nop.yaml.
SINK_PORTS=() SINK_METRICS=()
for i in 1 2; do
  port="$(free_port)" metrics="$(free_port)"
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
for p in "${SINK_PORTS[@]}"; do wait_port "$p"; done

accepted() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^tracegate_receiver_accepted_spans\{/ { s += $2 } END { printf "%d", s }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# Every listener of the examples moved to a free loopback port.
common_sets() {
  echo --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$1" \
    --set "receivers.otlp.protocols.http.endpoint=127.0.0.1:$(free_port)" \
    --set "extensions.health_check.endpoint=127.0.0.1:$(free_port)" \
    --set "service.telemetry.metrics.address=127.0.0.1:$(free_port)" \
    --set "service.telemetry.logs.level=warn"
}

run() {
  local variant=$1 port args=() before_sinks
  port="$(free_port)"
  case "$variant" in
    forward)
      args=(--config config-examples/otlp-forward.yaml $(common_sets "$port"))
      export OTLP_ENDPOINT="127.0.0.1:${SINK_PORTS[0]}" ;;
    loadbalancing)
      args=(--config config-examples/tail-sampling-tier1.yaml $(common_sets "$port")
        --set "receivers.jaeger.protocols.thrift_compact.endpoint=127.0.0.1:$(free_port)"
        --set "receivers.jaeger.protocols.thrift_http.endpoint=127.0.0.1:$(free_port)"
        --set "receivers.jaeger.protocols.grpc.endpoint=127.0.0.1:$(free_port)"
        --set "receivers.zipkin.endpoint=127.0.0.1:$(free_port)")
      export SAMPLER_1="127.0.0.1:${SINK_PORTS[0]}" SAMPLER_2="127.0.0.1:${SINK_PORTS[1]}" ;;
  esac
  "$GATEWAY" "${args[@]}" >"$WORK/$variant.log" 2>&1 &
  local gw=$!
  PIDS+=("$gw")
  wait_port "$port"
  before_sinks=$(( $(accepted "${SINK_METRICS[0]}") + $(accepted "${SINK_METRICS[1]}") ))
  local t0; t0="$(cpu_ticks "$gw")"
  local shape_args=()
  [[ "$SHAPE" == realistic ]] && shape_args=(--shape realistic --seed 7)
  "$LOADGEN" --protocol grpc --endpoint "127.0.0.1:$port" --total-spans "$SPANS" --connections "$CONNECTIONS" \
    "${shape_args[@]}" --json-summary >"$WORK/$variant.json" 2>/dev/null
  local delivered=0
  for _ in $(seq 600); do
    delivered=$(( $(accepted "${SINK_METRICS[0]}") + $(accepted "${SINK_METRICS[1]}") - before_sinks ))
    [[ "$delivered" -ge "$SPANS" ]] && break
    sleep 0.1
  done
  local t1; t1="$(cpu_ticks "$gw")"
  kill "$gw"; wait "$gw" 2>/dev/null || true
  local rate; rate="$(python3 -c "import json; print(round(json.load(open('$WORK/$variant.json'))['spans_per_sec']))" 2>/dev/null || echo '?')"
  awk -v v="$variant" -v n="$SPANS" -v d="$delivered" -v t="$((t1 - t0))" -v hz="$TICKS" -v r="$rate" \
    'BEGIN { cpu = t / hz; printf "%-14s %9d spans delivered %9d  gateway CPU %6.2f s  %8.0f spans per gateway CPU s  (loadgen %s spans/s)\n", v, n, d, cpu, (cpu > 0 ? n / cpu : 0), r }'
}

echo "# $SPANS spans, shape $SHAPE, $CONNECTIONS connections, $(nproc) CPUs, $(date -u +%FT%TZ)"
for round in $(seq "$ROUNDS"); do
  run forward
  run loadbalancing
done
