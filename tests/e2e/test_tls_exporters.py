"""Client TLS on exporters, between two real gateways: the first receives plain OTLP from the
OpenTelemetry Python SDK and forwards it over OTLP/gRPC and OTLP/HTTP with mutual TLS to the
second, whose receiver requires client certificates signed by the test's CA (openssl CLI).
"""

from __future__ import annotations

from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

from conftest import free_port, wait_until
from otlp_util import export_or_fail, read_proto_file, recording_provider, span_count
from test_tls import pki  # noqa: F401  (the fixture: ca.crt, server.*, client.*)


def test_a_gateway_forwards_over_mtls_to_another(gateways, pki, tmp_path: Path):  # noqa: F811
    b_grpc, b_http, a_grpc = free_port(), free_port(), free_port()
    sink = tmp_path / "spans.bin"
    mtls = {
        "cert_file": str(pki / "server.crt"),
        "key_file": str(pki / "server.key"),
        "client_ca_file": str(pki / "ca.crt"),
    }
    gateways({
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{b_grpc}", "tls": mtls},
            "http": {"endpoint": f"127.0.0.1:{b_http}", "tls": mtls},
        }}},
        "exporters": {"file": {"path": str(sink), "format": "proto"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }, name="backend")
    client_tls = {
        "ca_file": str(pki / "ca.crt"),
        "cert_file": str(pki / "client.crt"),
        "key_file": str(pki / "client.key"),
    }
    gateways({
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{a_grpc}"}}}},
        "exporters": {
            # No scheme, no insecure: TLS, as the Collector does; the certificate names localhost.
            "otlp": {"endpoint": f"localhost:{b_grpc}", "tls": client_tls},
            "otlphttp": {"endpoint": f"https://localhost:{b_http}", "tls": client_tls},
        },
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp", "otlphttp"]}}},
    }, name="forwarder")

    provider, memory = recording_provider({"service.name": "tls-forward"})
    with provider.get_tracer("e2e").start_as_current_span("forwarded-over-mtls"):
        pass
    export_or_fail(GrpcSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True), memory.get_finished_spans())
    wait_until(lambda: span_count(read_proto_file(sink)) == 2, 30.0, "the span arrived over both TLS exporters")
