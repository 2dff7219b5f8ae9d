"""Every file in config-examples/ is a config a user may copy: each must pass `validate`
without warnings, and `print-config` must render it."""

from __future__ import annotations

import pytest

from conftest import CONFIG_EXAMPLES, run_cli

EXAMPLES = sorted(p for p in CONFIG_EXAMPLES.glob("*.y*ml"))


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"otlp-forward.yaml", "bench-nop.yaml", "debug.yaml", "jaeger-agent.yaml", "jaeger-collector.yaml"} <= names, names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(tracegate_bin, example):
    result = run_cli(tracegate_bin, "validate", "--config", str(example))
    assert result.returncode == 0, f"{example.name} is invalid:\n{result.stderr}"
    assert result.stdout.startswith("config is valid"), result.stdout
    assert "warning:" not in result.stderr, f"{example.name} has warnings:\n{result.stderr}"
    printed = run_cli(tracegate_bin, "print-config", "--config", str(example))
    assert printed.returncode == 0, printed.stderr
    assert "pipelines:" in printed.stdout
