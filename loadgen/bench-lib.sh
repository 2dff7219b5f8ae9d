# shellcheck shell=bash
# The helpers every loadgen/bench-*.sh script shares, sourced by each of them:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
#
# Why: the seven scripts each carried their own copies of these (port picking, waiting for a
# listener, CPU ticks from /proc, metric sums), and the copies had drifted: some picked a port
# twice, one read /proc/<pid>/stat by field number without skipping the command name, one
# left its calibration gateway running when the load generator failed. One copy here, fixed
# once. Nothing runs on sourcing but setting ROOT (below); a script then sets
# `set -euo pipefail`, calls `cleanup_at_exit`, `bench_binaries`, and uses the rest.
#
# Variables:
#   ROOT               the repository (this file's parent directory), set on sourcing
#   GATEWAY, LOADGEN   the binaries, set by bench_binaries
#   WORK               a script's scratch directory, if it sets one: removed at exit
#   GW_PID             the gateway start_gateway started last
#
# Functions:
#   bench_binaries           GATEWAY and LOADGEN default to ROOT/target/release/...; those
#                            are built (cargo build --release) unless SKIP_BUILD=1 or both
#                            variables were given.
#   cleanup_at_exit          at exit (also on Ctrl-C or SIGTERM, which then exit) stop every
#                            tracked process and remove $WORK if it is set.
#   track PID                stop PID at exit (see cleanup_at_exit).
#   stop_pid PID             SIGTERM, then wait for it; quiet if it has exited already.
#   port_in_use PORT         true if something accepts TCP connections on 127.0.0.1:PORT.
#   udp_port_in_use PORT     true if a UDP socket is bound to PORT (/proc/net/udp, udp6).
#   free_port VAR            sets VAR to a port below the kernel's ephemeral range (10000 to
#                            32767 by default) that no TCP or UDP socket uses and that was
#                            not handed out before in this run (assigned, not printed: a
#                            $(subshell) could not remember what it handed out).
#   wait_for WHAT LOG PID CMD...
#                            runs CMD every 100 ms until it succeeds (at most 60 s); if it
#                            never does, or process PID exits first, says it gave up waiting
#                            for WHAT, prints LOG's last 50 lines, and exits the script.
#   wait_port PORT LOG PID   wait_for something to accept TCP connections on PORT.
#   start_gateway LOG PORT ARGS...
#                            starts "$GATEWAY" ARGS in the background (output to LOG),
#                            tracks it, sets GW_PID and waits until PORT accepts.
#   cpu_ticks PID            the process's utime + stime in clock ticks (/proc/PID/stat).
#   cpu_seconds PID          the same in seconds.
#   rss_kib PID              the process's VmRSS in KiB.
#   sample_rss PID           prints "<unix time> <VmRSS KiB>" every 100 ms while PID lives
#                            (run it in the background, output to a file).
#   json_field NAME JSON     the number NAME holds in a flat JSON object (the load
#                            generator's --json-summary).
#   metric_sum PORT NAME     the sum of every series of metric NAME on
#                            http://127.0.0.1:PORT/metrics (0 when absent).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_binaries() {
  if [[ -z "${GATEWAY:-}" || -z "${LOADGEN:-}" ]] && [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p tracegate -p tracegate-loadgen)
  fi
  GATEWAY="${GATEWAY:-$ROOT/target/release/tracegate}"
  LOADGEN="${LOADGEN:-$ROOT/target/release/tracegate-loadgen}"
}

BENCH_PIDS=()
track() { BENCH_PIDS+=("$1"); }
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid"; fi
  done
  if [[ -n "${WORK:-}" ]]; then rm -rf "$WORK"; fi
}
# A trap on INT or TERM alone would run and then let the script carry on; exiting instead
# runs the EXIT trap, once.
cleanup_at_exit() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# True if a socket listed in the given /proc/net tables has local port $1 (the tables list the
# local address as hex ADDR:PORT in their second column).
local_port_in() {
  local port
  port="$(printf '%04X' "$1")"
  shift
  awk -v p=":$port" 'substr($2, length($2) - 4) == p { found = 1; exit } END { exit !found }' "$@" 2>/dev/null
}
udp_port_in_use() { local_port_in "$1" /proc/net/udp /proc/net/udp6; }

# Ports are drawn below the kernel's ephemeral range, so no outgoing connection (the load
# generator's, anyone's) can take one between the pick and the gateway's bind; a pick checks
# every TCP socket (listening or not) and UDP socket on the machine.
BENCH_PORTS_TAKEN=" "
free_port() {
  local _port _try _low _high _from=20000 _span=32768
  if read -r _low _high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && ((_low > 11000)); then
    _from=10000 _span=$((_low - 10000))
  fi
  for _try in $(seq 200); do
    _port=$((_from + RANDOM % _span))
    if [[ "$BENCH_PORTS_TAKEN" != *" $_port "* ]] \
      && ! local_port_in "$_port" /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; then
      BENCH_PORTS_TAKEN="$BENCH_PORTS_TAKEN$_port "
      printf -v "$1" '%s' "$_port"
      return
    fi
  done
  echo "no free port found" >&2
  exit 1
}

wait_for() {
  local what=$1 log=$2 pid=$3 why="not within 60 s" _try
  shift 3
  for _try in $(seq 600); do
    if "$@"; then return; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      why="process $pid exited"
      break
    fi
    sleep 0.1
  done
  echo "gave up waiting for $what ($why); the last lines of $log:" >&2
  tail -n 50 "$log" >&2 || true
  exit 1
}
wait_port() { wait_for "127.0.0.1:$1 to accept connections" "$2" "$3" port_in_use "$1"; }

start_gateway() {
  local log=$1 port=$2
  shift 2
  "$GATEWAY" "$@" >"$log" 2>&1 &
  GW_PID=$!
  track "$GW_PID"
  wait_port "$port" "$log" "$GW_PID"
}

# Fields counted after the ')' that closes the command name, which may hold spaces.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
cpu_seconds() { awk -v ticks="$(cpu_ticks "$1")" -v hz="$(getconf CLK_TCK)" 'BEGIN { print ticks / hz }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
sample_rss() {
  while kill -0 "$1" 2>/dev/null; do
    echo "$(date +%s.%N) $(awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null)"
    sleep 0.1
  done
}

json_field() { sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\\1/" <<<"$2"; }
metric_sum() {
  curl -s "http://127.0.0.1:$1/metrics" \
    | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}
