"""TLS on the listeners, with the real OpenTelemetry Python SDK as the client.

The test makes its own CA and certificates with the openssl CLI. The OTLP receiver serves
gRPC and HTTP over mTLS (client certificates signed by the CA are required); the SDK's gRPC
and HTTP exporters, given the CA and a client certificate, deliver; without a client
certificate they are refused; a plain-text client on a TLS port fails at once. The health
check serves plain TLS (no client certificate) to Python's own HTTPS client.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import free_port, wait_until
from otlp_util import export_or_fail, read_proto_file, recording_provider, span_count


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stderr}"


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """ca.crt, server.crt/.key (localhost, 127.0.0.1) and client.crt/.key, all signed by ca."""
    d = tmp_path / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=tracegate e2e CA", cwd=d)
    for name, ext in [
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ]:
        (d / f"{name}.ext").write_text(ext)
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def test_the_sdk_exports_over_mtls_and_is_refused_without_a_client_certificate(gateways, pki, tmp_path):
    grpc_port, http_port, health_port = free_port(), free_port(), free_port()
    sink = tmp_path / "spans.bin"
    mtls = {
        "cert_file": str(pki / "server.crt"),
        "key_file": str(pki / "server.key"),
        "client_ca_file": str(pki / "ca.crt"),
    }
    gateways({
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}", "tls": mtls},
            "http": {"endpoint": f"127.0.0.1:{http_port}", "tls": mtls},
        }}},
        "exporters": {"file": {"path": str(sink), "format": "proto"}},
        "extensions": {"health_check": {
            "endpoint": f"127.0.0.1:{health_port}",
            "tls": {"cert_file": str(pki / "server.crt"), "key_file": str(pki / "server.key")},
        }},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
        },
    })

    provider, memory = recording_provider({"service.name": "tls-e2e"})
    with provider.get_tracer("e2e").start_as_current_span("over-tls"):
        pass
    spans = memory.get_finished_spans()
    ca, key, cert = ((pki / n).read_bytes() for n in ("ca.crt", "client.key", "client.crt"))

    export_or_fail(GrpcSpanExporter(
        endpoint=f"localhost:{grpc_port}",
        credentials=grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert),
    ), spans)
    export_or_fail(HttpSpanExporter(
        endpoint=f"https://localhost:{http_port}/v1/traces",
        certificate_file=str(pki / "ca.crt"),
        client_key_file=str(pki / "client.key"),
        client_certificate_file=str(pki / "client.crt"),
    ), spans)
    wait_until(lambda: span_count(read_proto_file(sink)) == 2, 30.0, "both exports stored")

    # The same exporters trusting the server but without a client certificate are refused.
    no_cert_grpc = GrpcSpanExporter(
        endpoint=f"localhost:{grpc_port}", credentials=grpc.ssl_channel_credentials(root_certificates=ca), timeout=3,
    )
    assert no_cert_grpc.export(spans) == SpanExportResult.FAILURE
    no_cert_http = HttpSpanExporter(
        endpoint=f"https://localhost:{http_port}/v1/traces", certificate_file=str(pki / "ca.crt"), timeout=3,
    )
    # This SDK version lets the handshake refusal escape as requests' SSLError (the alert, or EOF: TLS 1.3 timing) instead of
    # returning FAILURE; either way nothing is delivered.
    with pytest.raises(requests.exceptions.SSLError):
        no_cert_http.export(spans)
    assert span_count(read_proto_file(sink)) == 2

    # Python's own HTTPS client on the health check (TLS without client certificates).
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"https://localhost:{health_port}/", context=context, timeout=10) as resp:
                return resp.status == 200
        except urllib.error.HTTPError:
            return False  # 503 while the service is still starting

    wait_until(healthy, 30.0, "the health check over HTTPS")

    # A plain-text client on a TLS port gets no HTTP answer and is closed at once.
    with socket.create_connection(("127.0.0.1", http_port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert not answer.startswith(b"HTTP/"), answer
