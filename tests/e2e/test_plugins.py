"""Dynamic plugins, end to end: the example plugin crates are built as shared libraries here,
listed under `plugins:` in a real config, and fed real OTLP traffic from the OpenTelemetry SDK.

Also what a user sees when a plugin is wrong: a missing file, a file that is not a library, a
library that is not a tracegate plugin, a plugin built for another ABI version, two plugins
providing one component type, and a plugin config the plugin itself refuses (at `validate`
time, with the config path). And a plugin that panics: its batch is refused and counted, the
gateway goes on serving and stops cleanly.

The libraries are copied out of target/ before use, so a concurrent `cargo build` cannot
swap them under a running gateway, and so the test proves tracegate loads the listed path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

from conftest import REPO, Gateway, free_port, http_post, run_cli, wait_until
from otlp_util import export_or_fail, raw_request, read_proto_file, recording_provider, span_count

BUILD_TIMEOUT = 1800.0
DELIVERY_TIMEOUT = 60.0
ABI_VERSION = 1  # tracegate_plugin_abi::ABI_VERSION; the refusal message names it


def cargo(*args: str) -> None:
    result = subprocess.run(["cargo", *args], cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        pytest.fail(f"cargo {' '.join(args)} failed:\n{result.stderr[-10000:]}", pytrace=False)


def so_name(stem: str) -> str:
    return f"lib{stem}.so"


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, Path]:
    """Builds the example plugins and the test fixtures, and copies them to a temp dir."""
    cargo("build", "-p", "tracegate-example-redact-processor", "-p", "tracegate-example-ndjson-exporter")
    cargo("build", "-p", "tracegate-plugin-abi", "--examples")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug"
    built = {
        "redact": target / so_name("tracegate_example_redact_processor"),
        "ndjson": target / so_name("tracegate_example_ndjson_exporter"),
        "panicky": target / "examples" / so_name("panicking_plugin"),
        "wrong_abi": target / "examples" / so_name("wrong_abi_version"),
    }
    out = tmp_path_factory.mktemp("plugins")
    copies = {}
    for name, path in built.items():
        assert path.is_file(), f"cargo build did not produce {path}"
        copies[name] = Path(shutil.copy2(path, out / path.name))
    return copies


def otlp_http(port: int) -> dict:
    return {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}}


def redact_ndjson_config(libs, http_port: int, out_dir: Path) -> dict:
    return {
        "plugins": [{"path": str(libs["redact"])}, {"path": str(libs["ndjson"])}],
        "receivers": otlp_http(http_port),
        "processors": {
            "batch": {"timeout": "100ms"},
            "redact": {"patterns": [r"\d{4}-\d{4}-\d{4}-\d{4}", r"[a-z0-9.]+@[a-z0-9.]+"], "mask": "<redacted>"},
        },
        "exporters": {"ndjson": {"directory": str(out_dir), "file_prefix": "e2e"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch", "redact"], "exporters": ["ndjson"]}}},
    }


def ndjson_lines(out_dir: Path) -> list[dict]:
    lines = []
    for path in sorted(out_dir.glob("e2e-*.ndjson")):
        for line in path.read_text().splitlines():
            if line.strip():
                lines.append(json.loads(line))
    return lines


def test_redact_and_ndjson_plugins_handle_real_otlp_traffic(libs, gateways, tmp_path, tracegate_bin, write_config):
    http_port = free_port()
    out_dir = tmp_path / "ndjson"
    config = redact_ndjson_config(libs, http_port, out_dir)

    # Listed as loaded from their paths, validated by themselves, defaults shown.
    path = write_config(config)
    components = run_cli(tracegate_bin, "components", "--config", str(path))
    assert components.returncode == 0, components.stderr
    rows = {tuple(line.split()[:2]): line for line in components.stdout.splitlines()[1:]}
    assert rows[("processor", "redact")].endswith(f"loaded from {libs['redact']}"), components.stdout
    assert rows[("exporter", "ndjson")].endswith(f"loaded from {libs['ndjson']}"), components.stdout
    assert rows[("processor", "batch")].endswith("builtin")
    valid = run_cli(tracegate_bin, "validate", "--config", str(path))
    assert (valid.returncode, valid.stdout.strip()) == (0, "config is valid: 1 pipeline(s), 4 component(s)"), valid.stderr
    printed = run_cli(tracegate_bin, "print-config", "--config", str(path))
    assert printed.returncode == 0, printed.stderr
    effective = yaml.safe_load(printed.stdout)
    assert effective["plugins"] == config["plugins"]
    assert effective["processors"]["redact"]["resource"] is True, "the plugin's defaults are filled in"
    assert effective["exporters"]["ndjson"]["max_file_bytes"] == 64 << 20

    gw = gateways(config)
    provider, memory = recording_provider({"service.name": "checkout", "owner.email": "ops@example.com"})
    tracer = provider.get_tracer("e2e.plugins")
    with tracer.start_as_current_span("pay", attributes={"card": "paid with 4111-1111-1111-1111", "amount": 42}):
        for i in range(4):
            with tracer.start_as_current_span(f"step-{i}", attributes={"user": f"bob{i}@example.com", "note": "plain"}):
                pass
    export_or_fail(HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces"), memory.get_finished_spans())

    lines = wait_until(lambda: (ls := ndjson_lines(out_dir)) and len(ls) >= 5 and ls, DELIVERY_TIMEOUT, "5 NDJSON lines")
    assert len(lines) == 5, lines
    by_name = {line["name"]: line for line in lines}
    assert set(by_name) == {"pay", "step-0", "step-1", "step-2", "step-3"}
    assert by_name["pay"]["attributes"] == {"card": "paid with <redacted>", "amount": 42}
    for i in range(4):
        assert by_name[f"step-{i}"]["attributes"] == {"user": "<redacted>", "note": "plain"}
        assert by_name[f"step-{i}"]["parent_span_id"] == by_name["pay"]["span_id"]
    assert all(line["service"] == "checkout" for line in lines)
    assert all(line["resource"]["owner.email"] == "<redacted>" for line in lines), "resource attributes are redacted too"
    sent = {format(s.context.span_id, "016x") for s in memory.get_finished_spans()}
    assert {line["span_id"] for line in lines} == sent
    # The exporter counts a batch once its export has returned, just after the lines are written.
    wait_until(lambda: gw.metric("tracegate_exporter_sent_spans", exporter="ndjson") == 5, DELIVERY_TIMEOUT,
               "the ndjson exporter to count 5 spans sent")


def test_a_panicking_plugin_costs_its_batch_not_the_gateway(libs, gateways, tmp_path):
    http_port = free_port()
    out = tmp_path / "spans.pb"
    gw = gateways({
        "plugins": [{"path": str(libs["panicky"])}],
        "receivers": otlp_http(http_port),
        "processors": {"panicky": None},
        "exporters": {"file": {"path": str(out), "format": "proto"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["panicky"], "exporters": ["file"]}}},
    })
    url = f"http://127.0.0.1:{http_port}/v1/traces"
    status, _, body = http_post(url, raw_request(3, name="please-panic").SerializeToString(), "application/x-protobuf")
    assert status == 400, f"a panic is a permanent error for the batch: {status} {body!r}"
    assert gw.running
    assert gw.metric("tracegate_receiver_refused_spans", receiver="otlp", transport="http") == 3
    assert "plugin panicked: asked to panic" in gw.stderr()

    status, _, body = http_post(url, raw_request(2, name="calm").SerializeToString(), "application/x-protobuf")
    assert status == 200, body
    wait_until(lambda: span_count(read_proto_file(out)) == 2, DELIVERY_TIMEOUT, "the next batch in the file")
    assert gw.metric("tracegate_receiver_accepted_spans", receiver="otlp", transport="http") == 2


def base_config(plugins: list[dict], processor: str = "batch") -> dict:
    return {
        "plugins": plugins,
        "receivers": otlp_http(free_port()),
        "processors": {processor: None},
        "exporters": {"nop": None},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": [processor], "exporters": ["nop"]}}},
    }


def errors_of(result) -> list[str]:
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}\n{result.stdout}{result.stderr}"
    return [line[len("  error: "):] for line in result.stderr.splitlines() if line.startswith("  error: ")]


def libc_path() -> str:
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and ("/libc.so" in fields[5] or "/libc-" in fields[5]):
            return fields[5]
    pytest.fail("cannot find the C library this Python is linked against in /proc/self/maps", pytrace=False)


def test_load_failures_are_clear_errors_at_start(libs, tmp_path, tracegate_bin, write_config):
    missing = tmp_path / "libnothere.so"
    text = tmp_path / "libnotes.so"
    text.write_text("this is not a shared library\n")
    libc = libc_path()
    second_redact = tmp_path / "libredact_copy.so"
    shutil.copy2(libs["redact"], second_redact)
    cases = [
        ([missing], [f"plugins[0]::path: plugin file {missing} does not exist"]),
        ([tmp_path], [f"plugins[0]::path: plugin path {tmp_path} is a directory, not a shared library; "
                      f"give the library file itself (e.g. {tmp_path}/libmy_plugin.so)"]),
        (["/dev/zero"], ["plugins[0]::path: plugin path /dev/zero is not a shared library: "
                         "it is a character device, not a regular file"]),
        ([libc], [f"plugins[0]::path: {libc} is not a tracegate plugin: it has no `tracegate_plugin_abi_version` symbol "
                  "(a plugin crate exports it with tracegate_plugin_abi::export_plugin! and is built as a cdylib)"]),
        ([libs["wrong_abi"]], [f"plugins[0]::path: {libs['wrong_abi']} was built for tracegate plugin ABI version {ABI_VERSION + 1}, "
                               f"but this tracegate speaks ABI version {ABI_VERSION}; rebuild the plugin against a "
                               f"tracegate-plugin-abi with ABI_VERSION = {ABI_VERSION}"]),
        ([libs["redact"], second_redact], [f'plugins[1]::path: processor type "redact" from {second_redact} is already '
                                           f"provided by {libs['redact']}; list only one of them"]),
    ]
    for paths, expected in cases:
        cfg = write_config(base_config([{"path": str(p)} for p in paths]))
        assert errors_of(run_cli(tracegate_bin, "validate", "--config", str(cfg))) == expected

    # The platform's loader words its own reason; the start of the line is ours.
    cfg = write_config(base_config([{"path": str(text)}]))
    (line,) = errors_of(run_cli(tracegate_bin, "validate", "--config", str(cfg)))
    assert line.startswith(f"plugins[0]::path: {text} is not a loadable shared library: "), line

    # `run` refuses the same way, before binding anything.
    cfg = write_config(base_config([{"path": str(missing)}]))
    run = run_cli(tracegate_bin, "--config", str(cfg))
    assert errors_of(run) == [f"plugins[0]::path: plugin file {missing} does not exist"]

    # The section's shape.
    cfg = write_config(base_config([{"file": "x.so"}]))
    (line,) = errors_of(run_cli(tracegate_bin, "validate", "--config", str(cfg)))
    assert line.startswith("plugins[0]::file: unknown field `file`"), line


def test_the_plugin_validates_its_config_with_the_config_path(libs, tracegate_bin, write_config):
    cfg = base_config([{"path": str(libs["redact"])}, {"path": str(libs["ndjson"])}], processor="redact")
    cfg["processors"]["redact"] = {"patterns": ["ok", "(unclosed"], "mask": "#"}
    cfg["exporters"]["ndjson"] = {"max_file_bytes": 0}
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["ndjson"]
    del cfg["exporters"]["nop"]
    errors = errors_of(run_cli(tracegate_bin, "validate", "--config", str(write_config(cfg))))
    assert len(errors) == 3, errors
    assert errors[0].startswith('processors::redact::patterns[1]: invalid regular expression "(unclosed": '), errors
    assert errors[1:] == [
        "exporters::ndjson::directory: is required, e.g. directory: ./spans",
        "exporters::ndjson::max_file_bytes: must be greater than 0",
    ]

    cfg["processors"]["redact"] = {"patternz": ["x"]}
    cfg["exporters"]["ndjson"] = {"directory": "/tmp/x"}
    errors = errors_of(run_cli(tracegate_bin, "validate", "--config", str(write_config(cfg))))
    assert len(errors) == 1 and errors[0].startswith("processors::redact::patternz: unknown field `patternz`"), errors


def test_a_custom_build_links_a_plugin_crate_as_a_builtin(tmp_path, write_config):
    """examples/ndjson-exporter/examples/custom_build.rs: tracegate's main plus the crate."""
    cargo("build", "-p", "tracegate-example-ndjson-exporter", "--example", "custom_build")
    built = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "examples" / "custom_build"
    binary = Path(shutil.copy2(built, tmp_path / "custom-tracegate"))

    components = run_cli(binary, "components")
    assert components.returncode == 0, components.stderr
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in components.stdout.splitlines()[1:]}
    assert rows[("exporter", "ndjson")] == ["development", "builtin"], components.stdout
    assert rows[("receiver", "otlp")] == ["stable", "builtin"], "the built-in components are all there"

    http_port = free_port()
    out_dir = tmp_path / "ndjson"
    config = {
        "receivers": otlp_http(http_port),
        "exporters": {"ndjson": {"directory": str(out_dir), "file_prefix": "e2e"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["ndjson"]}}},
    }
    bad = run_cli(binary, "validate", "--config", str(write_config({**config, "exporters": {"ndjson": {}}})))
    assert errors_of(bad) == ["exporters::ndjson::directory: is required, e.g. directory: ./spans"]

    gw = Gateway(binary, tmp_path, config, name="custom").start()
    try:
        status, _, body = http_post(f"http://127.0.0.1:{http_port}/v1/traces", raw_request(3, name="linked").SerializeToString(), "application/x-protobuf")
        assert status == 200, body
        lines = wait_until(lambda: (ls := ndjson_lines(out_dir)) and len(ls) >= 3 and ls, DELIVERY_TIMEOUT, "3 NDJSON lines")
        assert sorted(line["name"] for line in lines) == ["linked-0", "linked-1", "linked-2"]
    finally:
        gw.stop()
