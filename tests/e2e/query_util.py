"""Reading spans back through the `jaeger_query` extension, for the tests of the all-in-one
(receivers -> batch -> sled -> Jaeger query API) and of the sled store's durability.

Why a module of its own: the API tests and the persistence tests both need the same gateway
shape (the all-in-one example on free ports, the store in the test's tmp dir) and the same
"GET this and give me status + JSON" helper, with the body shown when a status is unexpected.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import yaml

from conftest import CONFIG_EXAMPLES, free_port, free_udp_port, http_get, wait_until

DELIVERY_TIMEOUT = 30.0


class QueryPorts:
    """Free loopback ports for every listener of the all-in-one."""

    def __init__(self) -> None:
        self.otlp_grpc = free_port()
        self.otlp_http = free_port()
        self.jaeger_udp = free_udp_port()
        self.zipkin = free_port()
        self.query = free_port()
        self.query_grpc = free_port()
        self.sampling = free_port()
        self.health = free_port()


def store_config(path: Path, ports: QueryPorts, sled: dict | None = None, batch_timeout: str = "50ms") -> dict:
    """The all-in-one's shape (config-examples/all-in-one.yaml): OTLP, Jaeger agent (compact
    UDP) and Zipkin in, a short batch, the sled store at `path`, the query API on `ports.query`."""
    return {
        "receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{ports.otlp_grpc}"},
                                   "http": {"endpoint": f"127.0.0.1:{ports.otlp_http}"}}},
            "jaeger": {"protocols": {"thrift_compact": {"endpoint": f"127.0.0.1:{ports.jaeger_udp}"}}},
            "zipkin": {"endpoint": f"127.0.0.1:{ports.zipkin}"},
        },
        "processors": {"batch": {"timeout": batch_timeout}},
        "exporters": {"sled": {"path": str(path), **(sled or {})}},
        "extensions": {"jaeger_query": {"storage": "sled", "http": {"endpoint": f"127.0.0.1:{ports.query}"}}},
        "service": {
            "extensions": ["jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp", "jaeger", "zipkin"], "processors": ["batch"],
                                     "exporters": ["sled"]}},
        },
    }


def shipped_all_in_one(data: Path) -> tuple[dict, QueryPorts, dict]:
    """`config-examples/all-in-one.yaml` as shipped, with only its listeners moved to free
    loopback ports (the query API's gRPC port too: a fixed 16685 on 0.0.0.0 would collide with
    anything else on the machine) and its store at `data`. Returns the config, the ports and
    the environment the example reads."""
    config = yaml.safe_load((CONFIG_EXAMPLES / "all-in-one.yaml").read_text())
    ports = QueryPorts()
    receivers = config["receivers"]
    receivers["otlp"]["protocols"]["grpc"]["endpoint"] = f"127.0.0.1:{ports.otlp_grpc}"
    receivers["otlp"]["protocols"]["http"]["endpoint"] = f"127.0.0.1:{ports.otlp_http}"
    jaeger = receivers["jaeger"]["protocols"]
    jaeger["thrift_compact"]["endpoint"] = f"127.0.0.1:{ports.jaeger_udp}"
    jaeger["thrift_binary"]["endpoint"] = f"127.0.0.1:{free_udp_port()}"
    jaeger["thrift_http"]["endpoint"] = f"127.0.0.1:{free_port()}"
    jaeger["grpc"]["endpoint"] = f"127.0.0.1:{free_port()}"
    receivers["zipkin"]["endpoint"] = f"127.0.0.1:{ports.zipkin}"
    extensions = config["extensions"]
    extensions["jaeger_query"]["http"]["endpoint"] = f"127.0.0.1:{ports.query}"
    extensions["jaeger_query"]["grpc"]["endpoint"] = f"127.0.0.1:{ports.query_grpc}"
    extensions["remote_sampling"]["http"]["endpoint"] = f"127.0.0.1:{ports.sampling}"
    extensions["remote_sampling"]["grpc"]["endpoint"] = f"127.0.0.1:{free_port()}"
    extensions["health_check"]["endpoint"] = f"127.0.0.1:{ports.health}"
    config["service"]["telemetry"]["metrics"]["address"] = f"127.0.0.1:{free_port()}"
    env = {"TRACEGATE_DATA": str(data), "SAMPLING_STRATEGIES": str(CONFIG_EXAMPLES / "sampling-strategies.json")}
    return config, ports, env


def query(port: int, path: str, params: dict | list | None = None) -> tuple[int, object]:
    """GET `path` (with `params`, a dict or a list of pairs for repeated keys) and decode the
    JSON answer; (status, JSON) for any status."""
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = http_get(url)
    try:
        return status, json.loads(body)
    except ValueError:
        raise AssertionError(f"GET {url} answered {status} with a body that is not JSON: {body[:500]!r}") from None


def query_ok(port: int, path: str, params: dict | list | None = None) -> object:
    status, body = query(port, path, params)
    assert status == 200, f"GET {path} {params or ''} answered {status}: {body}"
    return body


def trace_or_none(port: int, trace_id: str) -> dict | None:
    """`/api/traces/{id}`'s one trace, or None on 404."""
    status, body = query(port, f"/api/traces/{trace_id}")
    if status == 404:
        return None
    assert status == 200, f"/api/traces/{trace_id} answered {status}: {body}"
    assert len(body["data"]) == 1, body
    return body["data"][0]


def wait_for_trace(port: int, trace_id: str, spans: int, timeout: float = DELIVERY_TIMEOUT) -> dict:
    """Waits until `/api/traces/{id}` holds at least `spans` spans, then returns the trace."""
    def ready():
        t = trace_or_none(port, trace_id)
        return t if t is not None and len(t["spans"]) >= spans else None

    return wait_until(ready, timeout, f"{spans} spans of trace {trace_id} in /api/traces")


def jaeger_trace_id(trace_id: int) -> str:
    """Jaeger's `TraceID.String()`: 16 hex characters when the high half is zero, else 32."""
    return f"{trace_id:016x}" if trace_id < 1 << 64 else f"{trace_id:032x}"
