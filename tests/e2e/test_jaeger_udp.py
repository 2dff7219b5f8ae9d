"""The Jaeger agent's UDP ports beyond what jaeger-client sends by itself.

* Binary Thrift (6832): jaeger-client and the OTel exporter only speak compact, so the
  `Agent.emitBatch` datagram is made with the `thrift` package's binary protocol and
  jaeger-client's generated Agent client, from spans a real jaeger-client tracer recorded (plus a
  BINARY tag, which no Python client emits).
* Bad datagrams (garbage, truncated, oversized) are dropped and counted in `/metrics`
  (`tracegate_receiver_dropped_packets{reason=...}`), and the next good datagram still arrives.
"""

from __future__ import annotations

import socket

from jaeger_client import Tracer
from jaeger_client.reporter import InMemoryReporter
from jaeger_client.sampler import ConstSampler
from jaeger_client.thrift import make_jaeger_batch, make_process
from jaeger_client.thrift_gen.agent import Agent
from jaeger_client.thrift_gen.jaeger import ttypes
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from conftest import free_udp_port, wait_until
from jaeger_util import expected_attributes, expected_events, expected_resource, micros
from otlp_util import read_proto_file, span_count
from trace_view import by_name, hex_id, jaeger_receiver, receiver_to_file, views, wait_for_spans

DROPPED = "tracegate_receiver_dropped_packets"


def recorded_spans(service: str, **tracer_args):
    """A jaeger-client tracer that keeps its finished spans in memory instead of sending them."""
    reporter = InMemoryReporter()
    tracer = Tracer(service, reporter=reporter, sampler=ConstSampler(True), tags={"build": "e2e", "shard": 7}, **tracer_args)
    return tracer, reporter


def bytes_safe(protocol):
    """The generated types write BINARY fields with `writeString`, which in the `thrift`
    package only takes str; let bytes through as they are, as the wire format means."""

    class Protocol(protocol):
        def writeString(self, value):  # noqa: N802 (thrift's name)
            self.writeBinary(value if isinstance(value, bytes) else value.encode())

    return Protocol


def emit_batch_datagram(batch: ttypes.Batch, protocol) -> bytes:
    """`Agent.emitBatch(batch)` as the oneway Thrift message an agent port reads, written as
    the generated client's `send_emitBatch` writes it (that client needs a Tornado transport)."""
    buffer = TMemoryBuffer()
    out = bytes_safe(protocol)(buffer)
    out.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 1)
    Agent.emitBatch_args(batch=batch).write(out)
    out.writeMessageEnd()
    return buffer.getvalue()


def send_udp(port: int, datagram: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(datagram, ("127.0.0.1", port))


def test_binary_thrift_emit_batch_over_udp(gateways, tmp_path):
    port = free_udp_port()
    out = tmp_path / "spans.pb"
    gw = gateways(receiver_to_file("jaeger", jaeger_receiver(thrift_binary=port), out))

    tracer, reporter = recorded_spans("binary-agent-client", generate_128bit_trace_id=True)
    with tracer.start_active_span("checkout", tags={"span.kind": "server", "amount": 12.5, "items": 2}) as scope:
        scope.span.log_kv({"event": "cart.loaded", "count": 2, "premium": False})
        with tracer.start_active_span("charge", tags={"span.kind": "client", "error": True}) as charge:
            charge.span.log_kv({"event": "error", "message": "card declined"})
    spans = list(reporter.get_spans())
    process = make_process("binary-agent-client", tracer.tags, 1024)
    batch = make_jaeger_batch(spans, process)
    # The Thrift span shares its tag list with the recorded span, so the expectations see it too.
    batch.spans[0].tags.append(ttypes.Tag(key="blob", vType=ttypes.TagType.BINARY, vBinary=b"\x00\x01\xfe\xff"))

    send_udp(port, emit_batch_datagram(batch, TBinaryProtocol))
    got = by_name(wait_for_spans(out, 2, "binary emitBatch"))

    by_op = {s.operation_name: s for s in spans}
    for name in ("checkout", "charge"):
        span, g = by_op[name], got[name]
        assert g.trace_id == hex_id(span.trace_id, 16) and g.span_id == hex_id(span.span_id, 8)
        assert g.parent_span_id == (hex_id(span.parent_id, 8) if span.parent_id else "")
        assert g.start_time_unix_nano == micros(span.start_time) * 1000
        assert g.attributes == expected_attributes(span), name
        assert [(e.name, e.time_unix_nano, e.attributes) for e in g.events] == expected_events(span)
        assert g.resource == expected_resource(tracer)
    assert got[spans[0].operation_name].attributes["blob"] == ("bytes", b"\x00\x01\xfe\xff")
    assert got["checkout"].kind == "SERVER" and got["charge"].kind == "CLIENT"
    assert (got["charge"].status, got["checkout"].status) == ("ERROR", "UNSET")
    assert got["checkout"].attributes["amount"] == ("double", 12.5)
    assert got["charge"].parent_span_id == got["checkout"].span_id
    assert got["checkout"].resource["shard"] == ("int", 7)
    assert gw.metric("tracegate_receiver_accepted_spans", receiver="jaeger", transport="udp_thrift_binary") == 2


def test_bad_datagrams_are_counted_and_do_not_harm_the_next_one(gateways, tmp_path):
    compact, binary = free_udp_port(), free_udp_port()
    out = tmp_path / "spans.pb"
    receiver = jaeger_receiver(thrift_compact=compact, thrift_binary=binary)
    receiver["protocols"]["thrift_compact"]["max_packet_size"] = 4000
    gw = gateways(receiver_to_file("jaeger", receiver, out))

    tracer, reporter = recorded_spans("after-garbage")

    def good_datagram(name: str, protocol=TCompactProtocol) -> bytes:
        with reporter.lock:
            reporter.spans.clear()
        with tracer.start_active_span(name):
            pass
        return emit_batch_datagram(make_jaeger_batch(reporter.get_spans(), make_process("after-garbage", tracer.tags, 1024)), protocol)

    def dropped(reason: str, transport: str = "udp_thrift_compact") -> float:
        return gw.metric(DROPPED, receiver="jaeger", transport=transport, reason=reason)

    first = good_datagram("first")
    send_udp(compact, b"\xff\x00garbage, not thrift at all")
    send_udp(compact, first[: len(first) // 2])  # truncated mid-batch
    send_udp(compact, b"")
    wait_until(lambda: dropped("malformed") >= 3, 20, "3 malformed compact datagrams counted")
    send_udp(compact, first)
    assert by_name(wait_for_spans(out, 1, "the good datagram after the bad ones")).keys() == {"first"}

    # Too large for max_packet_size: dropped whole, never read as a (truncated) batch.
    big = good_datagram("x" * 5000)
    assert len(big) > 4000
    send_udp(compact, big)
    wait_until(lambda: dropped("too_large") >= 1, 20, "the oversized datagram counted")

    # A compact batch on the binary port is malformed there; the binary port goes on working.
    send_udp(binary, good_datagram("compact-on-binary-port"))
    wait_until(lambda: dropped("malformed", "udp_thrift_binary") >= 1, 20, "compact bytes on the binary port counted")
    send_udp(binary, good_datagram("second", TBinaryProtocol))
    spans = by_name(wait_for_spans(out, 2, "the binary datagram after the bad one"))
    assert spans.keys() == {"first", "second"}

    assert dropped("malformed") == 3 and dropped("too_large") == 1 and dropped("queue_full") == 0
    assert gw.metric("tracegate_receiver_accepted_spans", receiver="jaeger", transport="udp_thrift_compact") == 1
    assert gw.running
    assert span_count(read_proto_file(out)) == 2, [s.name for s in views(read_proto_file(out))]
