"""Trace storage owned by the `jaeger_storage` extension, as in Jaeger v2 (issue 19 item 1).

* One process: OTLP in, `jaeger_storage_exporter` writes the sled backend by name, and
  `jaeger_query` reads the same backend (`storage: { traces: main }`): the trace the SDK saw
  acknowledged is served whole.
* Two processes: a collector (no query service) writes the sled store and stops; then a
  query-only process (`jaeger_query` + `jaeger_storage`, a `nop` pipeline, no storage exporter
  at all, the shape of Jaeger's config-query.yaml) opens the same directory and serves it.
"""

from __future__ import annotations

from conftest import free_port, run_cli
from otlp_util import send_server_trace
from query_util import jaeger_trace_id, query_ok, trace_or_none, wait_for_trace


def storage(path) -> dict:
    return {"backends": {"main": {"sled": {"path": str(path)}}}}


def collector(path, otlp: int, query: int | None) -> dict:
    """OTLP -> batch -> jaeger_storage_exporter -> the `main` backend; a query port if asked."""
    extensions = {"jaeger_storage": storage(path)}
    if query is not None:
        extensions["jaeger_query"] = {"storage": {"traces": "main"}, "http": {"endpoint": f"127.0.0.1:{query}"}}
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "processors": {"batch": {"timeout": "50ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "main"}},
        "extensions": extensions,
        "service": {
            "extensions": list(extensions),
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
        },
    }


def query_only(path, query: int) -> dict:
    """Jaeger's config-query.yaml shape: the store comes from the extension; the pipeline is nop."""
    return {
        "receivers": {"nop": None},
        "exporters": {"nop": None},
        "extensions": {
            "jaeger_storage": storage(path),
            "jaeger_query": {"storage": {"traces": "main"}, "http": {"endpoint": f"127.0.0.1:{query}"}},
        },
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {"traces": {"receivers": ["nop"], "exporters": ["nop"]}},
        },
    }


def send(otlp: int, service: str) -> str:
    return jaeger_trace_id(send_server_trace(otlp, service, "checkout", "charge-card"))


def test_one_process_writes_through_the_exporter_and_reads_through_the_query_service(tmp_path, gateways):
    otlp, query = free_port(), free_port()
    gateways(collector(tmp_path / "store", otlp, query))
    trace_id = send(otlp, "shop")
    trace = wait_for_trace(query, trace_id, 2)
    assert {s["operationName"] for s in trace["spans"]} == {"checkout", "charge-card"}
    assert query_ok(query, "/api/services")["data"] == ["shop"]


def test_a_query_only_process_serves_the_store_a_collector_wrote(tmp_path, gateways):
    path = tmp_path / "store"
    otlp = free_port()
    writer = gateways(collector(path, otlp, None), name="collector")
    # A graceful stop drains the batch processor and flushes the store.
    trace_id = send(otlp, "ledger")
    writer.stop()

    query = free_port()
    reader = gateways(query_only(path, query), name="query")
    trace = trace_or_none(query, trace_id)
    assert trace is not None, f"the query-only process does not find {trace_id}\n{reader.describe()}"
    assert {s["operationName"] for s in trace["spans"]} == {"checkout", "charge-card"}
    found = query_ok(query, "/api/traces", {"service": "ledger", "limit": 10})
    assert [t["traceID"] for t in found["data"]] == [trace_id]


def test_a_store_name_nothing_offers_is_refused_by_validate(tracegate_bin, write_config):
    config = collector("/tmp/unused", free_port(), free_port())
    config["exporters"]["jaeger_storage_exporter"]["trace_storage"] = "mian"
    config["extensions"]["jaeger_query"]["storage"] = {"traces": "mian"}
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(config)))
    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("  error: ")]
    assert errors == [
        '  error: exporters::jaeger_storage_exporter::trace_storage: nothing named "mian" provides a trace store; backends there are: main',
        '  error: extensions::jaeger_query::storage: nothing named "mian" provides a trace store; backends there are: main',
    ], result.stderr
