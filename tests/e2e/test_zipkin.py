"""A Zipkin server replaced by tracegate, as an application instrumented with `py_zipkin` (1.2.8)
sees it, in each encoding py_zipkin speaks: V2_JSON and V2_PROTO3 to `/api/v2/spans`, V1_JSON to
`/api/v1/spans`. Every span must arrive in OTLP as the Collector's zipkin translator maps it.

The program: a `frontend` server span with tags and an annotation, a CLIENT child with a remote
endpoint (`sa`) and `error=true`, a PRODUCER with an explicit OK status, a local span tagged
`span.kind=internal`, and a `backend` server span in another "process" continuing the trace from
B3 headers; plus a root in `backend` with a 64-bit trace id. The frontend trace uses 128-bit ids.

Expectations are computed from the exact payloads py_zipkin posted (decoded here), by the
rules of `zipkinv2.ToTranslator` and, for v1, the `zipkinv1` decoder; spot checks follow.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import threading

import pytest
from py_zipkin import Encoding, Kind
from py_zipkin.encoding.protobuf import zipkin_pb2
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import ZipkinAttrs, create_http_headers_for_new_span, zipkin_span

from conftest import free_port, http_post
from trace_view import by_name, receiver_to_file, wait_for_spans

# Resource-convention tags, sent on every span: the first span of a service puts them on the
# resource; they never become span attributes.
RESOURCE_TAGS = {"service.version": "2.4.1", "host.name": "web-1"}
CONTENT_TYPES = {
    Encoding.V2_JSON: ("/api/v2/spans", "application/json"),
    Encoding.V2_PROTO3: ("/api/v2/spans", "application/x-protobuf"),
    Encoding.V1_JSON: ("/api/v1/spans", "application/json"),
}


class PostingTransport(BaseTransportHandler):
    """POSTs each payload to the gateway as a Zipkin reporter does, keeping the payload and
    the answer for the test."""

    def __init__(self, port: int, encoding: Encoding):
        super().__init__()
        path, self.content_type = CONTENT_TYPES[encoding]
        self.url = f"http://127.0.0.1:{port}{path}"
        self.sent: list[tuple[bytes, int, bytes]] = []

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        body = payload.encode() if isinstance(payload, str) else payload
        status, _, answer = http_post(self.url, body, self.content_type)
        self.sent.append((body, status, answer))


def serve_backend(headers: dict, common: dict) -> None:
    attrs = ZipkinAttrs(
        trace_id=headers["X-B3-TraceId"], span_id=headers["X-B3-SpanId"],
        parent_span_id=headers["X-B3-ParentSpanId"], flags=headers["X-B3-Flags"], is_sampled=True,
    )
    with zipkin_span(service_name="backend", span_name="GET /stock", zipkin_attrs=attrs, kind=Kind.SERVER,
                     port=9000, host="127.0.0.2", binary_annotations={"stock": "12"}, **common):
        pass


def run_program(encoding: Encoding, transport: PostingTransport) -> None:
    common = {"transport_handler": transport, "encoding": encoding, "sample_rate": 100.0}
    with zipkin_span(
        service_name="frontend", span_name="GET /checkout", kind=Kind.SERVER, port=8080, host="127.0.0.1",
        use_128bit_trace_id=True,
        binary_annotations={"http.method": "GET", "retries": "3", "ratio": "0.5", "cached": "false", **RESOURCE_TAGS},
        **common,
    ) as root:
        root.add_annotation("cache.miss")
        root.update_binary_annotations({"user": "u1"})
        with zipkin_span(service_name="frontend", span_name="SELECT orders", kind=Kind.CLIENT,
                         binary_annotations={"db.system": "postgresql", "error": "true", **RESOURCE_TAGS}) as db:
            db.add_sa_binary_annotation(port=5432, service_name="postgres", host="::1")
            db.add_annotation("query.sent")
        with zipkin_span(service_name="frontend", span_name="publish", kind=Kind.PRODUCER,
                         binary_annotations={"otel.status_code": "STATUS_CODE_OK", **RESOURCE_TAGS}):
            pass
        with zipkin_span(service_name="frontend", span_name="render",
                         binary_annotations={"span.kind": "internal", **RESOURCE_TAGS}):
            pass
        with zipkin_span(service_name="frontend", span_name="call backend", kind=Kind.CLIENT,
                         binary_annotations=dict(RESOURCE_TAGS)):
            headers = create_http_headers_for_new_span()
            # The backend serves the call on its own thread (py_zipkin's context is per
            # thread, as it would be per process), continuing the trace from the B3 headers.
            server = threading.Thread(target=serve_backend, args=(headers, common))
            server.start()
            server.join()
    with zipkin_span(service_name="backend", span_name="cron tick", port=9000, host="127.0.0.2",
                     binary_annotations={"job": "reindex"}, **common):
        pass


# ---- what py_zipkin sent, decoded ---------------------------------------------------------------

def _endpoint_from_proto(ep) -> dict | None:
    if not ep.ByteSize():
        return None
    out = {"serviceName": ep.service_name} if ep.service_name else {}
    if ep.ipv4:
        out["ipv4"] = str(ipaddress.IPv4Address(ep.ipv4))
    if ep.ipv6:
        out["ipv6"] = str(ipaddress.IPv6Address(ep.ipv6))
    if ep.port:
        out["port"] = ep.port
    return out


def decode_v2(body: bytes, encoding: Encoding) -> list[dict]:
    """The posted spans in the v2 JSON shape, whichever v2 encoding carried them."""
    if encoding == Encoding.V2_JSON:
        return json.loads(body)
    spans = zipkin_pb2.ListOfSpans()
    spans.ParseFromString(body)
    out = []
    for s in spans.spans:
        d = {"traceId": s.trace_id.hex(), "id": s.id.hex(), "name": s.name, "timestamp": s.timestamp,
             "duration": s.duration, "tags": dict(s.tags),
             "annotations": [{"timestamp": a.timestamp, "value": a.value} for a in s.annotations]}
        if s.parent_id:
            d["parentId"] = s.parent_id.hex()
        if s.kind:
            d["kind"] = zipkin_pb2.Span.Kind.Name(s.kind)
        for key, ep in (("localEndpoint", s.local_endpoint), ("remoteEndpoint", s.remote_endpoint)):
            if (e := _endpoint_from_proto(ep)) is not None:
                d[key] = e
        out.append(d)
    return out


def _string_value(raw: str, parse: bool) -> tuple[str, object]:
    if parse:
        for kind, conv in (("int", int), ("double", float)):
            try:
                return (kind, conv(raw))
            except ValueError:
                pass
        if raw.lower() in ("true", "false"):
            return ("bool", raw.lower() == "true")
    return ("string", raw)


def expected_v2(z: dict, parse_string_tags: bool) -> dict:
    """One v2 span by `zipkinv2.ToTranslator`'s rules (resource tags left to the caller)."""
    tags = dict(z.get("tags") or {})
    kind = z.get("kind")
    if kind is None:
        kind = "INTERNAL" if tags.pop("span.kind", None) == "internal" else "UNSPECIFIED"
    status = "UNSET"
    if "otel.status_code" in tags:
        status = tags.pop("otel.status_code").removeprefix("STATUS_CODE_")
    if tags.get("error") == "true":
        status = "ERROR"
        del tags["error"]
    attrs = {k: _string_value(v, parse_string_tags) for k, v in tags.items() if k not in RESOURCE_TAGS}
    local, remote = z.get("localEndpoint") or {}, z.get("remoteEndpoint") or {}
    if "ipv4" in local or "ipv6" in local:
        attrs["net.host.ip"] = ("string", local.get("ipv6") or local["ipv4"])
    if local.get("port"):
        attrs["net.host.port"] = ("int", local["port"])
    if remote.get("serviceName"):
        attrs["peer.service"] = ("string", remote["serviceName"])
    if "ipv4" in remote or "ipv6" in remote:
        attrs["net.peer.ip"] = ("string", remote.get("ipv6") or remote["ipv4"])
    if remote.get("port"):
        attrs["net.peer.port"] = ("int", remote["port"])
    return {
        "trace_id": z["traceId"].rjust(32, "0"),
        "parent_span_id": z.get("parentId", ""),
        "kind": kind,
        "status": status,
        "attributes": attrs,
        "start": z["timestamp"] * 1000,
        "end": (z["timestamp"] + z["duration"]) * 1000,
        "events": [(a["value"], a["timestamp"] * 1000, {}) for a in z.get("annotations") or []],
        "service": local.get("serviceName", ""),
    }


CASES = {
    "v2-json": (Encoding.V2_JSON, False),
    "v2-proto3": (Encoding.V2_PROTO3, False),
    "v2-json-parse-string-tags": (Encoding.V2_JSON, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_py_zipkin_v2(case, gateways, tmp_path):
    encoding, parse_string_tags = CASES[case]
    port = free_port()
    out = tmp_path / "spans.pb"
    gw = gateways(receiver_to_file("zipkin", {"endpoint": f"127.0.0.1:{port}", "parse_string_tags": parse_string_tags}, out))
    transport = PostingTransport(port, encoding)
    run_program(encoding, transport)
    assert [(status, answer) for _, status, answer in transport.sent] == [(202, b"")] * len(transport.sent)

    posted = [z for body, _, _ in transport.sent for z in decode_v2(body, encoding)]
    got = by_name(wait_for_spans(out, len(posted), f"py_zipkin {case}"))
    assert set(got) == {z["name"] for z in posted}
    for z in posted:
        g, want = got[z["name"]], expected_v2(z, parse_string_tags)
        assert g.span_id == z["id"] and g.trace_id == want["trace_id"], z["name"]
        assert g.parent_span_id == want["parent_span_id"], z["name"]
        assert (g.kind, g.status) == (want["kind"], want["status"]), z["name"]
        assert g.attributes == want["attributes"], z["name"]
        assert (g.start_time_unix_nano, g.end_time_unix_nano) == (want["start"], want["end"]), z["name"]
        assert [(e.name, e.time_unix_nano, e.attributes) for e in g.events] == want["events"], z["name"]
        assert g.service == want["service"], z["name"]
        if want["service"] == "frontend":
            assert g.resource == {"service.name": ("string", "frontend"),
                                  **{k: ("string", v) for k, v in RESOURCE_TAGS.items()}}, z["name"]
        else:
            assert g.resource == {"service.name": ("string", want["service"])}, z["name"]

    # Spot checks of the rules, independent of `expected_v2`.
    root, db, backend = got["GET /checkout"], got["SELECT orders"], got["GET /stock"]
    assert root.kind == "SERVER" and db.kind == "CLIENT" and got["publish"].kind == "PRODUCER"
    assert got["render"].kind == "INTERNAL" and "span.kind" not in got["render"].attributes
    assert (db.status, got["publish"].status, root.status) == ("ERROR", "OK", "UNSET")
    assert "error" not in db.attributes
    assert db.attributes["peer.service"] == ("string", "postgres")
    assert db.attributes["net.peer.ip"] == ("string", "::1") and db.attributes["net.peer.port"] == ("int", 5432)
    assert root.attributes["net.host.ip"] == ("string", "127.0.0.1") and root.attributes["net.host.port"] == ("int", 8080)
    assert [e.name for e in root.events] == ["cache.miss"]
    assert root.attributes["retries"] == (("int", 3) if parse_string_tags else ("string", "3"))
    assert root.attributes["cached"] == (("bool", False) if parse_string_tags else ("string", "false"))
    assert not root.trace_id.startswith("0" * 16), "128-bit trace id"
    assert got["cron tick"].trace_id.startswith("0" * 16), "64-bit trace id, zero-padded"
    assert (backend.service, backend.trace_id, backend.parent_span_id) == ("backend", root.trace_id, got["call backend"].span_id)
    assert backend.attributes["net.host.ip"] == ("string", "127.0.0.2"), "the backend's own endpoint"
    assert "shared" not in backend.attributes, "`shared` maps to nothing"
    assert gw.metric("tracegate_receiver_accepted_spans", receiver="zipkin") == len(posted)


def test_py_zipkin_v1_json(gateways, tmp_path):
    port = free_port()
    out = tmp_path / "spans.pb"
    gateways(receiver_to_file("zipkin", {"endpoint": f"127.0.0.1:{port}"}, out))
    transport = PostingTransport(port, Encoding.V1_JSON)
    run_program(Encoding.V1_JSON, transport)
    assert [(status, answer) for _, status, answer in transport.sent] == [(202, b"")] * len(transport.sent)

    posted = {z["name"]: z for body, _, _ in transport.sent for z in json.loads(body)}
    got = by_name(wait_for_spans(out, len(posted), "py_zipkin V1_JSON"))
    assert set(got) == set(posted)
    for name, z in posted.items():
        g = got[name]
        assert (g.trace_id, g.span_id, g.parent_span_id) == (z["traceId"].rjust(32, "0"), z["id"], z.get("parentId", "")), name
        if "timestamp" in z:
            start, end = z["timestamp"], z["timestamp"] + z["duration"]
        else:
            # The server half of a shared span has no timestamp: the annotations give the times.
            start, end = min(a["timestamp"] for a in z["annotations"]), max(a["timestamp"] for a in z["annotations"])
        assert (g.start_time_unix_nano, g.end_time_unix_nano) == (start * 1000, end * 1000), name
        # Core annotations (cs/cr/sr/ss/ms/mr) set the kind and endpoint; the others are events.
        core = {"cs", "cr", "sr", "ss", "ms", "mr"}
        assert [(e.name, e.time_unix_nano) for e in g.events] == [
            (a["value"], a["timestamp"] * 1000) for a in z["annotations"] if a["value"] not in core], name

    # v1 rules: binary annotations are attributes (strings), the endpoint is the resource.
    root, db, backend = got["GET /checkout"], got["SELECT orders"], got["GET /stock"]
    assert root.kind == "SERVER" and db.kind == "CLIENT" and got["publish"].kind == "PRODUCER"
    assert root.resource == {"service.name": ("string", "frontend"), "ipv4": ("string", "127.0.0.1"), "port": ("string", "8080")}
    assert backend.resource == {"service.name": ("string", "backend"), "ipv4": ("string", "127.0.0.2"), "port": ("string", "9000")}
    assert root.attributes == {"http.method": ("string", "GET"), "retries": ("string", "3"), "ratio": ("string", "0.5"),
                               "cached": ("string", "false"), "user": ("string", "u1"),
                               **{k: ("string", v) for k, v in RESOURCE_TAGS.items()}}
    assert (db.status, "error" in db.attributes) == ("ERROR", False)
    assert db.attributes["sa"] == ("bool", True), "py_zipkin's `sa` address annotation is a JSON boolean"
    # v1 reads `otel.status_code` as a number only (OpenCensus style): the v2 spelling is
    # dropped without setting a status, as the Collector's zipkinv1 decoder does.
    assert got["publish"].status == "UNSET" and "otel.status_code" not in got["publish"].attributes
    # py_zipkin sends local spans without core annotations: no endpoint, so the service name
    # comes from the binary annotations' endpoint, and the address stays out of the resource.
    assert got["render"].resource == {"service.name": ("string", "frontend")}
    assert got["render"].attributes == {"span.kind": ("string", "internal"), **{k: ("string", v) for k, v in RESOURCE_TAGS.items()}}
    assert [e.name for e in root.events] == ["cache.miss"]
    assert backend.parent_span_id == got["call backend"].span_id and backend.trace_id == root.trace_id
    assert "timestamp" not in posted["GET /stock"], "the shared server span really came without a timestamp"
    assert got["cron tick"].trace_id.startswith("0" * 16)


BAD_BODIES = [
    ("/api/v2/spans", "application/json", b"{not json", "Zipkin v2 JSON"),
    ("/api/v2/spans", "application/json", b'[{"traceId": "zz", "id": "0000000000000001", "name": "x"}]', "Zipkin v2 JSON"),
    ("/api/v2/spans", "application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f", "protobuf"),
    ("/api/v1/spans", "application/json", b'{"traceId": 1}', "Zipkin v1 JSON"),
    ("/api/v1/spans", "application/x-thrift", b"\x0c\x00\x00\x00\x05garbage", "Thrift"),
]


def test_bad_bodies_get_400_with_the_reason(gateways, tmp_path):
    port = free_port()
    out = tmp_path / "spans.pb"
    gw = gateways(receiver_to_file("zipkin", {"endpoint": f"127.0.0.1:{port}"}, out))
    for path, content_type, body, reason in BAD_BODIES:
        status, _, answer = http_post(f"http://127.0.0.1:{port}{path}", body, content_type)
        assert status == 400, (path, content_type, body, status, answer)
        assert reason in answer.decode(), (path, content_type, answer)
    # The receiver still serves good requests afterwards.
    good = json.dumps([{"traceId": "0000000000000001", "id": "0000000000000002", "name": "after-bad",
                        "timestamp": 1_700_000_000_000_000, "duration": 5,
                        "localEndpoint": {"serviceName": "svc"}}]).encode()
    status, _, _ = http_post(f"http://127.0.0.1:{port}/api/v2/spans", good, "application/json")
    assert status == 202
    assert [s.name for s in wait_for_spans(out, 1, "the good request")] == ["after-bad"]
    assert gw.running


def test_compressed_bodies_and_the_other_apis_encoding(gateways, tmp_path):
    port = free_port()
    out = tmp_path / "spans.pb"
    gateways(receiver_to_file("zipkin", {"endpoint": f"127.0.0.1:{port}"}, out))
    base = f"http://127.0.0.1:{port}"
    span = {"traceId": "0000000000000001", "id": "0000000000000002", "name": "gzipped", "timestamp": 1_700_000_000_000_000,
            "duration": 5, "localEndpoint": {"serviceName": "svc"}}
    status, _, answer = http_post(f"{base}/api/v2/spans", gzip.compress(json.dumps([span]).encode()), "application/json",
                                  headers={"Content-Encoding": "gzip"})
    assert status == 202, answer
    proto = zipkin_pb2.ListOfSpans(spans=[zipkin_pb2.Span(
        trace_id=bytes.fromhex("0000000000000003"), id=bytes.fromhex("0000000000000004"), name="gzipped proto",
        timestamp=1_700_000_000_000_000, duration=5, local_endpoint=zipkin_pb2.Endpoint(service_name="svc"))])
    status, _, answer = http_post(f"{base}/api/v2/spans", gzip.compress(proto.SerializeToString()), "application/x-protobuf",
                                  headers={"Content-Encoding": "gzip"})
    assert status == 202, answer
    assert {s.name for s in wait_for_spans(out, 2, "the gzipped bodies")} == {"gzipped", "gzipped proto"}

    # v1 Thrift on the v2 path (and v2 protobuf on v1) is the other API's encoding: 415.
    for path, content_type in (("/api/v2/spans", "application/x-thrift"), ("/api/v1/spans", "application/x-protobuf")):
        status, _, answer = http_post(base + path, b"\x00", content_type)
        assert status == 415 and answer, (path, content_type, status, answer)
    status, _, answer = http_post(f"{base}/api/v2/spans", b"garbage", "application/json", headers={"Content-Encoding": "gzip"})
    assert status == 400 and b"gzip" in answer, answer
