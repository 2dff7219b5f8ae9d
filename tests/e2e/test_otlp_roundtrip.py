"""OTLP in, OTLP out, nothing lost or changed.

The real OpenTelemetry Python SDK sends a trace that uses every span feature to gateway A
(`otlp` receiver -> `batch` -> `otlp` or `otlphttp` exporter), which forwards to gateway B
(`otlp` receiver -> `file` exporter, proto format). What B wrote must equal, field by field,
what the SDK itself encodes for the same spans.
"""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from grpc import Compression as GrpcCompression

from conftest import free_port, wait_until
from otlp_util import (
    assert_same_records,
    emit_rich_spans,
    expected_records,
    export_or_fail,
    flatten,
    read_proto_file,
    recording_provider,
    span_count,
)

DELIVERY_TIMEOUT = 60.0


def otlp_receiver(grpc_port: int, http_port: int) -> dict:
    return {
        "protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
            "http": {"endpoint": f"127.0.0.1:{http_port}"},
        }
    }


def sink_config(grpc_port: int, http_port: int, path) -> dict:
    """Gateway B: OTLP in, every batch appended to a file as length-prefixed protobuf."""
    return {
        "receivers": {"otlp": otlp_receiver(grpc_port, http_port)},
        "exporters": {"file": {"path": str(path), "format": "proto"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }


def forwarder_config(grpc_port: int, http_port: int, exporter_id: str, exporter: dict) -> dict:
    """Gateway A: OTLP in -> batch -> one OTLP exporter."""
    return {
        "receivers": {"otlp": otlp_receiver(grpc_port, http_port)},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {exporter_id: exporter},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": [exporter_id]}}
        },
    }


# (how the SDK sends to A, SDK compression, A's exporter to B)
CASES = {
    "sdk-grpc_to_otlp-none": ("grpc", None, "otlp", {"compression": "none"}),
    "sdk-grpc_to_otlp-zstd": ("grpc", None, "otlp", {"compression": "zstd"}),
    "sdk-grpc-gzip_to_otlphttp": ("grpc", "gzip", "otlphttp", {}),
    "sdk-http_to_otlp-gzip": ("http", None, "otlp", {"compression": "gzip"}),
    "sdk-http-gzip_to_otlphttp-gzip": ("http", "gzip", "otlphttp", {"compression": "gzip"}),
    "sdk-http_to_otlphttp-json": ("http", None, "otlphttp", {"encoding": "json"}),
    "sdk-grpc_to_otlphttp-json-zstd": ("grpc", None, "otlphttp", {"encoding": "json", "compression": "zstd"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_span_field_arrives_unchanged(case, gateways, tmp_path):
    sdk_protocol, sdk_compression, exporter_type, exporter_extra = CASES[case]
    b_grpc, b_http, a_grpc, a_http = (free_port() for _ in range(4))
    out = tmp_path / "b-spans.pb"
    gateways(sink_config(b_grpc, b_http, out), name="b")

    if exporter_type == "otlp":
        exporter = {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True}}
    else:
        exporter = {"endpoint": f"http://127.0.0.1:{b_http}"}
    exporter.update(exporter_extra)
    gateways(forwarder_config(a_grpc, a_http, exporter_type, exporter), name="a")

    # Two services, so A's batch sees two resources and must keep each span under its own.
    frontend, frontend_spans = recording_provider(
        {
            "service.name": "frontend",
            "service.version": "2.0.1",
            "deployment.environment": "e2e",
            "host.cores": 2,
            "feature.flags": ["a", "b"],
            "sampled.ratio": 0.5,
            "canary": False,
        },
        schema_url="https://opentelemetry.io/schemas/1.21.0",
    )
    backend, backend_spans = recording_provider({"service.name": "backend"})
    emit_rich_spans(frontend, "frontend")
    emit_rich_spans(backend, "backend")

    if sdk_protocol == "grpc":
        compression = GrpcCompression.Gzip if sdk_compression == "gzip" else None
        make = lambda: GrpcSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True, compression=compression, timeout=30)
    else:
        compression = HttpCompression.Gzip if sdk_compression == "gzip" else HttpCompression.NoCompression
        make = lambda: HttpSpanExporter(endpoint=f"http://127.0.0.1:{a_http}/v1/traces", compression=compression, timeout=30)
    sent = []
    for memory in (frontend_spans, backend_spans):
        spans = list(memory.get_finished_spans())
        sent.extend(spans)
        exporter_client = make()
        export_or_fail(exporter_client, spans)
        exporter_client.shutdown()

    want = expected_records(sent)
    wait_until(lambda: span_count(read_proto_file(out)) >= len(want), DELIVERY_TIMEOUT,
               f"{len(want)} spans in gateway B's file")
    got = flatten(read_proto_file(out))
    assert_same_records(got, want)

    # Every feature really was exercised (guards against the test silently thinning out).
    kinds = {r.span["kind"] for r in want.values()}
    assert kinds == {"SPAN_KIND_SERVER", "SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}
    assert any(r.span["status"].get("code") == "STATUS_CODE_ERROR" and r.span["status"].get("message") for r in want.values())
    assert any(r.span["links"] for r in want.values()) and any(r.span["events"] for r in want.values())
    assert len({r.span["trace_id"] for r in want.values()}) >= 3


def full_anyvalue_request():
    """A request with what the Python SDK cannot produce: bytes and key-value-list values,
    nested arrays, dropped counts, trace state and flags, entity-free resource attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key, **value):
        return KeyValue(key=key, value=AnyValue(**value))

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://example.com/resource-schema")
    rs.resource.attributes.extend([kv("service.name", string_value="raw-anyvalue")])
    rs.resource.dropped_attributes_count = 2
    ss = rs.scope_spans.add(schema_url="https://example.com/scope-schema")
    ss.scope.name, ss.scope.version = "raw", "9.9"
    ss.scope.dropped_attributes_count = 1
    span = ss.spans.add(
        trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), parent_span_id=bytes(range(9, 17)),
        trace_state="a=1,b=2", name="raw span", kind=3, flags=0x301,
        start_time_unix_nano=1, end_time_unix_nano=2**63 - 1,
        dropped_attributes_count=3, dropped_events_count=4, dropped_links_count=5,
    )
    inner = AnyValue()
    inner.kvlist_value.values.extend([kv("k", string_value="v"), kv("n", int_value=-1)])
    nested = AnyValue()
    nested.array_value.values.extend([AnyValue(bytes_value=b"\x00\xff"), inner, AnyValue(double_value=1.5)])
    span.attributes.extend([
        kv("bytes", bytes_value=b"\x00\x01\xfe\xff"),
        KeyValue(key="kvlist", value=inner),
        KeyValue(key="nested", value=nested),
        KeyValue(key="empty"),  # a key with no value at all
    ])
    ev = span.events.add(time_unix_nano=5, name="ev", dropped_attributes_count=6)
    ev.attributes.extend([kv("b", bool_value=True)])
    link = span.links.add(trace_id=bytes(16 * [7]), span_id=bytes(8 * [8]), trace_state="x=y",
                          dropped_attributes_count=7, flags=0x100)
    link.attributes.extend([kv("l", string_value="link")])
    span.status.code, span.status.message = 2, "broken"
    return req


@pytest.mark.parametrize("exporter_type", ["otlp", "otlphttp"])
def test_value_types_the_sdk_cannot_make_arrive_unchanged(exporter_type, gateways, tmp_path):
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

    b_grpc, b_http, a_grpc, a_http = (free_port() for _ in range(4))
    out = tmp_path / "b-spans.pb"
    gateways(sink_config(b_grpc, b_http, out), name="b")
    if exporter_type == "otlp":
        exporter = {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True}}
    else:
        exporter = {"endpoint": f"http://127.0.0.1:{b_http}"}
    gateways(forwarder_config(a_grpc, a_http, exporter_type, exporter), name="a")

    sent = full_anyvalue_request()
    with grpc.insecure_channel(f"127.0.0.1:{a_grpc}") as channel:
        TraceServiceStub(channel).Export(sent, timeout=30)
    wait_until(lambda: span_count(read_proto_file(out)) >= 1, DELIVERY_TIMEOUT, "the span in gateway B's file")
    (got,) = read_proto_file(out)
    assert got == sent, f"sent:\n{sent}\ngot:\n{got}"
