#!/usr/bin/env bash
# Measures the memory a user of a shipped config sees: the gateway started with CONFIG (every
# listener moved to free local ports, data in a fresh directory), the load generator against
# its OTLP/gRPC port for LOAD seconds, then IDLE seconds without traffic. RSS is sampled every
# 100 ms from /proc/<pid>/status. Prints the load generator's summary, an RSS timeline, the
# peak and idle RSS, the gateway's CPU seconds, and spans accepted, stored (sent by the
# exporters) and refused from its /metrics. The figures in docs/memory.md come from it.
#
# Usage: loadgen/bench-memory.sh [--config FILE] [--load SECONDS] [--idle SECONDS] [--gateway-cpu PERCENT] [-- LOADGEN ARGS...]
#   --config  default config-examples/all-in-one.yaml (it must listen where all-in-one does)
#   --load    flat-out seconds (default 60); 0: no time limit, for a fixed fill given in
#             LOADGEN ARGS (`--total-spans 3000000 --seed 7`)
#   --idle    seconds without traffic before the idle RSS is read (default 45)
#   --gateway-cpu  run the gateway in a cpu cgroup limited to PERCENT of one CPU (needs root
#             and a cpu cgroup, v1 or v2): a store that can take only a fraction of what the
#             load generator offers, for overloads the 2-core machine cannot offer otherwise
#   LOADGEN ARGS e.g. `--shape realistic --services 50 --connections 512`
# Also prints the anonymous memory (smaps_rollup) once idle: what the process holds, without
# its mapped binary.
# Env: GATEWAY / LOADGEN (binaries; default: target/release, built unless SKIP_BUILD=1),
# OUT (directory for the logs, default a temporary one).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
CONFIG="$ROOT/config-examples/all-in-one.yaml" LOAD=60 IDLE=45 GATEWAY_CPU=""
while (($#)); do
  case "$1" in
    --config) CONFIG="$(realpath "$2")"; shift 2 ;;
    --load) LOAD="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --gateway-cpu) GATEWAY_CPU="$2"; shift 2 ;;
    --) shift; break ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
bench_binaries
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
cleanup_at_exit

declare -A PORT
for name in grpc http compact binary thrift_http jaeger_grpc zipkin query query_grpc sampling_http sampling_grpc health metrics; do
  free_port "PORT[$name]"
done
export TRACEGATE_DATA="$OUT/data"
rm -rf "$TRACEGATE_DATA"
# The metrics port answers once every pipeline has started.
start_gateway "$OUT/gateway.log" "${PORT[metrics]}" --config "$CONFIG" \
  --set receivers.otlp.protocols.grpc.endpoint="127.0.0.1:${PORT[grpc]}" \
  --set receivers.otlp.protocols.http.endpoint="127.0.0.1:${PORT[http]}" \
  --set receivers.jaeger.protocols.thrift_compact.endpoint="127.0.0.1:${PORT[compact]}" \
  --set receivers.jaeger.protocols.thrift_binary.endpoint="127.0.0.1:${PORT[binary]}" \
  --set receivers.jaeger.protocols.thrift_http.endpoint="127.0.0.1:${PORT[thrift_http]}" \
  --set receivers.jaeger.protocols.grpc.endpoint="127.0.0.1:${PORT[jaeger_grpc]}" \
  --set receivers.zipkin.endpoint="127.0.0.1:${PORT[zipkin]}" \
  --set extensions.jaeger_query.http.endpoint="127.0.0.1:${PORT[query]}" \
  --set extensions.jaeger_query.grpc.endpoint="127.0.0.1:${PORT[query_grpc]}" \
  --set extensions.remote_sampling.http.endpoint="127.0.0.1:${PORT[sampling_http]}" \
  --set extensions.remote_sampling.grpc.endpoint="127.0.0.1:${PORT[sampling_grpc]}" \
  --set extensions.health_check.endpoint="127.0.0.1:${PORT[health]}" \
  --set service.telemetry.metrics.address="127.0.0.1:${PORT[metrics]}"
GW=$GW_PID
# Moves the gateway (every thread) into a new cpu cgroup capped at $2 percent of one CPU.
limit_cpu() {
  local pid=$1 quota=$(($2 * 1000))
  if [[ -w /sys/fs/cgroup/cpu ]]; then
    CGROUP_DIR=/sys/fs/cgroup/cpu/tracegate-bench-$$
    mkdir -p "$CGROUP_DIR"
    echo 100000 >"$CGROUP_DIR/cpu.cfs_period_us"
    echo "$quota" >"$CGROUP_DIR/cpu.cfs_quota_us"
  elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    CGROUP_DIR=/sys/fs/cgroup/tracegate-bench-$$
    mkdir -p "$CGROUP_DIR"
    echo "$quota 100000" >"$CGROUP_DIR/cpu.max"
  else
    echo "--gateway-cpu needs a writable cpu cgroup (v1 /sys/fs/cgroup/cpu, or v2 with the cpu controller enabled)" >&2
    exit 2
  fi
  echo "$pid" >"$CGROUP_DIR/cgroup.procs"
  echo "gateway limited to $2% of one CPU (cgroup $CGROUP_DIR)"
}
CGROUP_DIR=""
[[ -z "$GATEWAY_CPU" ]] || limit_cpu "$GW" "$GATEWAY_CPU"
sample_rss "$GW" >"$OUT/rss.txt" &
SAMPLER=$!
track "$SAMPLER"
T0=$(date +%s.%N)
DURATION=()
[[ "$LOAD" == 0 ]] || DURATION=(--duration "${LOAD}s")
"$LOADGEN" --endpoint "127.0.0.1:${PORT[grpc]}" "${DURATION[@]}" --json-summary "$@" \
  >"$OUT/loadgen.json" 2>"$OUT/loadgen.err"
T1=$(date +%s.%N)
sleep "$IDLE"
curl -sf "http://127.0.0.1:${PORT[metrics]}/metrics" >"$OUT/metrics.txt"
IDLE_KIB=$(rss_kib "$GW")
ANON_KIB=$(awk '/^Anonymous/{print $2}' /proc/$GW/smaps_rollup)
CPU=$(cpu_seconds "$GW")
stop_pid "$GW"
stop_pid "$SAMPLER"
[[ -z "$CGROUP_DIR" ]] || rmdir "$CGROUP_DIR" 2>/dev/null || true
python3 - "$OUT" "$T0" "$T1" "$CPU" "$IDLE_KIB" "$IDLE" "$ANON_KIB" <<'PY'
import json, sys
out, t0, t1, cpu, idle, idle_secs, anon = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
# A sample taken as the gateway exits has no RSS.
rows = [(float(f[0]), int(f[1]) / 1024) for f in (l.split() for l in open(out + "/rss.txt")) if len(f) == 2]
summary = json.load(open(out + "/loadgen.json"))
metrics = {}
for line in open(out + "/metrics.txt"):
    if not line.startswith("#") and " " in line:
        key, value = line.rsplit(" ", 1)
        metrics[key] = float(value)
total = lambda prefix: sum(v for k, v in metrics.items() if k.startswith(prefix))
stored = total("tracegate_exporter_sent_spans")
print(json.dumps({k: summary.get(k) for k in ("spans_sent", "spans_per_sec", "spans_failed", "errors", "last_error")}))
print("RSS MiB by second:", " ".join(f"{int(t - t0)}:{int(r)}" for i, (t, r) in enumerate(rows) if i % 50 == 0))
print(f"RSS peak {max(r for _, r in rows):.0f} MiB over {t1 - t0:.0f} s of load; {idle / 1024:.0f} MiB after {idle_secs} s without traffic ({anon / 1024:.0f} MiB anonymous)")
print(f"gateway CPU {cpu:.1f} s; spans accepted {total('tracegate_receiver_accepted_spans'):.0f}, "
      f"stored {stored:.0f} ({stored / cpu / 1000:.0f}k per CPU s), refused {total('tracegate_receiver_refused_spans'):.0f}, "
      f"acknowledged by the load generator {summary.get('spans_sent')}")
print(f"logs in {out}")
PY
