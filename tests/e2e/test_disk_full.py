"""The sled store on a disk that fills up, as an OTLP client meets it.

The store lives on a small tmpfs this test mounts (root or CAP_SYS_ADMIN needed: without them
the test fails and says so, it never skips). A file written beside the store takes the room
until the store is short of its `min_free_mib` reserve. Then:
  * OTLP/HTTP answers 503 with `Retry-After`, OTLP/gRPC answers UNAVAILABLE: both retryable;
  * `tracegate_exporter_sled_disk_full{exporter="sled"}` is 1, the refused spans are counted;
  * every trace stored before still reads back whole through the query API;
  * a client that keeps retrying is refused until the file is deleted, then acknowledged,
    with no restart, and its trace reads back;
  * the gateway logs the episode once when it starts and once when it ends, however many
    requests were refused in between, and stops cleanly.
"""

from __future__ import annotations

import os
import random
import string
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from conftest import http_post, wait_until
from query_util import QueryPorts, store_config, trace_or_none, wait_for_trace

MIB = 1 << 20
DISK_MIB = 64
RESERVE_MIB = 8


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A DISK_MIB tmpfs, unmounted at teardown (requested before `gateways`, so that it is
    torn down after the gateway stopped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"this test mounts a {DISK_MIB} MiB tmpfs to fill it, which needs root or "
                    f"CAP_SYS_ADMIN: mount said {done.stderr.strip()!r}", pytrace=False)
    try:
        yield mount
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def available(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_leaving(disk: Path, leave: int, name: str = "filler") -> Path:
    """A file beside the store that leaves about `leave` bytes available."""
    filler = disk / name
    size = max(0, available(disk) - leave)
    with open(filler, "wb") as f:
        chunk = b"\x5a" * MIB
        while size > 0:
            f.write(chunk[: min(size, MIB)])
            size -= min(size, MIB)
        f.flush()
        os.fsync(f.fileno())
    return filler


def request(spans: int, payload: int, seed: int) -> tuple[ExportTraceServiceRequest, str]:
    """One trace of `spans` spans starting now, each with `payload` characters of random text
    (so that the disk fills in few requests); returns it and its Jaeger trace id."""
    rng = random.Random(seed)
    trace_id = rng.randbytes(16)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "disk-full"
    ss = rs.scope_spans.add()
    now = time.time_ns()
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = rng.randbytes(8)
        span.name = f"fill-{i}"
        span.kind = 2
        span.start_time_unix_nano = now + i * 1000
        span.end_time_unix_nano = now + i * 1000 + 500_000
        a = span.attributes.add()
        a.key = "payload"
        a.value.string_value = "".join(rng.choices(string.ascii_letters + string.digits, k=payload))
    return req, trace_id.hex()


def test_a_full_disk_refuses_retryably_and_ingest_resumes_when_space_returns(small_disk: Path, gateways):
    ports = QueryPorts()
    config = store_config(small_disk / "store", ports, sled={"min_free_mib": RESERVE_MIB})
    gw = gateways(config)
    http_url = f"http://127.0.0.1:{ports.otlp_http}/v1/traces"
    proto = "application/x-protobuf"

    stored: dict[str, int] = {}
    for n in range(10):
        req, tid = request(5, 100, seed=n)
        status, _, body = http_post(http_url, req.SerializeToString(), proto)
        assert status == 200, f"HTTP {status}: {body[:300]!r}\n{gw.describe()}"
        stored[tid] = 5

    filler = fill_leaving(small_disk, RESERVE_MIB * MIB + 8 * MIB)
    refused = None
    for n in range(100, 600):
        req, tid = request(64, 4096, seed=n)
        status, headers, body = http_post(http_url, req.SerializeToString(), proto)
        if status == 200:
            stored[tid] = 64
            continue
        refused = (status, headers, body)
        break
    assert refused is not None, f"never refused with {available(small_disk) // MIB} MiB left\n{gw.describe()}"
    # The store deletes its write-ahead log's segments once their blocks are flushed (an idle
    # store within a second or so), which frees megabytes and may end this first episode by
    # itself. Let that happen, then take the room away again, so that what follows is one
    # episode that only the test can end.
    wal = small_disk / "store" / "wal"
    wait_until(lambda: sum(f.stat().st_size for f in wal.iterdir()) < MIB, 30, "the write-ahead log cut back")
    top_up = fill_leaving(small_disk, RESERVE_MIB * MIB // 2, name="top-up")
    status, headers, body = http_post(http_url, request(64, 4096, seed=700)[0].SerializeToString(), proto)
    refused = (status, headers, body)
    status, headers, body = refused
    assert status == 503, f"a full disk is a retryable refusal, got HTTP {status}: {body[:300]!r}"
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after", "0")
    assert int(retry_after) >= 1, headers
    assert available(small_disk) > 0, "the store stopped before the disk was full"

    channel = grpc.insecure_channel(f"127.0.0.1:{ports.otlp_grpc}")
    try:
        with pytest.raises(grpc.RpcError) as refusal:
            TraceServiceStub(channel).Export(request(8, 4096, seed=7000)[0], timeout=10)
        assert refusal.value.code() == grpc.StatusCode.UNAVAILABLE, refusal.value
    finally:
        channel.close()
    assert gw.metric("tracegate_exporter_sled_disk_full", exporter="sled") == 1
    assert gw.metric("tracegate_exporter_sled_disk_full_refused_spans", exporter="sled") >= 64 + 8

    for tid, spans in stored.items():
        t = trace_or_none(ports.query, tid)
        assert t is not None and len(t["spans"]) == spans, f"trace {tid} stored before the disk filled"

    # A client that keeps retrying, as the SDKs do on 503: refused until the room returns.
    late, late_id = request(16, 1024, seed=9000)
    outcome: dict = {"refusals": 0}

    def retrying_client() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, answer = http_post(http_url, late.SerializeToString(), proto)
            if status == 200:
                outcome["ok"] = True
                return
            if status != 503:
                outcome["error"] = f"HTTP {status}: {answer[:300]!r}"
                return
            outcome["refusals"] += 1
            time.sleep(0.05)

    client = threading.Thread(target=retrying_client)
    client.start()
    wait_until(lambda: outcome["refusals"] >= 3 or not client.is_alive(), 30, "three refusals of the retrying client")
    filler.unlink()
    top_up.unlink()
    client.join()
    assert outcome.get("ok"), f"the retrying client was not acknowledged once space returned: {outcome}\n{gw.describe()}"
    assert outcome["refusals"] >= 3, outcome
    wait_for_trace(ports.query, late_id, 16)
    for tid, spans in stored.items():
        t = trace_or_none(ports.query, tid)
        assert t is not None and len(t["spans"]) == spans, f"trace {tid} after the episode"
    assert gw.metric("tracegate_exporter_sled_disk_full", exporter="sled") == 0

    gw.stop()
    log = gw.stderr()
    starts = [line for line in log.splitlines() if "disk full:" in line]
    ends = [line for line in log.splitlines() if "disk space is back" in line]
    # One line at each end of an episode: one episode, or two when the log's cleanup ended the
    # first (see above).
    assert len(starts) in (1, 2), f"one line when an episode starts, got {len(starts)}:\n{log[-5000:]}"
    assert len(ends) == len(starts), f"one line when each ends, got {len(ends)}:\n{log[-5000:]}"
    assert "min_free_mib" in starts[0], starts[0]
