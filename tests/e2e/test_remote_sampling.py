"""Remote sampling as a Jaeger-instrumented application sees it: jaeger-client's remote sampler
polls the `remote_sampling` extension (the agent's port 5778) and samples as the strategies file
says, and a changed file is served without a restart.

Also the HTTP shapes (`/sampling` proto-JSON, legacy `/` with integer types, 400 without a
service) and `jaeger.api_v2.SamplingManager/GetSamplingStrategy` over gRPC, on the extension's
own port and on the `jaeger` receiver's gRPC port.
"""

from __future__ import annotations

import json
import os

import grpc

from conftest import free_port, free_udp_port, http_get, wait_until
from jaeger_proto import GET_SAMPLING_STRATEGY, M
from jaeger_util import close_tracer, new_tracer
from trace_view import by_name, jaeger_receiver, receiver_to_file, wait_for_spans

SERVICE = "sampled-app"
STRATEGIES = {
    "default_strategy": {"type": "probabilistic", "param": 0.5},
    "service_strategies": [
        {"service": SERVICE, "type": "probabilistic", "param": 0.0},
        {"service": "limited", "type": "ratelimiting", "param": 7},
    ],
}
# Generous: the file is re-read every second and the client polls every 200 ms.
STRATEGY_TIMEOUT = 15.0


def write_strategies(path, strategies: dict) -> None:
    """Replaces the file in one step, so the reload task never reads half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(strategies))
    os.replace(tmp, path)


def sampling_gateway(gateways, tmp_path):
    strategies = tmp_path / "strategies.json"
    write_strategies(strategies, STRATEGIES)
    ports = {"http": free_port(), "grpc": free_port(), "agent": free_udp_port(), "collector_grpc": free_port()}
    out = tmp_path / "spans.pb"
    extensions = {
        "remote_sampling": {
            "file": {"path": str(strategies), "reload_interval": "1s"},
            "http": {"endpoint": f"127.0.0.1:{ports['http']}"},
            "grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"},
        }
    }
    receiver = jaeger_receiver(thrift_compact=ports["agent"], grpc=ports["collector_grpc"])
    gw = gateways(receiver_to_file("jaeger", receiver, out, extensions=extensions))
    return gw, strategies, ports, out


def get_json(url: str) -> tuple[int, object]:
    status, body = http_get(url)
    return status, (json.loads(body) if status == 200 else body.decode())


def test_jaeger_client_remote_sampler_follows_the_strategies_file(gateways, tmp_path):
    _, strategies, ports, out = sampling_gateway(gateways, tmp_path)
    tracer = new_tracer(
        SERVICE, ports["agent"], sampler={}, sampling_refresh_interval=0.2,
        local_agent={"reporting_host": "127.0.0.1", "reporting_port": ports["agent"], "sampling_port": ports["http"]},
    )
    try:
        # The client starts at its built-in 0.001 and then takes the served probability 0.
        wait_until(lambda: getattr(tracer.sampler.sampler, "rate", None) == 0.0, STRATEGY_TIMEOUT,
                   "jaeger-client to fetch probability 0 from the extension")
        before = []
        for i in range(50):
            with tracer.start_span(f"before-{i}") as span:
                before.append(span.is_sampled())
        assert not any(before), "probability 0: nothing is sampled"

        write_strategies(strategies, {**STRATEGIES, "service_strategies": [
            {"service": SERVICE, "type": "probabilistic", "param": 1.0}]})
        wait_until(lambda: getattr(tracer.sampler.sampler, "rate", None) == 1.0, STRATEGY_TIMEOUT,
                   "jaeger-client to fetch probability 1 after the file changed")
        after = []
        for i in range(10):
            with tracer.start_span(f"after-{i}") as span:
                after.append(span.is_sampled())
        assert all(after), "probability 1: everything is sampled"
    finally:
        close_tracer(tracer)

    spans = by_name(wait_for_spans(out, 10, "the sampled spans"))
    # Spans of one reporter arrive in order, so no unsampled span can still be on its way.
    assert set(spans) == {f"after-{i}" for i in range(10)}
    root = spans["after-0"]
    assert root.attributes["sampler.type"] == ("string", "probabilistic")
    # The served rate as jaeger-client holds it (JSON `1` is a Python int, so an int tag).
    rate = tracer.sampler.sampler.rate
    assert root.attributes["sampler.param"] == (("int" if isinstance(rate, int) else "double"), 1)


def test_http_endpoints_answer_in_jaegers_shapes(gateways, tmp_path):
    _, strategies, ports, _ = sampling_gateway(gateways, tmp_path)
    base = f"http://127.0.0.1:{ports['http']}"
    assert get_json(f"{base}/sampling?service={SERVICE}") == (
        200, {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0}})
    assert get_json(f"{base}/?service={SERVICE}") == (
        200, {"strategyType": 0, "probabilisticSampling": {"samplingRate": 0}})
    assert get_json(f"{base}/sampling?service=limited") == (
        200, {"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 7}})
    assert get_json(f"{base}/?service=limited") == (
        200, {"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 7}})
    # A service the file does not name gets the default strategy.
    assert get_json(f"{base}/sampling?service=someone-else") == (
        200, {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}})
    for path in ("/sampling", "/", "/sampling?service=a&service=b", "/?svc=x"):
        status, body = get_json(base + path)
        assert (status, body) == (400, "'service' parameter must be provided once\n"), path

    write_strategies(strategies, {"default_strategy": {"type": "probabilistic", "param": 0.25}})
    wait_until(lambda: get_json(f"{base}/sampling?service={SERVICE}")[1].get("probabilisticSampling") == {"samplingRate": 0.25},
               STRATEGY_TIMEOUT, "the rewritten file to be served")


def test_grpc_get_sampling_strategy_on_both_ports(gateways, tmp_path):
    _, _, ports, _ = sampling_gateway(gateways, tmp_path)
    Params, Response = M["SamplingStrategyParameters"], M["SamplingStrategyResponse"]
    for port in (ports["grpc"], ports["collector_grpc"]):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                GET_SAMPLING_STRATEGY,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=Response.FromString,
            )
            probabilistic = call(Params(serviceName="someone-else"), timeout=10)
            assert (probabilistic.strategyType, probabilistic.probabilisticSampling.samplingRate) == (0, 0.5), port
            limited = call(Params(serviceName="limited"), timeout=10)
            assert (limited.strategyType, limited.rateLimitingSampling.maxTracesPerSecond) == (1, 7), port
