"""The Monitor tab's data (service performance monitoring) from tracegate's own store.

The real OpenTelemetry SDK sends spans with known durations and errors over OTLP/gRPC to the
all-in-one shape (otlp -> batch -> sled, jaeger_query); Jaeger's metrics API
(`/api/metrics/calls|errors|latencies|minstep`) must answer with the counts, rates and quantiles
those spans imply (quantiles within the store histogram's 12.5%), and the self-metrics endpoint
must carry the same calls under the spanmetrics connector's Prometheus names.
"""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import parse_metric, wait_until
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, query, query_ok, store_config

MS = 1_000_000  # nanoseconds


def send(ports: QueryPorts, base_ns: int) -> None:
    """shop: 50 `GET /cart` server spans of 1..50 ms (every fifth failed) and 5 `SELECT` client
    spans; auth: 10 `login` server spans of 200 ms."""
    provider, memory = recording_provider({"service.name": "shop"})
    tracer = provider.get_tracer("spm.test")
    for i in range(1, 51):
        span = tracer.start_span("GET /cart", kind=SpanKind.SERVER, start_time=base_ns + i * MS)
        if i % 5 == 0:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=base_ns + i * MS + i * MS)
    for i in range(5):
        tracer.start_span("SELECT", kind=SpanKind.CLIENT, start_time=base_ns).end(end_time=base_ns + 3 * MS)
    auth, auth_memory = recording_provider({"service.name": "auth"})
    auth_tracer = auth.get_tracer("spm.test")
    for i in range(10):
        auth_tracer.start_span("login", kind=SpanKind.SERVER, start_time=base_ns + i * MS).end(end_time=base_ns + i * MS + 200 * MS)
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True)
    export_or_fail(exporter, list(memory.get_finished_spans()) + list(auth_memory.get_finished_spans()))
    exporter.shutdown()


def points(family: dict, **labels: str) -> list[float]:
    for metric in family.get("metrics", []):
        got = {l["name"]: l["value"] for l in metric.get("labels", [])}
        if all(got.get(k) == v for k, v in labels.items()):
            return [p["gaugeValue"]["doubleValue"] for p in metric["metricPoints"]]
    return []


def test_metrics_api_and_prometheus_series_from_sdk_spans(gateways, tmp_path):
    ports = QueryPorts()
    gw = gateways(store_config(tmp_path / "store", ports))
    now_ms = time.time_ns() // 1_000_000
    minute_ms = (now_ms // 60_000 - 3) * 60_000  # three minutes ago, on a minute
    send(ports, minute_ms * MS)
    # One point at the end of the span's minute + 2, looking back ten minutes.
    window = {"endTs": minute_ms + 120_000, "lookback": 0, "step": 60_000, "ratePer": 600_000}

    def calls():
        family = query_ok(ports.query, "/api/metrics/calls", {"service": "shop", **window})
        got = points(family, service_name="shop")
        return family if got and abs(got[-1] * 600 - 50) < 1e-9 else None

    family = wait_until(calls, 30, "50 shop server calls in /api/metrics/calls")
    assert family["name"] == "service_call_rate" and family["type"] == "GAUGE"
    assert points(family, service_name="shop") == [50 / 600]

    errors = query_ok(ports.query, "/api/metrics/errors", {"service": "shop", **window})
    assert points(errors, service_name="shop") == [0.2]

    p95 = query_ok(ports.query, "/api/metrics/latencies", {"service": "shop", "quantile": 0.95, **window})
    (value,) = points(p95, service_name="shop")
    assert abs(value - 47.5) / 47.5 <= 0.125, value  # 1..50 ms: p95 is 47.5 ms

    # Repeated service, by operation, client kind; two services at once.
    both = query_ok(ports.query, "/api/metrics/calls",
                    [("service", "shop"), ("service", "auth"), ("groupByOperation", "true"), ("spanKind", "client"),
                     ("spanKind", "server")] + [(k, v) for k, v in window.items()])
    assert both["name"] == "service_operation_call_rate"
    assert abs(points(both, service_name="shop", operation="SELECT")[0] * 600 - 5) < 1e-9
    assert abs(points(both, service_name="auth", operation="login")[0] * 600 - 10) < 1e-9

    status, body = query(ports.query, "/api/metrics/calls")
    assert status == 400 and body["errors"][0]["msg"] == "unable to parse param 'service': please provide at least one service name"
    assert query_ok(ports.query, "/api/metrics/minstep")["data"] == 60_000

    # The spanmetrics connector's series on the self-metrics endpoint.
    text = gw.metrics_text()
    base = {"service_name": "shop", "span_name": "GET /cart", "span_kind": "SPAN_KIND_SERVER"}
    assert parse_metric(text, "traces_span_metrics_calls_total", {**base, "status_code": "STATUS_CODE_UNSET"}) == 40
    assert parse_metric(text, "traces_span_metrics_calls_total", {**base, "status_code": "STATUS_CODE_ERROR"}) == 10
    assert parse_metric(text, "traces_span_metrics_duration_milliseconds_count", {**base, "status_code": "STATUS_CODE_UNSET"}) == 40
    # 1..50 ms without every fifth: those up to 10 ms (1,2,3,4,6,7,8,9) are in le="10".
    assert parse_metric(text, "traces_span_metrics_duration_milliseconds_bucket", {**base, "status_code": "STATUS_CODE_UNSET", "le": "10"}) == 8
