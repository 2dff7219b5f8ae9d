"""Fan-out and backpressure, as a user running two backends would see them.

* One dead exporter must not hold up a live one: the live backend keeps getting every span,
  and the dead one's queue retries until its backend appears, then delivers everything.
* `when_full: block` pushes back to the client: once the queue is full the client is told
  UNAVAILABLE (gRPC) or 503 (HTTP), and the refused spans are counted in /metrics.
"""

from __future__ import annotations

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from conftest import free_port, http_post, wait_until
from otlp_util import (
    emit_simple_spans,
    export_or_fail,
    raw_request,
    read_proto_file,
    recording_provider,
    span_ids,
)
from test_otlp_roundtrip import otlp_receiver, sink_config

DELIVERY_TIMEOUT = 60.0

FAST_RETRY = {
    "enabled": True,
    "initial_interval": "50ms",
    "max_interval": "200ms",
    "randomization_factor": 0,
    # Keep retrying until the test brings the backend up.
    "max_elapsed_time": "0s",
}


def test_dead_exporter_does_not_block_live_one_and_retries_until_backend_appears(gateways, tmp_path):
    b_grpc, b_http, c_grpc, c_http, a_grpc, a_http = (free_port() for _ in range(6))
    b_out, c_out = tmp_path / "b.pb", tmp_path / "c.pb"
    gateways(sink_config(b_grpc, b_http, b_out), name="b")
    a = gateways(
        {
            "receivers": {"otlp": otlp_receiver(a_grpc, a_http)},
            "processors": {"batch": {"timeout": "50ms"}},
            "exporters": {
                "otlp/ok": {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True}, "retry_on_failure": FAST_RETRY},
                # Nothing listens on C's port until later in the test.
                "otlp/dead": {
                    "endpoint": f"127.0.0.1:{c_grpc}",
                    "tls": {"insecure": True},
                    "timeout": "1s",
                    "retry_on_failure": FAST_RETRY,
                },
            },
            "service": {
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp/ok", "otlp/dead"]}
                }
            },
        },
        name="a",
    )

    provider, memory = recording_provider({"service.name": "fanout"})
    sender = OTLPSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True, timeout=30)
    sent: set[bytes] = set()
    for round_ in range(5):
        memory.clear()
        emit_simple_spans(provider, 20, prefix=f"round{round_}")
        spans = list(memory.get_finished_spans())
        export_or_fail(sender, spans)
        sent |= {s.context.span_id.to_bytes(8, "big") for s in spans}
        # B keeps up round after round while the dead exporter fails and retries.
        wait_until(lambda: set(span_ids(read_proto_file(b_out))) >= sent, DELIVERY_TIMEOUT,
                   f"round {round_}: all {len(sent)} spans at live gateway B")
    sender.shutdown()
    assert a.running
    assert not c_out.exists()

    # The dead exporter's backend comes up: what it queued and retried arrives.
    gateways(sink_config(c_grpc, c_http, c_out), name="c")
    wait_until(lambda: set(span_ids(read_proto_file(c_out))) >= sent, DELIVERY_TIMEOUT,
               f"all {len(sent)} retried spans at gateway C")
    b_ids = span_ids(read_proto_file(b_out))
    assert len(b_ids) == len(set(b_ids)) == len(sent), "B must get each span exactly once"
    wait_until(lambda: a.metric("tracegate_exporter_sent_spans", exporter="otlp/dead") >= len(sent), DELIVERY_TIMEOUT,
               "A's otlp/dead sent_spans to count every span")
    # B wrote the spans before it answered A, so A may count them a moment later.
    wait_until(lambda: a.metric("tracegate_exporter_sent_spans", exporter="otlp/ok") == len(sent), DELIVERY_TIMEOUT,
               "A's otlp/ok sent_spans to count every span")
    assert a.metric("tracegate_exporter_send_failed_spans", exporter="otlp/ok") == 0


def blocking_gateway(gateways, a_grpc: int, a_http: int, dead_port: int):
    """A gateway whose only exporter can never deliver and whose queue holds one batch."""
    return gateways(
        {
            "receivers": {"otlp": otlp_receiver(a_grpc, a_http)},
            "exporters": {
                "otlp/dead": {
                    "endpoint": f"127.0.0.1:{dead_port}",
                    "tls": {"insecure": True},
                    "timeout": "500ms",
                    "sending_queue": {"enabled": True, "queue_size": 1, "num_consumers": 1,
                                      "when_full": "block", "block_timeout": "100ms"},
                    "retry_on_failure": {"enabled": True, "initial_interval": "10s", "max_interval": "10s",
                                         "max_elapsed_time": "0s"},
                }
            },
            # Queued data can never drain here; do not wait the default 30s for it at shutdown.
            "service": {
                "shutdown_timeout": "1s",
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp/dead"]}},
            },
        },
        name="blocking",
    )


# At most this many requests are needed: one in the consumer's hands, one in the queue, then
# the queue is full. A few more allow for how the engine counts the batch being exported.
MAX_REQUESTS = 10


def test_full_blocking_queue_refuses_grpc_with_unavailable(gateways):
    a_grpc, a_http, dead = free_port(), free_port(), free_port()
    a = blocking_gateway(gateways, a_grpc, a_http, dead)
    stub = TraceServiceStub(grpc.insecure_channel(f"127.0.0.1:{a_grpc}"))
    accepted = 0
    refused_code = None
    spans_per_request = 3
    for i in range(MAX_REQUESTS):
        try:
            stub.Export(raw_request(spans_per_request, name=f"grpc{i}"), timeout=30)
            accepted += 1
        except grpc.RpcError as e:
            refused_code = e.code()
            break
    assert refused_code == grpc.StatusCode.UNAVAILABLE, (
        f"after {accepted} accepted requests the gateway answered {refused_code}, not UNAVAILABLE\n{a.describe()}"
    )
    assert 1 <= accepted < MAX_REQUESTS
    assert a.metric("tracegate_exporter_enqueue_failed_spans", exporter="otlp/dead") == spans_per_request
    assert a.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="grpc") == spans_per_request
    assert a.metric("tracegate_receiver_accepted_spans", receiver="otlp", transport="grpc") == accepted * spans_per_request


def test_full_blocking_queue_refuses_http_with_503(gateways):
    a_grpc, a_http, dead = free_port(), free_port(), free_port()
    a = blocking_gateway(gateways, a_grpc, a_http, dead)
    url = f"http://127.0.0.1:{a_http}/v1/traces"
    accepted = 0
    status = None
    spans_per_request = 4
    for i in range(MAX_REQUESTS):
        body = raw_request(spans_per_request, name=f"http{i}").SerializeToString()
        status, _headers, _ = http_post(url, body, "application/x-protobuf")
        if status != 200:
            break
        accepted += 1
    assert status == 503, f"after {accepted} accepted requests the gateway answered {status}, not 503\n{a.describe()}"
    assert 1 <= accepted < MAX_REQUESTS
    assert a.metric("tracegate_exporter_enqueue_failed_spans", exporter="otlp/dead") == spans_per_request
    assert a.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="http") == spans_per_request
