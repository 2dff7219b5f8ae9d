"""A real Kafka broker for the kafka end-to-end tests: tansu 0.6.0, an Apache-Kafka-compatible
broker from the crate registry, which `scripts/install-tansu` builds into the cache and
`scripts/test` passes here as TANSU_BIN.

Why a real broker and not a fake: the receiver's whole promise (commit only what the pipeline
took, replay the rest after a crash) lives in the consumer-group protocol, which only a broker
exercises. Each test gets its own broker on a free port, with in-memory storage, and stops it.
A missing broker is a failure that says how to get it, never a skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import READY_TIMEOUT, STOP_TIMEOUT, accepts, free_port

TOPIC_TIMEOUT = 60.0


def tansu_binary() -> Path:
    raw = os.environ.get("TANSU_BIN")
    if not raw:
        pytest.fail(
            "TANSU_BIN is not set: the kafka tests need the tansu broker. Run scripts/test, or "
            "TANSU_BIN=$(scripts/install-tansu) pytest tests/e2e/test_kafka.py",
            pytrace=False,
        )
    path = Path(raw)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"TANSU_BIN={raw} is not an executable file: run scripts/install-tansu", pytrace=False)
    return path


class Broker:
    """One tansu broker on 127.0.0.1, with its log kept for failure messages."""

    def __init__(self, binary: Path, workdir: Path, name: str = "tansu", storage: str = "memory://tansu/",
                 args: tuple[str, ...] = (), port: int | None = None):
        self.binary = binary
        self.name = name
        self.port = port or free_port()
        self.args = args
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"tcp://{self.address}"
        self.storage = storage
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "broker", "--listener-url", self.url, "--advertised-listener-url", self.url,
             "--storage-engine", self.storage, *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not accepts(self.port):
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode} before listening\n{self.describe()}", pytrace=False)
            if time.monotonic() >= deadline:
                pytest.fail(f"{self.name} not listening on {self.address} after {READY_TIMEOUT:.0f}s\n{self.describe()}", pytrace=False)
            time.sleep(0.05)
        return self

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Creates a topic; retried while a just-started broker is not ready for it yet."""
        deadline = time.monotonic() + TOPIC_TIMEOUT
        while True:
            done = subprocess.run(
                [str(self.binary), "topic", "create", name, "--broker", self.url, "--partitions", str(partitions)],
                capture_output=True, text=True, timeout=TOPIC_TIMEOUT,
            )
            if done.returncode == 0:
                return
            if time.monotonic() >= deadline:
                pytest.fail(f"cannot create topic {name}: exit {done.returncode}\n{done.stdout}{done.stderr}\n{self.describe()}", pytrace=False)
            time.sleep(0.5)

    def create_user(self, name: str, password: str, mechanism: str = "scram512") -> None:
        """A SASL/SCRAM user (tansu keeps users in its storage)."""
        done = subprocess.run(
            [str(self.binary), "user", "create", "--broker", self.url, "--mechanism", mechanism, name, password],
            capture_output=True, text=True, timeout=TOPIC_TIMEOUT,
        )
        assert done.returncode == 0, f"cannot create user {name}: {done.stdout}{done.stderr}\n{self.describe()}"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None

    def describe(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        return f"--- {self.name} log ({self.log_path}) ---\n{text[-8000:]}"


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Starts tansu brokers: `brokers(name=..., storage=..., args=(...), port=...)`; each is
    stopped at teardown."""
    binary = tansu_binary()
    started: list[Broker] = []

    def start(name: str = "tansu", storage: str = "memory://tansu/", args: tuple[str, ...] = (),
              port: int | None = None) -> Broker:
        broker = Broker(binary, tmp_path, name=name, storage=storage, args=args, port=port)
        started.append(broker)
        return broker.start()

    yield start
    for broker in reversed(started):
        broker.stop()
