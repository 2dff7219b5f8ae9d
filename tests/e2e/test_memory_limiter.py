"""The memory_limiter under a flood, as a client and an operator see it.

Gateway A (OTLP in -> memory_limiter -> an `otlp` exporter with a large blocking queue and
endless retries) forwards to gateway B, which is down at first: everything A accepts piles up
in A's memory. Four clients post large OTLP/HTTP requests as fast as A answers (far more than
the zero that drains), and a monitor reads A's resident memory from /proc/<pid>/status every
few milliseconds. Clients honour Retry-After on a 503, as the OTel SDKs back off. Then B comes
up, A's queue drains into B's `file` exporter, and the clients keep posting.

The limiter judges the span data the pipeline holds (`tracegate_pipeline_held_bytes`), not
the resident set, so `limit_mib` bounds what A holds on top of its idle footprint.

What must hold:
* A's resident memory stays below its idle footprint plus `limit_mib` (the hard limit);
* clients are told to back off: HTTP 503 with Retry-After, and gRPC UNAVAILABLE, while A is
  over its soft limit;
* A accepts again once its queue has drained;
* every span A acknowledged reaches B, exactly: B's file holds as many spans as the 200s
  acknowledged, no fewer and no more.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from conftest import free_port, wait_until
from otlp_util import read_proto_file, span_count
from test_otlp_roundtrip import otlp_receiver, sink_config

MIB = 1024 * 1024
SPANS_PER_REQUEST = 250
# The soft limit is reached after LIMIT_MIB - SPIKE_MIB of queued data, well under a minute of
# flooding even on a loaded machine.
LIMIT_MIB = 64
SPIKE_MIB = 24
CLIENTS = 4
DELIVERY_TIMEOUT = 240.0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def fat_request() -> bytes:
    """250 spans of ~2 KB each (a ~0.5 MB body): memory fills quickly, requests stay small."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key = "service.name"
    attr.value.string_value = "flood"
    ss = rs.scope_spans.add()
    trace_id = os.urandom(16)
    for i in range(SPANS_PER_REQUEST):
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = os.urandom(8)
        span.name = f"flood-{i}"
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_000_000 + i + 1000
        payload = span.attributes.add()
        payload.key = "payload"
        payload.value.string_value = os.urandom(1024).hex()
    return req.SerializeToString()


def gateway_a(a_grpc: int, a_http: int, b_grpc: int, limit_mib: int) -> dict:
    return {
        "receivers": {"otlp": otlp_receiver(a_grpc, a_http)},
        "processors": {
            "memory_limiter": {"check_interval": "50ms", "limit_mib": limit_mib, "spike_limit_mib": SPIKE_MIB},
        },
        "exporters": {
            "otlp": {
                "endpoint": f"127.0.0.1:{b_grpc}",
                "tls": {"insecure": True},
                "timeout": "10s",
                # Room for far more than the limit allows: the limiter, not the queue, pushes back.
                "sending_queue": {"num_consumers": 2, "sizer": "bytes", "queue_size": 1 << 30, "when_full": "block"},
                "retry_on_failure": {
                    "enabled": True,
                    "initial_interval": "100ms",
                    "max_interval": "500ms",
                    "randomization_factor": 0,
                    "max_elapsed_time": "0s",
                },
            }
        },
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": ["otlp"]}}
        },
    }


class Flood:
    """CLIENTS threads posting the same body as fast as the gateway answers, counting answers."""

    def __init__(self, url: str, body: bytes):
        self.url = url
        self.body = body
        self.lock = threading.Lock()
        self.acked_requests = 0
        self.refused = 0
        self.retry_after: set[str] = set()
        self.unexpected: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        while not self.stop.is_set():
            req = urllib.request.Request(self.url, data=self.body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()
                    status, retry_after = resp.status, None
            except urllib.error.HTTPError as e:
                e.read()
                status, retry_after = e.code, e.headers.get("Retry-After")
            except OSError as e:
                with self.lock:
                    self.unexpected.append(f"{type(e).__name__}: {e}")
                continue
            with self.lock:
                if status == 200:
                    self.acked_requests += 1
                elif status == 503:
                    self.refused += 1
                    self.retry_after.add(str(retry_after))
                else:
                    self.unexpected.append(f"HTTP {status}")
            if status == 503:
                # Back off as told, as the OTel SDKs do.
                time.sleep(float(retry_after or 1))

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.acked_requests, self.refused

    def __enter__(self) -> "Flood":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


class RssMonitor:
    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.005)

    def __enter__(self) -> "RssMonitor":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def idle_rss_mib(gateways, tmp_path) -> int:
    """The resident memory of the same gateway, idle after a few requests: what the limit
    bounds comes on top of it, whatever the build flags."""
    a_grpc, a_http, b_grpc = free_port(), free_port(), free_port()
    probe = gateways(gateway_a(a_grpc, a_http, b_grpc, 100_000), name="probe")
    body = fat_request()
    for _ in range(3):
        req = urllib.request.Request(f"http://127.0.0.1:{a_http}/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
    rss = rss_bytes(probe.proc.pid)
    probe.kill()  # its queue can never drain (nothing listens on b_grpc)
    return rss // MIB


def test_flood_keeps_rss_under_the_limit_backs_clients_off_and_loses_nothing_acknowledged(gateways, tmp_path):
    idle_mib = idle_rss_mib(gateways, tmp_path)
    limit_mib = LIMIT_MIB
    a_grpc, a_http, b_grpc, b_http = (free_port() for _ in range(4))
    b_out = tmp_path / "b.pb"
    a = gateways(gateway_a(a_grpc, a_http, b_grpc, limit_mib), name="a")
    body = fat_request()

    with RssMonitor(a.proc.pid) as rss, Flood(f"http://127.0.0.1:{a_http}/v1/traces", body) as flood:
        # Phase 1: B is down; A fills up to its soft limit and then refuses.
        wait_until(lambda: flood.snapshot()[1] >= 20, DELIVERY_TIMEOUT, "A to refuse requests with 503")
        assert "memory usage is above soft limit; refusing data" in a.stderr(), a.stderr()[-3000:]

        # gRPC clients are told UNAVAILABLE meanwhile.
        with grpc.insecure_channel(f"127.0.0.1:{a_grpc}") as channel:
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            try:
                TraceServiceStub(channel).Export(req, timeout=10)
                grpc_refused = None
            except grpc.RpcError as e:
                grpc_refused = e.code()
        acked_while_down = flood.snapshot()[0]

        # Phase 2: B comes up; A's queue drains and A accepts again under the same flood.
        gateways(sink_config(b_grpc, b_http, b_out), name="b")
        wait_until(lambda: flood.snapshot()[0] >= acked_while_down + 10, DELIVERY_TIMEOUT,
                   "A to accept requests again once its queue drains into B")
    acked = flood.snapshot()[0] * SPANS_PER_REQUEST
    refused = flood.snapshot()[1]

    assert not flood.unexpected, flood.unexpected[:5]
    assert grpc_refused == grpc.StatusCode.UNAVAILABLE, grpc_refused
    assert flood.retry_after == {"1"}, flood.retry_after
    assert rss.peak < (idle_mib + limit_mib) * MIB, (
        f"A's resident memory peaked at {rss.peak / MIB:.1f} MiB, over its idle {idle_mib} MiB + limit_mib {limit_mib}\n{a.stderr()[-3000:]}")

    # Every acknowledged span arrives at B, exactly once.
    wait_until(lambda: span_count(read_proto_file(b_out)) >= acked, DELIVERY_TIMEOUT,
               f"{acked} acknowledged spans at B")
    wait_until(lambda: a.metric("tracegate_exporter_queue_size", exporter="otlp") == 0, DELIVERY_TIMEOUT,
               "A's queue to be empty")
    assert span_count(read_proto_file(b_out)) == acked
    assert a.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="http") == refused * SPANS_PER_REQUEST
    # The limiter counts what it refused itself (the gRPC probe's refusals too).
    assert a.metric("tracegate_processor_refused_spans", processor="memory_limiter") >= refused * SPANS_PER_REQUEST
    print(f"idle {idle_mib} MiB + limit {limit_mib} MiB, peak RSS {rss.peak / MIB:.1f} MiB, {acked} spans acknowledged, {refused} requests refused")
