#!/usr/bin/env bash
# Measures `tail_sampling`'s memory as a user meets it: a gateway with OTLP/gRPC in ->
# tail_sampling -> nop (the policies keep errors and 10% of the rest), the load generator at a
# fixed rate for LOAD seconds, then the wait until every trace is decided. RSS is sampled every
# 100 ms from /proc/<pid>/status and the processor's metrics every second. Prints the load
# generator's summary, RSS idle before the load / peak / at the end of the load, the processor's
# own account of what it held (peak), the OTLP bytes pending at the rate (what a perfect table
# would hold), spill traffic, and whether every span was decided. The figures in
# docs/configuration.md (`tail_sampling`) come from it.
#
# Usage: loadgen/bench-tail-sampling.sh [--rate SPANS_PER_S] [--load SECONDS] [--wait SECONDS]
#          [--budget MIB] [--num-traces N] [--without-tail] [-- LOADGEN ARGS...]
#   --rate        spans/s (default 20000)
#   --load        seconds of load (default 40)
#   --wait        decision_wait in seconds (default 10)
#   --budget      max_memory_mib, with a spill directory under OUT (default: none, num_traces only)
#   --num-traces  num_traces (default 1000000)
#   --without-tail the same gateway without the processor (otlp -> nop): the RSS the rest of the
#                 pipeline takes at the rate, to tell the processor's share apart
#   LOADGEN ARGS  e.g. `--spans-per-trace 5 --shape realistic`
# Env: GATEWAY / LOADGEN (binaries; default target/release, built unless SKIP_BUILD=1), OUT
# (directory for config, logs and the spill; default a temporary one).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
RATE=20000 LOAD=40 WAIT=10 BUDGET="" NUM_TRACES=1000000 PROCESSORS="[tail_sampling]"
while (($#)); do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --load) LOAD="$2"; shift 2 ;;
    --wait) WAIT="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --num-traces) NUM_TRACES="$2"; shift 2 ;;
    --without-tail) PROCESSORS="[]"; shift ;;
    --) shift; break ;;
    *) sed -n '2,23p' "$0" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
bench_binaries
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
cleanup_at_exit

free_port GRPC
free_port METRICS
BUDGET_KEYS=""
if [[ -n "$BUDGET" ]]; then
  BUDGET_KEYS="max_memory_mib: $BUDGET
    spill: { directory: $OUT/spill }"
fi
cat >"$OUT/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$GRPC, max_recv_msg_size_mib: 16 }
processors:
  tail_sampling:
    decision_wait: ${WAIT}s
    num_traces: $NUM_TRACES
    $BUDGET_KEYS
    policies:
      - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
      - { name: share, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
exporters:
  nop:
service:
  telemetry: { metrics: { address: 127.0.0.1:$METRICS }, logs: { level: warn } }
  pipelines:
    traces: { receivers: [otlp], processors: $PROCESSORS, exporters: [nop] }
EOF
# Calibration: the OTLP bytes of the load generator's spans, as a `file` exporter writes the
# requests it receives (4-byte length + request).
free_port CAL
free_port CALMETRICS
cat >"$OUT/calibrate.yaml" <<CAL_EOF
receivers: { otlp: { protocols: { grpc: { endpoint: 127.0.0.1:$CAL, max_recv_msg_size_mib: 16 } } } }
exporters: { file: { path: $OUT/calibrate.pb, format: proto } }
service:
  telemetry: { metrics: { address: 127.0.0.1:$CALMETRICS }, logs: { level: warn } }
  pipelines: { traces: { receivers: [otlp], exporters: [file] } }
CAL_EOF
start_gateway "$OUT/calibrate.log" "$CALMETRICS" --config "$OUT/calibrate.yaml"
CALGW=$GW_PID
"$LOADGEN" --endpoint "127.0.0.1:$CAL" --total-spans 20000 "$@" >/dev/null 2>&1
sleep 2
stop_pid "$CALGW"
SPAN_BYTES=$(python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
pos = records = spans = 0
while pos + 4 <= len(data):
    (n,) = struct.unpack(">I", data[pos:pos + 4]); pos += 4 + n; records += 1
print((len(data) - 4 * records) / 20000)' "$OUT/calibrate.pb")

start_gateway "$OUT/gateway.log" "$METRICS" --config "$OUT/config.yaml"
GW=$GW_PID
sleep 2
IDLE_KIB=$(rss_kib "$GW")
sample_rss "$GW" >"$OUT/rss.txt" &
SAMPLER=$!
track "$SAMPLER"
(while kill -0 $GW 2>/dev/null; do
   curl -sf "http://127.0.0.1:$METRICS/metrics" | grep -E '^tracegate_processor_tail_sampling_(memory_bytes|spill_file_bytes)' | sed "s/^/$(date +%s.%N) /"
   sleep 1
 done) >"$OUT/held.txt" 2>/dev/null &
SCRAPER=$!
track "$SCRAPER"
T0=$(date +%s.%N)
"$LOADGEN" --endpoint "127.0.0.1:$GRPC" --rate "$RATE" --duration "${LOAD}s" --json-summary "$@" \
  >"$OUT/loadgen.json" 2>"$OUT/loadgen.err"
T1=$(date +%s.%N)
END_KIB=$(rss_kib "$GW")
# Every trace is decided decision_wait after its first span (plus a tick).
TRIES=$((WAIT * 4 + 120))
[[ "$PROCESSORS" == "[]" ]] && TRIES=$((WAIT + 2))
for _ in $(seq $TRIES); do
  curl -sf "http://127.0.0.1:$METRICS/metrics" >"$OUT/metrics.txt"
  python3 - "$OUT/metrics.txt" <<'PY' && break
import sys
m = {}
for line in open(sys.argv[1]):
    if not line.startswith("#") and " " in line:
        k, v = line.rsplit(" ", 1)
        m[k.split("{")[0]] = m.get(k.split("{")[0], 0) + float(v)
inc, out, drop, ref = (m.get(f"tracegate_processor_{n}_spans", 0) for n in ("incoming", "outgoing", "dropped", "refused"))
sys.exit(0 if inc > 0 and inc - ref == out + drop and m.get("tracegate_processor_tail_sampling_memory_traces", 0) == 0 and m.get("tracegate_processor_tail_sampling_spilled_traces", 0) == 0 else 1)
PY
  sleep 1
done
stop_pid "$SCRAPER"
stop_pid "$SAMPLER"
CPU=$(cpu_seconds "$GW")
stop_pid "$GW"
python3 - "$OUT" "$T0" "$T1" "$CPU" "$IDLE_KIB" "$END_KIB" "$RATE" "$WAIT" "${BUDGET:-0}" "$SPAN_BYTES" <<'PY'
import json, sys
out, t0, t1, cpu, idle, end, rate, wait, budget, span_bytes = sys.argv[1:]
t0, t1, cpu, idle, end, rate, wait, budget = float(t0), float(t1), float(cpu), int(idle), int(end), float(rate), float(wait), int(budget)
span_bytes = float(span_bytes)
rows = [(float(a), int(b) / 1024) for a, b in (l.split() for l in open(out + "/rss.txt")) if b]
held = [(float(l.split()[0]), l.split()[1], float(l.split()[2])) for l in open(out + "/held.txt") if len(l.split()) == 3]
summary = json.load(open(out + "/loadgen.json"))
m = {}
for line in open(out + "/metrics.txt"):
    if not line.startswith("#") and " " in line:
        k, v = line.rsplit(" ", 1)
        m[k.split("{")[0]] = m.get(k.split("{")[0], 0) + float(v)
g = lambda n: m.get(n, 0.0)
# A trace is held from its first span for decision_wait, then until the next tick (every
# wait / 10, at most 1 s): half a tick more on average.
tick = min(max(wait / 10, 0.01), 1.0)
pending = rate * (wait + tick / 2) * span_bytes
peak_held = max((v for _, n, v in held if n.startswith("tracegate_processor_tail_sampling_memory_bytes")), default=0)
peak_disk = max((v for _, n, v in held if n.startswith("tracegate_processor_tail_sampling_spill_file_bytes")), default=0)
print(json.dumps({k: summary.get(k) for k in ("spans_sent", "spans_per_sec", "spans_failed", "errors", "last_error")}))
print("RSS MiB by second:", " ".join(f"{int(t - t0)}:{int(r)}" for i, (t, r) in enumerate(rows) if i % 50 == 0))
print(f"RSS idle {idle / 1024:.0f} MiB, peak {max(r for _, r in rows):.0f} MiB, at the end of the load {end / 1024:.0f} MiB "
      f"({t1 - t0:.0f} s at {rate:.0f} spans/s, decision_wait {wait:.0f} s, max_memory_mib {budget or 'none'})")
print(f"OTLP bytes per span {span_bytes:.0f} (calibrated); pending at the rate (rate x (wait + tick/2) x span) {pending / 2**20:.0f} MiB; "
      f"processor's account peak {peak_held / 2**20:.0f} MiB; spill files peak {peak_disk / 2**20:.0f} MiB")
print(f"spill: written {g('tracegate_processor_tail_sampling_spill_written_traces'):.0f} chunks / {g('tracegate_processor_tail_sampling_spill_written_bytes') / 2**20:.0f} MiB, "
      f"read back {g('tracegate_processor_tail_sampling_spill_read_traces'):.0f} traces; dropped for the budget "
      f"{g('tracegate_processor_tail_sampling_memory_dropped_traces'):.0f} traces, evicted by num_traces {g('tracegate_processor_tail_sampling_sampling_trace_dropped_too_early'):.0f}")
inc, outg, drop, ref = (g(f"tracegate_processor_{n}_spans") for n in ("incoming", "outgoing", "dropped", "refused"))
print(f"spans in {inc - ref:.0f} (refused for the budget {ref:.0f}), sampled {outg:.0f}, not sampled {drop:.0f}: "
      f"{'every span decided' if inc - ref == outg + drop else 'NOT ALL DECIDED'}; gateway CPU {cpu:.1f} s")
print(f"logs in {out}")
PY
