"""Backpressure as a client sees it: when an exporter falls behind, its sending queue fills
and the gateway refuses what does not fit with answers the OpenTelemetry SDKs retry; nothing
it acknowledged is dropped.

Gateway A: OTLP in -> an `otlp` exporter forwarding to gateway B, whose queue holds 20 spans
(`sizer: items`; the default sizer is bytes) and who retries forever. B is down at first, so
A's queue fills: then

* an OTLP/HTTP client gets 503 with `Retry-After` and a `google.rpc.Status` body carrying a
  `RetryInfo` detail;
* an OTLP/gRPC client gets UNAVAILABLE with `RetryInfo` in `grpc-status-details-bin` and in
  the `google.rpc.retryinfo-bin` trailer (where the Python SDK reads it);
* the Python SDK's gRPC exporter, refused, waits the delay the gateway asked for (its log
  says "retrying in 1.00s": its own backoff would be randomised) and succeeds once B is up;
* refusals are counted (`tracegate_receiver_refused_spans`,
  `tracegate_exporter_enqueue_failed_spans`), and B receives exactly the spans A
  acknowledged.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request

import grpc
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import free_port, wait_until
from otlp_util import emit_simple_spans, raw_request, read_proto_file, recording_provider, span_count
from test_otlp_roundtrip import otlp_receiver, sink_config

QUEUE_SPANS = 20
DELIVERY_TIMEOUT = 120.0


def gateway_a(a_grpc: int, a_http: int, b_grpc: int) -> dict:
    return {
        "receivers": {"otlp": otlp_receiver(a_grpc, a_http)},
        "exporters": {
            "otlp": {
                "endpoint": f"127.0.0.1:{b_grpc}",
                "tls": {"insecure": True},
                "timeout": "2s",
                "sending_queue": {"sizer": "items", "queue_size": QUEUE_SPANS, "num_consumers": 1},
                "retry_on_failure": {"initial_interval": "100ms", "max_interval": "200ms", "max_elapsed_time": "0s"},
            }
        },
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp"]}}},
    }


def retry_delay_seconds(info: RetryInfo) -> float:
    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


def test_a_full_queue_refuses_with_answers_sdks_retry_and_loses_nothing_acknowledged(gateways, tmp_path, caplog):
    a_grpc, a_http, b_grpc, b_http = (free_port() for _ in range(4))
    b_out = tmp_path / "b.pb"
    a = gateways(gateway_a(a_grpc, a_http, b_grpc), name="a")

    # Fill the queue: two requests of 10 spans are acknowledged (queued; B is down).
    provider, memory = recording_provider({"service.name": "backpressure"})
    emit_simple_spans(provider, 30, prefix="bp")
    spans = memory.get_finished_spans()
    sdk = GrpcSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True, timeout=60)
    assert sdk.export(spans[0:10]) == SpanExportResult.SUCCESS
    assert sdk.export(spans[10:20]) == SpanExportResult.SUCCESS
    wait_until(lambda: a.metric("tracegate_exporter_queue_size", exporter="otlp") == QUEUE_SPANS, 30,
               "A's queue to hold the 20 acknowledged spans")

    # OTLP/HTTP: 503, Retry-After, and the reason with a RetryInfo in the body.
    body = raw_request(5, name="http-refused").SerializeToString()
    req = urllib.request.Request(f"http://127.0.0.1:{a_http}/v1/traces", data=body, method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a full queue accepted an HTTP request")
    except urllib.error.HTTPError as e:
        assert e.code == 503, e.code
        assert e.headers.get("Retry-After") == "1", dict(e.headers)
        status = RpcStatus.FromString(e.read())
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "sending queue of exporter otlp is full (20 of 20 spans)" in status.message, status.message
    info = RetryInfo()
    assert status.details[0].Unpack(info), status.details
    assert retry_delay_seconds(info) == 1.0

    # OTLP/gRPC: UNAVAILABLE with RetryInfo in both places the SDKs look.
    with grpc.insecure_channel(f"127.0.0.1:{a_grpc}") as channel:
        try:
            TraceServiceStub(channel).Export(raw_request(5, name="grpc-refused"), timeout=10)
            raise AssertionError("a full queue accepted a gRPC request")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            trailers = dict(e.trailing_metadata())
    details = RpcStatus.FromString(trailers["grpc-status-details-bin"])
    info = RetryInfo()
    assert details.details[0].Unpack(info), details
    assert retry_delay_seconds(info) == 1.0
    assert retry_delay_seconds(RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])) == 1.0

    # The SDK is refused, backs off as told, and gets through once B is up and A's queue drains.
    caplog.set_level(logging.WARNING, logger="opentelemetry.exporter.otlp.proto.grpc.exporter")
    result: list[SpanExportResult] = []
    sender = threading.Thread(target=lambda: result.append(sdk.export(spans[20:30])), daemon=True)
    sender.start()
    wait_until(lambda: "Transient error StatusCode.UNAVAILABLE" in caplog.text, 30, "the SDK to be refused and retry")
    gateways(sink_config(b_grpc, b_http, b_out), name="b")
    sender.join(60)
    assert result == [SpanExportResult.SUCCESS], caplog.text
    waits = re.findall(r"retrying in ([0-9.]+)s", caplog.text)
    assert waits and all(w == "1.00" for w in waits), f"the SDK did not wait the RetryInfo delay: {waits}"

    # Everything acknowledged (30 spans) reaches B, once; the refusals were counted.
    wait_until(lambda: span_count(read_proto_file(b_out)) >= 30, DELIVERY_TIMEOUT, "30 acknowledged spans at B")
    wait_until(lambda: a.metric("tracegate_exporter_queue_size", exporter="otlp") == 0, DELIVERY_TIMEOUT,
               "A's queue to be empty")
    assert span_count(read_proto_file(b_out)) == 30
    assert a.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="http") == 5
    assert a.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="grpc") >= 5 + 10
    assert a.metric("tracegate_exporter_enqueue_failed_spans", exporter="otlp") >= 5 + 5 + 10
    assert a.metric("tracegate_exporter_send_failed_spans", exporter="otlp") == 0
