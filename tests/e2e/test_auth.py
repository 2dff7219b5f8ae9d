"""Authenticator extensions on real listeners, with real clients.

The OpenTelemetry Python SDK exports over OTLP/gRPC with a Basic header (checked against a
bcrypt htpasswd entry) and over OTLP/HTTP with a bearer token read from a file; without the
header both are refused (gRPC UNAUTHENTICATED, HTTP 401 with WWW-Authenticate), the refusals
are counted, and no credential reaches the log even at debug level. Rewriting the token file
swaps the accepted token without a restart. The query API and UI sit behind basic auth the
way a browser expects it; Zipkin, Jaeger Thrift/HTTP and Jaeger gRPC refuse anonymous posts. One gateway
forwards to another with client-side basicauth and bearertokenauth. An `oidc` extension checks
JWTs (RS256, signed with a key the openssl CLI made) against the keys a local issuer publishes
through OIDC discovery.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import free_port, http_get, http_post, run_cli, wait_until
from jaeger_proto import M, POST_SPANS
from otlp_util import export_or_fail, read_proto_file, recording_provider, span_count
from test_jaeger_collector import proto_batch

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


def test_the_query_api_ui_zipkin_and_jaeger_http_and_grpc_refuse_anonymous_callers(gateways):
    query_port, zipkin_port, jaeger_port, jaeger_grpc = free_port(), free_port(), free_port(), free_port()
    gateways({
        "extensions": {
            "basicauth": {"htpasswd": {"inline": HTPASSWD}},
            "jaeger_query": {"storage": "memory", "http": {
                "endpoint": f"127.0.0.1:{query_port}", "auth": {"authenticator": "basicauth"}}},
        },
        "receivers": {
            "zipkin": {"endpoint": f"127.0.0.1:{zipkin_port}", "auth": {"authenticator": "basicauth"}},
            "jaeger": {"protocols": {
                "thrift_http": {"endpoint": f"127.0.0.1:{jaeger_port}", "auth": {"authenticator": "basicauth"}},
                "grpc": {"endpoint": f"127.0.0.1:{jaeger_grpc}", "auth": {"authenticator": "basicauth"}},
            }},
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

    with grpc.insecure_channel(f"127.0.0.1:{jaeger_grpc}") as channel:
        post = channel.unary_unary(POST_SPANS, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=M["PostSpansResponse"].FromString)
        try:
            post(proto_batch(), timeout=10)
            raise AssertionError("an anonymous Jaeger gRPC PostSpans was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
        post(proto_batch(), timeout=10, metadata=[("authorization", basic("alice", "wonderland"))])

    def services() -> list:
        req_headers = {"Authorization": basic("alice", "wonderland")}
        request = urllib.request.Request(f"http://127.0.0.1:{query_port}/api/services", headers=req_headers)
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            return json.load(resp)["data"] or []

    wait_until(lambda: {"zipkin-auth", "grpc-app"} <= set(services()), 30.0,
               "the Zipkin and Jaeger gRPC spans in the query API, with credentials")


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


# --- oidc -------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RsaKey:
    """An RSA key made with the openssl CLI; signs JWTs (RS256) and gives its public JWK."""

    def __init__(self, directory: Path, kid: str):
        self.kid = kid
        self.path = directory / f"{kid}.pem"
        done = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                               "-out", str(self.path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.path), "-noout", "-modulus"],
                                 capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
        self.jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.path)],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        return f"{signing_input}.{b64url(signature)}"


def test_oidc_tokens_from_a_discovered_issuer(gateways, tmp_path: Path):
    key = RsaKey(tmp_path, "e2e-key")
    issuer_port, query_port, http_port = free_port(), free_port(), free_port()
    issuer_url = f"http://127.0.0.1:{issuer_port}"

    class Issuer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            documents = {
                "/.well-known/openid-configuration": {"issuer": issuer_url, "jwks_uri": f"{issuer_url}/keys"},
                "/keys": {"keys": [key.jwk]},
            }
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", issuer_port), Issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = tmp_path / "spans.bin"
        gw = gateways({
            "extensions": {
                "oidc": {"issuer_url": issuer_url, "audience": "tracegate-e2e", "tenant_claim": "tenant"},
                "jaeger_query": {"storage": "memory", "http": {
                    "endpoint": f"127.0.0.1:{query_port}", "auth": {"authenticator": "oidc"}}},
            },
            "receivers": {"otlp": {"protocols": {"http": {
                "endpoint": f"127.0.0.1:{http_port}", "auth": {"authenticator": "oidc"}}}}},
            "exporters": {"memory": {}, "file": {"path": str(sink), "format": "proto"}},
            "service": {
                "extensions": ["oidc", "jaeger_query"],
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["memory", "file"]}},
            },
        })
        now = int(time.time())
        good = {"iss": issuer_url, "aud": "tracegate-e2e", "sub": "alice", "tenant": "team-a", "exp": now + 600}
        token = key.sign(good)
        spans = finished_spans("with-a-jwt")
        http_url = f"http://127.0.0.1:{http_port}/v1/traces"
        export_or_fail(HttpSpanExporter(endpoint=http_url, headers={"Authorization": f"Bearer {token}"}), spans)
        wait_until(lambda: span_count(read_proto_file(sink)) == 1, 30.0, "the export with a valid token stored")

        expired = key.sign({**good, "exp": now - 600})
        assert HttpSpanExporter(endpoint=http_url, timeout=5,
                                headers={"Authorization": f"Bearer {expired}"}).export(spans) == SpanExportResult.FAILURE
        stranger = RsaKey(tmp_path, "e2e-key-other")
        stranger.kid = "e2e-key"  # claims to be the issuer's key
        for bad, why in [(expired, "expired"), (key.sign({**good, "aud": "other"}), "another audience"),
                         (stranger.sign(good), "signature does not verify")]:
            status, headers, body = http_post(f"http://127.0.0.1:{query_port}/api/services", b"", "text/plain",
                                              headers={"Authorization": f"Bearer {bad}"})
            assert status == 401 and why in body.decode(), (why, status, body)
            assert 'error="invalid_token"' in challenge(headers), headers
        request = urllib.request.Request(f"http://127.0.0.1:{query_port}/api/services",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert "auth-e2e" in (json.load(resp)["data"] or [])
        assert gw.metric("tracegate_server_auth_failures", component="otlp", server="http", reason="invalid") >= 1
        assert token not in gw.stderr()
    finally:
        server.shutdown()
        server.server_close()


def test_a_reference_to_no_authenticator_is_a_config_error_naming_its_path(tracegate_bin, write_config):
    config = {
        "extensions": {"basicauth": {"htpasswd": {"inline": HTPASSWD}}, "health_check": {}},
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": "127.0.0.1:0", "auth": {"authenticator": "basicauth/missing"}},
            "http": {"endpoint": "127.0.0.1:0", "auth": {"authenticator": "health_check"}},
        }}},
        "exporters": {"otlp": {"endpoint": "127.0.0.1:1", "tls": {"insecure": True}, "auth": {"authenticator": "basicauth"}}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp"]}},
        },
    }
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(config)))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("error:")]
    assert errors == [
        'error: receivers::otlp::protocols::grpc::auth::authenticator: authenticator "basicauth/missing" is not configured under extensions',
        'error: receivers::otlp::protocols::http::auth::authenticator: "health_check" is not an authenticator; use an extension of type basicauth, bearertokenauth, oidc',
        'error: exporters::otlp::auth::authenticator: authenticator "basicauth" is not enabled in service::extensions',
    ], result.stderr
