"""The OpenTelemetry SDK (1.39.1) with its Jaeger Thrift exporter (1.21.0), pointed at tracegate
as a Jaeger agent (compact Thrift over UDP) and as a Jaeger collector (binary Thrift over HTTP
to `/api/traces`), and what the collector endpoint answers to a wrong content type.

What the exporter sends, and so what must arrive by the translation rules:
- the process carries only the service name; the exporter copies every resource attribute onto
  each span as a tag, so those are span attributes (lists as their Python `str`);
- `span.kind`, `otel.status_code`/`otel.status_description` and `error=true` become kind and
  status and leave the attributes;
- the scope goes out as `otel.library.*` and `otel.scope.*` tags: the `otel.scope.*` pair
  becomes the scope (and leaves), `otel.library.*` stay attributes, as in the Collector;
- events go out as logs whose `message` field holds the event name, and only an `event` field
  names an OTLP event: they arrive unnamed, with the name in `message`;
- links go out as FOLLOWS_FROM references (without their attributes): links with
  `opentracing.ref_type=follows_from`;
- times are rounded to microseconds.
"""

from __future__ import annotations

import gzip

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.jaeger.thrift import JaegerExporter
from opentelemetry.exporter.jaeger.thrift.gen.jaeger import Collector as TCollector
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TTransport import TMemoryBuffer

from conftest import free_port, free_udp_port, http_post
from otlp_util import recording_provider
from trace_view import by_name, jaeger_receiver, receiver_to_file, wait_for_spans

# The exporter is deprecated upstream (Jaeger speaks OTLP now); users still run it.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated method __init__:DeprecationWarning")

RESOURCE = {
    "service.name": "otel-jaeger",
    "service.version": "1.0.0",
    "host.cores": 2,
    "ratio": 0.5,
    "canary": True,
    "regions": ("eu", "us"),
}
REMOTE = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)


def otel_value(v) -> tuple[str, object]:
    """An SDK attribute value as the Jaeger exporter's tag, then as OTLP (type, value)."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, str):
        return ("string", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("double", v)
    return ("string", str(v))


def usec_ns(ns: int) -> int:
    """The exporter's rounding of nanoseconds to microseconds, back in nanoseconds."""
    return (ns + 500) // 1000 * 1000


def emit(provider) -> None:
    tracer = provider.get_tracer("e2e.otel.jaeger", "0.3.1")
    with tracer.start_as_current_span(
        "GET /orders", kind=SpanKind.SERVER, links=[Link(REMOTE, {"dropped": "by the exporter"})],
        attributes={"http.method": "GET", "http.route": "/orders", "retries": 2, "load": 0.75, "cached": False,
                    "tags": ["a", "b"]},
    ) as root:
        root.add_event("request.received", {"bytes": 512, "ok": True, "ratio": 0.25, "who": "me"})
        root.add_event("no-attributes")
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as publish:
            publish.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("consume", kind=SpanKind.CONSUMER, links=[Link(publish.get_span_context())]):
            pass
        with tracer.start_as_current_span("compute", kind=SpanKind.INTERNAL):
            pass


def check_translation(sent, got) -> None:
    assert set(got) == {s.name for s in sent}
    for s in sent:
        g = got[s.name]
        ctx = s.get_span_context()
        assert g.trace_id == f"{ctx.trace_id:032x}" and g.span_id == f"{ctx.span_id:016x}", s.name
        assert g.parent_span_id == (f"{s.parent.span_id:016x}" if s.parent else ""), s.name
        assert (g.start_time_unix_nano, g.end_time_unix_nano - g.start_time_unix_nano) == (
            usec_ns(s.start_time), usec_ns(s.end_time - s.start_time)), s.name
        assert g.kind == SpanKind(s.kind).name, s.name
        assert g.resource == {"service.name": ("string", "otel-jaeger")}, s.name
        assert (g.scope_name, g.scope_version) == ("e2e.otel.jaeger", "0.3.1"), s.name

        want = {k: otel_value(v) for k, v in s.attributes.items()}
        want.update({k: otel_value(v) for k, v in RESOURCE.items()})
        want["otel.library.name"] = ("string", "e2e.otel.jaeger")
        want["otel.library.version"] = ("string", "0.3.1")
        assert g.attributes == want, s.name

        status = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}[s.status.status_code]
        assert (g.status, g.status_message) == (status, s.status.description or ""), s.name

        events = [("", usec_ns(e.timestamp), {**{k: otel_value(v) for k, v in e.attributes.items()},
                                              "message": ("string", e.name)}) for e in s.events]
        assert [(e.name, e.time_unix_nano, e.attributes) for e in g.events] == events, s.name
        links = [(f"{l.context.trace_id:032x}", f"{l.context.span_id:016x}",
                  {"opentracing.ref_type": ("string", "follows_from")}) for l in s.links]
        assert [(l.trace_id, l.span_id, l.attributes) for l in g.links] == links, s.name

    # Spot checks of the rules, independent of the loop's reading of them.
    root = got["GET /orders"]
    assert root.attributes["tags"] == ("string", "('a', 'b')")
    assert root.attributes["retries"] == ("int", 2) and root.attributes["load"] == ("double", 0.75)
    assert root.events[0].attributes["bytes"] == ("int", 512)
    assert root.parent_span_id == "", "a link to another trace is no parent"
    assert root.links[0].trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert (got["charge card"].status, got["charge card"].status_message) == ("ERROR", "card declined")
    for forbidden in ("error", "otel.status_code", "otel.status_description", "span.kind", "otel.scope.name"):
        assert all(forbidden not in g.attributes for g in got.values()), forbidden
    assert got["publish"].status == "OK"
    assert got["consume"].links[0].span_id == got["publish"].span_id
    assert got["consume"].parent_span_id == root.span_id


@pytest.mark.parametrize("mode", ["agent-udp-compact", "collector-http-binary"])
def test_otel_sdk_jaeger_thrift_exporter(mode, gateways, tmp_path):
    out = tmp_path / "spans.pb"
    if mode == "agent-udp-compact":
        port = free_udp_port()
        gw = gateways(receiver_to_file("jaeger", jaeger_receiver(thrift_compact=port), out))
        exporter = JaegerExporter(agent_host_name="127.0.0.1", agent_port=port)
        transport = "udp_thrift_compact"
    else:
        port = free_port()
        gw = gateways(receiver_to_file("jaeger", jaeger_receiver(thrift_http=port), out))
        # The path clients have used for years, query string included.
        exporter = JaegerExporter(collector_endpoint=f"http://127.0.0.1:{port}/api/traces?format=jaeger.thrift", timeout=10)
        transport = "http"

    provider, memory = recording_provider(RESOURCE)
    emit(provider)
    sent = list(memory.get_finished_spans())
    # The exporter reports SUCCESS whatever happens on the wire: arrival is what counts.
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    got = by_name(wait_for_spans(out, len(sent), f"the SDK's spans over {mode}"))
    check_translation(sent, got)
    assert gw.metric("tracegate_receiver_accepted_spans", receiver="jaeger", transport=transport) == len(sent)


def binary_batch(service: str) -> bytes:
    batch = TCollector.Batch(
        process=TCollector.Process(serviceName=service),
        spans=[TCollector.Span(traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0, operationName="op", flags=1,
                               startTime=1_700_000_000_000_000, duration=5)],
    )
    buffer = TMemoryBuffer()
    batch.write(TBinaryProtocol(buffer))
    return buffer.getvalue()


def test_collector_http_content_types_and_bad_bodies(gateways, tmp_path):
    port = free_port()
    out = tmp_path / "spans.pb"
    gateways(receiver_to_file("jaeger", jaeger_receiver(thrift_http=port), out))
    url = f"http://127.0.0.1:{port}/api/traces"
    body = binary_batch("content-types")

    for content_type in ("application/json", "text/plain", "application/x-protobuf"):
        status, _, answer = http_post(url, body, content_type)
        assert status == 400, content_type
        assert f"Unsupported content type: {content_type}" in answer.decode(), answer

    status, _, answer = http_post(url, b"\x0c\x00\x01garbage", "application/x-thrift")
    assert status == 400 and "Unable to process request body" in answer.decode(), (status, answer)

    for content_type in ("application/x-thrift", "application/vnd.apache.thrift.binary"):
        status, _, answer = http_post(url, body, content_type)
        assert status == 202, (content_type, status, answer)
    # Agents may gzip what they post.
    status, _, answer = http_post(url, gzip.compress(body), "application/x-thrift", headers={"Content-Encoding": "gzip"})
    assert status == 202, (status, answer)
    spans = wait_for_spans(out, 3, "the three accepted batches")
    assert [(s.service, s.trace_id, s.span_id) for s in spans] == [
        ("content-types", "00000000000000000000000000000001", "0000000000000002")] * 3
