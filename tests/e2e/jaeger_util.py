"""Driving the real `jaeger-client` (4.8.0) from the tests, and what its spans must become in
OTLP by the translation rules (the Collector's `pkg/translator/jaeger`).

The expectations are derived from what the client itself recorded (its spans keep the Thrift
tags and logs it sends), then the rules are applied: `span.kind` -> kind, `error=true` and
`otel.status_code` -> status, the `event` field names an event, the process becomes the resource
with `hostname` -> `host.name` and `jaeger.version` -> `opencensus.exporterversion`. Tests add
explicit spot checks on top, so a mistake here cannot hide a mistake in the gateway.
"""

from __future__ import annotations

import asyncio
import time

import jaeger_client.utils
from jaeger_client import Config
from jaeger_client.thrift_gen.jaeger import ttypes

from conftest import wait_until

# What each Thrift tag type must become in OTLP.
TAG_TYPES = {
    ttypes.TagType.STRING: ("string", "vStr"),
    ttypes.TagType.BOOL: ("bool", "vBool"),
    ttypes.TagType.LONG: ("int", "vLong"),
    ttypes.TagType.DOUBLE: ("double", "vDouble"),
    ttypes.TagType.BINARY: ("bytes", "vBinary"),
}


def _no_private_range_probe() -> None:
    """jaeger-client's last resort for its `ip` process tag "connects" a UDP socket to
    10.255.255.255 to read the chosen source address. That sends nothing, but tests here keep
    every socket on loopback, so the probe answers loopback instead."""
    jaeger_client.utils.get_local_ip_by_socket = lambda: "127.0.0.1"


_no_private_range_probe()


def _current_event_loop() -> None:
    """jaeger-client (through tornado) makes its Futures on the calling thread's current event
    loop. `asyncio.run` (the mcp client's `anyio.run` in test_mcp.py) leaves the main thread
    marked as having none, and `get_event_loop` then raises instead of making one; so a test
    that runs after it gets a fresh loop here."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def new_tracer(service: str, agent_port: int, **config):
    """A jaeger-client tracer reporting compact Thrift over UDP to 127.0.0.1:`agent_port`,
    flushing every 50 ms. Extra keys go into the client's config as they are."""
    full = {
        "sampler": {"type": "const", "param": 1},
        "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": agent_port},
        "reporter_flush_interval": 0.05,
        "logging": False,
    }
    full.update(config)
    _current_event_loop()
    return Config(config=full, service_name=service, validate=True).new_tracer()


def close_tracer(tracer, timeout: float = 20.0) -> None:
    """Flushes what the reporter holds, then stops the client's IO loop thread."""
    _current_event_loop()
    if tracer.throttler is not None:
        tracer.throttler.close()
    flushed = tracer.close()
    wait_until(flushed.done, timeout, "jaeger-client to flush its spans")
    thread_loop = getattr(getattr(tracer.reporter, "_channel", None), "_thread_loop", None)
    if thread_loop is not None:
        # ThreadLoop.stop() calls the loop's stop() from this thread, which asyncio ignores, and
        # then joins forever; stopping from inside the loop works.
        thread_loop._io_loop.add_callback(thread_loop._io_loop.stop)
        thread_loop._thread.join(timeout)


def tag_value(tag) -> tuple[str, object]:
    kind, attr = TAG_TYPES[tag.vType]
    return (kind, getattr(tag, attr))


def expected_attributes(span) -> dict:
    """A finished jaeger-client span's tags as OTLP attributes, after the rules remove the
    tags that became kind or status."""
    out = {}
    tags = {t.key: t for t in span.tags}
    for key, tag in tags.items():
        if key in ("span.kind", "otel.status_code", "otel.status_description"):
            continue
        if key == "error" and tag.vType == ttypes.TagType.BOOL and tag.vBool:
            continue
        out[key] = tag_value(tag)
    return out


def expected_events(span) -> list[tuple[str, int, dict]]:
    """(name, time in ns, attributes) per log; the `event` field names the event."""
    out = []
    for log in span.logs:
        attrs = {f.key: tag_value(f) for f in log.fields}
        name = attrs.pop("event", ("string", ""))[1]
        out.append((name, log.timestamp * 1000, attrs))
    return out


def expected_resource(tracer) -> dict:
    """The process (service name + the tracer's tags) as the resource the rules make."""
    out = {"service.name": ("string", tracer.service_name)}
    for key, raw in tracer.tags.items():
        tag = jaeger_client.thrift.make_tag(key, raw, 1024, 4096)
        out[key] = tag_value(tag)
    if "hostname" in out and "host.name" not in out:
        out["host.name"] = out.pop("hostname")
    if "jaeger.version" in out:
        version = out.pop("jaeger.version")
        out.setdefault("opencensus.exporterversion", ("string", f"Jaeger-{version[1]}"))
    return out


def micros(ts: float) -> int:
    return jaeger_client.thrift.timestamp_micros(ts)


def now_micros() -> int:
    return micros(time.time())
