# tracegate as a drop-in for the jaegertracing/all-in-one image: same ports, same environment
# variables (SPAN_STORAGE_TYPE, ES_SERVER_URLS, COLLECTOR_ZIPKIN_HOST_PORT, ...; see
# docs/deploy.md). With no arguments it runs the all-in-one the environment describes; give
# `--config /path/config.yaml` (mounted) to run a config file instead.
#
#   docker build -t tracegate .
#   docker run --rm -p 16686:16686 -p 4317:4317 -p 4318:4318 -e COLLECTOR_ZIPKIN_HOST_PORT=:9411 -p 9411:9411 tracegate
#
# Two stages: the workspace is compiled in the Rust image, and only the binary, the default
# sampling strategies and the two shared libraries it links (OpenSSL for Kafka's TLS, CA
# certificates for https endpoints) go into a Debian slim runtime.

ARG RUST_IMAGE=docker.io/library/rust:1-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
# OpenSSL's headers for rdkafka's `ssl` feature (scripts/install-build-deps); a C/C++
# compiler, make and perl build the bundled librdkafka and jemalloc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev g++ make perl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tracegate \
 && install -D -m 0755 target/release/tracegate /out/tracegate

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 tracegate \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/tracegate --no-create-home --shell /usr/sbin/nologin tracegate \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/tracegate
COPY --from=builder /out/tracegate /usr/local/bin/tracegate
COPY deploy/docker/sampling_strategies.json /etc/tracegate/sampling_strategies.json

# As Jaeger's image: strategies served on 5778 (sample everything until a file says otherwise).
ENV SAMPLING_STRATEGIES_FILE=/etc/tracegate/sampling_strategies.json
# The data volume: with SPAN_STORAGE_TYPE=badger and BADGER_EPHEMERAL=false the sled store is
# ./tracegate-data here unless BADGER_DIRECTORY_VALUE says otherwise.
WORKDIR /var/lib/tracegate
VOLUME ["/var/lib/tracegate"]

# OTLP gRPC, OTLP HTTP
EXPOSE 4317 4318
# Jaeger collector: Thrift over HTTP, gRPC (also serves sampling strategies)
EXPOSE 14268 14250
# Zipkin (on when COLLECTOR_ZIPKIN_HOST_PORT=:9411 is set, as in Jaeger)
EXPOSE 9411
# Jaeger agent: compact and binary Thrift over UDP, sampling strategies over HTTP
EXPOSE 6831/udp 6832/udp 5778
# Web UI and query API, query gRPC
EXPOSE 16686 16685
# Health (Jaeger v2's port, used by HEALTHCHECK), health at / on Jaeger v1's admin port,
# Prometheus metrics
EXPOSE 13133 14269 8888

USER 10001:10001
# No curl in a slim image: bash's /dev/tcp asks the health check for its status line.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "p=${TRACEGATE_HEALTH_CHECK_HOST_PORT:-:13133}; exec 3<>/dev/tcp/127.0.0.1/${p##*:} && printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/tracegate"]
CMD []
