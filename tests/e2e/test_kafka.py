"""Jaeger's scale-out topology through a real Kafka broker (tansu): collectors write spans to a
topic with the `kafka` exporter, ingesters read them with the `kafka` receiver into a store.

- Clients -> collector (otlp -> kafka) -> tansu -> ingester (kafka -> sled) -> /api/traces:
  every span the SDK sent is served by the query API.
- kill -9 of the ingester mid-stream, then a restart in the same consumer group: every span id
  sent arrives (duplicates allowed: the receiver commits only what the pipeline accepted, so a
  crash replays the uncommitted tail instead of losing it).
- Each encoding (otlp_proto, otlp_json, jaeger_proto, jaeger_json) round-trips through the
  broker: OTLP field for field against the SDK's own encoding; the two Jaeger encodings carry
  exactly the same spans as each other, with their ids, names and trace ids intact.
- Malformed messages in the topic are counted and skipped; the spans after them still arrive.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from conftest import free_port, wait_until
from kafka_util import Broker, brokers  # noqa: F401  (the fixture)
from otlp_util import (
    assert_same_records,
    emit_rich_spans,
    emit_simple_spans,
    expected_records,
    export_or_fail,
    flatten,
    raw_request,
    read_proto_file,
    recording_provider,
    span_ids,
)
from query_util import jaeger_trace_id, query_ok, trace_or_none

DELIVERY_TIMEOUT = 120.0
ENCODINGS = ("otlp_proto", "otlp_json", "jaeger_proto", "jaeger_json")


def otlp_in(port: int) -> dict:
    return {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{port}"}}}}


def kafka_exporter(broker: Broker, topic: str, encoding: str = "otlp_proto", **extra) -> dict:
    return {"brokers": [broker.address], "topic": topic, "encoding": encoding, **extra}


def kafka_receiver(broker: Broker, topic: str, encoding: str = "otlp_proto", group: str = "ingester") -> dict:
    # A short session so a killed member's partitions move to its replacement quickly.
    return {"brokers": [broker.address], "topic": topic, "encoding": encoding, "group_id": group,
            "initial_offset": "earliest", "session_timeout": "6s", "heartbeat_interval": "1s"}


def collector_config(otlp_port: int, exporters: dict) -> dict:
    """OTLP in -> batch -> kafka exporter(s)."""
    return {
        "receivers": otlp_in(otlp_port),
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": exporters,
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                             "exporters": list(exporters)}}},
    }


def file_sink(path: Path) -> dict:
    """Acknowledged only once written: no sending queue, so the receiver's offsets wait for it."""
    return {"path": str(path), "format": "proto", "sending_queue": {"enabled": False}}


def ingester_config(receiver: dict, path: Path) -> dict:
    return {
        "receivers": {"kafka": receiver},
        "exporters": {"file": file_sink(path)},
        "service": {"pipelines": {"traces": {"receivers": ["kafka"], "exporters": ["file"]}}},
    }


def distinct_span_ids(*paths: Path) -> set[bytes]:
    return {sid for p in paths for sid in span_ids(read_proto_file(p))}


def test_collector_to_ingester_to_the_query_api(tmp_path, brokers, gateways):
    broker = brokers()
    broker.create_topic("jaeger-spans", partitions=3)
    otlp_port, query_port = free_port(), free_port()
    gateways(collector_config(otlp_port, {"kafka": kafka_exporter(
        broker, "jaeger-spans", partition_traces_by_id=True, producer={"compression": "zstd"})}), name="collector")
    receiver = kafka_receiver(broker, "jaeger-spans")
    gateways({
        "receivers": {"kafka": receiver},
        "exporters": {"sled": {"path": str(tmp_path / "db"), "sending_queue": {"enabled": False}}},
        "extensions": {"jaeger_query": {"storage": "sled", "http": {"endpoint": f"127.0.0.1:{query_port}"}}},
        "service": {"extensions": ["jaeger_query"],
                    "pipelines": {"traces": {"receivers": ["kafka"], "exporters": ["sled"]}}},
    }, name="ingester")

    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
    traces: dict[str, int] = {}
    for n in range(10):
        provider, memory = recording_provider({"service.name": "shop", "instance": str(n)})
        emit_simple_spans(provider, 20, prefix=f"t{n}")
        spans = list(memory.get_finished_spans())
        export_or_fail(exporter, spans)
        traces[jaeger_trace_id(spans[0].context.trace_id)] = len(spans)
    exporter.shutdown()

    def all_served():
        return all((t := trace_or_none(query_port, tid)) is not None and len(t["spans"]) == n for tid, n in traces.items())

    wait_until(all_served, DELIVERY_TIMEOUT, "every trace, whole, in the ingester's /api/traces")
    assert query_ok(query_port, "/api/services")["data"] == ["shop"]


def test_kill_9_of_the_ingester_loses_nothing(tmp_path, brokers, gateways):
    broker = brokers()
    broker.create_topic("spans", partitions=3)
    otlp_port = free_port()
    gateways(collector_config(otlp_port, {"kafka": kafka_exporter(broker, "spans", partition_traces_by_id=True)}),
             name="collector")
    before, after = tmp_path / "before.bin", tmp_path / "after.bin"
    first = gateways(ingester_config(kafka_receiver(broker, "spans"), before), name="ingester-1")

    requests = [raw_request(100, name=f"batch{i}") for i in range(80)]
    sent = {s.span_id for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans}
    failures: list[str] = []

    def send(batch):
        with grpc.insecure_channel(f"127.0.0.1:{otlp_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            for r in batch:
                try:
                    stub.Export(r, timeout=30)
                except grpc.RpcError as e:
                    failures.append(str(e))
                threading.Event().wait(0.05)

    # The first 60 requests stream in while ingester 1 works; it is killed part way through.
    sender = threading.Thread(target=send, args=(requests[:60],))
    sender.start()
    try:
        wait_until(lambda: len(distinct_span_ids(before)) >= 1000, DELIVERY_TIMEOUT, "the ingester to be mid-stream")
        code = first.kill()
        assert code == -9, f"the ingester should have died of SIGKILL, got {code}"
        # 20 more while no ingester runs: only the restarted one can deliver these.
        send(requests[60:])
        gateways(ingester_config(kafka_receiver(broker, "spans"), after), name="ingester-2")
    finally:
        sender.join()
    assert not failures, f"the collector refused exports: {failures[:3]}"

    wait_until(lambda: distinct_span_ids(before, after) >= sent, DELIVERY_TIMEOUT,
               f"all {len(sent)} span ids across the killed and the restarted ingester")
    assert distinct_span_ids(before, after) == sent, "only the spans that were sent"
    assert len(distinct_span_ids(after)) >= 2000, "the restarted ingester took over the stream"


def test_every_encoding_round_trips_through_the_broker(tmp_path, brokers, gateways):
    broker = brokers()
    for encoding in ENCODINGS:
        broker.create_topic(f"enc-{encoding}", partitions=2)
    otlp_port = free_port()
    exporters = {f"kafka/{e}": kafka_exporter(broker, f"enc-{e}", e) for e in ENCODINGS}
    gateways(collector_config(otlp_port, exporters), name="collector")
    files = {e: tmp_path / f"{e}.bin" for e in ENCODINGS}
    pipelines = {f"traces/{e}": {"receivers": [f"kafka/{e}"], "exporters": [f"file/{e}"]} for e in ENCODINGS}
    gateways({
        "receivers": {f"kafka/{e}": kafka_receiver(broker, f"enc-{e}", e, group=f"g-{e}") for e in ENCODINGS},
        "exporters": {f"file/{e}": file_sink(files[e]) for e in ENCODINGS},
        "service": {"pipelines": pipelines},
    }, name="ingester")

    provider, memory = recording_provider({"service.name": "rich", "host.name": "h1"})
    emit_rich_spans(provider, "kafka")
    spans = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
    export_or_fail(exporter, spans)
    exporter.shutdown()
    want = expected_records(spans)

    for e in ENCODINGS:
        wait_until(lambda e=e: len(distinct_span_ids(files[e])) >= len(want), DELIVERY_TIMEOUT, f"{len(want)} spans via {e}")
    got = {e: flatten(read_proto_file(files[e])) for e in ENCODINGS}
    # OTLP: field for field what the SDK sent.
    assert_same_records(got["otlp_proto"], want)
    assert_same_records(got["otlp_json"], want)
    # Jaeger: both encodings carry the same spans, ids and names intact.
    assert got["jaeger_proto"] == got["jaeger_json"]
    for key, record in want.items():
        jaeger = got["jaeger_proto"][key].span
        for field in ("trace_id", "span_id", "parent_span_id", "name", "start_time_unix_nano", "end_time_unix_nano"):
            assert jaeger.get(field) == record.span.get(field), f"{field} of span {record.span['name']} changed via Jaeger"


def test_malformed_messages_are_counted_and_skipped(tmp_path, brokers, gateways):
    broker = brokers()
    broker.create_topic("mixed", partitions=1)
    otlp_port = free_port()
    # Two writers on one topic: one in the encoding the reader expects, one in another.
    gateways(collector_config(otlp_port, {
        "kafka/good": kafka_exporter(broker, "mixed", "jaeger_json"),
        "kafka/bad": kafka_exporter(broker, "mixed", "otlp_proto"),
    }), name="collector")
    out = tmp_path / "out.bin"
    ingester = gateways(ingester_config(kafka_receiver(broker, "mixed", "jaeger_json"), out), name="ingester")

    sent: set[bytes] = set()
    with grpc.insecure_channel(f"127.0.0.1:{otlp_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        for round_ in range(2):
            request = raw_request(50, name=f"round{round_}")
            stub.Export(request, timeout=30)
            sent |= {s.span_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
            # Each round must get through the bad messages before it.
            wait_until(lambda: distinct_span_ids(out) >= sent, DELIVERY_TIMEOUT, f"round {round_}'s spans past the malformed messages")
    # The two writers race, so a round's bad message may land after its good ones: wait for it.
    wait_until(lambda: ingester.metric("tracegate_receiver_dropped_packets", receiver="kafka", transport="kafka",
                                       reason="malformed") >= 2,
               DELIVERY_TIMEOUT, "each otlp_proto message to be counted as malformed")
    assert ingester.metric("tracegate_receiver_accepted_spans", receiver="kafka", transport="kafka") >= 100


def test_sasl_scram_authenticates_both_sides(tmp_path, brokers, gateways):
    # tansu keeps users in its storage: create the user and topic on an open broker, then
    # restart it on the same database with authentication required.
    # tansu reads the URL's path without its leading slash: an absolute path needs one more.
    storage = f"sqlite:///{tmp_path / 'tansu.db'}"
    setup = brokers(name="tansu-setup", storage=storage)
    setup.create_topic("secured", partitions=1)
    setup.create_user("tracegate", "s3cret", "scram512")
    setup.stop()
    broker = brokers(name="tansu-sasl", storage=storage, args=("--authentication",), port=setup.port)
    auth = {"sasl": {"username": "tracegate", "password": "s3cret", "mechanism": "SCRAM-SHA-512"}}

    otlp_port = free_port()
    gateways(collector_config(otlp_port, {"kafka": kafka_exporter(broker, "secured", auth=auth)}), name="collector")
    out = tmp_path / "out.bin"
    gateways(ingester_config({**kafka_receiver(broker, "secured"), "auth": auth}, out), name="ingester")
    request = raw_request(30, name="sasl")
    with grpc.insecure_channel(f"127.0.0.1:{otlp_port}") as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=30)
    want = {s.span_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    wait_until(lambda: distinct_span_ids(out) >= want, DELIVERY_TIMEOUT, "the spans through the SASL/SCRAM broker")
