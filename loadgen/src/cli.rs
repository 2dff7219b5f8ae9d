//! Command-line flags. Kept apart from the run logic so tests can build a [`RunConfig`] without
//! going through argv.

use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (`TraceService/Export`), default port 4317.
    Grpc,
    /// OTLP/HTTP protobuf (`POST /v1/traces`), default port 4318.
    Http,
    /// Jaeger agent: `Agent.emitBatch` in compact Thrift over UDP, default port 6831.
    JaegerUdpCompact,
    /// Jaeger collector: a binary-Thrift `Batch` to `POST /api/traces`, default port 14268.
    JaegerHttp,
    /// Zipkin v2 JSON list to `POST /api/v2/spans`, default port 9411.
    ZipkinJson,
}

impl Protocol {
    /// Where the protocol's receiver listens by default, on this host.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "127.0.0.1:4317",
            Protocol::Http => "127.0.0.1:4318",
            Protocol::JaegerUdpCompact => "127.0.0.1:6831",
            Protocol::JaegerHttp => "127.0.0.1:14268",
            Protocol::ZipkinJson => "127.0.0.1:9411",
        }
    }

    /// UDP sends are never acknowledged: "sent" means handed to the kernel.
    pub fn acknowledged(self) -> bool {
        self != Protocol::JaegerUdpCompact
    }
}

/// The largest payload of a UDP datagram over IPv4 (65535 minus the IP and UDP headers).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// What the generated data looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// One service, fixed-size traces, `--attributes` attributes per span.
    Default,
    /// `--services` services calling each other, production-like distributions (README).
    Realistic,
}

/// Services of `--shape realistic` when `--services` is not given.
pub const DEFAULT_SERVICES: usize = 50;
/// Largest `--services`: names, operations and resources are built up front.
pub const MAX_SERVICES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
}

/// Pushes OTLP traces at a tracegate (or any OTLP endpoint) and reports throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "tracegate-loadgen", version)]
pub struct Args {
    /// Where to send: host:port, or a full URL (http://host:port[/path]). Default: the
    /// protocol's usual port on 127.0.0.1 (4317, 4318, 6831, 14268, 9411).
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    pub protocol: Protocol,
    /// Target spans per second; without it, send as fast as the server answers.
    #[arg(long)]
    pub rate: Option<u64>,
    /// How long to send (Go-style: 500ms, 30s, 5m, 1h). Default 30s unless --total-spans is set.
    #[arg(long, value_parser = parse_duration, conflicts_with = "total_spans")]
    pub duration: Option<Duration>,
    /// Spread the spans' times over this much of the past (Go-style: 24h): each request is
    /// moved back by a whole number of minutes, so a store fills with a day of data in minutes
    /// (what a 24 h Monitor or search query reads). Off by default: times are the clock's.
    #[arg(long, value_parser = parse_duration)]
    pub backdate: Option<Duration>,
    /// Send exactly this many spans, then stop.
    #[arg(long)]
    pub total_spans: Option<u64>,
    /// Concurrent in-flight requests, each over its own connection.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Data shape: `default` (one service, fixed traces) or `realistic` (many services,
    /// production-like distributions; see the README).
    #[arg(long, value_enum, default_value_t = Shape::Default)]
    pub shape: Shape,
    /// `--shape realistic`: how many services call each other (default 50).
    #[arg(long)]
    pub services: Option<usize>,
    /// Seed of the generated data (services, operations, ids, values); random if not given.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Default shape: spans per trace.
    #[arg(long, default_value_t = 10)]
    pub spans_per_trace: usize,
    /// Default shape: attributes per span (semantic-convention keys, mixed types).
    #[arg(long, default_value_t = 10)]
    pub attributes: usize,
    /// Default shape: pad one attribute so each span is about this many bytes encoded.
    #[arg(long)]
    pub span_size: Option<usize>,
    /// Spans per request (for UDP: at most this many per datagram).
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
    /// UDP only: largest datagram to send; spans are packed until the next would exceed it.
    #[arg(long, default_value_t = 65_000)]
    pub max_packet_size: usize,
    /// The gateway's Prometheus endpoint (e.g. http://127.0.0.1:8888/metrics): scraped before
    /// and after the run to print spans accepted vs sent and the gateway's drop counters.
    #[arg(long)]
    pub metrics_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Print the final summary as one JSON object (for scripts).
    #[arg(long)]
    pub json_summary: bool,
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAfter {
    Duration(Duration),
    Spans(u64),
}

/// Validated settings of one run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub endpoint: String,
    pub protocol: Protocol,
    pub shape: Shape,
    /// Services of the realistic shape.
    pub services: usize,
    /// Seed of the generated data (drawn at random when `--seed` is absent).
    pub seed: u64,
    pub rate: Option<u64>,
    pub stop: StopAfter,
    /// `--backdate`: requests' times are spread over this much of the past.
    pub backdate: Option<Duration>,
    pub connections: usize,
    pub spans_per_trace: usize,
    pub attributes: usize,
    pub span_size: Option<usize>,
    pub batch_spans: usize,
    pub max_packet_size: usize,
    pub compression: Compression,
    pub metrics_url: Option<String>,
    /// Print live progress on stderr (off in tests).
    pub progress: bool,
}

impl Args {
    /// Checks what clap cannot and settles defaults.
    pub fn into_config(self) -> Result<RunConfig, String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.spans_per_trace == 0 {
            return Err("--spans-per-trace must be at least 1".into());
        }
        if self.batch_spans == 0 {
            return Err("--batch-spans must be at least 1".into());
        }
        if self.rate == Some(0) {
            return Err("--rate must be at least 1 span/s (omit it to send flat out)".into());
        }
        if self.max_packet_size == 0 || self.max_packet_size > MAX_UDP_PAYLOAD {
            return Err(format!(
                "--max-packet-size must be between 1 and {MAX_UDP_PAYLOAD} bytes"
            ));
        }
        if self.protocol == Protocol::JaegerUdpCompact && self.compression != Compression::None {
            return Err("--compression does not apply to jaeger-udp-compact (datagrams are never compressed)".into());
        }
        if self.shape == Shape::Default && self.services.is_some() {
            return Err("--services applies to --shape realistic".into());
        }
        let services = self.services.unwrap_or(DEFAULT_SERVICES);
        if !(2..=MAX_SERVICES).contains(&services) {
            return Err(format!(
                "--services must be between 2 and {MAX_SERVICES} (calls cross services)"
            ));
        }
        if self.shape == Shape::Realistic && self.span_size.is_some() {
            return Err(
                "--span-size applies to --shape default (realistic spans keep their natural size)"
                    .into(),
            );
        }
        if self.span_size.is_some() && self.attributes == 0 {
            return Err("--span-size pads an attribute, so it needs --attributes 1 or more".into());
        }
        let stop = match (self.total_spans, self.duration) {
            (Some(0), _) => return Err("--total-spans must be at least 1".into()),
            (Some(n), _) => StopAfter::Spans(n),
            (None, Some(d)) if d.is_zero() => return Err("--duration must be positive".into()),
            (None, Some(d)) => StopAfter::Duration(d),
            (None, None) => StopAfter::Duration(Duration::from_secs(30)),
        };
        Ok(RunConfig {
            endpoint: self
                .endpoint
                .unwrap_or_else(|| self.protocol.default_endpoint().to_owned()),
            protocol: self.protocol,
            shape: self.shape,
            services,
            seed: self.seed.unwrap_or_else(rand::random),
            rate: self.rate,
            stop,
            backdate: self.backdate,
            connections: self.connections,
            spans_per_trace: self.spans_per_trace,
            attributes: self.attributes,
            span_size: self.span_size,
            batch_spans: self.batch_spans,
            max_packet_size: self.max_packet_size,
            compression: self.compression,
            metrics_url: self.metrics_url,
            progress: true,
        })
    }
}

/// Parses Go-style durations ("1h2m3s", "250ms", "1.5s"); a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs, s);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += value * scale;
        rest = tail;
    }
    secs_to_duration(total, s)
}

fn secs_to_duration(secs: f64, original: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {original:?}"))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
