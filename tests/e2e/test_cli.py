"""The binary as an operator meets it: `components`, the metrics endpoint, the health check,
and a graceful stop on SIGTERM that delivers what was already accepted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import REPO, free_port, http_get, run_cli, wait_until
from otlp_util import emit_simple_spans, export_or_fail, read_proto_file, recording_provider, span_ids
from test_otlp_roundtrip import otlp_receiver, sink_config

STABILITIES = {"development", "alpha", "beta", "stable", "deprecated"}


def test_components_lists_every_builtin_with_stability(tracegate_bin):
    result = run_cli(tracegate_bin, "components")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "TYPE", "STABILITY", "ORIGIN"]
    rows = {}
    for line in lines[1:]:
        kind, type_, stability, origin = line.split(None, 3)
        assert stability in STABILITIES, line
        assert origin == "builtin", line
        assert (kind, type_) not in rows, f"listed twice: {line}"
        rows[(kind, type_)] = stability
    expected = {
        ("receiver", "otlp"),
        ("receiver", "nop"),
        ("processor", "batch"),
        ("exporter", "otlp"),
        ("exporter", "otlphttp"),
        ("exporter", "debug"),
        ("exporter", "nop"),
        ("exporter", "file"),
        ("extension", "health_check"),
    }
    missing = expected - set(rows)
    assert not missing, f"components does not list {sorted(missing)}:\n{result.stdout}"


def test_metrics_count_accepted_spans_per_receiver_and_transport(gateways):
    grpc_port, http_port = free_port(), free_port()
    gw = gateways(
        {
            "receivers": {"otlp": otlp_receiver(grpc_port, http_port)},
            "exporters": {"nop": None},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["nop"]}}},
        },
        name="metrics",
    )
    provider, memory = recording_provider({"service.name": "metrics-test"})
    emit_simple_spans(provider, 25)
    spans = list(memory.get_finished_spans())
    sender = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=30)
    export_or_fail(sender, spans)
    sender.shutdown()

    # The counter is bumped when the pipeline took the batch, which the gRPC answer follows.
    text = gw.metrics_text()
    assert 'tracegate_receiver_accepted_spans{receiver="otlp",transport="grpc"} 25' in text, text
    assert gw.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="grpc") == 0
    wait_until(lambda: gw.metric("tracegate_exporter_sent_spans", exporter="nop") == 25, 30,
               "the nop exporter to count 25 sent spans")
    assert "# TYPE tracegate_exporter_queue_capacity gauge" in text


def health_config(grpc_port: int, http_port: int, health_port: int, path: str | None = None) -> dict:
    health = {"endpoint": f"127.0.0.1:{health_port}"}
    if path:
        health["path"] = path
    return {
        "receivers": {"otlp": otlp_receiver(grpc_port, http_port)},
        "exporters": {"nop": {}},
        "extensions": {"health_check": health},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["nop"]}},
        },
    }


def test_health_check_answers_200_with_json_when_running(gateways):
    grpc_port, http_port, health_port = free_port(), free_port(), free_port()
    gateways(health_config(grpc_port, http_port, health_port), name="health")
    # Ports open does not mean the service finished starting: wait for ready, then it stays.
    wait_until(lambda: http_get(f"http://127.0.0.1:{health_port}/")[0] == 200, 30, "health_check to answer 200")
    status, body = http_get(f"http://127.0.0.1:{health_port}/")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == "Server available"
    assert "upSince" in doc and "uptime" in doc


def test_health_check_custom_path(gateways):
    grpc_port, http_port, health_port = free_port(), free_port(), free_port()
    gateways(health_config(grpc_port, http_port, health_port, path="/health/status"), name="health")
    wait_until(lambda: http_get(f"http://127.0.0.1:{health_port}/health/status")[0] == 200, 30,
               "health_check to answer 200 on /health/status")
    assert http_get(f"http://127.0.0.1:{health_port}/other")[0] == 404


def test_sigterm_exits_0_and_delivers_everything_already_accepted(gateways, tmp_path):
    b_grpc, b_http, a_grpc, a_http = (free_port() for _ in range(4))
    out = tmp_path / "b.pb"
    gateways(sink_config(b_grpc, b_http, out), name="b")
    # A holds spans in its batch processor for a long time and then in its sending queue: only
    # the shutdown path (flush processors, drain queues) can deliver them in time. Holding
    # acknowledged spans takes the opt-out `wait_for_result: false` (by default a request is
    # answered once the next component took its spans, and they are sent at once).
    a = gateways(
        {
            "receivers": {"otlp": otlp_receiver(a_grpc, a_http)},
            "processors": {"batch": {"timeout": "10m", "send_batch_size": 100000, "wait_for_result": False}},
            "exporters": {"otlp": {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True}}},
            "service": {
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp"]}}
            },
        },
        name="a",
    )
    provider = TracerProvider(resource=Resource({"service.name": "drain"}))
    sdk_exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True, timeout=30)
    provider.add_span_processor(BatchSpanProcessor(sdk_exporter, max_export_batch_size=50))
    tracer = provider.get_tracer("drain")
    sent = set()
    for i in range(300):
        with tracer.start_as_current_span(f"s{i}") as span:
            sent.add(span.get_span_context().span_id.to_bytes(8, "big"))
    assert provider.force_flush(30_000), "the SDK could not flush to gateway A"
    assert a.metric("tracegate_receiver_accepted_spans", receiver="otlp", transport="grpc") == len(sent)
    assert not out.exists() or not span_ids(read_proto_file(out)), "the batch processor should still hold the spans"

    a.terminate()
    assert a.wait() == 0, a.describe()
    provider.shutdown()
    wait_until(lambda: set(span_ids(read_proto_file(out))) >= sent, 30, f"all {len(sent)} spans at B after A stopped")
    assert len(span_ids(read_proto_file(out))) == len(sent)


def test_metrics_answer_only_once_every_receiver_listens(tracegate_bin, tmp_path):
    """A script or probe that waits for `/metrics` before sending must find the receivers
    open: with the shipped all-in-one, the moment metrics first answer, OTLP gRPC and HTTP,
    Jaeger's collector ports, Zipkin and the query port all accept."""
    keys = {
        "receivers.otlp.protocols.grpc.endpoint", "receivers.otlp.protocols.http.endpoint",
        "receivers.jaeger.protocols.thrift_http.endpoint", "receivers.jaeger.protocols.grpc.endpoint",
        "receivers.zipkin.endpoint", "extensions.jaeger_query.http.endpoint",
        "extensions.jaeger_query.grpc.endpoint", "extensions.remote_sampling.http.endpoint",
        "extensions.remote_sampling.grpc.endpoint", "extensions.health_check.endpoint",
        "service.telemetry.metrics.address",
    }
    for attempt in range(3):
        ports = {k: free_port() for k in keys}
        sets = [a for k, p in ports.items() for a in ("--set", f"{k}=127.0.0.1:{p}")]
        sets += ["--set", "receivers.jaeger.protocols.thrift_compact.endpoint=127.0.0.1:0",
                 "--set", "receivers.jaeger.protocols.thrift_binary.endpoint=127.0.0.1:0"]
        env = dict(os.environ, TRACEGATE_DATA=str(tmp_path / f"data-{attempt}"))
        gw = subprocess.Popen([str(tracegate_bin), "--config", "config-examples/all-in-one.yaml", *sets],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 30
            metrics = f"http://127.0.0.1:{ports['service.telemetry.metrics.address']}/metrics"
            while True:
                assert gw.poll() is None, gw.stderr.read().decode(errors="replace")
                assert time.time() < deadline, "metrics never answered"
                try:
                    urllib.request.urlopen(metrics, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.002)
            closed = []
            for key, port in ports.items():
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) != 0:
                        closed.append(key)
            assert not closed, f"metrics answered while these did not accept yet: {closed}"
        finally:
            gw.terminate()
            gw.wait(30)
