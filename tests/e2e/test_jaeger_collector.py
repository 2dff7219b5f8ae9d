"""`config-examples/jaeger-collector.yaml` as shipped (only its ports moved to free ones), as
Jaeger agents and Zipkin reporters see it: gRPC `PostSpans` on the jaeger receiver's gRPC port
(with the api_v2 proto model, per-span processes included), Thrift over HTTP, Zipkin v2 JSON,
and sampling strategies over gRPC on the collector port. Everything arrives at the OTLP backend
the example forwards to, translated by the rules.
"""

from __future__ import annotations

import json

import grpc
import yaml
from opentelemetry.exporter.jaeger.thrift.gen.jaeger import Collector as TCollector
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TTransport import TMemoryBuffer

from conftest import CONFIG_EXAMPLES, free_port, http_post
from jaeger_proto import GET_SAMPLING_STRATEGY, M, POST_SPANS
from test_otlp_roundtrip import sink_config
from trace_view import by_name, wait_for_spans

TRACE = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
OTHER_TRACE = bytes.fromhex("00000000000000000000000000000abc")
START = 1_700_000_000  # seconds


def kv(key, value):
    """A Jaeger proto KeyValue of the type the Python value has."""
    if isinstance(value, bool):
        return M["KeyValue"](key=key, v_type=1, v_bool=value)
    if isinstance(value, int):
        return M["KeyValue"](key=key, v_type=2, v_int64=value)
    if isinstance(value, float):
        return M["KeyValue"](key=key, v_type=3, v_float64=value)
    if isinstance(value, bytes):
        return M["KeyValue"](key=key, v_type=4, v_binary=value)
    return M["KeyValue"](key=key, v_type=0, v_str=value)


def proto_batch():
    Span, SpanRef, Log, Process = M["Span"], M["SpanRef"], M["Log"], M["Process"]
    root = Span(
        trace_id=TRACE, span_id=bytes.fromhex("1111111111111111"), operation_name="grpc root",
        start_time={"seconds": START, "nanos": 123_456_000}, duration={"nanos": 5_000_000},
        tags=[kv("span.kind", "server"), kv("s", "x"), kv("b", True), kv("i", -42), kv("d", 2.5), kv("raw", b"\x00\xff")],
        logs=[Log(timestamp={"seconds": START, "nanos": 124_000_000}, fields=[kv("event", "retry"), kv("attempt", 2)])],
    )
    child = Span(
        trace_id=TRACE, span_id=bytes.fromhex("2222222222222222"), operation_name="grpc child",
        start_time={"seconds": START, "nanos": 125_000_000}, duration={"nanos": 1_000},
        references=[SpanRef(trace_id=TRACE, span_id=root.span_id, ref_type=0),
                    SpanRef(trace_id=OTHER_TRACE, span_id=bytes.fromhex("3333333333333333"), ref_type=1)],
        tags=[kv("span.kind", "client"), kv("error", True), kv("otel.status_description", "timed out")],
    )
    # A span carrying its own process, as agents batching several clients send them.
    own = Span(
        trace_id=TRACE, span_id=bytes.fromhex("4444444444444444"), operation_name="grpc own process",
        start_time={"seconds": START, "nanos": 126_000_000}, duration={"nanos": 2_000},
        references=[SpanRef(trace_id=TRACE, span_id=root.span_id, ref_type=0)],
        process=Process(service_name="sidecar", tags=[kv("hostname", "node-7")]),
    )
    process = Process(service_name="grpc-app", tags=[kv("jaeger.version", "Go-2.30.0"), kv("ip", "10.1.2.3"), kv("zone", 3)])
    return M["PostSpansRequest"](batch=M["Batch"](spans=[root, child, own], process=process))


def thrift_http_body() -> bytes:
    batch = TCollector.Batch(
        process=TCollector.Process(serviceName="http-app"),
        spans=[TCollector.Span(traceIdLow=7, traceIdHigh=0, spanId=8, parentSpanId=0, operationName="http span", flags=1,
                               startTime=START * 1_000_000, duration=10,
                               tags=[TCollector.Tag(key="n", vType=TCollector.TagType.LONG, vLong=5)])],
    )
    buffer = TMemoryBuffer()
    batch.write(TBinaryProtocol(buffer))
    return buffer.getvalue()


def test_jaeger_collector_example_replaces_a_collector(gateways, tmp_path):
    b_grpc, b_http = free_port(), free_port()
    out = tmp_path / "b.pb"
    gateways(sink_config(b_grpc, b_http, out), name="backend")

    config = yaml.safe_load((CONFIG_EXAMPLES / "jaeger-collector.yaml").read_text())
    http_port, grpc_port, zipkin_port = free_port(), free_port(), free_port()
    protocols = config["receivers"]["jaeger"]["protocols"]
    protocols["thrift_http"]["endpoint"] = f"127.0.0.1:{http_port}"
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    config["receivers"]["zipkin"]["endpoint"] = f"127.0.0.1:{zipkin_port}"
    config["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["service"]["telemetry"]["metrics"]["address"] = f"127.0.0.1:{free_port()}"
    gateways(config, name="collector", env={
        "OTLP_ENDPOINT": f"127.0.0.1:{b_grpc}",
        "SAMPLING_STRATEGIES": str(CONFIG_EXAMPLES / "sampling-strategies.json"),
    })

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        post = channel.unary_unary(POST_SPANS, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=M["PostSpansResponse"].FromString)
        post(proto_batch(), timeout=10)
        strategy = channel.unary_unary(GET_SAMPLING_STRATEGY, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=M["SamplingStrategyResponse"].FromString)
        frontend = strategy(M["SamplingStrategyParameters"](serviceName="frontend"), timeout=10)
        assert (frontend.strategyType, frontend.rateLimitingSampling.maxTracesPerSecond) == (1, 20)

    status, _, answer = http_post(f"http://127.0.0.1:{http_port}/api/traces", thrift_http_body(), "application/x-thrift")
    assert status == 202, answer
    zipkin = [{"traceId": "00000000000000090000000000000009", "id": "000000000000000a", "name": "zipkin span",
               "kind": "CLIENT", "timestamp": START * 1_000_000, "duration": 3,
               "localEndpoint": {"serviceName": "zipkin-app"}, "tags": {"http.path": "/x"}}]
    status, _, answer = http_post(f"http://127.0.0.1:{zipkin_port}/api/v2/spans", json.dumps(zipkin).encode(), "application/json")
    assert status == 202, answer

    got = by_name(wait_for_spans(out, 5, "every span at the OTLP backend"))
    assert set(got) == {"grpc root", "grpc child", "grpc own process", "http span", "zipkin span"}

    root, child, own = got["grpc root"], got["grpc child"], got["grpc own process"]
    assert root.resource == {"service.name": ("string", "grpc-app"), "opencensus.exporterversion": ("string", "Jaeger-Go-2.30.0"),
                             "ip": ("string", "10.1.2.3"), "zone": ("int", 3)}
    assert own.resource == {"service.name": ("string", "sidecar"), "host.name": ("string", "node-7")}
    assert (root.trace_id, root.span_id, root.parent_span_id, root.kind) == (TRACE.hex(), "1111111111111111", "", "SERVER")
    assert root.attributes == {"s": ("string", "x"), "b": ("bool", True), "i": ("int", -42), "d": ("double", 2.5),
                               "raw": ("bytes", b"\x00\xff")}
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (START * 10**9 + 123_456_000, START * 10**9 + 128_456_000)
    assert [(e.name, e.time_unix_nano, e.attributes) for e in root.events] == [
        ("retry", START * 10**9 + 124_000_000, {"attempt": ("int", 2)})]
    assert (child.parent_span_id, child.kind, child.status, child.status_message) == (
        "1111111111111111", "CLIENT", "ERROR", "timed out")
    assert child.attributes == {}
    assert [(l.trace_id, l.span_id, l.attributes) for l in child.links] == [
        (OTHER_TRACE.hex(), "3333333333333333", {"opentracing.ref_type": ("string", "follows_from")})]
    assert own.parent_span_id == "1111111111111111" and own.links == []

    http_span = got["http span"]
    assert (http_span.service, http_span.trace_id, http_span.attributes) == (
        "http-app", "00000000000000000000000000000007", {"n": ("int", 5)})
    z = got["zipkin span"]
    assert (z.service, z.kind, z.trace_id, z.attributes) == (
        "zipkin-app", "CLIENT", "00000000000000090000000000000009", {"http.path": ("string", "/x")})
