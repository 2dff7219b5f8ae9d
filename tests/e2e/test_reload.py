"""Hot reload under load: the load generator sends at a steady rate over OTLP/gRPC while the
gateway's config file changes five times (a processor added, the store's exporter changed, a
receiver added with the OTLP port unchanged, a bad config refused, a processor removed), one
of them announced by SIGHUP and the rest found by `service.watch_config`. Every span the load
generator saw acknowledged must be in the store afterwards, and none may have been refused.
"""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, accepts, free_port, wait_until
from query_util import query_ok

BUILD_TIMEOUT = 1800.0
DELIVERY_TIMEOUT = 120.0
RELOAD_TIMEOUT = 60.0
SERVICE = "loadgen-checkout"  # the load generator's default shape


@pytest.fixture(scope="module")
def loadgen_bin() -> Path:
    build = subprocess.run(["cargo", "build", "-p", "tracegate-loadgen"], cwd=REPO, capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT)
    assert build.returncode == 0, f"cargo build -p tracegate-loadgen failed:\n{build.stderr[-3000:]}"
    import os
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = target / "debug" / "tracegate-loadgen"
    assert binary.is_file(), f"{binary} was not built"
    return binary


def base_config(tmp_path: Path, otlp: int, query: int) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"sled": {"path": str(tmp_path / "store"), "retention": "72h"}},
        "extensions": {"jaeger_query": {"storage": "sled", "http": {"endpoint": f"127.0.0.1:{query}"},
                                        "max_limit": 100000}},
        "service": {
            "watch_config": True,
            "extensions": ["jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["sled"]}},
        },
    }


def spans_in_store(query: int) -> int:
    """Spans of the load generator's service in the store, summed over api_v3's trace summaries."""
    window = {"query.startTimeMin": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
              "query.startTimeMax": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600)),
              "query.serviceName": SERVICE, "query.searchDepth": "100000"}
    body = query_ok(query, "/api/v3/trace-summaries", window)
    return sum(s.get("spanCount", 0) for s in body["summaries"])


@contextlib.contextmanager
def steady_load(loadgen_bin: Path, otlp: int, duration: str):
    """The load generator at 1000 spans/s over OTLP/gRPC for `duration`. Yields `finish`, which
    waits for it to end and returns its summary, checked to show no span failed or refused;
    leaving the block early stops it."""
    load = subprocess.Popen(
        [str(loadgen_bin), "--protocol", "grpc", "--endpoint", f"127.0.0.1:{otlp}", "--rate", "1000",
         "--duration", duration, "--batch-spans", "100", "--connections", "2", "--json-summary"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def finish() -> dict:
        out, _ = load.communicate(timeout=120)
        summary = json.loads(out)
        assert summary["spans_failed"] == 0 and summary["spans_rejected"] == 0, summary
        return summary

    try:
        yield finish
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()


def test_five_config_changes_under_load_lose_and_refuse_nothing(gateways, loadgen_bin, tmp_path):
    otlp, query, zipkin = free_port(), free_port(), free_port()
    config = base_config(tmp_path, otlp, query)
    gw = gateways(copy.deepcopy(config), name="reloading")
    reloads = lambda result: gw.metric("tracegate_config_reloads_total", result=result)  # noqa: E731

    with steady_load(loadgen_bin, otlp, "40s") as finish:
        wait_until(lambda: gw.metric("tracegate_receiver_accepted_spans", receiver="otlp") >= 2000, 60,
                   "the load generator's first spans")

        def change(edit, result: str = "applied", by_signal: bool = False) -> None:
            before = reloads(result)
            edit(config)
            config["service"]["telemetry"] = gw.config["service"]["telemetry"]
            gw.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            if by_signal:
                gw.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: reloads(result) > before, RELOAD_TIMEOUT, f"a reload counted as {result}")
            assert gw.running, gw.describe()
            accepted = gw.metric("tracegate_receiver_accepted_spans", receiver="otlp")
            # Spans keep arriving through the reloaded graph before the next change.
            wait_until(lambda: gw.metric("tracegate_receiver_accepted_spans", receiver="otlp") >= accepted + 1000, 60,
                       "spans through the new graph")

        def add_processor(c):
            c["processors"]["attributes/env"] = {"actions": [{"key": "env", "value": "prod", "action": "insert"}]}
            c["service"]["pipelines"]["traces"]["processors"] = ["batch", "attributes/env"]

        def change_exporter(c):
            c["exporters"]["sled"]["retention"] = "48h"

        def add_receiver(c):
            c["receivers"]["zipkin"] = {"endpoint": f"127.0.0.1:{zipkin}"}
            c["service"]["pipelines"]["traces"]["receivers"] = ["otlp", "zipkin"]
            c["processors"]["batch"]["timeout"] = "200ms"

        def break_it(c):
            bad = copy.deepcopy(c)
            bad["processors"]["batch"]["timeout"] = "soon"
            bad["service"]["pipelines"]["traces"]["exporters"] = ["sled", "missing"]
            c.clear()
            c.update(bad)

        change(add_processor)
        change(change_exporter)
        change(add_receiver, by_signal=True)
        assert accepts(zipkin), "the new receiver listens"
        good = copy.deepcopy(config)
        change(break_it, result="rejected")
        log = gw.stderr()
        assert "reload refused" in log and "processors::batch::timeout" in log and "\"missing\" is not configured" in log, log[-3000:]
        config.clear()
        config.update(good)

        def remove_processor(c):
            del c["processors"]["attributes/env"]
            c["service"]["pipelines"]["traces"]["processors"] = ["batch"]

        change(remove_processor)
        summary = finish()
    assert summary["errors"] == {"unavailable": 0, "throttled": 0, "other": 0}, summary
    sent = summary["spans_sent"]
    assert sent >= 20000, summary

    assert gw.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="grpc") == 0
    wait_until(lambda: spans_in_store(query) >= sent, DELIVERY_TIMEOUT, f"{sent} acknowledged spans in the store")
    assert spans_in_store(query) == sent, "each acknowledged span stored once"
    assert (reloads("applied"), reloads("rejected"), reloads("failed")) == (4, 1, 0)
    # The OTLP receiver kept its listener through all of it: no reload started it again.
    applied = [line for line in gw.stderr().splitlines() if "reload applied" in line]
    assert len(applied) == 4 and not any('receiver \\"otlp\\"' in line for line in applied), applied


def test_an_exporter_with_a_persistent_queue_is_replaced_behind_the_gate_and_every_span_arrives(gateways, loadgen_bin,
                                                                                                  tmp_path):
    """An `otlp` exporter with a `file_storage` queue, changed twice while the load generator
    sends: its queue directory serves one instance at a time, so each reload replaces it old
    instance first behind the closed gate, and the new one delivers what the old one left.
    Every acknowledged span reaches the sink."""
    sink_otlp, query, otlp = free_port(), free_port(), free_port()
    sink_config = base_config(tmp_path / "sink", sink_otlp, query)
    sink_config["service"]["watch_config"] = False
    gateways(sink_config, name="sink")
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"otlp": {"endpoint": f"127.0.0.1:{sink_otlp}", "tls": {"insecure": True}, "timeout": "5s",
                               "sending_queue": {"storage": "file_storage"}}},
        "extensions": {"file_storage": {"directory": str(tmp_path / "queue")}},
        "service": {
            "watch_config": True,
            "extensions": ["file_storage"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp"]}},
        },
    }
    gw = gateways(copy.deepcopy(config), name="forwarder")
    accepted = lambda: gw.metric("tracegate_receiver_accepted_spans", receiver="otlp")  # noqa: E731
    with steady_load(loadgen_bin, otlp, "20s") as finish:
        wait_until(lambda: accepted() >= 2000, 60, "the load generator's first spans")
        for timeout in ["6s", "7s"]:
            before = gw.metric("tracegate_config_reloads_total", result="applied")
            config["exporters"]["otlp"]["timeout"] = timeout
            config["service"]["telemetry"] = gw.config["service"]["telemetry"]
            gw.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            wait_until(lambda: gw.metric("tracegate_config_reloads_total", result="applied") > before, RELOAD_TIMEOUT,
                       "the reload")
            now = accepted()
            wait_until(lambda: accepted() >= now + 1000, 60, "spans through the new exporter")
        summary = finish()
    sent = summary["spans_sent"]
    log = gw.stderr()
    assert log.count("cannot run beside its old instance") == 2 and "another running instance holds it" in log, log[-3000:]
    assert gw.metric("tracegate_config_reloads_total", result="failed") == 0
    wait_until(lambda: spans_in_store(query) >= sent, DELIVERY_TIMEOUT, f"{sent} acknowledged spans at the sink")
    assert spans_in_store(query) == sent, "each acknowledged span stored once"
