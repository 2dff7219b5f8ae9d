"""A Jaeger agent replaced by tracegate, as an application instrumented with `jaeger-client`
sees it: nothing changes in the app, its spans arrive in OTLP exactly as the translation rules
say.

The program is shaped like Jaeger's getting-started tutorial: a `hello-world` service formats a
greeting by calling a `formatter` service over real HTTP, with the span context injected into
the request headers and extracted on the other side. It uses every tag type, logs with and
without an `event` field, parent/child and FOLLOWS_FROM/second CHILD_OF references, an error,
`otel.status_code`, `http.status_code`, every `span.kind`, 64-bit and 128-bit trace ids and ids
whose top bit is set (negative as Thrift's signed i64).

Gateway A is the agent (`jaeger` receiver, compact Thrift over UDP -> `otlp` exporter) and
forwards to gateway B (`otlp` receiver -> `file` exporter), whose file is decoded and checked.
A second test runs `config-examples/jaeger-agent.yaml` itself as the agent, with jaeger-client's
default remote sampler polling its sampling port.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from opentracing import Format, child_of, follows_from
from opentracing.ext import tags as ext

from conftest import CONFIG_EXAMPLES, free_port, free_udp_port, wait_until
from jaeger_util import (
    close_tracer,
    expected_attributes,
    expected_events,
    expected_resource,
    micros,
    new_tracer,
)
from test_otlp_roundtrip import sink_config
from trace_view import by_name, hex_id, jaeger_receiver, receiver_to_otlp, wait_for_spans

# A context as another service would send it: trace and span id with their top bit set, so the
# client writes them as negative i64 and the gateway must read them back as unsigned.
REMOTE_TRACE_ID = 0xFEDCBA9876543210
REMOTE_SPAN_ID = 0x8000000000000001


class FormatterServer:
    """The tutorial's second service: extracts the caller's context from the HTTP headers and
    records a server span under it with its own tracer."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.spans = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                ctx = outer.tracer.extract(Format.HTTP_HEADERS, dict(self.headers))
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                hello_to = query["helloTo"][0]
                with outer.tracer.start_active_span(
                    "format-server", child_of=ctx, tags={ext.SPAN_KIND: ext.SPAN_KIND_RPC_SERVER, ext.HTTP_METHOD: "GET"}
                ) as scope:
                    body = f"Hello, {hello_to}!"
                    scope.span.log_kv({"event": "string-format", "value": body, "length": len(body)})
                    outer.spans["format-server"] = scope.span
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/format"


def run_hello_world(hello, formatter, server: FormatterServer) -> dict:
    """The instrumented program. Returns every finished span by operation name."""
    spans = {}
    log_time = time.time() - 0.5
    with hello.start_active_span("say-hello") as scope:
        root = spans["say-hello"] = scope.span
        root.set_tag("hello-to", "Bryan")
        root.set_tag("retries", 3)
        root.set_tag("big", -(2**62))
        root.set_tag("ratio", 0.25)
        root.set_tag("cached", False)
        root.set_tag(ext.SPAN_KIND, ext.SPAN_KIND_RPC_SERVER)
        root.log_kv({"event": "request.start", "user.id": 42, "vip": True, "score": 9.5, "note": "hi"}, timestamp=log_time)

        with hello.start_active_span("format") as fmt:
            spans["format"] = fmt.span
            fmt.span.set_tag(ext.SPAN_KIND, ext.SPAN_KIND_RPC_CLIENT)
            fmt.span.set_tag(ext.HTTP_METHOD, "GET")
            url = f"{server.url}?helloTo=Bryan"
            fmt.span.set_tag(ext.HTTP_URL, url)
            headers = {}
            hello.inject(fmt.span.context, Format.HTTP_HEADERS, headers)
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                greeting = resp.read().decode()
                fmt.span.set_tag(ext.HTTP_STATUS_CODE, resp.status)
        assert greeting == "Hello, Bryan!"

        with hello.start_active_span("lookup") as lookup:
            spans["lookup"] = lookup.span
            lookup.span.set_tag(ext.SPAN_KIND, ext.SPAN_KIND_RPC_CLIENT)
            lookup.span.set_tag(ext.HTTP_STATUS_CODE, 503)
            lookup.span.set_tag("http.status_message", "Service Unavailable")

        with hello.start_active_span("publish") as pub:
            spans["publish"] = pub.span
            pub.span.set_tag(ext.SPAN_KIND, ext.SPAN_KIND_PRODUCER)
            pub.span.set_tag("message_bus.destination", "greetings")

        with hello.start_active_span("println") as pr:
            spans["println"] = pr.span
            pr.span.log_kv({"event": "println"})
            pr.span.log_kv({"message": "no event name", "level": "info"})
            pr.span.set_tag("otel.status_code", "OK")

        with hello.start_active_span("fail") as fail:
            spans["fail"] = fail.span
            fail.span.set_tag(ext.SPAN_KIND, "internal")
            fail.span.set_tag(ext.ERROR, True)
            fail.span.log_kv({"event": "error", "error.kind": "ValueError", "message": "boom"})

        # Two CHILD_OF references and no explicit parent: the first becomes the parent, the
        # second a link.
        join = hello.start_span(
            "join", references=[child_of(spans["format"].context), child_of(spans["publish"].context)],
            ignore_active_span=True,
        )
        join.finish()
        spans["join"] = join

    # The consumer, in the other service: child of the root, FOLLOWS_FROM the producer.
    consume = formatter.start_span(
        "consume", child_of=root.context, references=[follows_from(spans["publish"].context)],
        tags={ext.SPAN_KIND: ext.SPAN_KIND_CONSUMER},
    )
    consume.finish()
    spans["consume"] = consume

    remote = formatter.extract(Format.HTTP_HEADERS, {"uber-trace-id": f"{REMOTE_TRACE_ID:x}:{REMOTE_SPAN_ID:x}:0:1"})
    with formatter.start_active_span("remote-child", child_of=remote) as rc:
        spans["remote-child"] = rc.span

    # A root in the formatter, whose tracer makes 128-bit trace ids.
    with formatter.start_active_span("formatter-startup", ignore_active_span=True) as startup:
        spans["formatter-startup"] = startup.span
        startup.span.set_tag("threads", 8)

    spans.update(server.spans)
    return spans


def test_jaeger_client_getting_started_over_udp_compact(gateways, tmp_path):
    b_grpc, b_http, agent_port, throttle_port = free_port(), free_port(), free_udp_port(), free_port()
    out = tmp_path / "b.pb"
    gateways(sink_config(b_grpc, b_http, out), name="b")
    a = gateways(receiver_to_otlp("jaeger", jaeger_receiver(thrift_compact=agent_port), b_grpc), name="a")

    hello = new_tracer(
        "hello-world", agent_port,
        tags={"deployment.environment": "e2e", "canary": True, "replicas": 3, "weight": 0.5},
    )
    # The formatter also has a throttler (nothing answers its port): that is what makes
    # jaeger-client add the `client-uuid` process tag.
    formatter = new_tracer(
        "formatter", agent_port, generate_128bit_trace_id=True,
        throttler={"port": throttle_port, "refresh_interval": 60},
    )
    try:
        with FormatterServer(formatter) as server:
            sent = run_hello_world(hello, formatter, server)
    finally:
        close_tracer(hello)
        close_tracer(formatter)

    got = by_name(wait_for_spans(out, len(sent), "every jaeger-client span at gateway B"))
    assert set(got) == set(sent)
    assert a.metric("tracegate_receiver_accepted_spans", receiver="jaeger", transport="udp_thrift_compact") == len(sent)

    tracers = {"hello-world": hello, "formatter": formatter}
    for name, span in sent.items():
        g = got[name]
        tracer = hello if name in ("say-hello", "format", "lookup", "publish", "println", "fail", "join") else formatter
        # ids: 64-bit trace ids are zero-padded to 16 bytes; negative i64 read as unsigned.
        assert g.trace_id == hex_id(span.trace_id, 16), name
        assert g.span_id == hex_id(span.span_id, 8), name
        assert g.parent_span_id == (hex_id(span.parent_id, 8) if span.parent_id else ""), name
        assert g.start_time_unix_nano == micros(span.start_time) * 1000, name
        assert g.end_time_unix_nano == (micros(span.start_time) + micros(span.end_time - span.start_time)) * 1000, name
        assert g.attributes == expected_attributes(span), name
        assert [(e.name, e.time_unix_nano, e.attributes) for e in g.events] == expected_events(span), name
        assert g.resource == expected_resource(tracer), name
        assert g.service == tracer.service_name

    # Spot checks, independent of the helper's reading of the rules.
    root = got["say-hello"]
    assert root.attributes["hello-to"] == ("string", "Bryan")
    assert root.attributes["retries"] == ("int", 3)
    assert root.attributes["big"] == ("int", -(2**62))
    assert root.attributes["ratio"] == ("double", 0.25)
    assert root.attributes["cached"] == ("bool", False)
    assert root.attributes["sampler.type"] == ("string", "const")
    assert root.attributes["sampler.param"] == ("bool", True)
    assert "span.kind" not in root.attributes
    assert root.trace_id.startswith("0" * 16) and root.parent_span_id == ""
    [start] = root.events
    assert start.name == "request.start"
    assert start.attributes == {"user.id": ("int", 42), "vip": ("bool", True), "score": ("double", 9.5), "note": ("string", "hi")}

    kinds = {name: g.kind for name, g in got.items()}
    assert kinds == {
        "say-hello": "SERVER", "format": "CLIENT", "format-server": "SERVER", "lookup": "CLIENT",
        "publish": "PRODUCER", "consume": "CONSUMER", "println": "UNSPECIFIED", "fail": "INTERNAL",
        "join": "UNSPECIFIED", "remote-child": "UNSPECIFIED", "formatter-startup": "UNSPECIFIED",
    }
    statuses = {name: (g.status, g.status_message) for name, g in got.items()}
    assert statuses["fail"] == ("ERROR", "")
    assert "error" not in got["fail"].attributes
    assert statuses["lookup"] == ("ERROR", "Service Unavailable")
    assert got["lookup"].attributes["http.status_code"] == ("int", 503)
    assert statuses["println"] == ("OK", "") and "otel.status_code" not in got["println"].attributes
    assert statuses["format"] == ("UNSET", ""), "a 200 response is no status"
    assert [e.name for e in got["println"].events] == ["println", ""]
    assert got["println"].events[0].attributes == {}
    assert got["println"].events[1].attributes == {"message": ("string", "no event name"), "level": ("string", "info")}

    # The HTTP hop: the server span in the other service is a child of the client span.
    server = got["format-server"]
    assert server.service == "formatter"
    assert (server.trace_id, server.parent_span_id) == (got["format"].trace_id, got["format"].span_id)
    assert server.events[0].name == "string-format"
    assert server.events[0].attributes == {"value": ("string", "Hello, Bryan!"), "length": ("int", 13)}

    # References: the first CHILD_OF is the parent, the others are links with their type.
    join = got["join"]
    assert join.parent_span_id == got["format"].span_id
    assert [(l.trace_id, l.span_id, l.attributes) for l in join.links] == [
        (got["publish"].trace_id, got["publish"].span_id, {"opentracing.ref_type": ("string", "child_of")})
    ]
    consume = got["consume"]
    assert consume.parent_span_id == root.span_id
    assert [(l.span_id, l.attributes) for l in consume.links] == [
        (got["publish"].span_id, {"opentracing.ref_type": ("string", "follows_from")})
    ]
    assert all(not got[n].links for n in got if n not in ("join", "consume"))

    remote = got["remote-child"]
    assert remote.trace_id == f"{REMOTE_TRACE_ID:032x}"
    assert remote.parent_span_id == f"{REMOTE_SPAN_ID:016x}"
    startup = got["formatter-startup"]
    assert not startup.trace_id.startswith("0" * 16), "a 128-bit trace id keeps its high half"

    # Process tags, as jaeger-client sets them.
    res = got["say-hello"].resource
    assert res["opencensus.exporterversion"] == ("string", "Jaeger-Python-4.8.0")
    assert res["host.name"][0] == "string" and res["host.name"][1] and "hostname" not in res
    assert res["ip"][0] == "string" and res["ip"][1]
    assert res["replicas"] == ("int", 3) and res["canary"] == ("bool", True) and res["weight"] == ("double", 0.5)
    assert "client-uuid" not in res
    assert got["format-server"].resource["client-uuid"] == ("int", tracers["formatter"].tags["client-uuid"])


def test_jaeger_agent_example_replaces_an_agent(gateways, tmp_path):
    """`config-examples/jaeger-agent.yaml` as shipped (only its ports moved to free ones):
    jaeger-client with its default remote sampler polls the example's sampling port, gets the
    example strategies' probability 1 for `checkout`, and its spans reach the OTLP backend."""
    b_grpc, b_http = free_port(), free_port()
    out = tmp_path / "b.pb"
    gateways(sink_config(b_grpc, b_http, out), name="backend")

    config = yaml.safe_load((CONFIG_EXAMPLES / "jaeger-agent.yaml").read_text())
    agent_port, binary_port, sampling_port = free_udp_port(), free_udp_port(), free_port()
    protocols = config["receivers"]["jaeger"]["protocols"]
    protocols["thrift_compact"]["endpoint"] = f"127.0.0.1:{agent_port}"
    protocols["thrift_binary"]["endpoint"] = f"127.0.0.1:{binary_port}"
    config["extensions"]["remote_sampling"]["http"]["endpoint"] = f"127.0.0.1:{sampling_port}"
    config["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["service"]["telemetry"]["metrics"]["address"] = f"127.0.0.1:{free_port()}"
    gateways(config, name="agent", env={
        "OTLP_ENDPOINT": f"127.0.0.1:{b_grpc}",
        "SAMPLING_STRATEGIES": str(CONFIG_EXAMPLES / "sampling-strategies.json"),
    })

    tracer = new_tracer(
        "checkout", agent_port, sampler={}, sampling_refresh_interval=0.2,
        local_agent={"reporting_host": "127.0.0.1", "reporting_port": agent_port, "sampling_port": sampling_port},
    )
    try:
        wait_until(lambda: type(tracer.sampler.sampler).__name__ == "AdaptiveSampler", 15,
                   "jaeger-client to fetch the per-operation strategy of `checkout`")
        with tracer.start_active_span("POST /order") as scope:
            assert scope.span.is_sampled(), "checkout's default probability is 1"
            with tracer.start_active_span("reserve stock"):
                pass
    finally:
        close_tracer(tracer)
    spans = by_name(wait_for_spans(out, 2, "checkout's spans at the OTLP backend"))
    assert set(spans) == {"POST /order", "reserve stock"}
    assert spans["POST /order"].service == "checkout"
    assert spans["reserve stock"].parent_span_id == spans["POST /order"].span_id
