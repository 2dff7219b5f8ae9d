#!/usr/bin/env python3
"""Measures what the Monitor tab's RED metrics cost and how fast they answer, as a user of the
shipped all-in-one meets them: the gateway started with config-examples/all-in-one.yaml (every
listener moved to a free local port, data in a fresh directory), tracegate-loadgen sending
flat out over OTLP/gRPC, the gateway's CPU seconds read from /proc/<pid>/stat.

  ingest:  --spans N spans, with span_metrics on and off alternated --pairs times; prints
           spans per gateway CPU second for each run.
  query:   with --query, one more run (metrics on) whose spans are spread over the last 24 h
           (loadgen --backdate 24h), then --runs rounds of the Monitor page's queries over 24 h
           (calls, errors, p95 latencies per service, and p95 by operation) at a one-minute
           step as the Jaeger UI asks them, and the built-in Monitor page's 24 h overview of
           every service (a point every 30 min, on the store's ten-minute roll-ups); prints
           p50 / p99 ms of each.

Usage: loadgen/bench_spm.py --gateway target/release/tracegate --loadgen target/release/tracegate-loadgen
       [--spans 3000000] [--pairs 2] [--query] [--query-spans 10000000] [--runs 100]
       [-- LOADGEN ARGS] (default: --shape realistic --services 50)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

LISTENERS = {
    "receivers.otlp.protocols.grpc.endpoint": "grpc",
    "receivers.otlp.protocols.http.endpoint": "http",
    "receivers.jaeger.protocols.thrift_compact.endpoint": "udp",
    "receivers.jaeger.protocols.thrift_binary.endpoint": "udp",
    "receivers.jaeger.protocols.thrift_http.endpoint": "tcp",
    "receivers.jaeger.protocols.grpc.endpoint": "tcp",
    "receivers.zipkin.endpoint": "tcp",
    "extensions.jaeger_query.http.endpoint": "query",
    "extensions.jaeger_query.grpc.endpoint": "tcp",
    "extensions.remote_sampling.http.endpoint": "tcp",
    "extensions.remote_sampling.grpc.endpoint": "tcp",
    "extensions.health_check.endpoint": "tcp",
    "service.telemetry.metrics.address": "metrics",
}


def free_port(udp: bool = False) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Gateway:
    def __init__(self, binary: str, metrics_on: bool):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-spm-"))
        self.ports = {}
        args = [binary, "--config", str(ROOT / "config-examples/all-in-one.yaml")]
        for key, kind in LISTENERS.items():
            port = free_port(kind == "udp")
            self.ports.setdefault(kind, port)
            args += ["--set", f"{key}=127.0.0.1:{port}"]
        if not metrics_on:
            args += ["--set", "exporters.sled.span_metrics.enabled=false"]
        env = dict(os.environ, TRACEGATE_DATA=str(self.dir / "data"),
                   SAMPLING_STRATEGIES=str(ROOT / "config-examples/sampling-strategies.json"))
        self.log = open(self.dir / "gateway.log", "wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports["query"]), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"the gateway did not start: {(self.dir / 'gateway.log').read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def fill(gw: Gateway, loadgen: str, spans: int, extra: list[str]) -> float:
    """Sends `spans` flat out; returns spans per gateway CPU second (stored spans, counted once
    the store has sealed them: the query API's seal runs inside the measured window)."""
    before = cpu_seconds(gw.proc.pid)
    cmd = [loadgen, "--endpoint", f"127.0.0.1:{gw.ports['grpc']}", "--total-spans", str(spans),
           "--metrics-url", f"http://127.0.0.1:{gw.ports['metrics']}/metrics", "--json-summary", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    get(f"http://127.0.0.1:{gw.ports['query']}/api/services")  # seals the open block
    used = cpu_seconds(gw.proc.pid) - before
    summary = json.loads(out.strip().splitlines()[-1])
    sent = summary.get("spans_sent") or summary.get("sent_spans") or spans
    return sent / used


def timed(url: str) -> float:
    t = time.perf_counter()
    status, body = get(url)
    ms = (time.perf_counter() - t) * 1000
    if status != 200:
        raise SystemExit(f"{url} answered {status}: {body[:300]!r}")
    return ms


def query(gw: Gateway, runs: int) -> None:
    base = f"http://127.0.0.1:{gw.ports['query']}"
    services = json.loads(get(f"{base}/api/services")[1])["data"]
    end = int(time.time() * 1000)
    # What the Jaeger UI's Monitor tab asks (one service, a point a minute, ten-minute rates)...
    window = {"endTs": end, "lookback": 86_400_000, "step": 60_000, "ratePer": 600_000}
    # ...and the built-in Monitor page's 24 h overview (every service, a point every 30 min on
    # ten-minute boundaries: the store's roll-ups).
    page = {"endTs": end - end % 600_000, "lookback": 86_400_000, "step": 1_800_000, "ratePer": 1_800_000}
    every = {"service": services, "spanKind": "server"}
    kinds = {
        "calls, one service": ("calls", {}, window),
        "errors, one service": ("errors", {}, window),
        "p95, one service": ("latencies", {"quantile": 0.95}, window),
        "p95 by operation, one service": ("latencies", {"quantile": 0.95, "groupByOperation": "true"}, window),
        "calls, every service, one-minute step": ("calls", every, window),
        "page overview: calls, every service": ("calls", every, page),
        "page overview: errors, every service": ("errors", every, page),
        "page overview: p95, every service": ("latencies", {**every, "quantile": 0.95}, page),
        "page, one service by operation: p95": ("latencies", {"quantile": 0.95, "groupByOperation": "true"}, page),
    }
    points = json.loads(get(f"{base}/api/metrics/calls?" + urllib.parse.urlencode({"service": services[0], **window}))[1])
    n = len(points.get("metrics", [{}])[0].get("metricPoints", []))
    print(f"24 h window: {len(services)} services, {n} points in {services[0]}'s calls series")
    for name, (path, extra, win) in kinds.items():
        times = []
        for i in range(runs):
            params = {"service": services[i % len(services)], **win, **extra}
            times.append(timed(f"{base}/api/metrics/{path}?" + urllib.parse.urlencode(params, doseq=True)))
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"  {name}: p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms ({runs} runs)")


def main() -> None:
    argv = sys.argv[1:]
    extra = ["--shape", "realistic", "--services", "50"]
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--spans", type=int, default=3_000_000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--query", action="store_true")
    ap.add_argument("--query-spans", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=100)
    a = ap.parse_args(argv)
    for pair in range(a.pairs):
        for on in (True, False):
            gw = Gateway(a.gateway, on)
            try:
                rate = fill(gw, a.loadgen, a.spans, extra)
            finally:
                gw.stop()
            print(f"pair {pair + 1}, span_metrics {'on ' if on else 'off'}: {rate:,.0f} spans per gateway CPU s", flush=True)
    if a.query:
        gw = Gateway(a.gateway, True)
        try:
            rate = fill(gw, a.loadgen, a.query_spans, extra + ["--backdate", "24h"])
            print(f"{a.query_spans:,} spans over 24 h: {rate:,.0f} spans per gateway CPU s", flush=True)
            query(gw, a.runs)
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
