"""The sled store keeps what it acknowledged and forgets what retention expires.

Durability: every export the SDK saw succeed must survive `kill -9` of the gateway: a second
gateway opened on the same directory serves each of those traces, whole, from
`/api/traces/{id}`, and then stops cleanly. Three pipelines promise that, each checked:
  * `direct`: no batch, the exporter's queue off, `sync_on_write`: the receiver answers after
    the store synced;
  * `batch`: the same behind `batch` with `wait_for_result: true`;
  * `queue`: `batch` (wait_for_result) into a persistent sending queue: the answer comes once
    the batch is in the queue's files, and the restarted gateway delivers it to the store.

Retention: with `retention: 6s` and `partition: 1s`, a trace whose spans started 4 s ago
disappears from the query API within a few seconds while a trace that started now stays.
"""

from __future__ import annotations

import time

import pytest

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind

from conftest import Gateway, wait_until
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, jaeger_trace_id, query_ok, store_config, trace_or_none, wait_for_trace

TRACES = 20
SPANS_PER_TRACE = 3


DURABLE_SHAPES = ["direct", "batch", "queue"]


def durable_config(path, ports: QueryPorts, shape: str = "direct") -> dict:
    """A pipeline that acknowledges only what is on disk (see the module doc for the shapes)."""
    if shape == "queue":
        config = store_config(path, ports, sled={"sync_on_write": True, "sending_queue": {"storage": "file_storage"}})
        config["extensions"]["file_storage"] = {"directory": str(path.parent / "queue")}
        config["service"]["extensions"].append("file_storage")
    else:
        config = store_config(path, ports, sled={"sync_on_write": True, "sending_queue": {"enabled": False}})
    if shape == "direct":
        del config["processors"]
        config["service"]["pipelines"]["traces"]["processors"] = []
    else:
        config["processors"]["batch"]["wait_for_result"] = True
    return config


def send_trace(exporter: OTLPSpanExporter, n: int) -> str:
    """One trace of SPANS_PER_TRACE spans in its own export call; returns its id once the SDK
    reports SUCCESS (an OK answer from the gateway)."""
    provider, memory = recording_provider({"service.name": "durable", "run": "kill-9"})
    tracer = provider.get_tracer("persistence")
    with tracer.start_as_current_span(f"request-{n}", kind=SpanKind.SERVER, attributes={"n": n}) as root:
        for i in range(SPANS_PER_TRACE - 1):
            with tracer.start_as_current_span(f"step-{i}", attributes={"n": n, "i": i}):
                pass
    export_or_fail(exporter, list(memory.get_finished_spans()))
    return jaeger_trace_id(root.get_span_context().trace_id)


@pytest.mark.parametrize("shape", DURABLE_SHAPES)
def test_acknowledged_traces_survive_kill_9(tracegate_bin, tmp_path, gateways, shape):
    db = tmp_path / "db"
    ports = QueryPorts()
    first = Gateway(tracegate_bin, tmp_path, durable_config(db, ports, shape), name="before-kill")
    try:
        first.start()
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True)
        acked = [send_trace(exporter, n) for n in range(TRACES)]
        exporter.shutdown()
    finally:
        # A crash, not a shutdown: nothing gets a chance to flush.
        code = first.kill()
    assert code == -9, f"the gateway should have died of SIGKILL, got {code}\n{first.describe()}"

    again = QueryPorts()
    second = gateways(durable_config(db, again, shape), name="after-kill")
    for trace_id in acked:
        # The queue shape delivers after the restart; the others have it stored already.
        trace = wait_for_trace(again.query, trace_id, SPANS_PER_TRACE) if shape == "queue" else trace_or_none(again.query, trace_id)
        assert trace is not None, f"acknowledged trace {trace_id} is missing after kill -9\n{second.describe()}"
        assert len(trace["spans"]) == SPANS_PER_TRACE, f"trace {trace_id} lost spans: {trace['spans']}"
        assert {s["operationName"] for s in trace["spans"]} == {
            f"request-{acked.index(trace_id)}", *(f"step-{i}" for i in range(SPANS_PER_TRACE - 1))}
    found = query_ok(again.query, "/api/traces", {"service": "durable", "limit": TRACES * 2})
    assert sorted(t["traceID"] for t in found["data"]) == sorted(acked), "the indexes survived too"
    assert query_ok(again.query, "/api/services")["data"] == ["durable"]
    # The restarted store still takes writes, then stops cleanly (SIGTERM -> exit 0).
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{again.otlp_grpc}", insecure=True)
    late = send_trace(exporter, TRACES)
    exporter.shutdown()
    wait_for_trace(again.query, late, SPANS_PER_TRACE)
    second.stop()


def send_at(ports: QueryPorts, name: str, start_ns: int) -> str:
    provider, memory = recording_provider({"service.name": "retained"})
    span = provider.get_tracer("retention").start_span(
        name, start_time=start_ns, context=trace_api.set_span_in_context(trace_api.INVALID_SPAN))
    span.end(end_time=start_ns + 1_000_000)
    export_or_fail(OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True),
                   list(memory.get_finished_spans()))
    return jaeger_trace_id(span.get_span_context().trace_id)


def test_retention_expires_old_partitions_only(tmp_path, gateways):
    ports = QueryPorts()
    gateways(store_config(tmp_path / "db", ports, sled={"retention": "6s", "partition": "1s"}))
    now = time.time_ns()
    old = send_at(ports, "old", now - 4_000_000_000)  # its partition ends ~3 s ago: expires in ~3 s
    new = send_at(ports, "new", now)  # expires in ~7 s
    wait_for_trace(ports.query, old, 1)
    wait_for_trace(ports.query, new, 1)
    wait_until(lambda: trace_or_none(ports.query, old) is None, 15.0, "the old trace to expire")
    assert trace_or_none(ports.query, new) is not None, "the newer trace must outlive the old one"
    found = query_ok(ports.query, "/api/traces", {"service": "retained"})
    assert [t["traceID"] for t in found["data"]] == [new]
