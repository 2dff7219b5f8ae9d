"""The persistent sending queue (`sending_queue.storage` + the `file_storage` extension), as an
operator relying on it would check it: spans the gateway accepted while the backend was down
reach the backend later, even when the gateway was killed (SIGKILL) or stopped in between.

The downstream "backend" is a second gateway writing every batch it receives to a file; span
ids are compared as sets, since delivery is at least once (a batch in flight at the kill is
sent again).
"""

from __future__ import annotations

from conftest import free_port, http_post, wait_until
from otlp_util import raw_request, read_proto_file, span_ids
from test_otlp_roundtrip import otlp_receiver, sink_config

DELIVERY_TIMEOUT = 60.0


def queued_forwarder(grpc_port: int, http_port: int, backend_port: int, storage_dir) -> dict:
    return {
        "receivers": {"otlp": otlp_receiver(grpc_port, http_port)},
        "extensions": {"file_storage": {"directory": str(storage_dir)}},
        "exporters": {
            "otlp": {
                "endpoint": f"127.0.0.1:{backend_port}",
                "tls": {"insecure": True},
                "timeout": "1s",
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "0s"},
                "sending_queue": {"storage": "file_storage", "queue_size": 500, "when_full": "block"},
            }
        },
        "service": {
            "extensions": ["file_storage"],
            "shutdown_timeout": "1s",
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp"]}},
        },
    }


def send_batches(http_port: int, batches: int, spans_each: int, tag: str) -> set[bytes]:
    sent: set[bytes] = set()
    for i in range(batches):
        req = raw_request(spans_each, name=f"{tag}{i}")
        status, _, body = http_post(f"http://127.0.0.1:{http_port}/v1/traces", req.SerializeToString(), "application/x-protobuf")
        assert status == 200, f"batch {i} refused with {status}: {body!r}"
        sent |= set(span_ids([req]))
    return sent


def test_spans_accepted_while_the_backend_is_down_survive_a_kill(gateways, tmp_path):
    a_grpc, a_http, b_grpc, b_http = (free_port() for _ in range(4))
    out = tmp_path / "backend.pb"
    config = queued_forwarder(a_grpc, a_http, b_grpc, tmp_path / "queue")

    a = gateways(config, name="a")
    sent = send_batches(a_http, 40, 50, "before-kill")
    assert a.kill() == -9

    # The backend comes up only after the gateway died; the restarted gateway delivers.
    gateways(sink_config(b_grpc, b_http, out), name="backend")
    a = gateways(config, name="a-restarted")
    wait_until(lambda: out.exists() and set(span_ids(read_proto_file(out))) >= sent, DELIVERY_TIMEOUT,
               f"all {len(sent)} spans accepted before the kill at the backend")
    # And the queue keeps working for new data.
    more = send_batches(a_http, 5, 10, "after-restart")
    wait_until(lambda: set(span_ids(read_proto_file(out))) >= sent | more, DELIVERY_TIMEOUT, "new spans after the restart")


def test_a_graceful_stop_keeps_the_queue_instead_of_counting_it_lost(gateways, tmp_path):
    a_grpc, a_http, b_grpc, b_http = (free_port() for _ in range(4))
    out = tmp_path / "backend.pb"
    config = queued_forwarder(a_grpc, a_http, b_grpc, tmp_path / "queue")

    a = gateways(config, name="a")
    sent = send_batches(a_http, 10, 20, "before-stop")
    a.stop()
    assert "stay in the persistent queue for the next start" in a.stderr(), a.describe()
    assert "could not be delivered before the shutdown timeout" not in a.stderr(), a.describe()

    gateways(sink_config(b_grpc, b_http, out), name="backend")
    gateways(config, name="a-restarted")
    wait_until(lambda: out.exists() and set(span_ids(read_proto_file(out))) >= sent, DELIVERY_TIMEOUT,
               f"all {len(sent)} spans queued before the stop at the backend")


def test_a_queue_storage_naming_no_extension_is_a_config_error(tracegate_bin, write_config):
    from conftest import run_cli

    config = queued_forwarder(free_port(), free_port(), free_port(), "unused")
    config["service"]["extensions"] = []
    del config["extensions"]
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(config)))
    assert result.returncode != 0
    assert 'exporters::otlp::sending_queue::storage: extension "file_storage" is not configured' in result.stderr, result.stderr
