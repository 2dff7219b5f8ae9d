"""Shared fixtures for the end-to-end tests: the real `tracegate` binary, started from a YAML
config on free loopback ports, driven by real OpenTelemetry clients.

Why a helper class rather than ad-hoc subprocess calls: every test needs the same three
guarantees, and getting any of them wrong makes the suite flaky or hides bugs:
  * a gateway is only used once its ports accept connections (no sleeps);
  * every gateway a test starts is stopped by SIGTERM and must exit 0 (graceful shutdown is
    part of what is tested), with its stderr shown when anything goes wrong;
  * no two gateways fight over a port (each gets free ports, metrics included).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_EXAMPLES = REPO / "config-examples"

# Generous deadlines: they bound a wait for a condition, they do not measure speed. A slow,
# loaded 2-core CI machine must never fail a correct build.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
CLI_TIMEOUT = 60.0


def _binary_path() -> Path:
    raw = os.environ.get("TRACEGATE_BIN")
    if not raw:
        pytest.fail(
            "TRACEGATE_BIN is not set: build the binary with `cargo build` and run "
            "TRACEGATE_BIN=target/debug/tracegate pytest tests/e2e, or run scripts/test",
            pytrace=False,
        )
    path = Path(raw)
    if not path.is_absolute():
        path = REPO / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"TRACEGATE_BIN={raw} is not an executable file: build with cargo build "
            "or run scripts/test",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def tracegate_bin() -> Path:
    return _binary_path()


# Ports already handed out by this process. The kernel may give the same free port to two
# binds in a row once the first socket is closed, and a config that listens twice on one port
# fails to start (it happened: the query API's gRPC port and the metrics address).
_HANDED_OUT: set[tuple[int, int]] = set()


def _unused_port(kind: int) -> int:
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if (kind, port) not in _HANDED_OUT:
            _HANDED_OUT.add((kind, port))
            return port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never one this process
    handed out before."""
    return _unused_port(socket.SOCK_STREAM)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now, never one this process
    handed out before."""
    return _unused_port(socket.SOCK_DGRAM)


def udp_bound(port: int) -> bool:
    """Whether some socket is bound to UDP `port`, read from the kernel's tables rather than by
    binding the port ourselves: a probe bind could steal the port from a gateway still starting."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Polls `condition` until it returns something truthy; fails naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET returning (status, body) for any status, including 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post(url: str, body: bytes, content_type: str, timeout: float = 10.0,
              headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def run_cli(binary: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs one tracegate command to completion, capturing text output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=full_env,
        cwd=cwd,
    )


# Receiver protocols that listen on UDP (the Jaeger agent's ports); every other endpoint is TCP.
UDP_PROTOCOLS = frozenset({"thrift_compact", "thrift_binary"})


def _listen_ports(config: dict) -> list[tuple[str, int]]:
    """Every (transport, port) the gateway will listen on, read from the config it is given."""
    ports: list[tuple[str, int]] = []

    def port_of(endpoint: object, transport: str = "tcp") -> None:
        if isinstance(endpoint, str) and ":" in endpoint:
            tail = endpoint.rsplit(":", 1)[1]
            if tail.isdigit() and int(tail) != 0:
                ports.append((transport, int(tail)))

    for cfg in (config.get("receivers") or {}).values():
        for name, proto in ((cfg or {}).get("protocols") or {}).items():
            port_of((proto or {}).get("endpoint"), "udp" if name in UDP_PROTOCOLS else "tcp")
        port_of((cfg or {}).get("endpoint"))
    service = config.get("service") or {}
    for name in service.get("extensions") or []:
        ext = (config.get("extensions") or {}).get(name) or {}
        port_of(ext.get("endpoint"))
        # Extensions with several servers (remote_sampling: http and grpc).
        for server in ("http", "grpc"):
            if isinstance(ext.get(server), dict):
                port_of(ext[server].get("endpoint"))
    port_of(((service.get("telemetry") or {}).get("metrics") or {}).get("address"))
    return ports


class Gateway:
    """One running `tracegate` process.

    The config is a dict (written as YAML). A metrics address on a free port is added when the
    config names none, so gateways never collide on 8888; a short `shutdown_timeout` keeps
    teardown quick when an exporter can never drain.
    """

    def __init__(self, binary: Path, workdir: Path, config: dict, name: str = "gateway", env: dict | None = None):
        self.binary = binary
        self.name = name
        self.workdir = workdir
        self.config = config
        self.env = env
        service = config.setdefault("service", {})
        telemetry = service.setdefault("telemetry", {})
        metrics = telemetry.setdefault("metrics", {})
        metrics.setdefault("address", f"127.0.0.1:{free_port()}")
        self.metrics_port = int(str(metrics["address"]).rsplit(":", 1)[1])
        self.config_path = workdir / f"{name}.yaml"
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.stdout_path = workdir / f"{name}.stdout.log"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "Gateway":
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        full_env = dict(os.environ)
        full_env.setdefault("RUST_LOG", "info")
        if self.env:
            full_env.update(self.env)
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config_path)],
            stdout=self._stdout,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env=full_env,
        )
        for transport, port in _listen_ports(self.config):
            self._wait_port(port, transport)
        return self

    def _wait_port(self, port: int, transport: str = "tcp") -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        ready = udp_bound if transport == "udp" else accepts
        while not ready(port):
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.proc.returncode} before port {port} was open\n"
                    f"{self.describe()}",
                    pytrace=False,
                )
            if time.monotonic() >= deadline:
                pytest.fail(f"{self.name}: {transport} port {port} not open after {READY_TIMEOUT:.0f}s\n{self.describe()}", pytrace=False)
            time.sleep(0.05)

    def terminate(self) -> None:
        """Sends SIGTERM without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not stop within {timeout:.0f}s of SIGTERM\n{self.describe()}", pytrace=False)
        finally:
            self._stdout.close()
            self._stderr.close()
        return self.returncode

    def stop(self) -> None:
        """SIGTERM, wait, and require the graceful exit code 0."""
        if self.proc is None or self.returncode is not None:
            return
        self.terminate()
        code = self.wait()
        assert code == 0, f"{self.name} exited with {code} after SIGTERM\n{self.describe()}"

    def kill(self) -> int:
        """SIGKILL, as a crash or `kill -9` would: waits and returns the exit code (-9). The
        gateway then counts as stopped, so teardown does not require it to have exited 0."""
        assert self.proc is not None
        self.proc.kill()
        return self.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def describe(self) -> str:
        return (
            f"--- {self.name} config ({self.config_path}) ---\n{self.config_path.read_text()}"
            f"--- {self.name} stderr ---\n{self.stderr()[-20000:]}"
        )

    # -- self-metrics ---------------------------------------------------------------------------
    def metrics_text(self) -> str:
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert status == 200, f"/metrics answered {status}"
        return body.decode()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0 when the series does not exist yet)."""
        return parse_metric(self.metrics_text(), name, labels)


def parse_metric(text: str, name: str, labels: dict) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series == name and not labels:
            return float(value)
        if not series.startswith(name + "{"):
            continue
        got = {}
        for part in series[len(name) + 1 : -1].split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                got[k] = v.strip('"')
        if all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


@pytest.fixture
def gateways(tracegate_bin: Path, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Starts gateways: `gateways(config, name=...)`. Each is stopped at teardown with SIGTERM
    and must exit 0."""
    started: list[Gateway] = []

    def start(config: dict, name: str = "gateway", env: dict | None = None) -> Gateway:
        gw = Gateway(tracegate_bin, tmp_path, config, name=f"{name}", env=env)
        started.append(gw)
        return gw.start()

    yield start
    problems = []
    # Upstream first (reverse start order is usually downstream-last), so data in flight can land.
    for gw in reversed(started):
        try:
            gw.stop()
        except AssertionError as e:
            problems.append(str(e))
        except pytest.fail.Exception as e:  # type: ignore[attr-defined]
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Writes YAML text or a dict to a file in tmp and returns its path."""
    counter = iter(range(1_000_000))

    def write(content: str | dict, name: str | None = None) -> Path:
        path = tmp_path / (name or f"config-{next(counter)}.yaml")
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
