//! The requests (or datagrams) a run sends, generated and encoded once before the clock
//! starts, and the rule that maps a send ticket to one of them.
//!
//! Every protocol starts from the same generated OTLP spans (see `generator`) and translates
//! them into its own model: OTLP requests of `--batch-spans`, a Jaeger `Batch` or a Zipkin
//! list of the same size for HTTP, and for UDP a stream of spans packed into datagrams of at
//! most `--max-packet-size` bytes. The pool is rotated, and each pass over it ("round")
//! patches a fresh mask into every trace id (see `encoded`), so trace ids never repeat.
//! Within a round all entries share the mask, so a trace split across two datagrams keeps its
//! id in both. Every send also shifts every time by the time since the pool was generated
//! (see `restamp`), so spans carry the time they are sent, not the time the pool was built.
//!
//! HTTP bodies with `--compression gzip` are compressed at each send, after patching: bytes
//! cannot be patched inside a gzip stream, and compressing once would freeze ids and times.
//! gRPC leaves compression to tonic, which also compresses each request.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tracegate_translator_jaeger::thrift::Batch;
use tracegate_translator_jaeger::{encode_batch_binary, encode_emit_batch_compact};

use crate::cli::{Compression, Protocol, RunConfig, Shape, StopAfter};
use crate::encoded::{gzip, EncodedBatch};
use crate::generator::{generate_request, SpanShape};
use crate::otlp::{encode_otlp, truncate_request};
use crate::packer::Packers;
use crate::realistic::Realistic;
use crate::restamp::unix_now_ns;
use crate::zipkin::ZipkinSpan;
use crate::{jaeger, zipkin};

/// Spans kept in memory are this many times `--batch-spans`; with id patching they only add
/// variety in attribute values, so a handful of batches is enough.
const POOL_BATCHES: u64 = 16;
/// Upper bound on the pool's memory, for large `--span-size`.
const POOL_BYTES: usize = 256 << 20;

/// Generated spans in one protocol's model, as one request or datagram carries them.
enum Chunk {
    Otlp(ExportTraceServiceRequest),
    Jaeger(Batch),
    Zipkin(Vec<ZipkinSpan>),
}

/// Where requests come from: the default shape or the realistic one.
enum Source {
    Default(SpanShape),
    Realistic(Box<Realistic>),
}

impl Source {
    fn new(cfg: &RunConfig) -> Self {
        match cfg.shape {
            Shape::Default => Source::Default(SpanShape {
                spans_per_trace: cfg.spans_per_trace,
                attributes: cfg.attributes,
                span_size: cfg.span_size,
            }),
            Shape::Realistic => Source::Realistic(Box::new(Realistic::new(cfg.services, cfg.seed))),
        }
    }

    fn request(&self, spans: usize, now_ns: u64, rng: &mut StdRng) -> ExportTraceServiceRequest {
        match self {
            Source::Default(shape) => generate_request(shape, spans, now_ns, rng),
            Source::Realistic(r) => r.request(spans, now_ns, rng),
        }
    }
}

impl Chunk {
    fn truncate(&mut self, n: usize) {
        match self {
            Chunk::Otlp(req) => truncate_request(req, n),
            Chunk::Jaeger(batch) => batch.spans.truncate(n),
            Chunk::Zipkin(spans) => spans.truncate(n),
        }
    }
}

pub struct Pool {
    batches: Vec<EncodedBatch>,
    /// A smaller last batch so `--total-spans` is met exactly.
    tail: Option<EncodedBatch>,
    /// Tickets below this get full batches; `None` for a timed run.
    full_batches: Option<u64>,
    /// HTTP gzip: bodies are compressed at each send, after patching.
    gzip: bool,
    /// The "now" the pool's spans were generated at; sends shift times by the time since.
    epoch_ns: u64,
    /// `--backdate` in whole minutes (0: off).
    backdate_minutes: u64,
}

impl Pool {
    pub fn build(cfg: &RunConfig, batch_spans: usize) -> Result<Self, String> {
        let mut b = Builder::new(cfg);
        let pool_spans = match cfg.stop {
            StopAfter::Spans(n) => n.min(POOL_BATCHES * batch_spans as u64),
            StopAfter::Duration(_) => POOL_BATCHES * batch_spans as u64,
        };
        let source = Source::new(cfg);
        let epoch_ns = unix_now_ns();
        let mut packers = Packers::new(cfg.max_packet_size, batch_spans);
        let mut generated = 0u64;
        while generated < pool_spans && (b.bytes < POOL_BYTES || b.encoded.is_empty()) {
            let n = (pool_spans - generated).min(batch_spans as u64) as usize;
            let req = source.request(n, epoch_ns, &mut b.rng);
            generated += n as u64;
            match cfg.protocol {
                Protocol::Grpc | Protocol::Http => b.add(Chunk::Otlp(req))?,
                Protocol::JaegerHttp => {
                    for batch in jaeger::batches(&req) {
                        let batch = b.pad_jaeger(batch, encode_batch_binary);
                        b.add(Chunk::Jaeger(batch))?;
                    }
                }
                Protocol::ZipkinJson => {
                    let spans = b.zipkin_spans(&req);
                    b.add(Chunk::Zipkin(spans))?;
                }
                Protocol::JaegerUdpCompact => {
                    for batch in jaeger::batches(&req) {
                        packers.push(b.pad_jaeger(batch, encode_emit_batch_compact))?;
                    }
                    for datagram in packers.take_full() {
                        b.add(Chunk::Jaeger(datagram))?;
                    }
                }
            }
        }
        for datagram in packers.finish() {
            b.add(Chunk::Jaeger(datagram))?;
        }
        if let Some(target) = cfg.span_size {
            let spans: u64 = b.encoded.iter().map(|e| e.spans).sum();
            let natural = b.bytes / spans.max(1) as usize;
            if cfg.progress && natural > target + target / 10 {
                eprintln!("note: spans are ~{natural} bytes encoded even with no padding, above --span-size {target}");
            }
        }
        let (full_batches, tail) = match cfg.stop {
            StopAfter::Spans(n) => {
                let (full, tail) = split_total(n, &b.encoded);
                let tail = match tail {
                    Some((index, spans)) => {
                        let mut chunk = b.sources.swap_remove(index);
                        chunk.truncate(spans);
                        Some(b.encode(&chunk)?)
                    }
                    None => None,
                };
                (Some(full), tail)
            }
            StopAfter::Duration(_) => (None, None),
        };
        Ok(Self {
            batches: b.encoded,
            tail,
            full_batches,
            gzip: cfg.compression == Compression::Gzip && cfg.protocol != Protocol::Grpc,
            epoch_ns,
            backdate_minutes: cfg.backdate.map_or(0, |d| d.as_secs() / 60),
        })
    }

    /// The body for ticket `k` and its span count, or `None` once the span budget is spent.
    pub fn body(&self, k: u64) -> Option<(Bytes, u64)> {
        // `--backdate`: request k goes back a pseudo-random whole number of minutes (a stride
        // prime to any window), so every minute of the window gets its share.
        let back_minutes = if self.backdate_minutes > 0 { k.wrapping_mul(7919) % self.backdate_minutes } else { 0 };
        self.body_at(k, unix_now_ns().saturating_sub(back_minutes * 60_000_000_000))
    }

    /// [`Pool::body`] as if sent at `now_ns`: times move by `now_ns` minus the pool's epoch.
    pub fn body_at(&self, k: u64, now_ns: u64) -> Option<(Bytes, u64)> {
        let round = k / self.batches.len().max(1) as u64;
        let batch = match self.full_batches {
            Some(full) if k == full => self.tail.as_ref()?,
            Some(full) if k > full => return None,
            _ => self
                .batches
                .get((k % self.batches.len().max(1) as u64) as usize)?,
        };
        let shift = if now_ns >= self.epoch_ns {
            i64::try_from(now_ns - self.epoch_ns).unwrap_or(i64::MAX)
        } else {
            -i64::try_from(self.epoch_ns - now_ns).unwrap_or(i64::MAX)
        };
        let body = batch.patched(round, shift);
        if self.gzip {
            // Compressing into memory cannot fail; were it to, the empty body is refused by
            // the server and counted as an error.
            return Some((gzip(&body).unwrap_or_default(), batch.spans));
        }
        Some((body, batch.spans))
    }

    /// Average spans per request or datagram, what the pacer's burst is measured in.
    pub fn mean_spans(&self) -> f64 {
        let spans: u64 = self.batches.iter().map(|b| b.spans).sum();
        spans as f64 / self.batches.len().max(1) as f64
    }
}

/// How `total` spans are cut from a rotating pool: the number of full entries to send, and
/// the pool entry whose first `n` spans make the tail (entries differ in size for UDP).
fn split_total(total: u64, pool: &[EncodedBatch]) -> (u64, Option<(usize, usize)>) {
    let per_round: u64 = pool.iter().map(|b| b.spans).sum();
    if per_round == 0 {
        return (0, None);
    }
    let (rounds, mut rest) = (total / per_round, total % per_round);
    let mut index = 0;
    while let Some(b) = pool.get(index).filter(|b| b.spans <= rest) {
        rest -= b.spans;
        index += 1;
    }
    let full = rounds * pool.len() as u64 + index as u64;
    (full, (rest > 0).then_some((index, rest as usize)))
}

struct Builder<'a> {
    cfg: &'a RunConfig,
    rng: StdRng,
    encoded: Vec<EncodedBatch>,
    /// The unencoded chunks, kept only when `--total-spans` may need one cut short.
    sources: Vec<Chunk>,
    keep_sources: bool,
    bytes: usize,
}

impl<'a> Builder<'a> {
    fn new(cfg: &'a RunConfig) -> Self {
        let keep_sources = matches!(cfg.stop, StopAfter::Spans(_));
        // A stream apart from the one the realistic topology is drawn from.
        let rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed_da7a_5eed_da7a);
        Self {
            cfg,
            rng,
            encoded: Vec::new(),
            sources: Vec::new(),
            keep_sources,
            bytes: 0,
        }
    }

    fn pad_jaeger(&mut self, mut batch: Batch, encode: jaeger::Encoder) -> Batch {
        if let Some(target) = self.cfg.span_size {
            batch.spans = std::mem::take(&mut batch.spans)
                .into_iter()
                .map(|s| jaeger::pad(s, target, encode, &mut self.rng))
                .collect();
        }
        batch
    }

    fn zipkin_spans(&mut self, req: &ExportTraceServiceRequest) -> Vec<ZipkinSpan> {
        let mut spans = zipkin::spans(req);
        if let Some(target) = self.cfg.span_size {
            spans
                .iter_mut()
                .for_each(|s| zipkin::pad(s, target, &mut self.rng));
        }
        spans
    }

    fn encode(&self, chunk: &Chunk) -> Result<EncodedBatch, String> {
        match chunk {
            Chunk::Otlp(req) => encode_otlp(req),
            Chunk::Jaeger(batch) if self.cfg.protocol == Protocol::JaegerUdpCompact => {
                jaeger::encode_datagram(batch, self.cfg.max_packet_size)
            }
            Chunk::Jaeger(batch) => jaeger::encode_body(batch),
            Chunk::Zipkin(spans) => zipkin::encode(spans),
        }
    }

    fn add(&mut self, chunk: Chunk) -> Result<(), String> {
        let encoded = self.encode(&chunk)?;
        self.bytes += encoded.bytes.len();
        self.encoded.push(encoded);
        if self.keep_sources {
            self.sources.push(chunk);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "restamp_tests.rs"]
mod restamp_tests;

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
