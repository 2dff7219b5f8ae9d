"""The `resource`, `attributes`, `span` and `filter` processors in a real pipeline.

The OpenTelemetry Python SDK sends spans to gateway A (`otlp` -> resource -> attributes -> span
-> filter -> `otlp` exporter), which forwards to gateway B (`otlp` -> `file`, proto). Each span
B wrote is compared field by field with what the SDK itself encoded, after applying by hand
what the processors are configured to do; everything not named must arrive unchanged.
"""

from __future__ import annotations

import hashlib

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind

from conftest import free_port, run_cli, wait_until
from otlp_util import expected_records, export_or_fail, flatten, read_proto_file, recording_provider, span_count

DELIVERY_TIMEOUT = 60.0
URL_PATTERN = r"^(?P<url_scheme>[a-z]+)://(?P<url_host>[^/?]+)(?P<url_path>/[^?]*)?"


def processors() -> dict:
    return {
        "resource": {
            "attributes": [
                {"key": "deployment.environment", "value": "e2e", "action": "upsert"},
                {"key": "host.name", "action": "delete"},
            ]
        },
        "attributes/scrub": {
            "actions": [
                {"key": "user.email", "action": "hash"},
                {"pattern": "^secret\\.", "action": "delete"},
                {"key": "http.url", "pattern": URL_PATTERN, "action": "extract"},
                {"key": "http.status_code", "action": "convert", "converted_type": "int"},
                {"key": "team", "from_attribute": "owner", "action": "insert"},
                {"key": "retries", "value": 3, "action": "insert"},
            ],
            "exclude": {"match_type": "strict", "services": ["health-checker"]},
        },
        "span": {
            "name": {"to_attributes": {"rules": ["^GET /api/v1/document/(?P<documentId>[^/]+)/update$"]}},
            "status": {"code": "Error", "description": "server error"},
            "include": {"match_type": "regexp", "attributes": [{"key": "http.status_code", "value": "^5\\d\\d$"}]},
        },
        "filter": {
            "traces": {
                "span": ['name == "GET /healthz"', "end_time_unix_nano - start_time_unix_nano < 0"],
                "trace": ['attributes["synthetic"] == true'],
            }
        },
    }


def test_spans_are_edited_and_filtered_as_configured(gateways, tmp_path):
    b_grpc, a_grpc = free_port(), free_port()
    out = tmp_path / "b-spans.pb"
    gateways(
        {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{b_grpc}"}}}},
            "exporters": {"file": {"path": str(out), "format": "proto"}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
        },
        name="b",
    )
    chain = ["resource", "attributes/scrub", "span", "filter"]
    a = gateways(
        {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{a_grpc}"}}}},
            "processors": processors(),
            "exporters": {"otlp": {"endpoint": f"127.0.0.1:{b_grpc}", "tls": {"insecure": True}}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": chain, "exporters": ["otlp"]}}},
        },
        name="a",
    )

    checkout, checkout_mem = recording_provider({"service.name": "checkout", "host.name": "box-1"})
    tracer = checkout.get_tracer("shop", "1.2.3")
    with tracer.start_as_current_span("GET /api/v1/document/42/update", kind=SpanKind.SERVER) as s:
        s.set_attributes({
            "user.email": "a@example.com",
            "secret.token": "t0ps3cret",
            "http.url": "https://shop.example/cart?x=1",
            "http.status_code": "503",
            "owner": "payments",
            "team": "kept",  # insert never overwrites
        })
        with tracer.start_as_current_span("db.query", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.system", "postgres")
    with tracer.start_as_current_span("GET /healthz", kind=SpanKind.SERVER):
        pass
    with tracer.start_as_current_span("synthetic-probe") as root:
        root.set_attribute("synthetic", True)
        with tracer.start_as_current_span("synthetic-child"):
            pass
    health, health_mem = recording_provider({"service.name": "health-checker"})
    with health.get_tracer("probe").start_as_current_span("probe") as s:
        s.set_attribute("user.email", "probe@example.com")

    sent = []
    for memory in (checkout_mem, health_mem):
        spans = list(memory.get_finished_spans())
        sent.extend(spans)
        client = OTLPSpanExporter(endpoint=f"127.0.0.1:{a_grpc}", insecure=True, timeout=30)
        export_or_fail(client, spans)
        client.shutdown()

    sdk = {r.span["name"]: r for r in expected_records(sent).values()}
    assert len(sdk) == 6
    kept_names = ["GET /api/v1/document/42/update", "db.query", "probe"]
    wait_until(lambda: span_count(read_proto_file(out)) >= len(kept_names), DELIVERY_TIMEOUT, "3 spans in gateway B's file")
    # The filter's drops are counted before B's file is read for the last time, so anything
    # dropped by mistake would have arrived by then too.
    wait_until(lambda: a.metric("tracegate_processor_dropped_spans", processor="filter") == 3, 10.0, "3 spans counted as dropped")
    got = {r.span["name"]: r for r in flatten(read_proto_file(out)).values()}
    assert sorted(got) == sorted(["GET /api/v1/document/{documentId}/update", "db.query", "probe"]), sorted(got)

    def attrs(d: dict) -> dict:
        return {kv["key"]: kv["value"] for kv in d["attributes"]}

    def same_except(got_span: dict, want_span: dict, *fields: str) -> None:
        for field in set(want_span) | set(got_span):
            if field not in fields:
                assert got_span.get(field) == want_span.get(field), f"{want_span['name']}: {field} changed"

    # The edited server span.
    want = sdk["GET /api/v1/document/42/update"]
    have = got["GET /api/v1/document/{documentId}/update"]
    same_except(have.span, want.span, "name", "attributes", "status")
    assert attrs(have.span) == {
        "user.email": {"string_value": hashlib.sha256(b"a@example.com").hexdigest()},
        "http.url": {"string_value": "https://shop.example/cart?x=1"},
        "url_scheme": {"string_value": "https"},
        "url_host": {"string_value": "shop.example"},
        "url_path": {"string_value": "/cart"},
        "http.status_code": {"int_value": "503"},
        "owner": {"string_value": "payments"},
        "team": {"string_value": "kept"},
        "retries": {"int_value": "3"},
        "documentId": {"string_value": "42"},
    }
    assert have.span["status"] == {"code": "STATUS_CODE_ERROR", "message": "server error"}

    # The child: only the inserted literal; no status change (no 5xx attribute).
    want, have = sdk["db.query"], got["db.query"]
    same_except(have.span, want.span, "attributes")
    assert attrs(have.span) == {**attrs(want.span), "retries": {"int_value": "3"}}

    # Resources: host.name gone, deployment.environment added, the rest as sent.
    for name in ("GET /api/v1/document/{documentId}/update", "db.query", "probe"):
        sdk_name = "GET /api/v1/document/42/update" if "documentId" in name else name
        want_res = attrs(sdk[sdk_name].resource)
        want_res.pop("host.name", None)
        want_res["deployment.environment"] = {"string_value": "e2e"}
        assert attrs(got[name].resource) == want_res, name
        assert got[name].scope == sdk[sdk_name].scope, name

    # health-checker is excluded from `attributes/scrub`: its span arrives exactly as sent.
    assert got["probe"].span == sdk["probe"].span

    assert a.metric("tracegate_processor_incoming_spans", processor="filter") == 6
    assert a.metric("tracegate_processor_outgoing_spans", processor="filter") == 3


def test_invalid_regex_is_reported_with_its_path(tracegate_bin, write_config):
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{free_port()}"}}}},
        "processors": {
            "attributes": {"actions": [{"key": "a", "pattern": "(?P<x>", "action": "extract"}]},
            "filter": {"traces": {"span": ['name == "a"', 'truncate_all(attributes, 4096)']}},
        },
        "exporters": {"nop": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["attributes", "filter"], "exporters": ["nop"]}}},
    }
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(config)))
    assert result.returncode != 0, result.stdout
    assert "processors::attributes::actions::0::pattern" in result.stderr, result.stderr
    assert "processors::filter::traces::span::1" in result.stderr and "not supported" in result.stderr, result.stderr
