"""Acknowledged = durable, with the shipped configs and no extra setting (docs/durability.md).

Each test runs one example from config-examples/ exactly as shipped, but for its ports and its
data directories, for ROUNDS rounds on the same data: start the gateway (the restart after the
previous round's kill), read back through the query API every trace the previous round had
acknowledged, then send a known set of traces concurrently over OTLP/HTTP and OTLP/gRPC (a
refusal is retried, as an SDK would), and kill -9 right after the last acknowledgment. Every
acknowledged trace must come back whole: 0 lost is the only passing result.

With the persistent queue the restarted gateway delivers what its queue still held to the
store, so that shape waits for the traces to appear (bounded); the all-in-one must already
have them when it answers its first query.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from conftest import CONFIG_EXAMPLES, Gateway, free_port, free_udp_port, http_post, wait_until
from query_util import query_ok

ROUNDS = 20
REQUESTS_PER_ROUND = 40  # half over HTTP, half over gRPC
TRACES_PER_REQUEST = 2
SPANS_PER_TRACE = 4
SENDERS = 8
UDP_PROTOCOLS = {"thrift_compact", "thrift_binary"}


def shipped(example: str) -> dict:
    """The example's config with every listening port replaced by a free one."""
    config = yaml.safe_load((CONFIG_EXAMPLES / example).read_text())

    def rewrite(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("endpoint", "address") and isinstance(v, str) and ":" in v:
                    port = free_udp_port() if key in UDP_PROTOCOLS else free_port()
                    node[k] = f"127.0.0.1:{port}"
                else:
                    rewrite(v, k)

    for section in ("receivers", "extensions", "service"):
        rewrite(config.get(section) or {})
    return config


def endpoint(config: dict, *path: str) -> str:
    node = config
    for key in path:
        node = node[key]
    return node


def trace_request(round_no: int, n: int) -> tuple[ExportTraceServiceRequest, list[str]]:
    """TRACES_PER_REQUEST traces of SPANS_PER_TRACE spans, timestamped now; their Jaeger ids."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "durable"
    ss = rs.scope_spans.add()
    ss.scope.name = "durability"
    now = time.time_ns()
    ids = []
    for t in range(TRACES_PER_REQUEST):
        trace_id = bytes([1 + round_no]) + os.urandom(15)  # high half non-zero: 32 hex chars
        ids.append(trace_id.hex())
        for i in range(SPANS_PER_TRACE):
            span = ss.spans.add()
            span.trace_id, span.span_id = trace_id, os.urandom(8)
            span.name = f"r{round_no}-q{n}-t{t}-s{i}"
            span.kind = 2
            span.start_time_unix_nano = now + i * 1000
            span.end_time_unix_nano = now + i * 1000 + 500_000
    return req, ids


class Sender:
    """Sends requests until each is acknowledged, alternating OTLP/HTTP and OTLP/gRPC."""

    def __init__(self, config: dict):
        protocols = config["receivers"]["otlp"]["protocols"]
        self.http_url = f"http://{protocols['http']['endpoint']}/v1/traces"
        self.channel = grpc.insecure_channel(protocols["grpc"]["endpoint"])
        self.stub = TraceServiceStub(self.channel)

    def send(self, n: int, req: ExportTraceServiceRequest) -> None:
        body = req.SerializeToString()
        deadline = time.monotonic() + 30
        while True:
            if n % 2:
                status, _, answer = http_post(self.http_url, body, "application/x-protobuf")
                if status == 200:
                    return
                retry, what = status in (429, 502, 503, 504), f"HTTP {status}: {answer[:300]!r}"
            else:
                try:
                    self.stub.Export(req, timeout=10)
                    return
                except grpc.RpcError as e:
                    retry = e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
                    what = f"gRPC {e.code()}: {e.details()}"
            assert retry and time.monotonic() < deadline, f"request {n} refused for good: {what}"
            time.sleep(0.05)

    def close(self) -> None:
        self.channel.close()


def send_round(config: dict, round_no: int) -> list[str]:
    """Sends a round's requests from SENDERS threads; returns the ids of the acknowledged traces."""
    sender = Sender(config)
    acked: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        req, ids = trace_request(round_no, n)
        sender.send(n, req)
        with lock:
            acked.extend(ids)

    try:
        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(one, range(REQUESTS_PER_ROUND)))
    finally:
        sender.close()
    return acked


def missing(query_port: int, ids: list[str]) -> list[str]:
    """The ids among `ids` the query API does not return whole."""
    found = query_ok(query_port, "/api/traces", [("traceID", i) for i in ids])
    whole = {t["traceID"] for t in found["data"] if len(t["spans"]) == SPANS_PER_TRACE}
    return [i for i in ids if i not in whole]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("example", ["all-in-one.yaml", "persistent-queue.yaml"])
def test_acknowledged_spans_survive_kill_9_with_the_shipped_config(tracegate_bin, tmp_path, example):
    config = shipped(example)
    env = {
        "TRACEGATE_DATA": str(tmp_path / "data"),
        "TRACEGATE_QUEUE": str(tmp_path / "queue"),
        "SAMPLING_STRATEGIES": str(CONFIG_EXAMPLES / "sampling-strategies.json"),
    }
    query_port = int(endpoint(config, "extensions", "jaeger_query", "http", "endpoint").rsplit(":", 1)[1])
    delivered_later = "file_storage" in (config.get("extensions") or {})
    previous: list[str] = []
    total = 0
    started = time.monotonic()
    for round_no in range(ROUNDS + 1):
        gw = Gateway(tracegate_bin, tmp_path, config, name=f"round-{round_no}", env=env)
        try:
            gw.start()
            if previous:
                if delivered_later:
                    wait_until(lambda: not missing(query_port, previous), 30.0,
                               f"round {round_no - 1}'s traces delivered from the persistent queue")
                lost = missing(query_port, previous)
                assert not lost, (f"{len(lost)} of {len(previous)} acknowledged traces of round {round_no - 1} "
                                  f"lost after kill -9: {lost[:5]}\n{gw.describe()}")
                total += len(previous)
            if round_no == ROUNDS:
                gw.stop()
                break
            previous = send_round(config, round_no)
        finally:
            if gw.running:
                code = gw.kill()  # right after the last acknowledgment
                assert code == -9, gw.describe()
    assert total == ROUNDS * REQUESTS_PER_ROUND * TRACES_PER_REQUEST
    print(f"{example}: {ROUNDS} kills, {total} traces ({total * SPANS_PER_TRACE} spans) acknowledged, "
          f"0 lost, {time.monotonic() - started:.1f} s")
