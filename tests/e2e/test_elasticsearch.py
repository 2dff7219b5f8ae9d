"""The Elasticsearch topology end to end: spans from the OpenTelemetry SDK go through the real
binary (otlp -> batch -> elasticsearch) into an Elasticsearch, and `jaeger_query` with
`storage: elasticsearch` reads them back in Jaeger's shapes.

No Elasticsearch can be installed on these machines, so the cluster is the workspace's fake
(tests/fake-elasticsearch), built with cargo and run as its own process: it keeps documents in
memory, implements the documented subset of the REST API the exporter uses and refuses
anything else (malformed NDJSON, unknown queries), so what passes here is what a real cluster
would accept. The documents are also read straight from the fake's `_search`, to check they are
the ones Jaeger writes (index per day, traceID in Jaeger's hex form, µs times).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind

from conftest import REPO, free_port, http_get, http_post, wait_until
from otlp_util import export_or_fail, recording_provider
from query_util import jaeger_trace_id, query_ok, wait_for_trace

MS = 1_000_000  # nanoseconds
BUILD_TIMEOUT = 1800.0


def _target_dir() -> Path:
    raw = os.environ.get("CARGO_TARGET_DIR")
    return Path(raw) if raw else REPO / "target"


@pytest.fixture(scope="module")
def fake_es():
    """The fake Elasticsearch as a process on a free port; its base URL."""
    build = subprocess.run(["cargo", "build", "-p", "tracegate-fake-elasticsearch"], cwd=REPO,
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert build.returncode == 0, f"cargo build -p tracegate-fake-elasticsearch failed:\n{build.stderr[-3000:]}"
    binary = _target_dir() / "debug" / "fake-elasticsearch"
    assert binary.is_file(), f"{binary} was not built"
    proc = subprocess.Popen([str(binary), "--port", str(free_port())], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("listening on "), f"the fake did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def es_search(url: str, indices: str, body: dict) -> dict:
    status, _, raw = http_post(f"{url}/{indices}/_search?ignore_unavailable=true", json.dumps(body).encode(), "application/json")
    assert status == 200, f"_search answered {status}: {raw[:500]!r}"
    return json.loads(raw)


def gateway_config(es_url: str, otlp: int, query: int) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "processors": {"batch": {"timeout": "50ms"}},
        "exporters": {"elasticsearch": {"endpoints": [es_url], "index_prefix": "e2e"}},
        "extensions": {"jaeger_query": {"storage": "elasticsearch", "http": {"endpoint": f"127.0.0.1:{query}"}}},
        "service": {
            "extensions": ["jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["elasticsearch"]}},
        },
    }


def send_checkout(otlp_port: int, service: str):
    """A 100 ms server root with typed attributes and an event, and a 30 ms client child."""
    provider, memory = recording_provider({"service.name": service, "deploy.env": "prod"})
    tracer = provider.get_tracer("es.scope", "1.0")
    base = (time.time_ns() // 1000) * 1000 - 5000 * MS
    root = tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=base,
                             attributes={"http.method": "GET", "retries": 3, "cached": True})
    root.add_event("cache.miss", {"bytes": 512}, timestamp=base + 1000)
    child = tracer.start_span("SELECT orders", kind=SpanKind.CLIENT, start_time=base + 10 * MS,
                              context=trace_api.set_span_in_context(root), attributes={"db.system": "postgresql"})
    child.end(end_time=base + 40 * MS)
    root.end(end_time=base + 100 * MS)
    export_or_fail(OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True), list(memory.get_finished_spans()))
    return root, child


def tags_of(span: dict) -> dict:
    return {t["key"]: t["value"] for t in span["tags"]}


def test_spans_from_the_sdk_are_stored_as_jaeger_documents_and_queryable(gateways, fake_es):
    otlp, query = free_port(), free_port()
    gateways(gateway_config(fake_es, otlp, query))
    root, child = send_checkout(otlp, "es-shop")
    trace_id = jaeger_trace_id(root.context.trace_id)

    trace = wait_for_trace(query, trace_id, 2)
    by_name = {s["operationName"]: s for s in trace["spans"]}
    api_root, api_child = by_name["GET /checkout"], by_name["SELECT orders"]
    assert api_root["spanID"] == f"{root.context.span_id:016x}"
    assert api_root["startTime"] == root.start_time // 1000
    assert api_root["duration"] == 100_000
    assert tags_of(api_root)["http.method"] == "GET"
    assert tags_of(api_root)["retries"] == 3
    assert tags_of(api_root)["span.kind"] == "server"
    assert api_root["logs"][0]["timestamp"] == root.start_time // 1000 + 1
    assert api_child["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": api_root["spanID"]}]
    process = trace["processes"][api_root["processID"]]
    assert process["serviceName"] == "es-shop"
    assert {"key": "deploy.env", "type": "string", "value": "prod"} in process["tags"]

    assert "es-shop" in query_ok(query, "/api/services")["data"]
    ops = query_ok(query, "/api/operations", {"service": "es-shop", "spanKind": "client"})["data"]
    assert ops == [{"name": "SELECT orders", "spanKind": "client"}]
    found = query_ok(query, "/api/traces", {"service": "es-shop", "tags": json.dumps({"http.method": "GET"}), "lookback": "1h"})
    assert [t["traceID"] for t in found["data"]] == [trace_id]
    # One span must carry both tags (Jaeger's semantics): the root has http.method, the child db.system.
    none = query_ok(query, "/api/traces", {"service": "es-shop", "tags": json.dumps({"http.method": "GET", "db.system": "postgresql"}), "lookback": "1h"})
    assert none["data"] == []
    by_duration = query_ok(query, "/api/traces", {"service": "es-shop", "minDuration": "50ms", "lookback": "1h"})
    assert [t["traceID"] for t in by_duration["data"]] == [trace_id]

    # The documents themselves, as Jaeger writes them.
    day = time.strftime("%Y-%m-%d", time.gmtime(root.start_time / 1e9))
    hits = es_search(fake_es, f"e2e-jaeger-span-{day}", {"query": {"term": {"traceID": trace_id}}, "size": 10})["hits"]["hits"]
    docs = {h["_source"]["operationName"]: h["_source"] for h in hits}
    assert set(docs) == {"GET /checkout", "SELECT orders"}
    assert docs["GET /checkout"]["startTimeMillis"] == root.start_time // MS
    assert {"key": "retries", "type": "int64", "value": "3"} in docs["GET /checkout"]["tags"]
    assert docs["GET /checkout"]["process"]["serviceName"] == "es-shop"
    services = es_search(fake_es, f"e2e-jaeger-service-{day}", {"query": {"term": {"serviceName": "es-shop"}}, "size": 10})
    assert sorted(h["_source"]["operationName"] for h in services["hits"]["hits"]) == ["GET /checkout", "SELECT orders"]
    status, body = http_get(f"{fake_es}/_fake/templates")
    assert status == 200
    names = sorted((t["api"], t["name"]) for t in json.loads(body))
    assert ("_index_template", "e2e-jaeger-span") in names and ("_index_template", "e2e-jaeger-service") in names


def test_a_throttling_cluster_delays_but_loses_nothing(gateways, fake_es):
    otlp, query = free_port(), free_port()
    gateways(gateway_config(fake_es, otlp, query))
    status, _, body = http_post(f"{fake_es}/_fake/faults", json.dumps({"request_429": 2, "item_429": 1}).encode(), "application/json")
    assert status == 200, body
    root, _ = send_checkout(otlp, "es-throttled")
    # Only the gateway's writes may meet the injected faults, so read nothing until they are used up.
    wait_until(lambda: json.loads(http_get(f"{fake_es}/_fake/faults")[1]) == {"request_429": 0, "request_503": 0, "item_429": 0, "item_mapping": 0},
               30.0, "the gateway to meet every injected 429")
    trace = wait_for_trace(query, jaeger_trace_id(root.context.trace_id), 2)
    assert sorted(s["operationName"] for s in trace["spans"]) == ["GET /checkout", "SELECT orders"]


def test_documents_the_cluster_refuses_are_counted_not_retried(gateways, fake_es):
    otlp, query = free_port(), free_port()
    gw = gateways(gateway_config(fake_es, otlp, query))
    status, _, body = http_post(f"{fake_es}/_fake/faults", json.dumps({"item_mapping": 1}).encode(), "application/json")
    assert status == 200, body
    root, _ = send_checkout(otlp, "es-refused")
    wait_until(lambda: gw.metric("tracegate_exporter_elasticsearch_dropped_documents", exporter="elasticsearch") == 1,
               30.0, "the refused document to be counted")
    # The rest of the batch was written: the trace is there, one document short.
    trace = wait_for_trace(query, jaeger_trace_id(root.context.trace_id), 1)
    assert len(trace["spans"]) == 1
    assert gw.metric("tracegate_exporter_sent_spans", exporter="elasticsearch") == 2
