"""What a user sees for each kind of config mistake: `tracegate validate` exits 1 and prints
one exact line per problem, with the path to the key; warnings do not fail. Also the config
sources: `${env:...}` expansion, repeated `--config` merging and `--set`, seen through
`print-config`, and that `run` with a bad config binds nothing."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from conftest import free_port, port_is_free, run_cli

# A valid config every case starts from; each case breaks one thing.
BASE = {
    "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"}}}},
    "processors": {"batch": {"timeout": "1s"}},
    "exporters": {"nop": None},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["nop"]}}},
}


def base() -> dict:
    return yaml.safe_load(yaml.safe_dump(BASE))


def validate(tracegate_bin, write_config, config):
    return run_cli(tracegate_bin, "validate", "--config", str(write_config(config)))


def problem_lines(stderr: str, kind: str = "error") -> list[str]:
    prefix = f"  {kind}: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def assert_invalid(result, *expected_errors: str) -> None:
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}\n{result.stdout}{result.stderr}"
    assert result.stdout == "", "an invalid config must print nothing on stdout"
    assert result.stderr.splitlines()[0] == f"tracegate: invalid configuration ({len(expected_errors)} error(s)):"
    assert problem_lines(result.stderr) == list(expected_errors), result.stderr


def test_base_config_is_valid(tracegate_bin, write_config):
    result = validate(tracegate_bin, write_config, base())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config is valid: 1 pipeline(s), 3 component(s)"
    assert result.stderr == ""


def builtin_types(tracegate_bin, kind: str) -> list[str]:
    out = run_cli(tracegate_bin, "components").stdout.splitlines()[1:]
    return sorted(line.split()[1] for line in out if line.split()[0] == kind)


def test_unknown_component_type_lists_the_valid_types(tracegate_bin, write_config):
    cfg = base()
    cfg["exporters"]["kafkaa"] = {"brokers": ["x:9092"]}
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["kafkaa"]
    valid = ", ".join(builtin_types(tracegate_bin, "exporter"))
    assert "otlp" in valid and "nop" in valid
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        f'exporters::kafkaa: unknown exporter type "kafkaa"; valid types: {valid}',
    )


def test_pipeline_naming_an_unconfigured_component(tracegate_bin, write_config):
    cfg = base()
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["nop", "kafka/x"]
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        'service::pipelines::traces: exporter "kafka/x" is not configured',
    )


def test_unknown_field_names_its_path_and_the_expected_fields(tracegate_bin, write_config):
    cfg = base()
    cfg["processors"]["batch"] = {"send_batch_sizee": 5}
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        "processors::batch::send_batch_sizee: unknown field `send_batch_sizee`, expected one of "
        "`send_batch_size`, `send_batch_max_size`, `timeout`, `metadata_keys`, `wait_for_result`",
    )


def test_unknown_field_of_a_listener_names_its_path(tracegate_bin, write_config):
    # A listener's config flattens the shared listener limits (read_timeout, max_connections,
    # ...) into it, and serde then reports an unknown key at the listener without the list of
    # expected keys.
    cfg = base()
    cfg["receivers"]["otlp"]["protocols"]["grpc"] = {"endpointt": "127.0.0.1:4317"}
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        "receivers::otlp::protocols::grpc: unknown field `endpointt`",
    )


def test_wrong_type(tracegate_bin, write_config):
    cfg = base()
    cfg["processors"]["batch"]["send_batch_size"] = "many"
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 1
    (line,) = problem_lines(result.stderr)
    # The integer type's name is the implementation's (usize, u32, ...); the rest is fixed.
    assert line.startswith('processors::batch::send_batch_size: invalid type: string "many", expected '), line


def test_bad_duration(tracegate_bin, write_config):
    cfg = base()
    cfg["processors"]["batch"]["timeout"] = "5x"
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        'processors::batch::timeout: invalid duration "5x": unknown unit "x" (use ns, us, ms, s, m or h)',
    )


def test_bad_engine_owned_exporter_setting(tracegate_bin, write_config):
    cfg = base()
    cfg["exporters"]["nop"] = {"sending_queue": {"when_full": "sometimes"}, "retry_on_failure": {"max_interval": "5x"}}
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 1
    lines = problem_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("exporters::nop::"), result.stderr


def test_bad_listen_endpoint(tracegate_bin, write_config):
    cfg = base()
    cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "localhost"
    assert_invalid(
        validate(tracegate_bin, write_config, cfg),
        'receivers::otlp::protocols::grpc::endpoint: invalid endpoint "localhost": missing port '
        '(expected host:port, e.g. "0.0.0.0:4317")',
    )


def test_bad_exporter_endpoint(tracegate_bin, write_config):
    cfg = base()
    cfg["exporters"] = {"otlp": {"endpoint": "collector", "tls": {"insecure": True}}}
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["otlp"]
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 1
    (line,) = problem_lines(result.stderr)
    assert line.startswith('exporters::otlp::endpoint: invalid endpoint "collector": missing port'), line


def test_empty_pipeline(tracegate_bin, write_config):
    cfg = base()
    cfg["service"]["pipelines"]["traces"] = None
    result = validate(tracegate_bin, write_config, cfg)
    assert_invalid(
        result,
        "service::pipelines::traces: must have at least one receiver",
        "service::pipelines::traces: must have at least one exporter",
    )


def test_no_pipelines(tracegate_bin, write_config):
    cfg = base()
    cfg["service"]["pipelines"] = {}
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 1
    assert problem_lines(result.stderr)[0].startswith("service::pipelines: at least one pipeline is required"), result.stderr


def test_unused_component_is_a_warning_not_an_error(tracegate_bin, write_config):
    cfg = base()
    cfg["exporters"]["debug"] = {"verbosity": "detailed"}
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config is valid"), result.stdout
    assert problem_lines(result.stderr, "warning") == [
        "exporters::debug: configured but not used by any pipeline; it will not run"
    ]
    assert problem_lines(result.stderr, "error") == []


def test_yaml_syntax_error_has_file_line_and_column(tracegate_bin, write_config):
    path = write_config(
        textwrap.dedent(
            """\
            receivers:
              otlp:
                protocols: [
            exporters:
              nop: {}
            """
        ),
        name="broken.yaml",
    )
    result = run_cli(tracegate_bin, "validate", "--config", str(path))
    assert result.returncode == 1
    (line,) = problem_lines(result.stderr)
    assert line.startswith(f"{path}:5:6: YAML syntax error: "), line


def test_every_problem_is_reported_at_once(tracegate_bin, write_config):
    cfg = base()
    cfg["processors"]["batch"]["timeout"] = "5x"
    cfg["exporters"]["otlp"] = {"endpoint": "", "tls": {"insecure": True}}
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["nop", "otlp", "kafka/x"]
    result = validate(tracegate_bin, write_config, cfg)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "tracegate: invalid configuration (3 error(s)):", result.stderr
    lines = problem_lines(result.stderr)
    assert len(lines) == 3, result.stderr
    assert lines[0] == 'processors::batch::timeout: invalid duration "5x": unknown unit "x" (use ns, us, ms, s, m or h)'
    assert lines[1].startswith("exporters::otlp::endpoint: an endpoint is required"), lines[1]
    assert lines[2] == 'service::pipelines::traces: exporter "kafka/x" is not configured'


def test_run_with_a_bad_config_binds_nothing(tracegate_bin, write_config):
    grpc_port, metrics_port = free_port(), free_port()
    cfg = base()
    cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    cfg["service"]["telemetry"] = {"metrics": {"address": f"127.0.0.1:{metrics_port}"}}
    cfg["processors"]["batch"]["timeout"] = "5x"
    result = run_cli(tracegate_bin, "--config", str(write_config(cfg)))
    assert result.returncode != 0
    assert 'invalid duration "5x"' in result.stderr
    assert port_is_free(grpc_port) and port_is_free(metrics_port)


def test_run_with_a_taken_port_fails_and_names_it(tracegate_bin, write_config):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = base()
        cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = f"127.0.0.1:{port}"
        cfg["service"]["telemetry"] = {"metrics": {"address": f"127.0.0.1:{free_port()}"}}
        result = run_cli(tracegate_bin, "--config", str(write_config(cfg)))
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr, result.stderr


def test_missing_config_file(tracegate_bin, tmp_path):
    result = run_cli(tracegate_bin, "validate", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    (line,) = problem_lines(result.stderr)
    assert line.startswith(f"{tmp_path / 'nope.yaml'}: cannot read config file: "), line


# ---- config sources, seen through print-config ------------------------------------------------

def print_config(tracegate_bin, *args, env=None) -> dict:
    result = run_cli(tracegate_bin, "print-config", *args, env=env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_env_references_expand_with_defaults_and_types(tracegate_bin, write_config):
    text = textwrap.dedent(
        """\
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: "127.0.0.1:${env:TG_E2E_PORT}"
                max_recv_msg_size_mib: ${env:TG_E2E_MIB}
        processors:
          batch:
            timeout: ${env:TG_E2E_UNSET_TIMEOUT:-750ms}
            send_batch_size: ${env:TG_E2E_EMPTY:-64}
        exporters:
          nop:
        service:
          pipelines:
            traces: { receivers: [otlp], processors: [batch], exporters: [nop] }
        """
    )
    env = {"TG_E2E_PORT": "5999", "TG_E2E_MIB": "16", "TG_E2E_EMPTY": ""}
    cfg = print_config(tracegate_bin, "--config", str(write_config(text)), env=env)
    grpc = cfg["receivers"]["otlp"]["protocols"]["grpc"]
    assert grpc["endpoint"] == "127.0.0.1:5999"
    assert grpc["max_recv_msg_size_mib"] == 16
    assert cfg["processors"]["batch"]["timeout"] == "750ms"
    assert cfg["processors"]["batch"]["send_batch_size"] == 64


def test_unset_env_without_default_warns_with_its_path(tracegate_bin, write_config):
    cfg = base()
    cfg["exporters"] = {"otlp": {"endpoint": "127.0.0.1:4317", "tls": {"insecure": True},
                                 "headers": {"x-tenant": "${env:TG_E2E_SURELY_UNSET}"}}}
    cfg["service"]["pipelines"]["traces"]["exporters"] = ["otlp"]
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(cfg)))
    assert result.returncode == 0, result.stderr
    assert problem_lines(result.stderr, "warning") == [
        "exporters::otlp::headers::x-tenant: environment variable TG_E2E_SURELY_UNSET is not set; using an empty value"
    ]


def test_repeated_config_merges_maps_and_replaces_lists(tracegate_bin, write_config):
    first = base()
    first["receivers"]["otlp"]["protocols"]["http"] = {"endpoint": "127.0.0.1:4318"}
    first["exporters"]["debug"] = None
    first["service"]["pipelines"]["traces"]["exporters"] = ["nop", "debug"]
    second = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:5317"}}}},
        "exporters": {"debug": {"verbosity": "normal"}},
        "service": {"pipelines": {"traces": {"exporters": ["debug"]}}},
    }
    result = run_cli(tracegate_bin, "print-config", "--config", str(write_config(first)), "--config", str(write_config(second)))
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    protocols = cfg["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:5317"  # overridden by the second file
    assert protocols["http"]["endpoint"] == "127.0.0.1:4318"  # kept from the first: maps merge
    assert cfg["exporters"]["debug"]["verbosity"] == "normal"
    pipeline = cfg["service"]["pipelines"]["traces"]
    assert pipeline["exporters"] == ["debug"]  # lists replace
    assert pipeline["processors"] == ["batch"]  # untouched keys stay
    assert "exporters::nop: configured but not used by any pipeline" in result.stderr


def test_set_overrides_one_key(tracegate_bin, write_config):
    path = str(write_config(base()))
    cfg = print_config(
        tracegate_bin, "--config", path,
        "--set", "processors.batch.timeout=2s",
        "--set", "processors.batch.send_batch_size=10",
        "--set", "receivers::otlp::protocols::grpc::endpoint=127.0.0.1:6317",
        "--set", "service.pipelines.traces.processors=[]",
    )
    assert cfg["processors"]["batch"]["timeout"] == "2s"
    assert cfg["processors"]["batch"]["send_batch_size"] == 10
    assert cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:6317"
    assert cfg["service"]["pipelines"]["traces"]["processors"] == []


def test_print_config_fills_in_defaults(tracegate_bin, write_config):
    cfg = print_config(tracegate_bin, "--config", str(write_config(base())))
    assert cfg["processors"]["batch"]["send_batch_size"] == 8192
    nop = cfg["exporters"]["nop"]
    assert nop["sending_queue"] == {"enabled": True, "num_consumers": 10, "sizer": "bytes",
                                    "queue_size": 64 * 1024 * 1024, "when_full": "refuse",
                                    "block_timeout": "5s"}
    assert nop["retry_on_failure"]["initial_interval"] == "5s"
    assert nop["timeout"] == "5s"
    assert cfg["service"]["telemetry"]["metrics"]["address"] == "127.0.0.1:8888"


@pytest.mark.parametrize("bad_set", ["novalue", "a..b=1"])
def test_bad_set_is_an_error(tracegate_bin, write_config, bad_set):
    result = run_cli(tracegate_bin, "validate", "--config", str(write_config(base())), "--set", bad_set)
    assert result.returncode == 1
    (line,) = problem_lines(result.stderr)
    assert line.startswith("--set: "), line
