"""The all-in-one as Jaeger's users see it: spans from the real clients of every receiver (the
OpenTelemetry SDK over OTLP/gRPC, jaeger-client over UDP, py_zipkin over HTTP) go through
`batch` into the `sled` store and come back from the `jaeger_query` extension in exactly the
shapes Jaeger's query service serves (`/api/*` for the UI and scripts, `/api/v3/*` in OTLP JSON).

One gateway is filled once per module (the clients take a while to flush) and every test reads
it; the store is in the module's tmp dir, so nothing else is in it. Every field of the Jaeger
JSON is checked against what the client itself recorded, and searches have counter-examples
that must not match (Jaeger's semantics: one span must meet every condition).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.trace import SpanKind
from opentracing import Format
from py_zipkin import Encoding, Kind
from py_zipkin.zipkin import zipkin_span

from conftest import Gateway, http_get, wait_until
from jaeger_util import close_tracer, micros, new_tracer
from otlp_util import export_or_fail, recording_provider
from query_util import QueryPorts, jaeger_trace_id, query, query_ok, shipped_all_in_one, store_config, wait_for_trace
from test_zipkin import PostingTransport

MS = 1_000_000  # nanoseconds


@dataclass
class Store:
    """The filled gateway and what each client sent."""

    port: int
    otlp: dict = field(default_factory=dict)  # name -> (trace id, start ns, end ns, span id)
    jaeger: dict = field(default_factory=dict)  # operation -> finished jaeger-client span
    jaeger_tracers: dict = field(default_factory=dict)  # service -> tracer tags
    zipkin: list = field(default_factory=list)  # v2 JSON spans py_zipkin posted


def send_otlp(ports: QueryPorts, store: Store) -> None:
    """Three traces of service `qa-otlp`: a checkout (100 ms server root with every tag type and
    a log, 30 ms client child) five seconds ago, and two 1 ms health checks after it."""
    provider, memory = recording_provider({"service.name": "qa-otlp", "deploy.env": "prod"})
    tracer = provider.get_tracer("qa.scope", "1.0")
    base = (time.time_ns() // 1000) * 1000 - 5000 * MS  # whole microseconds, as Jaeger shows
    root = tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=base,
                             attributes={"http.method": "GET", "cached": True, "retries": 3, "ratio": 0.25})
    root.add_event("cache.miss", {"note": "hi", "bytes": 512}, timestamp=base + 1000)
    child = tracer.start_span("SELECT orders", kind=SpanKind.CLIENT, start_time=base + 10 * MS,
                              context=trace_api.set_span_in_context(root), attributes={"db.system": "postgresql"})
    child.end(end_time=base + 40 * MS)
    root.end(end_time=base + 100 * MS)
    for i, name in enumerate(("health-1", "health-2")):
        start = base + (i + 1) * 1000 * MS
        probe = tracer.start_span("GET /health", kind=SpanKind.SERVER, start_time=start,
                                  context=trace_api.set_span_in_context(trace_api.INVALID_SPAN),
                                  attributes={"probe": "k8s"})
        probe.end(end_time=start + 1 * MS)
        store.otlp[name] = probe
    store.otlp["root"], store.otlp["child"] = root, child
    export_or_fail(OTLPSpanExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True),
                   list(memory.get_finished_spans()))


def send_jaeger(ports: QueryPorts, store: Store) -> None:
    """jaeger-client's tutorial shape: `qa-jaeger` calls `qa-jaeger-fmt`, the context carried
    in HTTP headers from one tracer to the other (two processes, a dependency)."""
    hello = new_tracer("qa-jaeger", ports.jaeger_udp)
    formatter = new_tracer("qa-jaeger-fmt", ports.jaeger_udp)
    try:
        with hello.start_active_span("say-hello") as scope:
            span = scope.span
            span.set_tag("hello-to", "Bryan")
            span.set_tag("retries", 3)
            span.set_tag("cached", False)
            span.set_tag("ratio", 0.25)
            span.log_kv({"event": "request.start", "user.id": 42, "note": "hi"})
            with hello.start_active_span("format", tags={"span.kind": "client"}) as fmt:
                headers: dict = {}
                hello.inject(fmt.span.context, Format.HTTP_HEADERS, headers)
                caller = formatter.extract(Format.HTTP_HEADERS, headers)
                with formatter.start_active_span("format-server", child_of=caller, tags={"span.kind": "server"}) as srv:
                    store.jaeger["format-server"] = srv.span
                store.jaeger["format"] = fmt.span
            store.jaeger["say-hello"] = span
    finally:
        close_tracer(hello)
        close_tracer(formatter)
    store.jaeger_tracers = {"qa-jaeger": hello.tags, "qa-jaeger-fmt": formatter.tags}


def send_zipkin(ports: QueryPorts, store: Store) -> None:
    transport = PostingTransport(ports.zipkin, Encoding.V2_JSON)
    with zipkin_span(service_name="qa-zipkin", span_name="GET /zipkin", kind=Kind.SERVER, host="127.0.0.1",
                     transport_handler=transport, encoding=Encoding.V2_JSON, sample_rate=100.0,
                     binary_annotations={"http.path": "/zipkin"}) as span:
        span.add_annotation("cache.hit")
    assert [status for _, status, _ in transport.sent] == [202], transport.sent
    store.zipkin = [z for body, _, _ in transport.sent for z in json.loads(body)]


@pytest.fixture(scope="module")
def store(tracegate_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("query-api")
    ports = QueryPorts()
    gw = Gateway(tracegate_bin, tmp, store_config(tmp / "db", ports), name="all-in-one").start()
    try:
        s = Store(port=ports.query)
        send_otlp(ports, s)
        send_jaeger(ports, s)
        send_zipkin(ports, s)
        wait_for_trace(s.port, otlp_id(s.otlp["root"]), 2)
        for name in ("health-1", "health-2"):
            wait_for_trace(s.port, otlp_id(s.otlp[name]), 1)
        wait_for_trace(s.port, jaeger_trace_id(s.jaeger["say-hello"].trace_id), 3)
        wait_for_trace(s.port, s.zipkin[0]["traceId"], 1)
        yield s
    finally:
        gw.stop()


def otlp_id(span) -> str:
    return jaeger_trace_id(span.context.trace_id)


def tags(kvs: list) -> dict:
    """Jaeger's typed key-values as {key: (type, value)}; every entry has exactly the three
    fields Jaeger writes and no key appears twice."""
    out = {}
    for kv in kvs:
        assert set(kv) == {"key", "type", "value"}, kv
        assert kv["key"] not in out, f"tag {kv['key']!r} appears twice"
        out[kv["key"]] = (kv["type"], kv["value"])
    return out


def spans_by_name(trace: dict) -> dict:
    out = {s["operationName"]: s for s in trace["spans"]}
    assert len(out) == len(trace["spans"]), "operation names are unique in these traces"
    return out


SPAN_KEYS = {"traceID", "spanID", "operationName", "references", "startTime", "duration", "tags", "logs",
             "processID", "warnings"}


def test_services_list_every_client(store):
    want = ["qa-jaeger", "qa-jaeger-fmt", "qa-otlp", "qa-zipkin"]
    assert query_ok(store.port, "/api/services") == {"data": want, "total": 4, "limit": 0, "offset": 0, "errors": None}
    assert query_ok(store.port, "/api/v3/services") == {"services": want}


def test_otlp_trace_as_jaeger_shows_it(store):
    root, child = store.otlp["root"], store.otlp["child"]
    trace_id = otlp_id(root)
    assert len(trace_id) == 32, "a 128-bit id keeps both halves"
    body = query_ok(store.port, f"/api/traces/{trace_id}")
    assert {k: body[k] for k in ("total", "limit", "offset", "errors")} == {"total": 0, "limit": 0, "offset": 0, "errors": None}
    (trace,) = body["data"]
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    assert (trace["traceID"], trace["warnings"]) == (trace_id, None)
    assert trace["processes"] == {"p1": {"serviceName": "qa-otlp", "tags": [{"key": "deploy.env", "type": "string", "value": "prod"}]}}
    spans = spans_by_name(trace)
    assert set(spans) == {"GET /checkout", "SELECT orders"}
    r, c = spans["GET /checkout"], spans["SELECT orders"]
    for s in (r, c):
        assert set(s) - {"flags"} == SPAN_KEYS, s
        assert (s["traceID"], s["processID"], s["warnings"]) == (trace_id, "p1", None)
    assert r["spanID"] == f"{root.context.span_id:016x}" and c["spanID"] == f"{child.context.span_id:016x}"
    assert r["references"] == []
    assert c["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": r["spanID"]}]
    assert (r["startTime"], r["duration"]) == (root.start_time // 1000, 100_000)
    assert (c["startTime"], c["duration"]) == (child.start_time // 1000, 30_000)
    scope = {"otel.scope.name": ("string", "qa.scope"), "otel.scope.version": ("string", "1.0")}
    assert tags(r["tags"]) == {**scope, "http.method": ("string", "GET"), "cached": ("bool", True),
                               "retries": ("int64", 3), "ratio": ("float64", 0.25), "span.kind": ("string", "server")}
    assert tags(c["tags"]) == {**scope, "db.system": ("string", "postgresql"), "span.kind": ("string", "client")}
    assert [(log["timestamp"], tags(log["fields"])) for log in r["logs"]] == [
        (root.start_time // 1000 + 1, {"event": ("string", "cache.miss"), "note": ("string", "hi"), "bytes": ("int64", 512)})
    ]
    assert c["logs"] == []


def test_jaeger_client_trace_as_jaeger_shows_it(store):
    sent = store.jaeger
    trace_id = jaeger_trace_id(sent["say-hello"].trace_id)
    assert len(trace_id) == 16, "jaeger-client's 64-bit ids show as 16 hex characters"
    (trace,) = query_ok(store.port, f"/api/traces/{trace_id}")["data"]
    assert trace["traceID"] == trace_id
    spans = spans_by_name(trace)
    assert set(spans) == set(sent)
    for name, span in spans.items():
        client = sent[name]
        assert set(span) == SPAN_KEYS | {"flags"}, span
        assert (span["traceID"], span["spanID"], span["flags"]) == (trace_id, f"{client.span_id:016x}", 1), name
        # What jaeger-client itself puts in its Thrift span.
        assert span["startTime"] == micros(client.start_time), name
        assert span["duration"] == micros(client.end_time - client.start_time), name
        parent = [] if client.parent_id is None else [
            {"refType": "CHILD_OF", "traceID": trace_id, "spanID": f"{client.parent_id:016x}"}]
        assert span["references"] == parent, name
    root = spans["say-hello"]
    assert tags(root["tags"]) == {"sampler.type": ("string", "const"), "sampler.param": ("bool", True),
                                  "hello-to": ("string", "Bryan"), "retries": ("int64", 3), "cached": ("bool", False),
                                  "ratio": ("float64", 0.25)}
    (log,) = root["logs"]
    assert log["timestamp"] == sent["say-hello"].logs[0].timestamp
    assert tags(log["fields"]) == {"event": ("string", "request.start"), "user.id": ("int64", 42), "note": ("string", "hi")}
    assert tags(spans["format"]["tags"]) == {"span.kind": ("string", "client")}
    assert tags(spans["format-server"]["tags"]) == {"span.kind": ("string", "server")}
    # Processes in order of first appearance, one per tracer, with the tracer's tags as the
    # translation rules leave them (hostname -> host.name, jaeger.version -> exporter version).
    assert sorted(trace["processes"]) == ["p1", "p2"]
    by_service = {p["serviceName"]: (pid, tags(p["tags"])) for pid, p in trace["processes"].items()}
    assert set(by_service) == {"qa-jaeger", "qa-jaeger-fmt"}
    for service, tracer_tags in store.jaeger_tracers.items():
        pid, ptags = by_service[service]
        assert ptags["opencensus.exporterversion"] == ("string", f"Jaeger-{tracer_tags['jaeger.version']}")
        assert ptags["host.name"] == ("string", tracer_tags["hostname"])
        assert ptags["ip"] == ("string", tracer_tags["ip"])
    assert spans["say-hello"]["processID"] == spans["format"]["processID"] == by_service["qa-jaeger"][0]
    assert spans["format-server"]["processID"] == by_service["qa-jaeger-fmt"][0]


def test_zipkin_trace_as_jaeger_shows_it(store):
    (z,) = store.zipkin
    assert len(z["traceId"]) == 16
    (trace,) = query_ok(store.port, f"/api/traces/{z['traceId']}")["data"]
    (span,) = trace["spans"]
    assert set(span) == SPAN_KEYS
    assert (span["traceID"], span["spanID"], span["operationName"]) == (z["traceId"], z["id"], "GET /zipkin")
    assert (span["startTime"], span["duration"], span["references"]) == (z["timestamp"], z["duration"], [])
    assert tags(span["tags"]) == {"http.path": ("string", "/zipkin"), "net.host.ip": ("string", "127.0.0.1"),
                                  "span.kind": ("string", "server")}
    assert [(log["timestamp"], tags(log["fields"])) for log in span["logs"]] == [
        (z["annotations"][0]["timestamp"], {"event": ("string", "cache.hit")})]
    assert trace["processes"] == {"p1": {"serviceName": "qa-zipkin", "tags": []}}


def test_operations(store):
    assert query_ok(store.port, "/api/services/qa-otlp/operations")["data"] == ["GET /checkout", "GET /health", "SELECT orders"]
    assert query_ok(store.port, "/api/services/qa-jaeger/operations")["data"] == ["format", "say-hello"]
    body = query_ok(store.port, "/api/operations", {"service": "qa-otlp", "spanKind": "server"})
    assert sorted(body["data"], key=lambda o: o["name"]) == [
        {"name": "GET /checkout", "spanKind": "server"}, {"name": "GET /health", "spanKind": "server"}]
    assert body["errors"] is None
    body = query_ok(store.port, "/api/operations", {"service": "qa-otlp", "spanKind": "client"})
    assert body["data"] == [{"name": "SELECT orders", "spanKind": "client"}]
    body = query_ok(store.port, "/api/operations", {"service": "qa-otlp"})
    assert sorted((o["name"], o["spanKind"]) for o in body["data"]) == [
        ("GET /checkout", "server"), ("GET /health", "server"), ("SELECT orders", "client")]
    assert query_ok(store.port, "/api/v3/operations", {"service": "qa-otlp", "span_kind": "client"}) == {
        "operations": [{"name": "SELECT orders", "spanKind": "client"}]}


def found(store, params) -> list[str]:
    """Trace ids `/api/traces` answers, in its order."""
    body = query_ok(store.port, "/api/traces", params)
    assert body["errors"] is None, body
    return [t["traceID"] for t in body["data"]]


def test_search(store):
    checkout, h1, h2 = (otlp_id(store.otlp[n]) for n in ("root", "health-1", "health-2"))
    svc = [("service", "qa-otlp")]
    assert found(store, svc) == [h2, h1, checkout], "newest first"
    assert found(store, svc + [("limit", "2")]) == [h2, h1]
    assert found(store, svc + [("operation", "SELECT orders")]) == [checkout]
    assert found(store, svc + [("operation", "GET /health")]) == [h2, h1]
    assert found(store, svc + [("operation", "nope")]) == []
    # Span tags, process tags and log fields; JSON and repeated tag=k:v.
    assert found(store, svc + [("tags", '{"db.system":"postgresql"}')]) == [checkout]
    assert found(store, svc + [("tag", "probe:k8s")]) == [h2, h1]
    assert found(store, svc + [("tag", "deploy.env:prod")]) == [h2, h1, checkout]
    assert found(store, svc + [("tag", "note:hi")]) == [checkout]
    assert found(store, svc + [("tag", "probe:k8s"), ("tag", "deploy.env:prod")]) == [h2, h1]
    # One span must meet every condition: db.system and http.method are on different spans.
    assert found(store, svc + [("tag", "db.system:postgresql"), ("tag", "http.method:GET")]) == []
    assert found(store, svc + [("tag", "probe:other")]) == []
    assert found(store, svc + [("tags", '{"probe":"k8s"}'), ("operation", "GET /checkout")]) == []
    # Durations apply to single spans: only the checkout's 30 ms child is within 20-40 ms.
    assert found(store, svc + [("minDuration", "50ms")]) == [checkout]
    assert found(store, svc + [("maxDuration", "5ms")]) == [h2, h1]
    assert found(store, svc + [("minDuration", "20ms"), ("maxDuration", "40ms")]) == [checkout]
    assert found(store, svc + [("minDuration", "20ms"), ("maxDuration", "40ms"), ("operation", "GET /checkout")]) == []
    assert found(store, svc + [("minDuration", "2ms"), ("maxDuration", "20ms")]) == []
    # start/end in microseconds bound the span start times.
    start = store.otlp["health-1"].start_time // 1000
    assert found(store, svc + [("start", str(start)), ("end", str(start + 1))]) == [h1]
    # Jaeger ignores `lookback`; repeated traceID fetches by id.
    assert found(store, svc + [("lookback", "1h"), ("limit", "1")]) == [h2]
    assert sorted(found(store, [("traceID", checkout), ("traceID", h1)])) == sorted([checkout, h1])
    jaeger_id = jaeger_trace_id(store.jaeger["say-hello"].trace_id)
    assert found(store, [("service", "qa-jaeger"), ("tag", "hello-to:Bryan"), ("tag", "retries:3")]) == [jaeger_id]
    assert found(store, [("service", "qa-jaeger-fmt"), ("operation", "format-server")]) == [jaeger_id]
    assert found(store, [("service", "qa-zipkin"), ("tag", "http.path:/zipkin")]) == [store.zipkin[0]["traceId"]]


def jaeger_error(code: int, msg: str) -> dict:
    return {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]}


def test_bad_parameters_and_missing_traces(store):
    assert query(store.port, "/api/traces") == (400, jaeger_error(400, "parameter 'service' is required"))
    assert query(store.port, "/api/traces", {"service": "qa-otlp", "minDuration": "5x"}) == (
        400, jaeger_error(400, "unable to parse param 'minDuration': time: unknown unit \"x\" in duration \"5x\""))
    assert query(store.port, "/api/traces", {"service": "qa-otlp", "maxDuration": "10"}) == (
        400, jaeger_error(400, "unable to parse param 'maxDuration': time: missing unit in duration \"10\""))
    assert query(store.port, "/api/traces", {"service": "qa-otlp", "minDuration": "2s", "maxDuration": "1s"}) == (
        400, jaeger_error(400, "'maxDuration' should be greater than 'minDuration'"))
    assert query(store.port, "/api/traces", {"service": "qa-otlp", "tag": "nocolon"}) == (
        400, jaeger_error(400, "malformed 'tag' parameter, expecting key:value, received: nocolon"))
    assert query(store.port, "/api/operations") == (400, jaeger_error(400, "parameter 'service' is required"))
    assert query(store.port, "/api/traces/abcdef0123456789") == (404, jaeger_error(404, "trace not found"))
    assert query(store.port, "/api/traces/xyz") == (
        400, jaeger_error(400, "strconv.ParseUint: parsing \"xyz\": invalid syntax"))
    body = query_ok(store.port, "/api/traces", [("traceID", "abcdef0123456789")])
    assert (body["data"], body["errors"]) == ([], [{"msg": "trace not found", "traceID": "abcdef0123456789"}])
    # Jaeger 2.x's gateway: an unknown id is an empty answer, "No traces found".
    assert query(store.port, "/api/v3/traces/abcdef0123456789") == (404, {"error": {"httpCode": 404, "message": "No traces found"}})


def test_api_v3_trace_is_otlp_json(store):
    root = store.otlp["root"]
    trace_id = otlp_id(root)
    v1 = {s["spanID"]: s for s in query_ok(store.port, f"/api/traces/{trace_id}")["data"][0]["spans"]}
    body = query_ok(store.port, f"/api/v3/traces/{trace_id}")
    assert set(body) == {"result"}
    (rs,) = body["result"]["resourceSpans"]
    assert rs["resource"]["attributes"] == [{"key": "service.name", "value": {"stringValue": "qa-otlp"}},
                                            {"key": "deploy.env", "value": {"stringValue": "prod"}}]
    (ss,) = rs["scopeSpans"]
    assert ss["scope"] == {"name": "qa.scope", "version": "1.0"}
    got = {s["spanId"]: s for s in ss["spans"]}
    assert set(got) == set(v1)
    for span_id, s in got.items():
        assert s["traceId"] == trace_id and s["name"] == v1[span_id]["operationName"]
        assert int(s["startTimeUnixNano"]) // 1000 == v1[span_id]["startTime"]
        assert (int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) // 1000 == v1[span_id]["duration"]
    r = got[f"{root.context.span_id:016x}"]
    assert (r["kind"], "parentSpanId" in r) == (2, False)
    assert r["attributes"] == [
        {"key": "http.method", "value": {"stringValue": "GET"}}, {"key": "cached", "value": {"boolValue": True}},
        {"key": "retries", "value": {"intValue": "3"}}, {"key": "ratio", "value": {"doubleValue": 0.25}}]
    assert r["events"] == [{"name": "cache.miss", "timeUnixNano": str(root.start_time + 1000), "attributes": [
        {"key": "note", "value": {"stringValue": "hi"}}, {"key": "bytes", "value": {"intValue": "512"}}]}]
    c = got[f"{store.otlp['child'].context.span_id:016x}"]
    assert (c["kind"], c["parentSpanId"]) == (3, r["spanId"])
    # Search: the same traces as v1, by the gateway's query.* parameters.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    body = query_ok(store.port, "/api/v3/traces", {
        "query.service_name": "qa-otlp", "query.start_time_min": hour_ago, "query.start_time_max": now,
        "query.duration_min": "20ms", "query.duration_max": "40ms"})
    ids = {s["traceId"] for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert ids == {trace_id}


def test_dependencies_from_a_two_service_trace(store):
    end = int(time.time() * 1000) + 1000
    body = query_ok(store.port, "/api/dependencies", {"endTs": end, "lookback": 3_600_000})
    assert body["errors"] is None
    assert body["data"] == [{"parent": "qa-jaeger", "child": "qa-jaeger-fmt", "callCount": 1}]
    # A window that ended before the trace holds nothing.
    body = query_ok(store.port, "/api/dependencies", {"endTs": end - 3_600_000, "lookback": 60_000})
    assert body["data"] == []


def test_all_in_one_example_as_shipped(gateways, tmp_path):
    """`config-examples/all-in-one.yaml` (the README's main command) with only its ports moved
    to free ones and its data directory into tmp: an OTLP/HTTP SDK, jaeger-client with its
    default remote sampler (polling the example's sampling port) and py_zipkin all land in the
    store and come back from the query API; the health check answers."""
    data = tmp_path / "data"
    config, ports, env = shipped_all_in_one(data)
    sampling, health = ports.sampling, ports.health
    gateways(config, name="all-in-one", env=env)
    assert http_get(f"http://127.0.0.1:{health}/")[0] == 200
    assert data.is_dir(), "the store lives where TRACEGATE_DATA points"

    provider, memory = recording_provider({"service.name": "web"})
    with provider.get_tracer("example").start_as_current_span("GET /", kind=SpanKind.SERVER) as root:
        pass
    export_or_fail(HttpSpanExporter(endpoint=f"http://127.0.0.1:{ports.otlp_http}/v1/traces"),
                   list(memory.get_finished_spans()))
    tracer = new_tracer("checkout", ports.jaeger_udp, sampler={}, sampling_refresh_interval=0.2, local_agent={
        "reporting_host": "127.0.0.1", "reporting_port": ports.jaeger_udp, "sampling_port": sampling})
    try:
        wait_until(lambda: type(tracer.sampler.sampler).__name__ == "AdaptiveSampler", 15,
                   "jaeger-client to fetch the strategy of `checkout` from the example's sampling port")
        with tracer.start_active_span("POST /order") as scope:
            assert scope.span.is_sampled()
            jaeger_id = jaeger_trace_id(scope.span.trace_id)
    finally:
        close_tracer(tracer)
    s = Store(port=ports.query)
    send_zipkin(ports, s)

    wait_for_trace(ports.query, otlp_id(root), 1)
    wait_for_trace(ports.query, jaeger_id, 1)
    wait_for_trace(ports.query, s.zipkin[0]["traceId"], 1)
    assert query_ok(ports.query, "/api/services")["data"] == ["checkout", "qa-zipkin", "web"]
    assert found(s, [("service", "checkout"), ("operation", "POST /order")]) == [jaeger_id]


# ---- api_v3 over HTTP as Jaeger's gateway answers (issue 18 item 2) -----------------------------

def v3_window() -> dict:
    return {"query.startTimeMin": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
            "query.startTimeMax": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))}


def v3_error(code: int, message: str) -> tuple[int, dict]:
    return code, {"error": {"httpCode": code, "message": message}}


def v3_trace_ids(body: dict) -> list[str]:
    """Trace ids of a v3 answer in order of first appearance."""
    ids: list[str] = []
    for rs in body["result"]["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                if s["traceId"] not in ids:
                    ids.append(s["traceId"])
    return ids


def test_api_v3_search_that_matches_nothing_is_404(store):
    assert query(store.port, "/api/v3/traces", {**v3_window(), "query.serviceName": "qa-otlp",
                                                "query.operationName": "nope"}) == v3_error(404, "No traces found")


def test_api_v3_operations_report_an_unset_kind_as_internal(store):
    # jaeger-client's say-hello has no span.kind tag: v1 says "", the v3 gateway "internal".
    v1 = query_ok(store.port, "/api/operations", {"service": "qa-jaeger"})["data"]
    assert sorted((o["name"], o["spanKind"]) for o in v1) == [("format", "client"), ("say-hello", "")]
    assert query_ok(store.port, "/api/v3/operations", {"service": "qa-jaeger"}) == {
        "operations": [{"name": "format", "spanKind": "client"}, {"name": "say-hello", "spanKind": "internal"}]}
    assert query_ok(store.port, "/api/v3/operations", {"service": "qa-otlp", "spanKind": "client"}) == {
        "operations": [{"name": "SELECT orders", "spanKind": "client"}]}
    assert query_ok(store.port, "/api/v3/operations", {"service": "nobody"}) == {"operations": []}


def test_api_v3_trace_ids_in_base64(store):
    trace_id = otlp_id(store.otlp["root"])
    raw = bytes.fromhex(trace_id)
    want = query_ok(store.port, f"/api/v3/traces/{trace_id}")
    for encoded in (base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
                    base64.urlsafe_b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        path = "/api/v3/traces/" + urllib.parse.quote(encoded, safe="")
        assert query_ok(store.port, path) == want, encoded
    assert query(store.port, "/api/v3/traces/xyz") == v3_error(400, "malformed parameter trace_id: invalid length for TraceID")


def test_api_v3_search_without_a_service(store):
    checkout, h1, h2 = (otlp_id(store.otlp[n]) for n in ("root", "health-1", "health-2"))
    body = query_ok(store.port, "/api/v3/traces", {**v3_window(), "query.operationName": "GET /health"})
    assert v3_trace_ids(body) == [h2, h1]
    body = query_ok(store.port, "/api/v3/traces", {**v3_window(), "query.attributes": json.dumps({"db.system": "postgresql"})})
    assert v3_trace_ids(body) == [checkout]
    every = v3_trace_ids(query_ok(store.port, "/api/v3/traces", v3_window()))
    assert set(every) >= {checkout, h1, h2}
    assert len(every) == 5, "the OTLP, jaeger-client and Zipkin traces"


def test_api_v3_trace_summaries_match_the_traces(store):
    """Each summary against the trace /api/traces serves: root, counts, services, times."""
    body = query_ok(store.port, "/api/v3/trace-summaries", {**v3_window(), "query.serviceName": "qa-otlp"})
    summaries = body["summaries"]
    checkout, h1, h2 = (otlp_id(store.otlp[n]) for n in ("root", "health-1", "health-2"))
    assert [s["traceId"] for s in summaries] == [h2, h1, checkout], "newest first, 32 hex characters"
    for s in summaries:
        trace = query_ok(store.port, f"/api/traces/{s['traceId']}")["data"][0]
        spans = trace["spans"]
        root = next(sp for sp in spans if not sp["references"])
        assert (s["rootServiceName"], s["rootOperationName"]) == (trace["processes"][root["processID"]]["serviceName"], root["operationName"])
        assert s["spanCount"] == len(spans)
        assert "errorSpanCount" not in s and "orphanSpanCount" not in s, "zero counts are left out"
        assert s["services"] == [{"name": "qa-otlp", "spanCount": len(spans)}]
        assert int(s["minStartTimeUnixNano"]) // 1000 == min(sp["startTime"] for sp in spans)
        assert int(s["maxEndTimeUnixNano"]) // 1000 == max(sp["startTime"] + sp["duration"] for sp in spans)
    two = query_ok(store.port, "/api/v3/trace-summaries", {**v3_window(), "query.operationName": "format-server"})["summaries"]
    assert [(s["rootServiceName"], s["rootOperationName"], s["spanCount"]) for s in two] == [("qa-jaeger", "say-hello", 3)]
    assert two[0]["services"] == [{"name": "qa-jaeger", "spanCount": 2}, {"name": "qa-jaeger-fmt", "spanCount": 1}]
    assert query_ok(store.port, "/api/v3/trace-summaries", {**v3_window(), "query.serviceName": "nobody"}) == {"summaries": []}


def test_api_v3_bad_parameters_as_jaeger_answers(store):
    w = v3_window()
    for path in ("/api/v3/traces", "/api/v3/trace-summaries"):
        assert query(store.port, path, {"query.serviceName": "qa-otlp"}) == v3_error(
            400, "query.startTimeMin and query.startTimeMax are required")
        swapped = {"query.startTimeMin": w["query.startTimeMax"], "query.startTimeMax": w["query.startTimeMin"]}
        assert query(store.port, path, swapped) == v3_error(400, "query.startTimeMin must be before query.startTimeMax")
        assert query(store.port, path, {**w, "query.searchDepth": "ten"}) == v3_error(
            400, 'malformed parameter query.searchDepth: strconv.Atoi: parsing "ten": invalid syntax')
        assert query(store.port, path, {**w, "query.duration_min": "5"}) == v3_error(
            400, 'malformed parameter query.duration_min: time: missing unit in duration "5"')
        assert query(store.port, path, {**w, "query.filter": "{}"}) == v3_error(400, "the structured query filter is disabled")
    trace_id = otlp_id(store.otlp["root"])
    assert query(store.port, f"/api/v3/traces/{trace_id}", {"rawTraces": "maybe"}) == v3_error(
        400, 'malformed parameter rawTraces: strconv.ParseBool: parsing "maybe": invalid syntax')
