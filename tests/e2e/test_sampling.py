"""Sampling processors with the real binary: gateway A (`otlp` -> sampler -> `otlp` exporter)
forwards to gateway B (`otlp` -> `file`), and what B wrote is what A kept.

* `tail_sampling`: OTel SDK traffic, each trace's spans spread over several requests; every
  error trace and every slow trace must arrive whole, and about the configured share of the
  rest (decision_wait scaled down to 1s).
* `probabilistic_sampler` at 25%: 100k traces as raw OTLP requests, each trace's two spans in
  different requests; 25% +- 2% of the traces arrive, and never only part of one.
"""

from __future__ import annotations

import random
import time

import grpc
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.trace import Status, StatusCode

from conftest import free_port, wait_until
from otlp_util import export_or_fail, read_proto_file, recording_provider, span_count

DELIVERY_TIMEOUT = 120.0


def sink_config(grpc_port: int, path) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}}},
        "exporters": {"file": {"path": str(path), "format": "proto"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }


def sampler_config(grpc_port: int, sink_port: int, processor_id: str, processor: dict) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}}},
        "processors": {processor_id: processor},
        "exporters": {"otlp": {"endpoint": f"127.0.0.1:{sink_port}", "tls": {"insecure": True}}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": [processor_id], "exporters": ["otlp"]}}},
    }


def spans_by_trace(path) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for req in read_proto_file(path):
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out[s.trace_id] = out.get(s.trace_id, 0) + 1
    return out


def wait_all_decided(gw, processor: str, sent: int) -> tuple[float, float]:
    """Waits until the processor has let through or dropped every span it was sent."""
    def settled():
        incoming = gw.metric("tracegate_processor_incoming_spans", processor=processor)
        outgoing = gw.metric("tracegate_processor_outgoing_spans", processor=processor)
        dropped = gw.metric("tracegate_processor_dropped_spans", processor=processor)
        return incoming == sent and outgoing + dropped == sent
    wait_until(settled, DELIVERY_TIMEOUT, f"{processor} to decide all {sent} spans")
    return (gw.metric("tracegate_processor_outgoing_spans", processor=processor),
            gw.metric("tracegate_processor_dropped_spans", processor=processor))


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(gateways, tmp_path):
    b_port, a_port = free_port(), free_port()
    out = tmp_path / "kept.pb"
    gateways(sink_config(b_port, out), name="b")
    tail = {
        "decision_wait": "1s",
        "num_traces": 10000,
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
            {"name": "share", "type": "probabilistic", "probabilistic": {"sampling_percentage": 20}},
        ],
    }
    a = gateways(sampler_config(a_port, b_port, "tail_sampling", tail), name="a")

    provider, memory = recording_provider({"service.name": "shop"})
    tracer = provider.get_tracer("tracegate.e2e.sampling")
    kinds: dict[int, str] = {}
    start = time.time_ns()
    for i in range(900):
        kind = "error" if i % 9 == 0 else "slow" if i % 9 == 1 else "plain"
        length = 1_500_000_000 if kind == "slow" else 20_000_000
        t0 = start + i * 1000
        root = tracer.start_span(f"GET /{kind}", start_time=t0)
        kinds[root.get_span_context().trace_id] = kind
        ctx = trace_api.set_span_in_context(root)
        for step in range(2):
            child = tracer.start_span(f"step {step}", context=ctx, start_time=t0 + 1000)
            if kind == "error" and step == 1:
                child.set_status(Status(StatusCode.ERROR, "boom"))
            child.end(end_time=t0 + 2000)
        root.end(end_time=t0 + length)
    spans = list(memory.get_finished_spans())
    # Spread each trace's spans over several requests.
    random.Random(7).shuffle(spans)
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{a_port}", insecure=True, timeout=30)
    for i in range(0, len(spans), 150):
        export_or_fail(exporter, spans[i : i + 150])
    exporter.shutdown()

    kept_spans, dropped = wait_all_decided(a, "tail_sampling", len(spans))
    wait_until(lambda: span_count(read_proto_file(out)) >= kept_spans, DELIVERY_TIMEOUT, f"{kept_spans:.0f} spans in B's file")
    kept = spans_by_trace(out)
    assert span_count(read_proto_file(out)) == kept_spans
    by_id = {tid.to_bytes(16, "big"): kind for tid, kind in kinds.items()}
    assert all(n == 3 for n in kept.values()), "a trace arrived in part"
    for kind in ("error", "slow"):
        want = {t for t, k in by_id.items() if k == kind}
        missing = want - set(kept)
        assert not missing, f"{len(missing)} of {len(want)} {kind} traces were not kept"
    plain = [t for t, k in by_id.items() if k == "plain"]
    share = sum(1 for t in plain if t in kept) / len(plain)
    # 700 plain traces at 20%: the standard deviation is 1.5 points; allow 4 of them.
    assert 0.14 <= share <= 0.26, f"{share:.1%} of plain traces kept, configured 20%"
    assert dropped == len(spans) - kept_spans


def raw_requests(traces: int, per_request: int, seed: int) -> tuple[list[ExportTraceServiceRequest], int]:
    """`traces` traces of two spans; the first spans of all traces, then the second spans, so a
    trace's two spans always travel in different requests."""
    rng = random.Random(seed)
    ids = [rng.getrandbits(128).to_bytes(16, "big") for _ in range(traces)]
    attrs = [KeyValue(key="service.name", value=AnyValue(string_value="load"))]
    requests = []
    for half in (0, 1):
        for lo in range(0, traces, per_request):
            req = ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            rs.resource.attributes.extend(attrs)
            ss = rs.scope_spans.add()
            for n, tid in enumerate(ids[lo : lo + per_request], start=lo):
                ss.spans.add(trace_id=tid, span_id=(2 * n + half + 1).to_bytes(8, "big"), name="op",
                             start_time_unix_nano=1, end_time_unix_nano=2)
            requests.append(req)
    return requests, 2 * traces


@pytest.mark.parametrize("mode", ["hash_seed", "proportional"])
def test_probabilistic_sampler_keeps_a_quarter_of_100k_traces_whole(mode, gateways, tmp_path):
    b_port, a_port = free_port(), free_port()
    out = tmp_path / "kept.pb"
    gateways(sink_config(b_port, out), name="b")
    sampler = {"sampling_percentage": 25, "mode": mode}
    if mode == "hash_seed":
        sampler["hash_seed"] = 22
    a = gateways(sampler_config(a_port, b_port, "probabilistic_sampler", sampler), name="a")

    traces = 100_000
    requests, sent = raw_requests(traces, 5000, seed=25)
    with grpc.insecure_channel(f"127.0.0.1:{a_port}") as channel:
        stub = TraceServiceStub(channel)
        for req in requests:
            stub.Export(req, timeout=60)

    kept_spans, dropped = wait_all_decided(a, "probabilistic_sampler", sent)
    wait_until(lambda: span_count(read_proto_file(out)) >= kept_spans, DELIVERY_TIMEOUT, f"{kept_spans:.0f} spans in B's file")
    kept = spans_by_trace(out)
    assert all(n == 2 for n in kept.values()), f"{sum(1 for n in kept.values() if n != 2)} traces split"
    share = len(kept) / traces
    assert 0.23 <= share <= 0.27, f"{share:.2%} of traces kept, configured 25%"
    assert dropped == sent - 2 * len(kept)
