"""The gRPC query port (16685) as Jaeger's own tools and Kiali use it: a Python client generated at
test time with grpcio-tools from the protos tracegate vendors from jaeger-idl (api_v2 in
translators/jaeger/proto, api_v3 in extensions/jaeger_query/proto) calls every RPC of
`jaeger.api_v2.QueryService` and `jaeger.api_v3.QueryService` against spans the OpenTelemetry
SDK sent into the real binary, and each answer is compared with what `/api/traces` (and the
other HTTP reads) answer for the same data: the same spans, ids, services, operations and tags.
The errors are Jaeger's: an unknown trace is NOT_FOUND, missing parameters INVALID_ARGUMENT,
ArchiveTrace without an archive store INTERNAL.

Why generate at test time: the client is then built from the very .proto files the server is
compiled from, so a field renumbered or renamed on one side fails here, and no generated code
is kept in the repository to drift.
"""

from __future__ import annotations

import base64
import importlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_tools import protoc
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import REPO, Gateway, free_port
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, query_ok, shipped_all_in_one, store_config, wait_for_trace

MS = 1_000_000  # nanoseconds
RPC_TIMEOUT = 30.0  # bounds a call on a loaded machine; never a speed assertion
V2_PROTOS = REPO / "translators" / "jaeger" / "proto"
V3_PROTOS = REPO / "extensions" / "jaeger_query" / "proto"


def generate_client(out: Path) -> SimpleNamespace:
    """Runs protoc (grpcio-tools) on the vendored protos into `out` and imports the modules.
    OTLP's messages come from the SDK's own `opentelemetry-proto` package (the generated api_v3
    module imports `opentelemetry.proto.trace.v1.trace_pb2`), so they are not defined twice."""
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    out.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", f"-I{V2_PROTOS}", f"-I{V3_PROTOS}", f"-I{include}",
            f"--python_out={out}", f"--grpc_python_out={out}",
            "model.proto", "query.proto", "api_v3/query_service.proto"]
    code = protoc.main(args)
    assert code == 0, f"protoc failed ({code}) on the vendored protos: {' '.join(args)}"
    sys.path.insert(0, str(out))
    try:
        return SimpleNamespace(
            model=importlib.import_module("model_pb2"),
            v2=importlib.import_module("query_pb2"),
            v2_grpc=importlib.import_module("query_pb2_grpc"),
            v3=importlib.import_module("api_v3.query_service_pb2"),
            v3_grpc=importlib.import_module("api_v3.query_service_pb2_grpc"),
        )
    finally:
        sys.path.remove(str(out))


@dataclass
class Filled:
    """The running gateway, its ports, the client modules and what was sent."""

    http: int
    channel: grpc.Channel
    pb: SimpleNamespace
    spans: dict = field(default_factory=dict)  # name -> SDK span
    start_ns: int = 0

    @property
    def v2(self):
        return self.pb.v2_grpc.QueryServiceStub(self.channel)

    @property
    def v3(self):
        return self.pb.v3_grpc.QueryServiceStub(self.channel)


def send_spans(otlp_port: int, filled: Filled) -> None:
    """Two services over OTLP/gRPC: `grpc-front` serves GET /cart (tags of every type, an event)
    and calls `grpc-back`, whose server span fails (status ERROR); later a lone `GET /ping`."""
    front, front_mem = recording_provider({"service.name": "grpc-front", "deploy.env": "test"})
    back, back_mem = recording_provider({"service.name": "grpc-back"})
    base = (time.time_ns() // 1000) * 1000 - 10_000 * MS  # whole microseconds, as Jaeger shows
    ft, bt = front.get_tracer("qa.front", "1.0"), back.get_tracer("qa.back")
    root = ft.start_span("GET /cart", kind=SpanKind.SERVER, start_time=base,
                         attributes={"http.method": "GET", "cached": True, "retries": 3, "ratio": 0.25})
    root.add_event("cache.miss", {"note": "cold"}, timestamp=base + 1000)
    call = ft.start_span("call back", kind=SpanKind.CLIENT, start_time=base + 5 * MS,
                         context=trace_api.set_span_in_context(root))
    served = bt.start_span("load cart", kind=SpanKind.SERVER, start_time=base + 6 * MS,
                           context=trace_api.set_span_in_context(call), attributes={"db.rows": 7})
    served.set_status(Status(StatusCode.ERROR, "no such cart"))
    served.end(end_time=base + 20 * MS)
    call.end(end_time=base + 25 * MS)
    root.end(end_time=base + 30 * MS)
    ping = ft.start_span("GET /ping", kind=SpanKind.SERVER, start_time=base + 1000 * MS,
                         context=trace_api.set_span_in_context(trace_api.INVALID_SPAN))
    ping.end(end_time=base + 1001 * MS)
    filled.spans = {"root": root, "call": call, "served": served, "ping": ping}
    filled.start_ns = base
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
    export_or_fail(exporter, list(front_mem.get_finished_spans()) + list(back_mem.get_finished_spans()))


@pytest.fixture(scope="module")
def filled(tracegate_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("query-grpc")
    pb = generate_client(tmp / "generated")
    ports = QueryPorts()
    grpc_port = free_port()
    config = store_config(tmp / "db", ports)
    config["extensions"]["jaeger_query"]["grpc"] = {"endpoint": f"127.0.0.1:{grpc_port}"}
    gw = Gateway(tracegate_bin, tmp, config, name="all-in-one-grpc").start()
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        f = Filled(http=ports.query, channel=channel, pb=pb)
        send_spans(ports.otlp_grpc, f)
        wait_for_trace(f.http, trace_hex(f, "root"), 3)
        wait_for_trace(f.http, trace_hex(f, "ping"), 1)
        yield f
    finally:
        channel.close()
        gw.stop()


def trace_hex(f: Filled, name: str) -> str:
    return f"{f.spans[name].context.trace_id:032x}"


def trace_bytes(f: Filled, name: str) -> bytes:
    return f.spans[name].context.trace_id.to_bytes(16, "big")


def window(f: Filled):
    """Timestamps around the sent spans, as api_v2 and api_v3 take them."""
    start, end = Timestamp(), Timestamp()
    start.FromNanoseconds(f.start_ns - 60_000 * MS)
    end.FromNanoseconds(time.time_ns() + 60_000 * MS)
    return start, end


def rpc_error(call) -> grpc.RpcError:
    """The error a unary call raises or a stream raises when read."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if not hasattr(result, "SerializeToString"):
            list(result)
    return info.value


def assert_status(call, code: grpc.StatusCode, message: str) -> None:
    err = rpc_error(call)
    assert (err.code(), err.details()) == (code, message)


# ---- the HTTP side, for comparison -------------------------------------------------------------

V2_TYPES = {0: "string", 1: "bool", 2: "int64", 3: "float64", 4: "binary"}


def v2_tag(kv) -> tuple[str, str, object]:
    """An api_v2 KeyValue as the JSON API writes a tag: (key, type, value)."""
    kind = V2_TYPES[kv.v_type]
    value = {"string": kv.v_str, "bool": kv.v_bool, "int64": kv.v_int64, "float64": kv.v_float64,
             "binary": base64.b64encode(kv.v_binary).decode()}[kind]
    return kv.key, kind, value


def json_tags(tags: list) -> list[tuple[str, str, object]]:
    return [(t["key"], t["type"], t["value"]) for t in tags]


def http_spans(f: Filled, trace_id: str) -> dict:
    """`/api/traces/{id}`'s spans by span id, each with its process."""
    (trace,) = query_ok(f.http, f"/api/traces/{trace_id}")["data"]
    return {s["spanID"]: {**s, "process": trace["processes"][s["processID"]]} for s in trace["spans"]}


def assert_v2_span_as_http(span, want: dict) -> None:
    """One api_v2 span against the JSON API's span: every field the UI shows."""
    assert span.trace_id.hex() == want["traceID"].rjust(32, "0")
    assert span.operation_name == want["operationName"]
    assert [(r.trace_id.hex(), r.span_id.hex(), "CHILD_OF" if r.ref_type == 0 else "FOLLOWS_FROM") for r in span.references] == [
        (r["traceID"].rjust(32, "0"), r["spanID"], r["refType"]) for r in want["references"]]
    start_us = span.start_time.seconds * 1_000_000 + span.start_time.nanos // 1000
    assert start_us == want["startTime"]
    assert span.duration.seconds * 1_000_000 + span.duration.nanos // 1000 == want["duration"]
    assert [v2_tag(t) for t in span.tags] == json_tags(want["tags"])
    assert [([v2_tag(kv) for kv in log.fields], log.timestamp.seconds * 1_000_000 + log.timestamp.nanos // 1000)
            for log in span.logs] == [(json_tags(l["fields"]), l["timestamp"]) for l in want["logs"]]
    assert span.process.service_name == want["process"]["serviceName"]
    assert [v2_tag(t) for t in span.process.tags] == json_tags(want["process"]["tags"])


# ---- api_v2 -----------------------------------------------------------------------------------

def test_v2_get_services_and_operations(filled):
    f, pb = filled, filled.pb
    services = f.v2.GetServices(pb.v2.GetServicesRequest(), timeout=RPC_TIMEOUT).services
    assert list(services) == query_ok(f.http, "/api/services")["data"] == ["grpc-back", "grpc-front"]
    for service in ("grpc-front", "grpc-back"):
        got = f.v2.GetOperations(pb.v2.GetOperationsRequest(service=service), timeout=RPC_TIMEOUT)
        want = query_ok(f.http, "/api/operations", {"service": service})["data"]
        assert sorted((o.name, o.span_kind) for o in got.operations) == sorted((o["name"], o["spanKind"]) for o in want)
        assert list(got.operationNames) == query_ok(f.http, f"/api/services/{service}/operations")["data"]
    got = f.v2.GetOperations(pb.v2.GetOperationsRequest(service="grpc-front", span_kind="client"), timeout=RPC_TIMEOUT)
    assert [(o.name, o.span_kind) for o in got.operations] == [("call back", "client")]
    assert list(got.operationNames) == ["call back"]


def test_v2_get_trace_streams_the_spans_the_json_api_shows(filled):
    f, pb = filled, filled.pb
    chunks = list(f.v2.GetTrace(pb.v2.GetTraceRequest(trace_id=trace_bytes(f, "root")), timeout=RPC_TIMEOUT))
    spans = [s for c in chunks for s in c.spans]
    want = http_spans(f, trace_hex(f, "root"))
    assert sorted(s.span_id.hex() for s in spans) == sorted(want)
    assert {s.trace_id for s in spans} == {trace_bytes(f, "root")}
    for s in spans:
        assert_v2_span_as_http(s, want[s.span_id.hex()])
    by_name = {s.operation_name: s for s in spans}
    assert by_name["load cart"].process.service_name == "grpc-back"
    assert ("otel.status_code", "string", "ERROR") in [v2_tag(t) for t in by_name["load cart"].tags]
    assert ("http.method", "string", "GET") in [v2_tag(t) for t in by_name["GET /cart"].tags]
    assert ("deploy.env", "string", "test") in [v2_tag(t) for t in by_name["GET /cart"].process.tags]


def test_v2_get_trace_errors(filled):
    f, pb = filled, filled.pb
    assert_status(lambda: f.v2.GetTrace(pb.v2.GetTraceRequest(trace_id=bytes(15) + b"\x01"), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.NOT_FOUND, "trace not found")
    assert_status(lambda: f.v2.GetTrace(pb.v2.GetTraceRequest(trace_id=bytes(16)), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")
    assert_status(lambda: f.v2.GetTrace(pb.v2.GetTraceRequest(), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")


def test_v2_find_traces_finds_what_the_json_api_finds(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    for service, operation in (("grpc-front", ""), ("grpc-front", "GET /ping"), ("grpc-back", "")):
        q = pb.v2.TraceQueryParameters(service_name=service, operation_name=operation, start_time_min=start,
                                       start_time_max=end)
        spans = [s for c in f.v2.FindTraces(pb.v2.FindTracesRequest(query=q), timeout=RPC_TIMEOUT) for s in c.spans]
        params = {"service": service, **({"operation": operation} if operation else {})}
        http = query_ok(f.http, "/api/traces", params)["data"]
        assert {s.trace_id.hex() for s in spans} == {t["traceID"].rjust(32, "0") for t in http}, params
        assert sorted(s.span_id.hex() for s in spans) == sorted(s["spanID"] for t in http for s in t["spans"])
    q = pb.v2.TraceQueryParameters(service_name="grpc-front", tags={"retries": "3"}, start_time_min=start, start_time_max=end)
    spans = [s for c in f.v2.FindTraces(pb.v2.FindTracesRequest(query=q), timeout=RPC_TIMEOUT) for s in c.spans]
    assert {s.trace_id for s in spans} == {trace_bytes(f, "root")}
    q = pb.v2.TraceQueryParameters(service_name="grpc-front", operation_name="nope", start_time_min=start, start_time_max=end)
    assert list(f.v2.FindTraces(pb.v2.FindTracesRequest(query=q), timeout=RPC_TIMEOUT)) == []
    assert_status(lambda: f.v2.FindTraces(pb.v2.FindTracesRequest(), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "missing query")


def test_v2_get_dependencies_as_the_json_api(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    got = f.v2.GetDependencies(pb.v2.GetDependenciesRequest(start_time=start, end_time=end), timeout=RPC_TIMEOUT)
    end_ms = end.seconds * 1000
    http = query_ok(f.http, "/api/dependencies", {"endTs": end_ms, "lookback": end_ms - start.seconds * 1000})["data"]
    assert [(d.parent, d.child, d.call_count) for d in got.dependencies] == [
        (d["parent"], d["child"], d["callCount"]) for d in http] == [("grpc-front", "grpc-back", 1)]
    assert_status(lambda: f.v2.GetDependencies(pb.v2.GetDependenciesRequest(end_time=end), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "StartTime and EndTime must be initialized.")


def test_v2_archive_trace_without_an_archive_store(filled):
    f, pb = filled, filled.pb
    assert_status(lambda: f.v2.ArchiveTrace(pb.v2.ArchiveTraceRequest(trace_id=trace_bytes(f, "root")), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INTERNAL, "failed to archive trace: archive span storage was not configured")


# ---- api_v3 -----------------------------------------------------------------------------------

def otlp_value(v):
    """An OTLP AnyValue as the JSON API writes the tag's value."""
    kind = v.WhichOneof("value")
    return {"string_value": v.string_value, "bool_value": v.bool_value, "int_value": v.int_value,
            "double_value": v.double_value}[kind]


def otlp_spans(traces_data) -> list[tuple]:
    """(service, span) for every span of a stream of TracesData."""
    out = []
    for td in traces_data:
        for rs in td.resource_spans:
            service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
            out.extend((service, s) for ss in rs.scope_spans for s in ss.spans)
    return out


def test_v3_get_services_and_operations(filled):
    f, pb = filled, filled.pb
    services = f.v3.GetServices(pb.v3.GetServicesRequest(), timeout=RPC_TIMEOUT).services
    assert list(services) == query_ok(f.http, "/api/v3/services")["services"]
    for service in ("grpc-front", "grpc-back"):
        got = f.v3.GetOperations(pb.v3.GetOperationsRequest(service=service), timeout=RPC_TIMEOUT)
        want = query_ok(f.http, "/api/operations", {"service": service})["data"]
        assert sorted((o.name, o.span_kind) for o in got.operations) == sorted((o["name"], o["spanKind"]) for o in want)
    got = f.v3.GetOperations(pb.v3.GetOperationsRequest(service="grpc-back", span_kind="server"), timeout=RPC_TIMEOUT)
    assert [(o.name, o.span_kind) for o in got.operations] == [("load cart", "server")]


def test_v3_get_trace_sends_the_spans_the_json_api_shows(filled):
    f, pb = filled, filled.pb
    stream = list(f.v3.GetTrace(pb.v3.GetTraceRequest(trace_id=trace_hex(f, "root")), timeout=RPC_TIMEOUT))
    assert len(stream) == 1, "one TracesData per trace"
    want = http_spans(f, trace_hex(f, "root"))
    got = otlp_spans(stream)
    assert sorted(s.span_id.hex() for _, s in got) == sorted(want)
    for service, s in got:
        w = want[s.span_id.hex()]
        assert (s.trace_id.hex(), service, s.name) == (trace_hex(f, "root"), w["process"]["serviceName"], w["operationName"])
        assert (s.start_time_unix_nano // 1000, (s.end_time_unix_nano - s.start_time_unix_nano) // 1000) == (w["startTime"], w["duration"])
        parents = [r["spanID"] for r in w["references"] if r["refType"] == "CHILD_OF"]
        assert s.parent_span_id.hex() == (parents[0] if parents else "")
        tags = {t["key"]: t["value"] for t in w["tags"]}
        for a in s.attributes:
            assert tags[a.key] == otlp_value(a.value), a.key
    served = next(s for _, s in got if s.name == "load cart")
    assert (served.status.code, served.status.message) == (2, "no such cart")
    # The same trace through the HTTP gateway is the same OTLP.
    body = query_ok(f.http, f"/api/v3/traces/{trace_hex(f, 'root')}")
    http_ids = sorted(s["spanId"] for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"])
    assert http_ids == sorted(want)


def test_v3_get_trace_errors(filled):
    f, pb = filled, filled.pb
    assert_status(lambda: f.v3.GetTrace(pb.v3.GetTraceRequest(trace_id="abcdef0123456789"), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.NOT_FOUND, "trace not found")
    assert_status(lambda: f.v3.GetTrace(pb.v3.GetTraceRequest(trace_id="xyz"), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, 'malform trace ID: strconv.ParseUint: parsing "xyz": invalid syntax')


def test_v3_find_traces_finds_what_the_json_api_finds(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    for service, operation in (("grpc-front", ""), ("grpc-front", "GET /ping"), ("grpc-back", "")):
        q = pb.v3.TraceQueryParameters(service_name=service, operation_name=operation, start_time_min=start, start_time_max=end)
        stream = list(f.v3.FindTraces(pb.v3.FindTracesRequest(query=q), timeout=RPC_TIMEOUT))
        params = {"service": service, **({"operation": operation} if operation else {})}
        http = query_ok(f.http, "/api/traces", params)["data"]
        assert len(stream) == len(http), "one TracesData per trace"
        assert {s.trace_id.hex() for _, s in otlp_spans(stream)} == {t["traceID"].rjust(32, "0") for t in http}
        assert sorted(s.span_id.hex() for _, s in otlp_spans(stream)) == sorted(s["spanID"] for t in http for s in t["spans"])
    # Without a service (Jaeger 2.x), by attribute: the trace whose span has db.rows=7.
    q = pb.v3.TraceQueryParameters(attributes={"db.rows": "7"}, start_time_min=start, start_time_max=end)
    stream = list(f.v3.FindTraces(pb.v3.FindTracesRequest(query=q), timeout=RPC_TIMEOUT))
    assert {s.trace_id for _, s in otlp_spans(stream)} == {trace_bytes(f, "root")}
    # Nothing matches: an empty stream, no error.
    q = pb.v3.TraceQueryParameters(service_name="nobody", start_time_min=start, start_time_max=end)
    assert list(f.v3.FindTraces(pb.v3.FindTracesRequest(query=q), timeout=RPC_TIMEOUT)) == []


def test_v3_find_traces_errors(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    assert_status(lambda: f.v3.FindTraces(pb.v3.FindTracesRequest(), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "missing query")
    q = pb.v3.TraceQueryParameters(service_name="grpc-front", start_time_min=start)
    assert_status(lambda: f.v3.FindTraces(pb.v3.FindTracesRequest(query=q), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "start time min and max are required parameters")
    q = pb.v3.TraceQueryParameters(service_name="grpc-front", start_time_min=start, start_time_max=end, filter=b"\x0a\x00")
    assert_status(lambda: f.v3.FindTraces(pb.v3.FindTracesRequest(query=q), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "the structured query filter is disabled")


def test_v3_find_trace_summaries_as_the_traces_and_the_http_gateway(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    q = pb.v3.TraceQueryParameters(service_name="grpc-front", start_time_min=start, start_time_max=end)
    stream = list(f.v3.FindTraceSummaries(pb.v3.FindTraceSummariesRequest(query=q), timeout=RPC_TIMEOUT))
    summaries = [s for r in stream for s in r.summaries]
    assert [s.trace_id for s in summaries] == [trace_hex(f, "ping"), trace_hex(f, "root")], "newest first"
    cart = summaries[1]
    spans = http_spans(f, trace_hex(f, "root"))
    assert (cart.root_service_name, cart.root_operation_name) == ("grpc-front", "GET /cart")
    assert (cart.span_count, cart.error_span_count, cart.orphan_span_count) == (len(spans), 1, 0)
    assert [(v.name, v.span_count, v.error_span_count) for v in cart.services] == [("grpc-back", 1, 1), ("grpc-front", 2, 0)]
    assert cart.min_start_time_unix_nano // 1000 == min(s["startTime"] for s in spans.values())
    assert cart.max_end_time_unix_nano // 1000 == max(s["startTime"] + s["duration"] for s in spans.values())
    # The HTTP gateway's /api/v3/trace-summaries says the same.
    http = query_ok(f.http, "/api/v3/trace-summaries", {
        "query.serviceName": "grpc-front",
        "query.startTimeMin": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start.seconds)),
        "query.startTimeMax": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end.seconds))})["summaries"]
    assert [(h["traceId"], h["spanCount"], int(h["minStartTimeUnixNano"]), int(h["maxEndTimeUnixNano"])) for h in http] == [
        (s.trace_id, s.span_count, s.min_start_time_unix_nano, s.max_end_time_unix_nano) for s in summaries]
    assert http[1]["errorSpanCount"] == 1
    assert_status(lambda: f.v3.FindTraceSummaries(pb.v3.FindTraceSummariesRequest(), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "missing query")


def test_v3_get_dependencies(filled):
    f, pb = filled, filled.pb
    start, end = window(f)
    got = f.v3.GetDependencies(pb.v3.GetDependenciesRequest(start_time=start, end_time=end), timeout=RPC_TIMEOUT)
    assert [(d.parent, d.child, d.call_count) for d in got.dependencies] == [("grpc-front", "grpc-back", 1)]
    assert_status(lambda: f.v3.GetDependencies(pb.v3.GetDependenciesRequest(start_time=end, end_time=start), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "end_time must be after start_time")
    assert_status(lambda: f.v3.GetDependencies(pb.v3.GetDependenciesRequest(start_time=start), timeout=RPC_TIMEOUT),
                  grpc.StatusCode.INVALID_ARGUMENT, "end_time is required")


def test_an_unknown_method_is_unimplemented(filled):
    """Anything else on the port (a client of another IDL) gets UNIMPLEMENTED, not a hang."""
    call = filled.channel.unary_unary("/jaeger.api_v2.QueryService/NoSuchMethod",
                                      request_serializer=lambda _: b"", response_deserializer=lambda b: b)
    assert rpc_error(lambda: call(None, timeout=RPC_TIMEOUT)).code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_shipped_all_in_one_serves_both_query_services(gateways, tmp_path, filled):
    """`config-examples/all-in-one.yaml` with its ports moved (16685 included): a span sent over
    OTLP/HTTP is read back by api_v2's and api_v3's GetTrace on the example's gRPC query port."""
    pb = filled.pb
    config, ports, env = shipped_all_in_one(tmp_path / "data")
    gateways(config, name="all-in-one-shipped", env=env)
    provider, memory = recording_provider({"service.name": "shipped"})
    with provider.get_tracer("example").start_as_current_span("GET /", kind=SpanKind.SERVER) as span:
        pass
    export_or_fail(HttpSpanExporter(endpoint=f"http://127.0.0.1:{ports.otlp_http}/v1/traces"), list(memory.get_finished_spans()))
    trace_id = f"{span.context.trace_id:032x}"
    wait_for_trace(ports.query, trace_id, 1)
    with grpc.insecure_channel(f"127.0.0.1:{ports.query_grpc}") as channel:
        v2 = pb.v2_grpc.QueryServiceStub(channel)
        v3 = pb.v3_grpc.QueryServiceStub(channel)
        assert list(v2.GetServices(pb.v2.GetServicesRequest(), timeout=RPC_TIMEOUT).services) == ["shipped"]
        chunks = list(v2.GetTrace(pb.v2.GetTraceRequest(trace_id=bytes.fromhex(trace_id)), timeout=RPC_TIMEOUT))
        assert [(s.operation_name, s.process.service_name) for c in chunks for s in c.spans] == [("GET /", "shipped")]
        stream = list(v3.GetTrace(pb.v3.GetTraceRequest(trace_id=trace_id), timeout=RPC_TIMEOUT))
        assert [(service, s.name) for service, s in otlp_spans(stream)] == [("shipped", "GET /")]
