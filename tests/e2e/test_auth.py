"""Authenticator extensions on real listeners, with real clients.

The OpenTelemetry Python SDK exports over OTLP/gRPC with a Basic header (checked against a
bcrypt htpasswd entry) and over OTLP/HTTP with a bearer token read from a file; without the
header both are refused (gRPC UNAUTHENTICATED, HTTP 401 with WWW-Authenticate), the refusals
are counted, and no credential reaches the log even at debug level. Rewriting the token file
swaps the accepted token without a restart. The query API and UI sit behind basic auth the
way a browser expects it; Zipkin and Jaeger Thrift/HTTP refuse anonymous posts. One gateway
forwards to another with client-side basicauth and bearertokenauth.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import free_port, http_get, http_post, wait_until
from otlp_util import export_or_fail, read_proto_file, recording_provider, span_count

# `htpasswd -nbB alice wonderland` (bcrypt, cost 5) and `htpasswd -nbs bob builder` (SHA-1).
HTPASSWD = (
    "alice:$2y$05$3/vzBVH/5qtn62RZyNItBe2cndpdq2mEvCcF.Yw1mOcWVx2Hg8tLi\n"
    "bob:{SHA}9SMYoF5RilWWASry7TjeaKwmpGg=\n"
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def challenge(headers: dict) -> str:
    """The WWW-Authenticate header, whatever the case of its name."""
    return next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")


def finished_spans(name: str):
    provider, memory = recording_provider({"service.name": "auth-e2e"})
    with provider.get_tracer("e2e").start_as_current_span(name):
        pass
    return memory.get_finished_spans()


def test_the_sdk_needs_its_credentials_and_a_rotated_token_file_is_followed(gateways, tmp_path: Path):
    grpc_port, http_port = free_port(), free_port()
    sink = tmp_path / "spans.bin"
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(HTPASSWD)
    token = tmp_path / "token"
    token.write_text("first-token-0123\n")
    gw = gateways({
        "extensions": {
            "basicauth": {"htpasswd": {"file": str(htpasswd)}},
            "bearertokenauth": {"filename": str(token)},
        },
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}", "auth": {"authenticator": "basicauth"}},
            "http": {"endpoint": f"127.0.0.1:{http_port}", "auth": {"authenticator": "bearertokenauth"}},
        }}},
        "exporters": {"file": {"path": str(sink), "format": "proto"}},
        "service": {
            "extensions": ["basicauth", "bearertokenauth"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
        },
    }, env={"RUST_LOG": "debug"})
    spans = finished_spans("authenticated")
    http_url = f"http://127.0.0.1:{http_port}/v1/traces"

    export_or_fail(GrpcSpanExporter(
        endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers={"authorization": basic("alice", "wonderland")},
    ), spans)
    export_or_fail(HttpSpanExporter(endpoint=http_url, headers={"Authorization": "Bearer first-token-0123"}), spans)
    wait_until(lambda: span_count(read_proto_file(sink)) == 2, 30.0, "both authenticated exports stored")

    # Without credentials, or with wrong ones, the SDK's exports fail and nothing is stored.
    assert GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=5).export(spans) == SpanExportResult.FAILURE
    wrong = GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=5,
                             headers={"authorization": basic("alice", "Wonderland")})
    assert wrong.export(spans) == SpanExportResult.FAILURE
    assert HttpSpanExporter(endpoint=http_url, timeout=5).export(spans) == SpanExportResult.FAILURE

    # What the protocols say: UNAUTHENTICATED for gRPC, 401 and a challenge for HTTP.
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=10)
            raise AssertionError("an anonymous gRPC export was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
        stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=10,
                    metadata=[("authorization", basic("bob", "builder"))])
    status, headers, body = http_post(http_url, b"", "application/x-protobuf")
    assert status == 401, body
    assert challenge(headers).startswith("Bearer realm="), headers

    # The token file is rewritten: the old token is refused, the new one accepted, no restart.
    token.write_text("second-token-4567\n")
    status, headers, _ = http_post(http_url, b"", "application/x-protobuf",
                                   headers={"Authorization": "Bearer first-token-0123"})
    assert status == 401 and 'error="invalid_token"' in challenge(headers), headers
    status, _, body = http_post(http_url, b"", "application/x-protobuf",
                                headers={"Authorization": "Bearer second-token-4567"})
    assert status == 200, body
    assert span_count(read_proto_file(sink)) == 2

    assert gw.metric("tracegate_server_auth_failures", component="otlp", server="grpc", reason="missing") >= 2
    assert gw.metric("tracegate_server_auth_failures", component="otlp", server="grpc", reason="invalid") >= 1
    assert gw.metric("tracegate_server_auth_failures", component="otlp", server="http", reason="invalid") >= 1
    log = gw.stderr()
    assert "call refused" in log, "the debug log does not show refusals"
    for secret in ["wonderland", "Wonderland", "first-token-0123", "second-token-4567",
                   basic("alice", "wonderland").split()[1], basic("bob", "builder").split()[1]]:
        assert secret not in log, f"a credential reached the log: {secret}"


def test_the_query_api_ui_zipkin_and_jaeger_http_refuse_anonymous_callers(gateways):
    query_port, zipkin_port, jaeger_port = free_port(), free_port(), free_port()
    gateways({
        "extensions": {
            "basicauth": {"htpasswd": {"inline": HTPASSWD}},
            "jaeger_query": {"storage": "memory", "http": {
                "endpoint": f"127.0.0.1:{query_port}", "auth": {"authenticator": "basicauth"}}},
        },
        "receivers": {
            "zipkin": {"endpoint": f"127.0.0.1:{zipkin_port}", "auth": {"authenticator": "basicauth"}},
            "jaeger": {"protocols": {"thrift_http": {
                "endpoint": f"127.0.0.1:{jaeger_port}", "auth": {"authenticator": "basicauth"}}}},
        },
        "exporters": {"memory": {}},
        "service": {
            "extensions": ["basicauth", "jaeger_query"],
            "pipelines": {"traces": {"receivers": ["zipkin", "jaeger"], "exporters": ["memory"]}},
        },
    })
    # A browser opening the UI gets the challenge that makes it ask for a user and password.
    for path in ["/", "/api/services"]:
        status, _ = http_get(f"http://127.0.0.1:{query_port}{path}")
        assert status == 401, path
    status, headers, _ = http_post(f"http://127.0.0.1:{query_port}/api/services", b"", "text/plain")
    assert challenge(headers).startswith('Basic realm="tracegate"'), headers

    zipkin_span = [{"traceId": "0123456789abcdef", "id": "0123456789abcdef", "name": "guarded",
                    "timestamp": 1700000000000000, "duration": 5, "localEndpoint": {"serviceName": "zipkin-auth"}}]
    body = json.dumps(zipkin_span).encode()
    zipkin_url = f"http://127.0.0.1:{zipkin_port}/api/v2/spans"
    assert http_post(zipkin_url, body, "application/json")[0] == 401
    status, _, answer = http_post(zipkin_url, body, "application/json", headers={"Authorization": basic("bob", "builder")})
    assert status == 202, answer
    jaeger_url = f"http://127.0.0.1:{jaeger_port}/api/traces"
    status, headers, _ = http_post(jaeger_url, b"", "application/x-thrift")
    assert status == 401 and challenge(headers).startswith("Basic"), headers

    def services() -> list:
        req_headers = {"Authorization": basic("alice", "wonderland")}
        import urllib.request
        request = urllib.request.Request(f"http://127.0.0.1:{query_port}/api/services", headers=req_headers)
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            return json.load(resp)["data"] or []

    wait_until(lambda: "zipkin-auth" in services(), 30.0, "the Zipkin span in the query API, with credentials")


def test_a_gateway_forwards_with_client_credentials_to_a_guarded_gateway(gateways, tmp_path: Path):
    b_grpc, b_http, a_grpc = free_port(), free_port(), free_port()
    sink = tmp_path / "spans.bin"
    gateways({
        "extensions": {
            "basicauth": {"htpasswd": {"inline": HTPASSWD}},
            "bearertokenauth": {"token": "forwarder-token-89"},
        },
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{b_grpc}", "auth": {"authenticator": "bearertokenauth"}},
            "http": {"endpoint": f"127.0.0.1:{b_http}", "auth": {"authenticator": "basicauth"}},
        }}},
        "exporters": {"file": {"path": str(sink), "format": "proto"}},
        "service": {
            "extensions": ["basicauth", "bearertokenauth"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
        },
    }, name="backend")
    gateways({
        "extensions": {
            "basicauth/upstream": {"client_auth": {"username": "bob", "password": "builder"}},
            "bearertokenauth/upstream": {"token": "forwarder-token-89"},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{a_grpc}"}}}},
        "exporters": {
            "otlp": {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True},
                     "auth": {"authenticator": "bearertokenauth/upstream"}},
            "otlphttp": {"endpoint": f"http://127.0.0.1:{b_http}", "auth": {"authenticator": "basicauth/upstream"}},
        },
        "service": {
            "extensions": ["basicauth/upstream", "bearertokenauth/upstream"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp", "otlphttp"]}},
        },
    }, name="forwarder")
    export_or_fail(GrpcSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True), finished_spans("forwarded"))
    wait_until(lambda: span_count(read_proto_file(sink)) == 2, 30.0, "the span arrived through both authenticated exporters")
