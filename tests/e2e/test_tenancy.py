"""Tenancy (issue 17 item 4) as two teams sharing one gateway meet it: each team's services send
with the OpenTelemetry Python SDK, the tenant set as a header on the SDK's exporter (gRPC and
HTTP), into the all-in-one's shape (batch -> sled) with `tenancy:` on the receivers and on
`jaeger_query`; each team reads its traces back through `/api/traces` and api_v3 with its
header and never sees the other's. Requests without a tenant or naming an unknown one are
refused as Jaeger refuses them (gRPC UNAUTHENTICATED / PERMISSION_DENIED, HTTP 401) and counted.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import wait_until
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, store_config

TENANCY = {"enabled": True, "header": "x-tenant", "tenants": ["acme", "globex"]}


def tenanted_config(data, ports: QueryPorts) -> dict:
    config = store_config(data, ports)
    receivers = config["receivers"]
    del receivers["jaeger"]  # a UDP datagram carries no tenant; the config refuses it with tenancy
    config["service"]["pipelines"]["traces"]["receivers"] = ["otlp", "zipkin"]
    for name in ("otlp", "zipkin"):
        receivers[name]["tenancy"] = TENANCY
    config["extensions"]["jaeger_query"]["tenancy"] = TENANCY
    return config


def get(port: int, path: str, tenant: str | None) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if tenant is not None:
        req.add_header("x-tenant", tenant)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(port: int, path: str, tenant: str) -> dict:
    status, body = get(port, path, tenant)
    assert status == 200, f"GET {path} as {tenant} answered {status}: {body[:500]!r}"
    return json.loads(body)


def send(ports: QueryPorts, tenant: str, service: str, transport: str) -> str:
    """One two-span trace of `service`, sent as `tenant`; returns its trace id (32 hex)."""
    provider, memory = recording_provider({"service.name": service})
    tracer = provider.get_tracer("tenancy.e2e")
    with tracer.start_as_current_span(f"{tenant} checkout"):
        with tracer.start_as_current_span(f"{tenant} charge"):
            pass
    spans = list(memory.get_finished_spans())
    if transport == "grpc":
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True, headers={"x-tenant": tenant})
    else:
        exporter = HttpSpanExporter(endpoint=f"http://127.0.0.1:{ports.otlp_http}/v1/traces", headers={"x-tenant": tenant})
    export_or_fail(exporter, spans)
    return f"{spans[0].context.trace_id:032x}"


@pytest.fixture
def tenanted(gateways, tmp_path):
    ports = QueryPorts()
    gw = gateways(tenanted_config(tmp_path / "data", ports))
    return gw, ports


def test_each_tenant_sees_only_its_own_traces(tenanted, tmp_path):
    gw, ports = tenanted
    acme = send(ports, "acme", "acme-shop", "grpc")
    globex = send(ports, "globex", "globex-bank", "http")
    q = ports.query

    def has_trace(tenant, trace_id):
        status, body = get(q, f"/api/traces/{trace_id}", tenant)
        return status == 200 and len(json.loads(body)["data"][0]["spans"]) == 2

    wait_until(lambda: has_trace("acme", acme) and has_trace("globex", globex), 30, "both tenants' traces")

    assert get_json(q, "/api/services", "acme")["data"] == ["acme-shop"]
    assert get_json(q, "/api/services", "globex")["data"] == ["globex-bank"]
    # The other tenant's trace is not found, by id or by search, on v1 and api_v3.
    assert get(q, f"/api/traces/{globex}", "acme")[0] == 404
    assert get(q, f"/api/traces/{acme}", "globex")[0] == 404
    found = get_json(q, "/api/traces?service=acme-shop&lookback=1h", "acme")["data"]
    assert [t["traceID"] for t in found] == [acme]
    assert get_json(q, "/api/traces?service=acme-shop&lookback=1h", "globex")["data"] == []
    v3 = get_json(q, f"/api/v3/traces/{acme}", "acme")
    names = sorted(s["name"] for rs in v3["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"])
    assert names == ["acme charge", "acme checkout"]
    assert get(q, f"/api/v3/traces/{acme}", "globex")[0] == 404
    assert get_json(q, "/api/v3/services", "globex")["services"] == ["globex-bank"]

    # The sled store keeps each tenant in a database of its own.
    assert (tmp_path / "data" / "tenants" / "acme").is_dir()
    assert (tmp_path / "data" / "tenants" / "globex").is_dir()


def test_requests_without_an_allowed_tenant_are_refused_and_counted(tenanted):
    gw, ports = tenanted
    provider, memory = recording_provider({"service.name": "intruder"})
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    spans = list(memory.get_finished_spans())

    # gRPC: the SDK's exporter gets Jaeger's codes (and does not retry them).
    for headers, code in ((None, grpc.StatusCode.UNAUTHENTICATED), ({"x-tenant": "initech"}, grpc.StatusCode.PERMISSION_DENIED)):
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True, headers=headers, timeout=5)
        assert exporter.export(spans) == SpanExportResult.FAILURE
        channel = grpc.insecure_channel(f"127.0.0.1:{ports.otlp_grpc}")
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as refused:
            call(b"", metadata=tuple((headers or {}).items()), timeout=5)
        assert refused.value.code() == code
        channel.close()
    # HTTP: 401 with Jaeger's text, on the receiver and on the query API.
    http = HttpSpanExporter(endpoint=f"http://127.0.0.1:{ports.otlp_http}/v1/traces", headers={"x-tenant": "initech"}, timeout=5)
    assert http.export(spans) == SpanExportResult.FAILURE
    assert get(ports.query, "/api/services", None) == (401, b"missing tenant header")
    assert get(ports.query, "/api/services", "initech") == (401, b"unknown tenant")
    assert get(ports.query, "/api/v3/services", "initech") == (401, b"unknown tenant")
    # The page and its tenancy settings load without a tenant.
    status, body = get(ports.query, "/api/tenancy", None)
    assert (status, json.loads(body)) == (200, {"enabled": True, "header": "x-tenant", "tenants": ["acme", "globex"]})
    assert get(ports.query, "/", None)[0] == 200

    assert gw.metric("tracegate_tenancy_refused_requests", component="otlp", reason="missing") >= 2
    assert gw.metric("tracegate_tenancy_refused_requests", component="otlp", reason="unknown") >= 3
    assert gw.metric("tracegate_tenancy_refused_requests", component="jaeger_query", reason="unknown") == 2
    time.sleep(0.2)
    assert b"intruder" not in get(ports.query, "/api/services", "acme")[1]
