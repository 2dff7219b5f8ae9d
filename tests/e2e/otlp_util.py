"""OTLP helpers for the end-to-end tests: make spans with the real OpenTelemetry SDK, send them
with the SDK's own OTLP exporters, read what a gateway's `file` exporter wrote, and compare.

The comparison is against the SDK's own encoding (`encode_spans`) of the very spans it sent, so
"arrived unchanged" means byte-for-byte the same protobuf fields, per span, with its resource
and scope. Only the grouping and order of the resource/scope containers may differ: a batch
processor is free to merge requests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from google.protobuf.json_format import MessageToDict
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState


# ---- reading the file exporter's proto format ------------------------------------------------

def read_proto_file(path: Path) -> list[ExportTraceServiceRequest]:
    """Parses `format: proto`: records of a 4-byte big-endian length, then an
    ExportTraceServiceRequest. A trailing record still being written is left for the next read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    pos = 0
    while pos + 4 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if pos + 4 + length > len(data):
            break
        req = ExportTraceServiceRequest()
        req.ParseFromString(data[pos + 4 : pos + 4 + length])
        out.append(req)
        pos += 4 + length
    return out


def span_count(requests: Iterable[ExportTraceServiceRequest]) -> int:
    return sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)


def span_ids(requests: Iterable[ExportTraceServiceRequest]) -> list[bytes]:
    return [s.span_id for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]


@dataclass(frozen=True)
class SpanRecord:
    """One span with everything that describes where it came from."""

    resource: dict
    resource_schema_url: str
    scope: dict
    scope_schema_url: str
    span: dict


def flatten(requests: Iterable[ExportTraceServiceRequest]) -> dict[str, SpanRecord]:
    """Span id (hex) -> the span with its resource and scope, as protobuf JSON dicts so a
    mismatch prints readably. Fails on a duplicate span id: nothing may arrive twice."""
    out: dict[str, SpanRecord] = {}
    for req in requests:
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    key = span.span_id.hex()
                    assert key not in out, f"span {key} arrived more than once"
                    out[key] = SpanRecord(
                        resource=_as_dict(rs.resource),
                        resource_schema_url=rs.schema_url,
                        scope=_as_dict(ss.scope),
                        scope_schema_url=ss.schema_url,
                        span=_as_dict(span),
                    )
    return out


def _as_dict(message) -> dict:
    # Field names as in the .proto, defaults included, so a field that went missing on the
    # way shows up as a difference rather than vanishing from both sides.
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def expected_records(spans: list[ReadableSpan]) -> dict[str, SpanRecord]:
    """What the SDK itself puts on the wire for these spans."""
    return flatten([encode_spans(spans)])


def assert_same_records(got: dict[str, SpanRecord], want: dict[str, SpanRecord]) -> None:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, f"span ids differ: missing {missing}, unexpected {extra}"
    for key, expected in want.items():
        actual = got[key]
        name = expected.span.get("name")
        # Field by field, so a failure names the part that changed.
        assert actual.span == expected.span, f"span {name} ({key}) changed on the way"
        assert actual.resource == expected.resource, f"resource of span {name} changed"
        assert actual.resource_schema_url == expected.resource_schema_url, f"resource schema_url of span {name} changed"
        assert actual.scope == expected.scope, f"scope of span {name} changed"
        assert actual.scope_schema_url == expected.scope_schema_url, f"scope schema_url of span {name} changed"


# ---- making spans with the SDK ---------------------------------------------------------------

def recording_provider(resource_attributes: dict, schema_url: str = "") -> tuple[TracerProvider, InMemorySpanExporter]:
    """A TracerProvider whose finished spans are kept in memory, to be sent and compared."""
    provider = TracerProvider(resource=Resource(resource_attributes, schema_url=schema_url or None))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def export_or_fail(exporter: SpanExporter, spans: list[ReadableSpan]) -> None:
    """Sends with the SDK's own exporter; the SDK reports SUCCESS only on an OK answer."""
    result = exporter.export(spans)
    assert result == SpanExportResult.SUCCESS, f"the SDK's {type(exporter).__name__} could not export: {result}"


# Every attribute value type OTLP has, edge values included.
RICH_ATTRIBUTES = {
    "str": "hello",
    "str.empty": "",
    "str.unicode": "grüße, 世界, 🚀",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.negative": -7,
    "int.big": 2**62,
    "float": 3.25,
    "float.negative": -0.1,
    "list.str": ["a", "b", ""],
    "list.bool": [True, False, True],
    "list.int": [1, -2, 2**40],
    "list.float": [0.5, -1.25, 1e10],
}


def emit_rich_spans(provider: TracerProvider, tag: str) -> None:
    """A small trace that uses every feature of a span: kinds, nesting, attributes of each type,
    events with attributes, links (local and remote, with trace state and attributes), status
    OK and ERROR with a description, explicit timestamps, two instrumentation scopes."""
    tracer = provider.get_tracer(
        "tracegate.e2e.http", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0",
        attributes={"scope.attr": "yes", "scope.n": 1},
    )
    db_tracer = provider.get_tracer("tracegate.e2e.db", "0.1.0")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value"), ("other", "x")]),
    )
    start = 1_700_000_000_000_000_000
    with tracer.start_as_current_span(
        f"{tag} GET /checkout", kind=SpanKind.SERVER, attributes=RICH_ATTRIBUTES, start_time=start,
        links=[Link(remote, {"link.kind": "follows", "link.n": 3})],
    ) as root:
        root.add_event("request.received", {"bytes": 512, "ok": True, "ratio": 0.75, "tags": ["x", "y"]}, timestamp=start + 1000)
        root.add_event("no-attributes")
        with tracer.start_as_current_span(f"{tag} validate", kind=SpanKind.INTERNAL) as child:
            child.set_attribute("step", 1)
            child.set_status(Status(StatusCode.ERROR, "card declined: insufficient funds"))
            child.record_exception(ValueError("declined"), attributes={"retry": False})
        with db_tracer.start_as_current_span(f"{tag} SELECT orders", kind=SpanKind.CLIENT,
                                             attributes={"db.system": "postgresql", "db.rows": 12}) as db:
            db.add_link(root.get_span_context(), {"why": "same-trace link"})
            db.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span(f"{tag} publish", kind=SpanKind.PRODUCER) as producer:
            producer.set_attribute("messaging.destination", "orders")
            consumer = tracer.start_span(
                f"{tag} consume", kind=SpanKind.CONSUMER, links=[Link(producer.get_span_context())],
                context=trace_api.set_span_in_context(trace_api.INVALID_SPAN),
            )
            consumer.end()
        root.set_status(Status(StatusCode.OK))
    # A span with explicit start and end time and no parent, in another trace.
    lone = tracer.start_span(f"{tag} lone", start_time=start + 5, context=trace_api.set_span_in_context(trace_api.INVALID_SPAN))
    lone.end(end_time=start + 10_000_005)


def send_server_trace(otlp_grpc_port: int, service: str, root: str, child: str) -> int:
    """A SERVER span `root` with one child `child`, from the OpenTelemetry SDK over OTLP/gRPC
    to `otlp_grpc_port`; the trace id."""
    provider, memory = recording_provider({"service.name": service})
    tracer = provider.get_tracer("tracegate.e2e")
    with tracer.start_as_current_span(root, kind=SpanKind.SERVER) as span:
        with tracer.start_as_current_span(child):
            pass
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_grpc_port}", insecure=True)
    export_or_fail(exporter, list(memory.get_finished_spans()))
    exporter.shutdown()
    return span.get_span_context().trace_id


def emit_simple_spans(provider: TracerProvider, count: int, prefix: str = "span") -> None:
    """`count` small spans, a root with children, for tests that care about counts."""
    tracer = provider.get_tracer("tracegate.e2e.load")
    with tracer.start_as_current_span(f"{prefix}-root"):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"{prefix}-{i}", attributes={"i": i}):
                pass


def raw_request(spans: int, name: str = "raw") -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest built by hand, for tests that talk to a gateway without
    the SDK (to see the raw status codes)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key = "service.name"
    attr.value.string_value = name
    ss = rs.scope_spans.add()
    ss.scope.name = "raw"
    import os

    trace_id = os.urandom(16)
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = os.urandom(8)
        span.name = f"{name}-{i}"
        span.kind = 1
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_000_000 + i + 1000
    return req
