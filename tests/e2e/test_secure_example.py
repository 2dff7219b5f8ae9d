"""`config-examples/secure.yaml` as shipped, with its ports moved to free ones and its TLS and
auth files made by the test (a CA, server and client certificates by openssl; a token file
and an htpasswd file): what a sender, a person and a browser meet on its listeners.

* OTLP/HTTP: TLS; the ingest token required (401 without); a CORS preflight from the allowed
  browser origin is answered without credentials, one from any other origin gets no permission.
* OTLP/gRPC: mTLS and the token; without a client certificate the handshake fails.
* The query API: TLS, basic auth, the UI's Content-Security-Policy and `nosniff`.
* Health over TLS; metrics over mTLS.
"""

from __future__ import annotations

import shutil
import time

import grpc
import pytest
import requests

from conftest import CONFIG_EXAMPLES, wait_until
from otlp_util import raw_request
from test_auth import HTPASSWD, basic
from test_durability import shipped
from test_tls import pki  # noqa: F401 (a fixture)

TOKEN = "ingest-token-3c1d"
ORIGIN = "https://traces-app.example.com"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def recent_request(spans: int):
    """`raw_request`'s spans, stamped now (the store's 72h retention drops older ones)."""
    req = raw_request(spans, name="secure")
    now = time.time_ns()
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
    return req


def port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


@pytest.fixture
def secure(gateways, pki, tmp_path):  # noqa: F811
    shutil.copy(pki / "ca.crt", pki / "clients-ca.crt")
    auth = tmp_path / "auth"
    auth.mkdir()
    (auth / "ingest-token").write_text(TOKEN + "\n")
    (auth / "htpasswd").write_text(HTPASSWD)
    config = shipped("secure.yaml")
    gateways(config, name="secure", env={
        "TLS_DIR": str(pki), "AUTH_DIR": str(auth), "BROWSER_ORIGIN": ORIGIN,
        "TRACEGATE_DATA": str(tmp_path / "data"),
        "SAMPLING_STRATEGIES": str(CONFIG_EXAMPLES / "sampling-strategies.json"),
    })
    return config, pki


def test_senders_people_and_browsers_meet_tls_auth_cors_and_the_page_policy(secure):
    config, pki = secure
    r, e = config["receivers"], config["extensions"]
    ca = str(pki / "ca.crt")
    client = (str(pki / "client.crt"), str(pki / "client.key"))

    otlp_http = f"https://localhost:{port(r['otlp']['protocols']['http']['endpoint'])}/v1/traces"
    body = recent_request(2).SerializeToString()
    proto = {"Content-Type": "application/x-protobuf"}
    assert requests.post(otlp_http, data=body, headers=proto, verify=ca, timeout=10).status_code == 401
    sent = requests.post(otlp_http, data=body, headers={**proto, "Authorization": f"Bearer {TOKEN}"}, verify=ca, timeout=10)
    assert sent.status_code == 200, sent.text
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    allowed = requests.options(otlp_http, headers=preflight, verify=ca, timeout=10)
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN, allowed.headers
    assert "authorization" in allowed.headers.get("access-control-allow-headers", "").lower()
    other = requests.options(otlp_http, headers={**preflight, "Origin": "https://evil.example.net"}, verify=ca, timeout=10)
    assert "access-control-allow-origin" not in other.headers, other.headers

    grpc_target = f"localhost:{port(r['otlp']['protocols']['grpc']['endpoint'])}"
    ca_pem, key_pem, cert_pem = ((pki / n).read_bytes() for n in ("ca.crt", "client.key", "client.crt"))
    mtls = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem)
    with grpc.secure_channel(grpc_target, mtls) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as refused:
            export(body, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(body, timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
    with grpc.secure_channel(grpc_target, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as no_cert:
            export(body, timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
        assert no_cert.value.code() == grpc.StatusCode.UNAVAILABLE, "no client certificate: the handshake fails"

    query = f"https://localhost:{port(e['jaeger_query']['http']['endpoint'])}"
    page = requests.get(f"{query}/search", verify=ca, timeout=10)
    assert page.status_code == 401 and page.headers["www-authenticate"].startswith("Basic")
    page = requests.get(f"{query}/search", headers={"Authorization": basic("alice", "wonderland")}, verify=ca, timeout=10)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"

    def stored() -> bool:
        answer = requests.get(f"{query}/api/services", headers={"Authorization": basic("bob", "builder")}, verify=ca, timeout=10)
        return answer.status_code == 200 and len(answer.json()["data"] or []) > 0

    wait_until(stored, 30.0, "the spans sent over OTLP to be searchable")

    health = f"https://localhost:{port(e['health_check']['endpoint'])}/"
    wait_until(lambda: requests.get(health, verify=ca, timeout=10).status_code == 200, 30.0, "the health check")
    metrics = f"https://localhost:{port(config['service']['telemetry']['metrics']['address'])}/metrics"
    assert requests.get(metrics, verify=ca, cert=client, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(metrics, verify=ca, timeout=10)
