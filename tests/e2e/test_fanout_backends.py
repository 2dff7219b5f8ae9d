"""The fan-out collector of `config-examples/fanout.yaml`, as its operator would test it before
trusting it: 100,000 spans sent while the Kafka broker is down for a minute and the gateway is
killed (SIGKILL) once in that window; after both come back, every span has reached every
backend — the embedded sled store (read through the query API), the Kafka topic (read by an
ingester), Elasticsearch (the test fake, counted by its own search API) and a downstream OTLP
collector.

Real parts: the tansu broker (sqlite storage, so the topic outlives the broker's restart), the
gateway binary with the example config (only ports and paths changed), and a second gateway as
the OTLP backend. Span ids are compared as sets: delivery is at least once.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import CONFIG_EXAMPLES, READY_TIMEOUT, accepts, free_port, http_post, wait_until
from kafka_util import Broker, brokers  # noqa: F401  (fixture)
from otlp_util import raw_request, read_proto_file, span_ids
from query_util import query
from test_kafka import ingester_config, kafka_receiver
from test_otlp_roundtrip import sink_config

REQUESTS = 100
SPANS_PER_REQUEST = 1000  # one trace per request
BROKER_DOWN_SECONDS = float(os.environ.get("FANOUT_BROKER_DOWN_SECONDS", "60"))
DELIVERY_TIMEOUT = 240.0


class FakeElasticsearch:
    """The test fake (tests/fake-elasticsearch), run as its own process like a real server."""

    def __init__(self, binary: Path, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "fake-es.log", "wb")
        self.proc = subprocess.Popen([str(binary), "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while not accepts(self.port):
            assert self.proc.poll() is None, f"fake elasticsearch exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "fake elasticsearch did not start listening"
            time.sleep(0.05)

    def span_counts_by_trace(self) -> dict[str, int]:
        body = {"size": 0, "query": {"range": {"startTime": {"gte": 0}}},
                "aggs": {"traces": {"terms": {"field": "traceID", "size": REQUESTS * 2}}}}
        req = urllib.request.Request(f"{self.url}/jaeger-span-*/_search", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = json.load(resp)
        return {b["key"]: b["doc_count"] for b in answer["aggregations"]["traces"]["buckets"]}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def fake_es(tracegate_bin, tmp_path):
    binary = tracegate_bin.parent / "fake-elasticsearch"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it with `cargo build -p tracegate-fake-elasticsearch` "
                    "(scripts/test builds every binary of the workspace)", pytrace=False)
    es = FakeElasticsearch(binary, tmp_path)
    yield es
    es.stop()


def fanout_config(tmp_path: Path, broker: Broker, es_url: str, backend_grpc: int, ports: dict) -> dict:
    """config-examples/fanout.yaml with this test's ports and directories."""
    config = yaml.safe_load((CONFIG_EXAMPLES / "fanout.yaml").read_text())
    config["receivers"]["otlp"]["protocols"] = {"http": {"endpoint": f"127.0.0.1:{ports['otlp_http']}"}}
    config["receivers"]["jaeger"]["protocols"] = {"thrift_compact": {"endpoint": f"127.0.0.1:{ports['jaeger_udp']}"}}
    config["processors"]["batch"]["timeout"] = "50ms"
    exporters = config["exporters"]
    exporters["sled"]["path"] = str(tmp_path / "sled")
    exporters["kafka"]["brokers"] = [broker.address]
    exporters["kafka"]["topic"] = "spans"
    exporters["elasticsearch"]["endpoints"] = [es_url]
    exporters["otlp"]["endpoint"] = f"127.0.0.1:{backend_grpc}"
    for exporter in exporters.values():
        exporter["retry_on_failure"] = {"initial_interval": "200ms", "max_interval": "1s", "max_elapsed_time": "0s"}
    extensions = config["extensions"]
    extensions["file_storage"]["directory"] = str(tmp_path / "queues")
    extensions["jaeger_query"]["http"]["endpoint"] = f"127.0.0.1:{ports['query']}"
    extensions["health_check"]["endpoint"] = f"127.0.0.1:{ports['health']}"
    return config


def recent(request):
    """Moves a request's spans to now: the sled store keeps 72 hours and drops older spans."""
    now = time.time_ns()
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for i, span in enumerate(ss.spans):
                span.start_time_unix_nano = now + i * 1000
                span.end_time_unix_nano = now + i * 1000 + 500_000
    return request


def send(port: int, request) -> None:
    status, _, body = http_post(f"http://127.0.0.1:{port}/v1/traces", request.SerializeToString(), "application/x-protobuf",
                                timeout=60)
    assert status == 200, f"the gateway refused a request with {status}: {body[:300]!r}"


# A minute of outage plus 100k spans into four backends: longer than the suite's 5-minute
# hang guard on a loaded 2-core machine.
@pytest.mark.timeout(900)
def test_every_span_reaches_every_backend_through_a_broker_outage_and_a_kill(tmp_path, brokers, gateways, fake_es):  # noqa: F811
    broker = brokers(name="tansu", storage=f"sqlite:///{tmp_path / 'tansu.db'}")
    broker.create_topic("spans", partitions=3)
    backend_grpc, backend_http = free_port(), free_port()
    backend_out = tmp_path / "backend.pb"
    gateways(sink_config(backend_grpc, backend_http, backend_out), name="otlp-backend")

    ports = {name: free_port() for name in ("otlp_http", "query", "health")}
    ports["jaeger_udp"] = free_port()
    config = fanout_config(tmp_path, broker, fake_es.url, backend_grpc, ports)
    gateway = gateways(config, name="fanout")

    requests = [recent(raw_request(SPANS_PER_REQUEST, name=f"fanout{i}")) for i in range(REQUESTS)]
    sent = set(span_ids(requests))
    assert len(sent) == REQUESTS * SPANS_PER_REQUEST

    for r in requests[:20]:
        send(ports["otlp_http"], r)
    broker.stop()
    down_since = time.monotonic()
    for r in requests[20:50]:
        send(ports["otlp_http"], r)
    assert gateway.kill() == -9
    gateway = gateways(config, name="fanout-restarted")
    for r in requests[50:]:
        send(ports["otlp_http"], r)
    time.sleep(max(0.0, BROKER_DOWN_SECONDS - (time.monotonic() - down_since)))
    broker = brokers(name="tansu-again", storage=f"sqlite:///{tmp_path / 'tansu.db'}", port=broker.port)

    # OTLP backend.
    wait_until(lambda: backend_out.exists() and set(span_ids(read_proto_file(backend_out))) >= sent,
               DELIVERY_TIMEOUT, "every span at the OTLP backend")
    # Elasticsearch: documents are keyed by span, so a redelivered span is one document.
    wait_until(lambda: sum(fake_es.span_counts_by_trace().values()) >= len(sent), DELIVERY_TIMEOUT,
               "every span in elasticsearch")
    counts = fake_es.span_counts_by_trace()
    assert len(counts) == REQUESTS and set(counts.values()) == {SPANS_PER_REQUEST}, counts
    # Kafka: an ingester reads the whole topic into a file.
    ingested = tmp_path / "ingested.pb"
    gateways(ingester_config(kafka_receiver(broker, "spans", group="fanout-check"), ingested), name="ingester")
    wait_until(lambda: ingested.exists() and set(span_ids(read_proto_file(ingested))) >= sent, DELIVERY_TIMEOUT,
               "every span in the kafka topic")
    # sled, through the gateway's own query API.
    for r in requests:
        trace_id = r.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        status, body = query(ports["query"], f"/api/traces/{trace_id}")
        assert status == 200, f"trace {trace_id} missing from sled: {body}"
        assert len(body["data"][0]["spans"]) == SPANS_PER_REQUEST
    assert gateway.running
