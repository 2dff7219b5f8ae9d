"""Jaeger v2's search semantics through the real binary, as a user of api_v3 meets them: a
search without `query.service_name` looks at every service (Jaeger 2.x), tag conditions match
scope and link attributes as well as span attributes, typed values match by their text, and
`/api/traces` without `service` is still Jaeger v1's 400.

Why the memory store: it is the store that implements every rule today, and these tests are
about what the query API passes through, not about one store's indexes (the conformance suite
in `storage-conformance` checks each store). Spans come from the OpenTelemetry SDK over
OTLP/gRPC, so scopes, scope attributes and link attributes are the SDK's own encoding.
"""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind

from conftest import Gateway, free_port, wait_until
from otlp_util import export_or_fail, recording_provider
from query_util import DELIVERY_TIMEOUT, jaeger_trace_id, query, query_ok

MS = 1_000_000  # nanoseconds


def memory_config(otlp_port: int, query_port: int) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "processors": {"batch": {"timeout": "50ms"}},
        "exporters": {"memory": {}},
        "extensions": {"jaeger_query": {"storage": "memory", "http": {"endpoint": f"127.0.0.1:{query_port}"}}},
        "service": {
            "extensions": ["jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["memory"]}},
        },
    }


def hex_id(span) -> str:
    return f"{span.context.trace_id:032x}"


@pytest.fixture(scope="module")
def sent(tracegate_bin, tmp_path_factory):
    """A gateway holding three traces, one second apart (oldest first):
    `checkout` (shop, scope `shop.http` with attribute team=payments, marker=cross, 120 ms),
    `charge` (billing, a link with attribute link.reason=retry-of, marker=cross, retries=3, 5 ms),
    `health` (shop, 1 ms)."""
    otlp_port, query_port = free_port(), free_port()
    gw = Gateway(tracegate_bin, tmp_path_factory.mktemp("search"), memory_config(otlp_port, query_port)).start()
    base = (time.time_ns() // 1000) * 1000 - 10_000 * MS
    shop, shop_spans = recording_provider({"service.name": "shop"})
    billing, billing_spans = recording_provider({"service.name": "billing"})
    http = shop.get_tracer("shop.http", "2.0", attributes={"team": "payments"})
    checkout = http.start_span("POST /checkout", kind=SpanKind.SERVER, start_time=base, attributes={"marker": "cross"})
    checkout.end(end_time=base + 120 * MS)
    charge = billing.get_tracer("billing.core", "1.0").start_span(
        "charge", kind=SpanKind.CONSUMER, start_time=base + 1000 * MS,
        links=[trace_api.Link(checkout.get_span_context(), {"link.reason": "retry-of"})],
        attributes={"marker": "cross", "retries": 3})
    charge.end(end_time=base + 1005 * MS)
    health = http.start_span("GET /health", kind=SpanKind.SERVER, start_time=base + 2000 * MS)
    health.end(end_time=base + 2001 * MS)
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
    export_or_fail(exporter, list(shop_spans.get_finished_spans()))
    export_or_fail(exporter, list(billing_spans.get_finished_spans()))
    spans = {"checkout": checkout, "charge": charge, "health": health}
    try:
        wait_until(lambda: len(v3_find(query_port, {})) == 3, DELIVERY_TIMEOUT, "three traces in /api/v3/traces")
        yield query_port, {name: hex_id(s) for name, s in spans.items()}
    finally:
        gw.stop()


def window() -> dict:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"query.start_time_min": time.strftime(fmt, time.gmtime(time.time() - 3600)),
            "query.start_time_max": time.strftime(fmt, time.gmtime(time.time() + 60))}


def v3_find(port: int, params: dict) -> list[str]:
    """Trace ids `/api/v3/traces` returns, in order, each once; none for Jaeger's 404."""
    status, body = query(port, "/api/v3/traces", {**window(), **params})
    if status == 404:
        assert body == {"error": {"httpCode": 404, "message": "No traces found"}}, body
        return []
    assert status == 200, f"GET /api/v3/traces {params} answered {status}: {body}"
    ids: list[str] = []
    for rs in body.get("result", {}).get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                if s["traceId"] not in ids:
                    ids.append(s["traceId"])
    return ids


def test_api_v3_searches_every_service_without_a_service_name(sent):
    port, t = sent
    assert v3_find(port, {}) == [t["health"], t["charge"], t["checkout"]], "newest first"
    assert v3_find(port, {"query.attributes": '{"marker":"cross"}'}) == [t["charge"], t["checkout"]]
    assert v3_find(port, {"query.operation_name": "charge"}) == [t["charge"]]
    assert v3_find(port, {"query.duration_min": "100ms"}) == [t["checkout"]]
    assert v3_find(port, {"query.duration_max": "10ms", "query.search_depth": "1"}) == [t["health"]]
    assert v3_find(port, {"query.operation_name": "charge", "query.duration_min": "100ms"}) == []
    # The service still narrows when given.
    assert v3_find(port, {"query.service_name": "shop", "query.attributes": "marker:cross"}) == [t["checkout"]]
    status, body = query(port, "/api/v3/traces", {"query.operation_name": "charge"})
    assert (status, body) == (400, {"error": {"httpCode": 400,
                                              "message": "query.startTimeMin and query.startTimeMax are required"}})


def test_tags_match_scope_and_link_attributes_and_typed_values(sent):
    port, t = sent
    assert v3_find(port, {"query.attributes": "team:payments"}) == [t["health"], t["checkout"]], "scope attribute"
    assert v3_find(port, {"query.attributes": "otel.scope.name:billing.core"}) == [t["charge"]], "scope name"
    assert v3_find(port, {"query.attributes": "otel.scope.version:2.0"}) == [t["health"], t["checkout"]]
    assert v3_find(port, {"query.attributes": "link.reason:retry-of"}) == [t["charge"]], "link attribute"
    assert v3_find(port, {"query.attributes": "retries:3"}) == [t["charge"]], "an int by its text"
    assert v3_find(port, {"query.attributes": "team:payments", "query.operation_name": "charge"}) == []


def test_api_v1_search_still_requires_a_service(sent):
    port, t = sent
    error = {"data": None, "total": 0, "limit": 0, "offset": 0,
             "errors": [{"code": 400, "msg": "parameter 'service' is required"}]}
    assert query(port, "/api/traces") == (400, error)
    assert query(port, "/api/traces", {"operation": "charge", "tag": "marker:cross"}) == (400, error)
    found = query_ok(port, "/api/traces", {"service": "billing", "tag": "link.reason:retry-of"})
    assert [tr["traceID"] for tr in found["data"]] == [jaeger_trace_id(int(t["charge"], 16))]
