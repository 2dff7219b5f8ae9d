"""Reading translated spans back for the Jaeger and Zipkin tests, and the gateway configs that
put a receiver in front of a `file` exporter.

A translated span is checked against the translation rules field by field, so this module turns
what the `file` exporter wrote into plain Python: attributes as `{key: (type, value)}` (the type
is part of what must arrive: a Jaeger int64 tag must not become a string), ids as hex, enums by
their proto names. A failing assertion then prints something a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from conftest import wait_until
from otlp_util import read_proto_file, span_count

DELIVERY_TIMEOUT = 30.0

KIND = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}
STATUS = {v: k.removeprefix("STATUS_CODE_") for k, v in Status.StatusCode.items()}


def value(any_value) -> tuple[str, object]:
    """An OTLP AnyValue as (type, Python value)."""
    which = any_value.WhichOneof("value")
    if which is None:
        return ("empty", None)
    if which == "array_value":
        return ("array", [value(v) for v in any_value.array_value.values])
    if which == "kvlist_value":
        return ("kvlist", attributes(any_value.kvlist_value.values))
    raw = getattr(any_value, which)
    return (which.removesuffix("_value"), raw)


def attributes(kvs) -> dict[str, tuple[str, object]]:
    out: dict[str, tuple[str, object]] = {}
    for kv in kvs:
        assert kv.key not in out, f"attribute {kv.key!r} appears twice"
        out[kv.key] = value(kv.value)
    return out


@dataclass
class Event:
    name: str
    time_unix_nano: int
    attributes: dict


@dataclass
class LinkView:
    trace_id: str
    span_id: str
    trace_state: str
    attributes: dict


@dataclass
class SpanView:
    """One span with its resource and scope, in plain Python."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    status: str
    status_message: str
    attributes: dict
    events: list[Event]
    links: list[LinkView]
    start_time_unix_nano: int
    end_time_unix_nano: int
    trace_state: str
    flags: int
    resource: dict
    scope_name: str
    scope_version: str
    raw: Span = field(repr=False)

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ("", ""))[1])


def views(requests: Iterable[ExportTraceServiceRequest]) -> list[SpanView]:
    out = []
    for req in requests:
        for rs in req.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        SpanView(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=KIND[s.kind],
                            status=STATUS[s.status.code],
                            status_message=s.status.message,
                            attributes=attributes(s.attributes),
                            events=[Event(e.name, e.time_unix_nano, attributes(e.attributes)) for e in s.events],
                            links=[
                                LinkView(l.trace_id.hex(), l.span_id.hex(), l.trace_state, attributes(l.attributes))
                                for l in s.links
                            ],
                            start_time_unix_nano=s.start_time_unix_nano,
                            end_time_unix_nano=s.end_time_unix_nano,
                            trace_state=s.trace_state,
                            flags=s.flags,
                            resource=resource,
                            scope_name=ss.scope.name,
                            scope_version=ss.scope.version,
                            raw=s,
                        )
                    )
    return out


def by_name(spans: list[SpanView]) -> dict[str, SpanView]:
    out: dict[str, SpanView] = {}
    for s in spans:
        assert s.name not in out, f"two spans named {s.name!r}: {[v.span_id for v in spans if v.name == s.name]}"
        out[s.name] = s
    return out


def wait_for_spans(path: Path, count: int, what: str = "", timeout: float = DELIVERY_TIMEOUT) -> list[SpanView]:
    """Waits until the file holds at least `count` spans, then returns them all."""
    wait_until(lambda: span_count(read_proto_file(path)) >= count, timeout,
               f"{count} spans in {path.name}{' (' + what + ')' if what else ''}")
    return views(read_proto_file(path))


def hex_id(value: int, width_bytes: int) -> str:
    """An unsigned id as the hex of its big-endian bytes (what OTLP ids are)."""
    return f"{value & ((1 << (8 * width_bytes)) - 1):0{2 * width_bytes}x}"


# ---- gateway configs --------------------------------------------------------------------------

def file_exporter(path: Path) -> dict:
    return {"file": {"path": str(path), "format": "proto"}}


def receiver_to_file(receiver_id: str, receiver: dict, path: Path, extensions: dict | None = None) -> dict:
    """One receiver straight into a `file` exporter (format proto)."""
    config = {
        "receivers": {receiver_id: receiver},
        "exporters": file_exporter(path),
        "service": {"pipelines": {"traces": {"receivers": [receiver_id], "exporters": ["file"]}}},
    }
    if extensions:
        config["extensions"] = extensions
        config["service"]["extensions"] = list(extensions)
    return config


def receiver_to_otlp(receiver_id: str, receiver: dict, otlp_grpc_port: int) -> dict:
    """Gateway A of a two-gateway chain: one receiver -> `otlp` exporter to gateway B."""
    return {
        "receivers": {receiver_id: receiver},
        "exporters": {"otlp": {"endpoint": f"127.0.0.1:{otlp_grpc_port}", "tls": {"insecure": True}}},
        "service": {"pipelines": {"traces": {"receivers": [receiver_id], "exporters": ["otlp"]}}},
    }


def jaeger_receiver(**protocols: int) -> dict:
    """`jaeger_receiver(thrift_compact=port, thrift_http=port)`: the named protocols on
    127.0.0.1."""
    return {"protocols": {name: {"endpoint": f"127.0.0.1:{port}"} for name, port in protocols.items()}}
