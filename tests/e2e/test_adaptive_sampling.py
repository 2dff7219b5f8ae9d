"""Adaptive sampling as a Jaeger-instrumented application sees it.

jaeger-client's remote sampler polls the gateway's `remote_sampling` extension (adaptive mode)
every 200 ms and reports its sampled spans over UDP to the `jaeger` receiver, whose pipeline
runs the `adaptive_sampling` processor. The application starts root spans of one operation at
a steady ~RATE per second. With `calculation_interval` scaled down to 1s, the gateway raises the
operation's probability from `initial_sampling_probability` (at most doubling per interval) and
then holds the sampled rate near `target_samples_per_second`: measured at the client over the
last seconds, within 20% of the target.
"""

from __future__ import annotations

import json
import statistics
import time

from conftest import free_port, free_udp_port, http_get, wait_until
from jaeger_util import close_tracer, new_tracer
from trace_view import jaeger_receiver

SERVICE = "adaptive-app"
OPERATION = "GET /checkout"
RATE = 400.0  # root spans started per second
TARGET = 20.0  # sampled traces per second wanted
INITIAL = 0.01  # RATE * INITIAL = 4/s at first: five times too few
CONVERGE_SECONDS = 10.0
MEASURE_SECONDS = 10.0


def adaptive_gateway(gateways, tmp_path):
    http_port, agent_port = free_port(), free_udp_port()
    config = {
        "receivers": {"jaeger": jaeger_receiver(thrift_compact=agent_port)},
        "processors": {"adaptive_sampling": None},
        "exporters": {"file": {"path": str(tmp_path / "spans.pb"), "format": "proto"}},
        "extensions": {
            "remote_sampling": {
                "adaptive": {
                    "target_samples_per_second": TARGET,
                    "initial_sampling_probability": INITIAL,
                    "calculation_interval": "1s",
                    "calculation_delay": "0s",
                    "delta_tolerance": 0.1,
                },
                "http": {"endpoint": f"127.0.0.1:{http_port}"},
            }
        },
        "service": {
            "extensions": ["remote_sampling"],
            "pipelines": {
                "traces": {"receivers": ["jaeger"], "processors": ["adaptive_sampling"], "exporters": ["file"]}
            },
        },
    }
    return gateways(config), http_port, agent_port


def served_probability(http_port: int) -> float | None:
    status, body = http_get(f"http://127.0.0.1:{http_port}/sampling?service={SERVICE}")
    assert status == 200, body
    strategy = json.loads(body)
    assert strategy["strategyType"] == "PROBABILISTIC"
    ops = strategy["operationSampling"]
    assert ops["defaultSamplingProbability"] == INITIAL
    for op in ops["perOperationStrategies"]:
        if op["operation"] == OPERATION:
            return op["probabilisticSampling"]["samplingRate"]
    return None


def emit(tracer, seconds: float, probe=None) -> tuple[int, int, list]:
    """Starts root spans at RATE per second for `seconds`; returns how many were started, how
    many of them were sampled, and what `probe()` answered each half second, if given."""
    sampled = 0
    start = time.monotonic()
    n = 0
    probed = []
    next_probe = start
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            return n, sampled, probed
        if probe is not None and now >= next_probe:
            probed.append(probe())
            next_probe += 0.5
        # Paced against the clock, so a slow loop catches up instead of drifting.
        due = int((now - start) * RATE)
        while n < due:
            with tracer.start_span(OPERATION) as span:
                sampled += span.is_sampled()
            n += 1
        time.sleep(0.002)


def test_sampled_rate_converges_to_the_target(gateways, tmp_path):
    gw, http_port, agent_port = adaptive_gateway(gateways, tmp_path)
    assert served_probability(http_port) is None, "no operation is known before any traffic"
    tracer = new_tracer(
        SERVICE, agent_port, sampler={}, sampling_refresh_interval=0.2,
        local_agent={"reporting_host": "127.0.0.1", "reporting_port": agent_port, "sampling_port": http_port},
    )
    try:
        # The client starts with its built-in 0.001 until its first poll answers INITIAL.
        wait_until(lambda: getattr(tracer.sampler.sampler, "default_sampling_probability", None) == INITIAL,
                   15.0, "jaeger-client to take the adaptive strategy from the gateway")
        emit(tracer, CONVERGE_SECONDS)
        learned = served_probability(http_port)
        assert learned is not None and learned > INITIAL, f"the probability rose from {INITIAL}: {learned}"
        started, sampled, served = emit(tracer, MEASURE_SECONDS, probe=lambda: served_probability(http_port))
        rate = sampled / MEASURE_SECONDS
    finally:
        close_tracer(tracer)
    started_rate = started / MEASURE_SECONDS
    # Each calculation divides by one second's count of sampled traces (about 20, so +-22% from
    # Poisson noise alone, as in Jaeger with one calculation bucket): the served probability
    # wanders around its mark from one interval to the next, with rare spikes (a second with
    # few samples nearly doubles it). What holds is its median.
    probability = statistics.median(served)
    print(f"sampled {rate:.1f}/s of {started_rate:.0f}/s (target {TARGET}/s), served probability "
          f"{probability:.4f} median, {min(served):.4f}..{max(served):.4f}")
    assert abs(rate - TARGET) / TARGET <= 0.2, f"sampled {rate:.1f}/s, target {TARGET}/s (probability {probability})"
    # The probability that yields the target at the rate the application really ran at.
    ideal = TARGET / started_rate
    assert abs(probability - ideal) / ideal <= 0.3, f"served {probability:.4f} median of {served}, ideal {ideal:.4f}"
    assert gw.metric("tracegate_processor_incoming_spans", processor="adaptive_sampling") > 0
