"""The MCP server for AI agents (issue 18 item 4), as an agent meets it: the official `mcp`
Python client connects over streamable HTTP to `/api/ai/mcp/` on the query port of the real
binary, lists the tools, and calls each one about a trace the OpenTelemetry SDK sent over OTLP.

The trace has a known shape, so every answer can be checked exactly (times in ms from the root):

    mcp-frontend  GET /checkout  SERVER  |0 ................................................ 100|
    mcp-frontend  auth           CLIENT     |10 .. 30|                     (overlapped by load cart)
    mcp-cart      load cart      SERVER        |20 .......... 60|
    mcp-db        SELECT         CLIENT          |25 .... 50|  ERROR
    mcp-payment   charge         SERVER                           |65 ...... 90|  ERROR

Critical path (latest first): checkout 90-100, charge 65-90, checkout 60-65, load cart 50-60,
SELECT 25-50, load cart 20-25, checkout 0-20. A second trace (one health check) is there so
searches have something that must not match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import Gateway
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, store_config, wait_for_trace

MS = 1_000_000  # nanoseconds
TOOLS = ["get_services", "get_span_names", "search_traces", "get_span_details", "get_trace_errors",
         "get_trace_topology", "get_critical_path", "get_service_dependencies"]


@dataclass
class Sent:
    port: int
    trace_id: str
    health_id: str
    spans: dict  # name -> finished SDK span


def span_id(span) -> str:
    return f"{span.context.span_id:016x}"


def send(ports: QueryPorts) -> Sent:
    providers = {name: recording_provider({"service.name": name}) for name in
                 ("mcp-frontend", "mcp-cart", "mcp-db", "mcp-payment")}
    tracer = {name: provider.get_tracer("mcp.e2e") for name, (provider, _) in providers.items()}
    base = (time.time_ns() // 1000) * 1000 - 60_000 * MS  # a minute ago, whole microseconds

    def start(service, name, kind, at_ms, parent=None, **kw):
        ctx = trace_api.set_span_in_context(parent if parent is not None else trace_api.INVALID_SPAN)
        return tracer[service].start_span(name, kind=kind, start_time=base + at_ms * MS, context=ctx, **kw)

    root = start("mcp-frontend", "GET /checkout", SpanKind.SERVER, 0, attributes={"http.method": "POST", "cart.items": 3})
    auth = start("mcp-frontend", "auth", SpanKind.CLIENT, 10, root)
    auth.end(end_time=base + 30 * MS)
    cart = start("mcp-cart", "load cart", SpanKind.SERVER, 20, root)
    db = start("mcp-db", "SELECT", SpanKind.CLIENT, 25, cart, attributes={"db.system": "postgresql"})
    db.add_event("deadlock", {"retry": False}, timestamp=base + 49 * MS)
    db.set_status(Status(StatusCode.ERROR, "deadlock detected"))
    db.end(end_time=base + 50 * MS)
    cart.end(end_time=base + 60 * MS)
    charge = start("mcp-payment", "charge", SpanKind.SERVER, 65, root)
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=base + 90 * MS)
    root.end(end_time=base + 100 * MS)
    health = start("mcp-frontend", "GET /health", SpanKind.SERVER, 200)
    health.end(end_time=base + 201 * MS)
    for provider, memory in providers.values():
        export_or_fail(OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True),
                       list(memory.get_finished_spans()))
    spans = {"checkout": root, "auth": auth, "cart": cart, "db": db, "charge": charge}
    return Sent(ports.query, f"{root.context.trace_id:032x}", f"{health.context.trace_id:032x}", spans)


@pytest.fixture(scope="module")
def sent(tracegate_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    ports = QueryPorts()
    config = store_config(tmp / "db", ports)
    # Jaeger's key; one span detail per answer so the error list is visibly cut.
    config["extensions"]["jaeger_query"]["ai"] = {"mcp": {"max_span_details_per_request": 1}}
    gw = Gateway(tracegate_bin, tmp, config, name="mcp").start()
    try:
        s = send(ports)
        wait_for_trace(s.port, s.trace_id, 5)
        wait_for_trace(s.port, s.health_id, 1)
        yield s
    finally:
        gw.stop()


def with_session(port: int, work, path: str = "/api/ai/mcp/"):
    """Runs `work(session)` in an initialized MCP client session and returns what it returns."""
    async def main():
        async with streamable_http_client(f"http://127.0.0.1:{port}{path}") as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                return init, await work(session)

    return anyio.run(main)


def call(sent: Sent, tool: str, arguments: dict) -> dict:
    """One tool call's structured answer; fails with the tool's own text if it reported an error."""
    async def work(session):
        return await session.call_tool(tool, arguments)

    _, result = with_session(sent.port, work)
    text = result.content[0].text if result.content else ""
    assert not result.is_error, f"{tool}({arguments}) failed: {text}"
    return result.structured_content


def call_error(sent: Sent, tool: str, arguments: dict) -> str:
    async def work(session):
        return await session.call_tool(tool, arguments)

    _, result = with_session(sent.port, work)
    assert result.is_error, f"{tool}({arguments}) should have failed: {result}"
    return result.content[0].text


def test_lists_jaegers_tools_with_schemas(sent):
    async def work(session):
        return await session.list_tools()

    init, listed = with_session(sent.port, work)
    assert init.server_info.name == "tracegate"
    assert init.capabilities.tools is not None
    tools = {t.name: t for t in listed.tools}
    assert list(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object", tool
        assert tool.output_schema and tool.output_schema["type"] == "object", tool
    assert tools["get_trace_errors"].input_schema["required"] == ["trace_id"]
    assert tools["get_span_details"].input_schema["required"] == ["trace_id", "span_ids"]
    assert set(tools["search_traces"].input_schema["properties"]) == {
        "start_time_min", "start_time_max", "service_name", "span_name", "attributes", "with_errors",
        "duration_min", "duration_max", "search_depth"}


def test_get_services(sent):
    assert call(sent, "get_services", {}) == {
        "services": ["mcp-cart", "mcp-db", "mcp-frontend", "mcp-payment"], "total_count": 4, "truncated": False}
    assert call(sent, "get_services", {"pattern": "front|pay", "limit": 1}) == {
        "services": ["mcp-frontend"], "total_count": 2, "truncated": True}


def test_get_span_names(sent):
    assert call(sent, "get_span_names", {"service_name": "mcp-frontend"}) == {
        "span_names": [{"name": "GET /checkout", "span_kind": "server"}, {"name": "GET /health", "span_kind": "server"},
                       {"name": "auth", "span_kind": "client"}],
        "total_count": 3, "truncated": False}
    clients = call(sent, "get_span_names", {"service_name": "mcp-frontend", "span_kind": "CLIENT"})
    assert clients["span_names"] == [{"name": "auth", "span_kind": "client"}]


def test_search_traces(sent):
    found = call(sent, "search_traces", {"service_name": "mcp-frontend", "start_time_min": "-10m"})
    by_id = {t["trace_id"]: t for t in found["traces"]}
    assert set(by_id) == {sent.trace_id, sent.health_id}
    checkout = by_id[sent.trace_id]
    root = sent.spans["checkout"]
    assert checkout == {
        "trace_id": sent.trace_id, "root_service": "mcp-frontend", "root_span_name": "GET /checkout",
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(root.start_time // 10**9)),
        "duration_us": 100_000, "span_count": 5, "service_count": 4,
        "services": ["mcp-cart", "mcp-db", "mcp-frontend", "mcp-payment"], "has_errors": True}
    assert by_id[sent.health_id]["has_errors"] is False
    # Each filter, with the trace that must not match.
    assert [t["trace_id"] for t in call(sent, "search_traces", {"with_errors": True})["traces"]] == [sent.trace_id]
    assert [t["trace_id"] for t in call(sent, "search_traces", {"span_name": "charge", "duration_min": "20ms"})["traces"]] == [sent.trace_id]
    assert call(sent, "search_traces", {"span_name": "charge", "duration_min": "30ms"}) == {}
    assert [t["trace_id"] for t in call(sent, "search_traces", {"attributes": {"db.system": "postgresql"}})["traces"]] == [sent.trace_id]
    assert call(sent, "search_traces", {"service_name": "mcp-frontend", "start_time_max": "-5m"}) == {}
    assert len(call(sent, "search_traces", {"service_name": "mcp-frontend", "search_depth": 1})["traces"]) == 1
    assert call_error(sent, "search_traces", {"duration_min": "soon"}).startswith("invalid duration_min:")


def test_get_span_details(sent):
    db = sent.spans["db"]
    answer = call(sent, "get_span_details", {"trace_id": sent.trace_id, "span_ids": [span_id(db)]})
    (detail,) = answer["spans"]
    assert detail["span_id"] == span_id(db) and detail["trace_id"] == sent.trace_id
    assert detail["parent_span_id"] == span_id(sent.spans["cart"])
    assert (detail["service"], detail["span_name"], detail["duration_us"]) == ("mcp-db", "SELECT", 25_000)
    assert detail["status"] == {"code": "Error", "message": "deadlock detected"}
    assert detail["attributes"] == {"db.system": "postgresql"}
    assert [(e["name"], e["attributes"]) for e in detail["events"]] == [("deadlock", {"retry": False})]
    assert "error" not in answer
    missing = call(sent, "get_span_details", {"trace_id": sent.trace_id, "span_ids": ["00000000000000aa"]})
    assert missing == {"trace_id": sent.trace_id, "error": "spans not found: [00000000000000aa]"}
    # The server's limit (max_span_details_per_request: 1 in this config).
    over = call_error(sent, "get_span_details", {"trace_id": sent.trace_id, "span_ids": [span_id(db), span_id(sent.spans["cart"])]})
    assert over == "span_ids exceeds maximum limit: requested 2, max allowed 1"


def test_get_trace_errors(sent):
    answer = call(sent, "get_trace_errors", {"trace_id": sent.trace_id})
    assert answer["total_error_count"] == 2
    (only,) = answer["spans"]  # cut to the server's limit of one, as the count shows
    assert only["span_id"] in {span_id(sent.spans["db"]), span_id(sent.spans["charge"])}
    assert only["status"]["code"] == "Error"
    assert call(sent, "get_trace_errors", {"trace_id": sent.health_id}) == {"trace_id": sent.health_id, "total_error_count": 0}
    assert call_error(sent, "get_trace_errors", {"trace_id": "0" * 31 + "1"}) == "trace not found"


def test_get_trace_topology(sent):
    s = {name: span_id(span) for name, span in sent.spans.items()}
    answer = call(sent, "get_trace_topology", {"trace_id": sent.trace_id})
    assert [(t["path"], t["service"], t["span_name"], t["duration_us"], t["status"]) for t in answer["spans"]] == [
        (s["checkout"], "mcp-frontend", "GET /checkout", 100_000, "Unset"),
        (f"{s['checkout']}/{s['auth']}", "mcp-frontend", "auth", 20_000, "Unset"),
        (f"{s['checkout']}/{s['cart']}", "mcp-cart", "load cart", 40_000, "Unset"),
        (f"{s['checkout']}/{s['cart']}/{s['db']}", "mcp-db", "SELECT", 25_000, "Error"),
        (f"{s['checkout']}/{s['charge']}", "mcp-payment", "charge", 25_000, "Error"),
    ]
    assert (answer["total_span_count"], answer["truncated"]) == (5, False)
    top = call(sent, "get_trace_topology", {"trace_id": sent.trace_id, "depth": 1})
    assert [(t["path"], t.get("truncated_children")) for t in top["spans"]] == [(s["checkout"], 3)]


def test_get_critical_path(sent):
    s = {name: span_id(span) for name, span in sent.spans.items()}
    answer = call(sent, "get_critical_path", {"trace_id": sent.trace_id})
    assert (answer["trace_id"], answer["total_duration_us"], answer["critical_path_duration_us"]) == (sent.trace_id, 100_000, 100_000)
    assert [(c["span_id"], c["service"], c["span_name"], c["start_offset_us"], c["end_offset_us"], c["self_time_us"])
            for c in answer["segments"]] == [
        (s["checkout"], "mcp-frontend", "GET /checkout", 90_000, 100_000, 10_000),
        (s["charge"], "mcp-payment", "charge", 65_000, 90_000, 25_000),
        (s["checkout"], "mcp-frontend", "GET /checkout", 60_000, 65_000, 5_000),
        (s["cart"], "mcp-cart", "load cart", 50_000, 60_000, 10_000),
        (s["db"], "mcp-db", "SELECT", 25_000, 50_000, 25_000),
        (s["cart"], "mcp-cart", "load cart", 20_000, 25_000, 5_000),
        (s["checkout"], "mcp-frontend", "GET /checkout", 0, 20_000, 20_000),
    ]


def test_get_service_dependencies(sent):
    assert call(sent, "get_service_dependencies", {"start_time": "-1h", "end_time": "now"}) == {"dependencies": [
        {"caller": "mcp-cart", "callee": "mcp-db", "call_count": 1},
        {"caller": "mcp-frontend", "callee": "mcp-cart", "call_count": 1},
        {"caller": "mcp-frontend", "callee": "mcp-payment", "call_count": 1},
    ]}
    assert call_error(sent, "get_service_dependencies", {"start_time": "now", "end_time": "-1h"}) == "start_time must be before end_time"


def test_the_clients_default_negotiation_works_too(sent):
    """`mcp.Client` with its default `mode="auto"` probes for the newest protocol (stateless,
    no session) and falls back to the initialize handshake: either way the tools answer."""
    from mcp import Client

    async def main():
        async with Client(f"http://127.0.0.1:{sent.port}/api/ai/mcp/") as client:
            listed = await client.list_tools()
            result = await client.call_tool("get_services", {"pattern": "^mcp-db$"})
            return client.session.protocol_version, [t.name for t in listed.tools], result

    version, names, result = anyio.run(main)
    assert version, "a protocol version was negotiated"
    assert names == TOOLS
    assert not result.is_error and result.structured_content == {"services": ["mcp-db"], "total_count": 1, "truncated": False}
