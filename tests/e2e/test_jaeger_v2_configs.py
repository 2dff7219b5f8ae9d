"""Jaeger v2's own example configs (tests/data/jaeger-v2, see its README for the commit) run as
they are, or are refused with one line per part tracegate does not have (issue 19 item 2).

* Every file goes through `tracegate validate`: a runnable one is valid (warnings only), a refused
  one answers exactly the expected error lines, each naming the part and what to use instead.
* Every runnable one also starts for real and answers a span: only its listeners are moved to
  free loopback ports (and its Elasticsearch/OpenSearch URL to the fake, its Kafka brokers to the
  tests' tansu broker); everything else is the file as Jaeger ships it. A span sent with the
  OpenTelemetry SDK over OTLP/gRPC is then read back whole from the query API.
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, free_port, free_udp_port, http_get, run_cli
from kafka_util import Broker, brokers  # noqa: F401  (the fixture)
from otlp_util import send_server_trace
from query_util import DELIVERY_TIMEOUT, jaeger_trace_id, wait_for_trace

DATA = REPO / "tests" / "data" / "jaeger-v2"
BUILD_TIMEOUT = 1800.0

# file -> what it needs to run here.
RUNS = {
    "config.yaml": "memory",
    "config-elasticsearch.yaml": "elasticsearch",
    "config-opensearch.yaml": "opensearch",
    "config-kafka-collector.yaml": "kafka",
    "config-kafka-ingester.yaml": "kafka",
    "config-tail-sampling-always-sample.yaml": "memory",
    "config-tail-sampling-service-name-policy.yaml": "memory",
    "config-spm-elasticsearch.yaml": "elasticsearch",
    "config-spm-opensearch.yaml": "opensearch",
}

GRPC_STORAGE = "grpc (a remote storage server) is not available; run the store in this process instead"
BADGER = "badger is not available; use sled, tracegate's embedded store"
CASSANDRA = "cassandra is not available; use elasticsearch or opensearch for a shared store, or sled for a single node"

# file -> the error lines `validate` must print (path: start of the message), in order.
REFUSED = {
    "config-remote-storage.yaml": [f"extensions::jaeger_storage::backends::some-storage::grpc: {GRPC_STORAGE}"],
    "config-query.yaml": [f"extensions::jaeger_storage::backends::query_storage::grpc: {GRPC_STORAGE}"],
    "config-badger.yaml": [
        f"extensions::jaeger_storage::backends::some_store::badger: {BADGER}",
        f"extensions::jaeger_storage::backends::another_store::badger: {BADGER}",
    ],
    "config-cassandra.yaml": [
        f"extensions::jaeger_storage::backends::some_storage::cassandra: {CASSANDRA}",
        f"extensions::jaeger_storage::backends::another_storage::cassandra: {CASSANDRA}",
    ],
    "config-spm-clickhouse.yaml": [
        "extensions::jaeger_storage::backends::clickhouse_storage::clickhouse: clickhouse is not available; use elasticsearch or opensearch",
    ],
    "config-spm.yaml": [
        "connectors: connectors are not available: the spanmetrics connector's work is done by the sled and memory stores",
        "exporters::prometheus: unknown exporter type \"prometheus\": span metrics need no exporter here",
        "extensions::jaeger_query::storage::metrics: \"some_metrics_storage\": a metrics backend other than the trace store is not available",
        "extensions::jaeger_storage::metric_backends::some_metrics_storage::prometheus: a Prometheus metrics backend is not available",
        "service::pipelines::metrics/spanmetrics: pipeline type \"metrics\" is not supported",
    ],
}


def test_every_copied_file_has_an_expected_outcome():
    files = {p.name for p in DATA.glob("*.yaml")}
    assert files == set(RUNS) | set(REFUSED), f"unclassified: {files ^ (set(RUNS) | set(REFUSED))}"


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_runnable_config_validates(tracegate_bin, name):
    result = run_cli(tracegate_bin, "validate", "--config", str(DATA / name))
    assert result.returncode == 0, f"{name} is refused:\n{result.stderr}"
    assert result.stdout.startswith("config is valid"), result.stdout
    others = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("  warning: ")]
    assert not others, f"{name}: only warnings expected:\n{result.stderr}"


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_unsupported_part_is_one_line_naming_the_alternative(tracegate_bin, name):
    result = run_cli(tracegate_bin, "validate", "--config", str(DATA / name))
    assert result.returncode == 1, f"{name} should be refused:\n{result.stdout}{result.stderr}"
    errors = [line.removeprefix("  error: ") for line in result.stderr.splitlines() if line.startswith("  error: ")]
    expected = REFUSED[name]
    assert len(errors) == len(expected), f"{name}: expected {len(expected)} error lines:\n{result.stderr}"
    for got, want in zip(errors, expected):
        assert got.startswith(want), f"{name}:\n got  {got}\n want {want}..."


# ---- running them ----------------------------------------------------------------------------

class Ports:
    def __init__(self) -> None:
        self.otlp_grpc = free_port()
        self.query = free_port()
        self.health = free_port()


def load(name: str) -> dict:
    return yaml.safe_load((DATA / name).read_text())


def on_loopback(config: dict, ports: Ports, es_url: str | None = None, broker: Broker | None = None) -> dict:
    """The file's config with only its listeners moved to free loopback ports and its
    Elasticsearch URLs and Kafka brokers pointed at the test's."""
    config = copy.deepcopy(config)
    receivers = config.get("receivers") or {}
    otlp = (receivers.get("otlp") or {}).get("protocols") or {}
    for proto in list(otlp):
        port = ports.otlp_grpc if proto == "grpc" else free_port()
        otlp[proto] = {**(otlp[proto] or {}), "endpoint": f"127.0.0.1:{port}"}
    jaeger = (receivers.get("jaeger") or {}).get("protocols") or {}
    for proto in list(jaeger):
        port = free_udp_port() if proto.startswith("thrift_") and proto != "thrift_http" else free_port()
        jaeger[proto] = {**(jaeger[proto] or {}), "endpoint": f"127.0.0.1:{port}"}
    if "zipkin" in receivers:
        receivers["zipkin"] = {**(receivers["zipkin"] or {}), "endpoint": f"127.0.0.1:{free_port()}"}
    if broker is not None and "kafka" in receivers:
        receivers["kafka"]["brokers"] = [broker.address]
    extensions = config.get("extensions") or {}
    if "jaeger_query" in extensions:
        extensions["jaeger_query"].setdefault("http", {})["endpoint"] = f"127.0.0.1:{ports.query}"
    if "healthcheckv2" in extensions:
        hc = extensions["healthcheckv2"]
        hc["http"] = {**(hc.get("http") or {}), "endpoint": f"127.0.0.1:{ports.health}"}
    for debug in ("pprof", "zpages", "expvar"):
        if debug in extensions:
            # Accepted and not served: nothing will listen, so no port to wait for.
            extensions[debug] = {**(extensions[debug] or {}), "endpoint": "127.0.0.1:0"}
    if "remote_sampling" in extensions:
        rs = extensions["remote_sampling"]
        for server in ("http", "grpc"):
            if server in rs:
                rs[server] = {**(rs[server] or {}), "endpoint": f"127.0.0.1:{free_port()}"}
    for backends in ("backends", "metric_backends"):
        for backend in ((extensions.get("jaeger_storage") or {}).get(backends) or {}).values():
            for kind in ("elasticsearch", "opensearch"):
                if kind in backend and es_url is not None:
                    backend[kind] = {**(backend[kind] or {}), "server_urls": [es_url]}
    metrics = config.setdefault("service", {}).setdefault("telemetry", {}).setdefault("metrics", {})
    port = free_port()
    for reader in metrics.get("readers") or []:
        reader["pull"]["exporter"]["prometheus"].update({"host": "127.0.0.1", "port": port})
    metrics["address"] = f"127.0.0.1:{port}"
    return config


def send_span(ports: Ports, service: str) -> str:
    return jaeger_trace_id(send_server_trace(ports.otlp_grpc, service, "GET /dispatch", "find-driver"))


def answered(query_port: int, trace_id: str) -> None:
    trace = wait_for_trace(query_port, trace_id, 2, timeout=DELIVERY_TIMEOUT)
    assert {s["operationName"] for s in trace["spans"]} == {"GET /dispatch", "find-driver"}


@pytest.mark.parametrize("name", sorted(n for n, needs in RUNS.items() if needs == "memory"))
def test_a_memory_config_starts_and_answers_a_span(gateways, name):
    ports = Ports()
    gateways(on_loopback(load(name), ports), name=name.removesuffix(".yaml"))
    # tracegen-00 is one of the services the service-name tail-sampling policy keeps.
    answered(ports.query, send_span(ports, "tracegen-00"))
    status, _ = http_get(f"http://127.0.0.1:{ports.health}/status")
    assert status == 200, "healthcheckv2 answers on Jaeger's /status"


def _target_dir() -> Path:
    raw = os.environ.get("CARGO_TARGET_DIR")
    return Path(raw) if raw else REPO / "target"


@pytest.fixture(scope="module")
def fake_es_binary() -> Path:
    build = subprocess.run(["cargo", "build", "-p", "tracegate-fake-elasticsearch"], cwd=REPO,
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert build.returncode == 0, f"cargo build -p tracegate-fake-elasticsearch failed:\n{build.stderr[-3000:]}"
    binary = _target_dir() / "debug" / "fake-elasticsearch"
    assert binary.is_file(), f"{binary} was not built"
    return binary


@pytest.fixture
def fake_search(fake_es_binary):
    """Starts the fake as Elasticsearch or OpenSearch: `fake_search("opensearch")` -> its URL."""
    started: list[subprocess.Popen] = []

    def start(flavour: str) -> str:
        args = [str(fake_es_binary), "--port", str(free_port())]
        if flavour == "opensearch":
            args += ["--distribution", "opensearch", "--version", "2.11.0"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("listening on "), f"the fake did not start: {line!r}"
        return line.split()[-1]

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("name", sorted(n for n, needs in RUNS.items() if needs in ("elasticsearch", "opensearch")))
def test_a_search_backed_config_starts_and_answers_a_span(gateways, fake_search, name):
    ports = Ports()
    url = fake_search(RUNS[name])
    gateways(on_loopback(load(name), ports, es_url=url), name=name.removesuffix(".yaml"))
    answered(ports.query, send_span(ports, "frontend"))
    # The prefix of Jaeger's indices: block names the indices written.
    status, body = http_get(f"{url}/_fake/indices")
    assert status == 200, body[:500]
    prefix = b'"jaeger-main-jaeger-span-' if name in ("config-elasticsearch.yaml", "config-opensearch.yaml") else b'"jaeger-span-'
    assert prefix in body, body[:500]


def test_the_kafka_collector_and_ingester_pair_carries_a_span(gateways, brokers):  # noqa: F811
    broker = brokers()
    broker.create_topic("jaeger-spans")
    collector_ports, ingester_ports = Ports(), Ports()
    gateways(on_loopback(load("config-kafka-collector.yaml"), collector_ports), name="kafka-collector",
             env={"KAFKA_BROKER": broker.address})
    gateways(on_loopback(load("config-kafka-ingester.yaml"), ingester_ports, broker=broker), name="kafka-ingester")
    answered(ingester_ports.query, send_span(collector_ports, "driver"))
