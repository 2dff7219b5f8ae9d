"""tracegate deployed the way Jaeger is: no `--config`, only the environment variables a
`jaegertracing/all-in-one` deployment sets, for each SPAN_STORAGE_TYPE; the Dockerfile's own
start-up path (its ENTRYPOINT, CMD, ENV and HEALTHCHECK, run without a container engine:
none runs on these machines); and the Kubernetes manifests' structure and environment.

Every gateway here is started with an environment of its own making (nothing inherited), every
port on 127.0.0.1 through Jaeger's `*_HOST_PORT` variables, and stopped with SIGTERM (exit 0).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from conftest import READY_TIMEOUT, REPO, STOP_TIMEOUT, accepts, free_port, free_udp_port, http_get, udp_bound
from kafka_util import brokers  # noqa: F401  (the fixture)
from otlp_util import emit_simple_spans, export_or_fail, recording_provider
from query_util import jaeger_trace_id, query_ok, wait_for_trace
from test_elasticsearch import es_search, fake_es  # noqa: F401  (the fixture)

DOCKERFILE = REPO / "Dockerfile"
KUBERNETES = REPO / "deploy" / "kubernetes"
DELIVERY_TIMEOUT = 120.0
# What a Jaeger all-in-one publishes (issue 19), and the health port the image checks.
JAEGER_PORTS = {(16686, "TCP"), (14268, "TCP"), (14250, "TCP"), (9411, "TCP"), (4317, "TCP"), (4318, "TCP"),
                (6831, "UDP"), (6832, "UDP")}
IMAGE_PORTS = JAEGER_PORTS | {(5778, "TCP"), (13133, "TCP")}


class EnvGateway:
    """`tracegate` with no arguments (or the Dockerfile's), configured by `env` alone."""

    def __init__(self, binary: Path, workdir: Path, env: dict, name: str = "env", argv: list[str] | None = None):
        self.name = name
        self.workdir = workdir
        self.ports = {
            "otlp_grpc": free_port(), "otlp_http": free_port(), "jaeger_grpc": free_port(),
            "jaeger_http": free_port(), "compact": free_udp_port(), "binary": free_udp_port(),
            "query": free_port(), "query_grpc": free_port(), "admin": free_port(), "health": free_port(),
            "metrics": free_port(), "zipkin": free_port(), "sampling": free_port(),
        }
        p = self.ports
        self.env = {
            "COLLECTOR_OTLP_GRPC_HOST_PORT": f"127.0.0.1:{p['otlp_grpc']}",
            "COLLECTOR_OTLP_HTTP_HOST_PORT": f"127.0.0.1:{p['otlp_http']}",
            "COLLECTOR_GRPC_SERVER_HOST_PORT": f"127.0.0.1:{p['jaeger_grpc']}",
            "COLLECTOR_HTTP_SERVER_HOST_PORT": f"127.0.0.1:{p['jaeger_http']}",
            "PROCESSOR_JAEGER_COMPACT_SERVER_HOST_PORT": f"127.0.0.1:{p['compact']}",
            "PROCESSOR_JAEGER_BINARY_SERVER_HOST_PORT": f"127.0.0.1:{p['binary']}",
            "QUERY_HTTP_SERVER_HOST_PORT": f"127.0.0.1:{p['query']}",
            "QUERY_GRPC_SERVER_HOST_PORT": f"127.0.0.1:{p['query_grpc']}",
            "ADMIN_HTTP_HOST_PORT": f"127.0.0.1:{p['admin']}",
            "TRACEGATE_HEALTH_CHECK_HOST_PORT": f"127.0.0.1:{p['health']}",
            "TRACEGATE_METRICS_HOST_PORT": f"127.0.0.1:{p['metrics']}",
            "COLLECTOR_ZIPKIN_HOST_PORT": f"127.0.0.1:{p['zipkin']}",
            "HTTP_SERVER_HOST_PORT": f"127.0.0.1:{p['sampling']}",
            "TMPDIR": str(workdir),
            "RUST_LOG": "info",
            **env,
        }
        self.argv = argv or [str(binary)]
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait_for: tuple[str, ...] = ("otlp_grpc", "query", "health", "admin")) -> "EnvGateway":
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + READY_TIMEOUT
        for key in wait_for:
            while not accepts(self.ports[key]):
                if self.proc.poll() is not None:
                    pytest.fail(f"{self.name} exited with {self.proc.returncode}\n{self.stderr()}", pytrace=False)
                if time.monotonic() >= deadline:
                    pytest.fail(f"{self.name}: port {key} not open\n{self.stderr()}", pytrace=False)
                time.sleep(0.05)
        return self

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-20000:]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not stop on SIGTERM\n{self.stderr()}", pytrace=False)
        finally:
            self._stderr.close()
        self.proc = None
        assert code == 0, f"{self.name} exited with {code}\n{self.stderr()}"


@pytest.fixture
def env_gateways(tracegate_bin: Path, tmp_path: Path):
    started: list[EnvGateway] = []

    def start(env: dict, name: str = "env", argv: list[str] | None = None, **kw) -> EnvGateway:
        gw = EnvGateway(tracegate_bin, tmp_path, env, name=name, argv=argv)
        started.append(gw)
        return gw.start(**kw)

    yield start
    for gw in reversed(started):
        gw.stop()


def send_trace(otlp_grpc_port: int, service: str, spans: int = 3) -> str:
    """A trace of `spans` spans from the OpenTelemetry SDK over OTLP/gRPC; its Jaeger id."""
    provider, memory = recording_provider({"service.name": service})
    emit_simple_spans(provider, spans, prefix=service)
    finished = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_grpc_port}", insecure=True)
    export_or_fail(exporter, finished)
    exporter.shutdown()
    return jaeger_trace_id(finished[0].context.trace_id)


def assert_healthy(gw: EnvGateway) -> None:
    for port in (gw.ports["health"], gw.ports["admin"]):
        status, _ = http_get(f"http://127.0.0.1:{port}/")
        assert status == 200, f"health on {port} answered {status}"


# ---- each SPAN_STORAGE_TYPE -----------------------------------------------------------------

def test_no_storage_type_is_the_memory_all_in_one(env_gateways):
    gw = env_gateways({})
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-memory")
    assert len(wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)["spans"]) == 3
    assert "env-memory" in query_ok(gw.ports["query"], "/api/services")["data"]
    assert_healthy(gw)
    # Every Jaeger port it was given listens, the agent's UDP ones included.
    assert accepts(gw.ports["jaeger_http"]) and accepts(gw.ports["jaeger_grpc"]) and accepts(gw.ports["zipkin"])
    assert udp_bound(gw.ports["compact"]) and udp_bound(gw.ports["binary"])


def test_memory_with_max_traces(env_gateways):
    gw = env_gateways({"SPAN_STORAGE_TYPE": "memory", "MEMORY_MAX_TRACES": "1000"})
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-memory-max")
    wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)


def test_badger_is_sled_in_its_directory_and_survives_a_restart(env_gateways, tmp_path):
    env = {"SPAN_STORAGE_TYPE": "badger", "BADGER_EPHEMERAL": "false",
           "BADGER_DIRECTORY_VALUE": str(tmp_path / "badger"), "BADGER_SPAN_STORE_TTL": "24h"}
    gw = env_gateways(env, name="badger-1")
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-badger")
    wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)
    gw.stop()
    assert any((tmp_path / "badger").iterdir()), "the store is in BADGER_DIRECTORY_VALUE"
    again = env_gateways(env, name="badger-2")
    assert len(wait_for_trace(again.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)["spans"]) == 3


def test_badger_ephemeral_by_default_is_removed_at_exit(env_gateways, tmp_path):
    gw = env_gateways({"SPAN_STORAGE_TYPE": "badger"})
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-ephemeral")
    wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)
    store = tmp_path / f"tracegate-ephemeral-{gw.proc.pid}"
    assert store.is_dir(), "the ephemeral store lives under TMPDIR"
    gw.stop()
    assert not store.exists(), "and goes with the process, as Badger's ephemeral mode"


def test_elasticsearch_writes_jaegers_documents(env_gateways, fake_es):  # noqa: F811
    gw = env_gateways({"SPAN_STORAGE_TYPE": "elasticsearch", "ES_SERVER_URLS": fake_es,
                       "ES_INDEX_PREFIX": "envtest", "ES_NUM_SHARDS": "1", "ES_NUM_REPLICAS": "0",
                       "ES_USERNAME": "elastic", "ES_PASSWORD": "changeme"})
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-es")
    wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    hits = es_search(fake_es, f"envtest-jaeger-span-{day}", {"query": {"term": {"traceID": trace_id}}, "size": 10})
    assert len(hits["hits"]["hits"]) == 3, hits
    status, body = http_get(f"{fake_es}/_fake/templates")
    assert status == 200 and b"envtest-jaeger-span" in body, body[:500]


def test_kafka_writes_jaeger_proto_to_the_broker_and_serves_no_query(env_gateways, brokers, gateways, tmp_path):  # noqa: F811
    broker = brokers()
    broker.create_topic("jaeger-spans")
    gw = env_gateways({"SPAN_STORAGE_TYPE": "kafka", "KAFKA_PRODUCER_BROKERS": broker.address},
                      wait_for=("otlp_grpc", "health"))
    assert not accepts(gw.ports["query"]), "a Kafka collector cannot read back, as in Jaeger"
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-kafka")
    # An ingester reads Jaeger's protobuf from the default topic into a store.
    query = free_port()
    gateways({
        "receivers": {"kafka": {"brokers": [broker.address], "topic": "jaeger-spans", "encoding": "jaeger_proto",
                                "group_id": "env-test", "initial_offset": "earliest"}},
        "exporters": {"memory": {}},
        "extensions": {"jaeger_query": {"storage": "memory", "http": {"endpoint": f"127.0.0.1:{query}"}}},
        "service": {"extensions": ["jaeger_query"], "pipelines": {"traces": {"receivers": ["kafka"], "exporters": ["memory"]}}},
    }, name="ingester")
    assert len(wait_for_trace(query, trace_id, 3, DELIVERY_TIMEOUT)["spans"]) == 3
    assert "query API (16686) is not served" in gw.stderr()


# ---- refusals and print-config ---------------------------------------------------------------

def test_an_unknown_storage_type_is_refused_naming_the_accepted_ones(tracegate_bin, tmp_path):
    result = subprocess.run([str(tracegate_bin)], env={"SPAN_STORAGE_TYPE": "cassandra"}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "SPAN_STORAGE_TYPE" in result.stderr and "accepted values: memory, badger, elasticsearch, opensearch, kafka" in result.stderr, result.stderr


def test_print_config_shows_what_the_environment_made_with_the_password_hidden(tracegate_bin, tmp_path):
    result = subprocess.run([str(tracegate_bin), "print-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"SPAN_STORAGE_TYPE": "elasticsearch", "ES_SERVER_URLS": "http://es-1:9200,http://es-2:9200",
                                 "ES_PASSWORD": "s3cret-value", "ES_USERNAME": "elastic", "QUERY_BASE_PATH": "/jaeger"})
    assert result.returncode == 0, result.stderr
    assert "s3cret-value" not in result.stdout
    cfg = yaml.safe_load(result.stdout)
    es = cfg["exporters"]["elasticsearch"]
    assert es["endpoints"] == ["http://es-1:9200", "http://es-2:9200"]
    assert es["auth"] == {"username": "elastic", "password": "[REDACTED]", "api_key": ""}
    assert cfg["extensions"]["jaeger_query"]["base_path"] == "/jaeger"
    assert cfg["service"]["pipelines"]["traces"]["exporters"] == ["elasticsearch"]


# ---- the Dockerfile's start-up path, without a container engine --------------------------------

def dockerfile() -> dict:
    """The instructions of the runtime stage (after the last FROM), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    runtime = text[text.rindex("\nFROM "):]
    out = {"stages": stages, "env": {}, "expose": set(), "user": None, "volume": None}
    for line in runtime.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            key, _, value = rest.partition("=")
            out["env"][key] = value
        elif word == "EXPOSE":
            for p in rest.split():
                port, _, proto = p.partition("/")
                out["expose"].add((int(port), (proto or "tcp").upper()))
        elif word in ("ENTRYPOINT", "CMD", "VOLUME"):
            out[word.lower()] = json.loads(rest)
        elif word == "USER":
            out["user"] = rest
        elif word == "HEALTHCHECK":
            out["healthcheck"] = json.loads(rest[rest.index("CMD") + 3:])
        elif word == "COPY":
            out.setdefault("copies", []).append(rest.split())
    return out


def test_dockerfile_is_multi_stage_non_root_and_exposes_jaegers_ports():
    d = dockerfile()
    assert len(d["stages"]) == 2 and " AS builder" in d["stages"][0], d["stages"]
    assert d["user"] and not d["user"].startswith("0") and d["user"] != "root"
    assert IMAGE_PORTS <= d["expose"], IMAGE_PORTS - d["expose"]
    assert d["volume"] and d["healthcheck"] and d["entrypoint"] == ["/usr/local/bin/tracegate"]


def test_the_images_entrypoint_env_and_healthcheck_run_the_all_in_one(env_gateways, tracegate_bin, tmp_path):
    d = dockerfile()
    image_files = {dest: REPO / src for *flags, src, dest in d["copies"] if not any(f.startswith("--from") for f in flags)}
    env = {k: str(image_files.get(v, v)) for k, v in d["env"].items()}
    assert Path(env["SAMPLING_STRATEGIES_FILE"]).is_file(), env
    argv = [str(tracegate_bin)] + d["entrypoint"][1:] + d["cmd"]
    gw = env_gateways(env, name="image", argv=argv, wait_for=("otlp_grpc", "query", "health", "sampling"))

    # HEALTHCHECK, exactly as written, in the container's environment.
    check = subprocess.run(d["healthcheck"], env={"PATH": os.environ["PATH"], **gw.env}, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"HEALTHCHECK failed: {check.stderr}"
    status, body = http_get(f"http://127.0.0.1:{gw.ports['sampling']}/sampling?service=anything")
    assert status == 200 and json.loads(body)["probabilisticSampling"]["samplingRate"] == 1, body
    trace_id = send_trace(gw.ports["otlp_grpc"], "env-image")
    wait_for_trace(gw.ports["query"], trace_id, 3, DELIVERY_TIMEOUT)

    gw.stop()
    down = subprocess.run(d["healthcheck"], env={"PATH": os.environ["PATH"], **gw.env}, capture_output=True, text=True, timeout=30)
    assert down.returncode != 0, "HEALTHCHECK fails once the process is gone"


# ---- Kubernetes manifests ---------------------------------------------------------------------

def manifests(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]


def container_env(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # A secret's value is not in the manifest; any value stands for it here.
    return {e["name"]: e.get("value", "from-a-secret") for e in container.get("env", [])}


@pytest.mark.parametrize("name,storage", [("all-in-one.yaml", "memory"), ("all-in-one-elasticsearch.yaml", "elasticsearch")])
def test_kubernetes_manifests_are_a_jaeger_all_in_one(tracegate_bin, tmp_path, name, storage):
    docs = manifests(name)
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 1 and "Service" in kinds, kinds
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = spec["template"]["spec"]["containers"]
    declared = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
    assert JAEGER_PORTS <= declared, JAEGER_PORTS - declared
    served = {(p["port"], p["protocol"]) for d in docs if d["kind"] == "Service" for p in d["spec"]["ports"]}
    assert JAEGER_PORTS <= served, JAEGER_PORTS - served
    for svc in (d for d in docs if d["kind"] == "Service"):
        assert svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(), svc["metadata"]["name"]
        for p in svc["spec"]["ports"]:
            assert (p["targetPort"], p["protocol"]) in declared, (svc["metadata"]["name"], p)
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    probe_ports = {container[p]["httpGet"]["port"] for p in ("readinessProbe", "livenessProbe")}
    assert probe_ports <= {port for port, _ in declared}

    # The environment the manifest sets is one tracegate accepts, and means what it says.
    env = container_env(deployment)
    assert env["SPAN_STORAGE_TYPE"] == storage
    result = subprocess.run([str(tracegate_bin), "print-config"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr, result.stderr
    cfg = yaml.safe_load(result.stdout)
    reader = cfg["extensions"]["jaeger_query"]["storage"]
    assert reader == {"memory": "memory", "elasticsearch": "elasticsearch"}[storage]
    assert "zipkin" in cfg["receivers"], "COLLECTOR_ZIPKIN_HOST_PORT turns Zipkin on, as in Jaeger"
    if storage == "elasticsearch":
        assert cfg["exporters"]["elasticsearch"]["auth"]["password"] == "[REDACTED]"
