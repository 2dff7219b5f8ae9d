//! The requests (or datagrams) a run sends, generated and encoded once before the clock
//! starts, and the rule that maps a send ticket to one of them.
//!
//! Every protocol starts from the same generated OTLP spans (see `generator`) and translates
//! them into its own model: OTLP requests of `--batch-spans`, a Jaeger `Batch` or a Zipkin
//! list of the same size for HTTP, and for UDP a stream of spans packed into datagrams of at
//! most `--max-packet-size` bytes. The pool is rotated, and each pass over it ("round")
//! patches a fresh mask into every trace id (see `encoded`), so trace ids never repeat (except
//! with HTTP gzip, whose bodies are compressed once). Within a round all entries share the
//! mask, so a trace split across two datagrams keeps its id in both.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tracegate_translator_jaeger::thrift::Batch;
use tracegate_translator_jaeger::{encode_batch_binary, encode_emit_batch_compact};

use crate::cli::{Compression, Protocol, RunConfig, StopAfter};
use crate::encoded::EncodedBatch;
use crate::generator::{encode_otlp, generate_request, truncate_request, SpanShape};
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
    /// Trace ids are patched per send unless the bytes are already compressed.
    patch: bool,
}

impl Pool {
    pub fn build(cfg: &RunConfig, batch_spans: usize) -> Result<Self, String> {
        let mut b = Builder::new(cfg);
        let pool_spans = match cfg.stop {
            StopAfter::Spans(n) => n.min(POOL_BATCHES * batch_spans as u64),
            StopAfter::Duration(_) => POOL_BATCHES * batch_spans as u64,
        };
        let shape = SpanShape {
            spans_per_trace: cfg.spans_per_trace,
            attributes: cfg.attributes,
            span_size: cfg.span_size,
        };
        let mut packer: Option<jaeger::Packer> = None;
        let mut generated = 0u64;
        while generated < pool_spans && (b.bytes < POOL_BYTES || b.encoded.is_empty()) {
            let n = (pool_spans - generated).min(batch_spans as u64) as usize;
            let req = generate_request(&shape, n, &mut b.rng);
            generated += n as u64;
            let chunk = match cfg.protocol {
                Protocol::Grpc | Protocol::Http => Chunk::Otlp(req),
                Protocol::JaegerHttp => Chunk::Jaeger(Batch {
                    process: jaeger::process(&req),
                    spans: b.jaeger_spans(&req, encode_batch_binary),
                    ..Batch::default()
                }),
                Protocol::ZipkinJson => Chunk::Zipkin(b.zipkin_spans(&req)),
                Protocol::JaegerUdpCompact => {
                    let spans = b.jaeger_spans(&req, encode_emit_batch_compact);
                    let p = packer.get_or_insert_with(|| {
                        jaeger::Packer::new(jaeger::process(&req), cfg.max_packet_size, batch_spans)
                    });
                    spans.into_iter().try_for_each(|s| p.push(s))?;
                    for datagram in p.take_full() {
                        b.add(Chunk::Jaeger(datagram))?;
                    }
                    continue;
                }
            };
            b.add(chunk)?;
        }
        for datagram in packer.map(jaeger::Packer::finish).unwrap_or_default() {
            b.add(Chunk::Jaeger(datagram))?;
        }
        if let Some(target) = cfg.span_size {
            let spans: u64 = b.encoded.iter().map(|e| e.spans).sum();
            let natural = b.bytes / spans.max(1) as usize;
            if cfg.progress && !b.precompress && natural > target + target / 10 {
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
            patch: !b.precompress,
        })
    }

    /// The body for ticket `k` and its span count, or `None` once the span budget is spent.
    pub fn body(&self, k: u64) -> Option<(Bytes, u64)> {
        let round = k / self.batches.len().max(1) as u64;
        let batch = match self.full_batches {
            Some(full) if k == full => self.tail.as_ref()?,
            Some(full) if k > full => return None,
            _ => self
                .batches
                .get((k % self.batches.len().max(1) as u64) as usize)?,
        };
        let body = if self.patch {
            batch.patched(round)
        } else {
            batch.bytes.clone()
        };
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
    /// HTTP bodies are compressed once here; gRPC leaves compression to tonic.
    precompress: bool,
}

impl<'a> Builder<'a> {
    fn new(cfg: &'a RunConfig) -> Self {
        let precompress = cfg.compression == Compression::Gzip && cfg.protocol != Protocol::Grpc;
        let keep_sources = matches!(cfg.stop, StopAfter::Spans(_));
        let rng = StdRng::from_rng(&mut rand::rng());
        Self {
            cfg,
            rng,
            encoded: Vec::new(),
            sources: Vec::new(),
            keep_sources,
            bytes: 0,
            precompress,
        }
    }

    fn jaeger_spans(
        &mut self,
        req: &ExportTraceServiceRequest,
        encode: jaeger::Encoder,
    ) -> Vec<tracegate_translator_jaeger::thrift::Span> {
        let spans = jaeger::spans(req);
        match self.cfg.span_size {
            Some(target) => spans
                .into_iter()
                .map(|s| jaeger::pad(s, target, encode, &mut self.rng))
                .collect(),
            None => spans,
        }
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
        let encoded = match chunk {
            Chunk::Otlp(req) => encode_otlp(req),
            Chunk::Jaeger(batch) if self.cfg.protocol == Protocol::JaegerUdpCompact => {
                jaeger::encode_datagram(batch, self.cfg.max_packet_size)
            }
            Chunk::Jaeger(batch) => jaeger::encode_body(batch),
            Chunk::Zipkin(spans) => zipkin::encode(spans),
        }?;
        if self.precompress {
            return encoded.gzipped().map_err(|e| e.to_string());
        }
        Ok(encoded)
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
mod tests {
    use super::*;

    fn pool_of(sizes: &[u64]) -> Vec<EncodedBatch> {
        sizes
            .iter()
            .map(|&n| {
                EncodedBatch::locate(vec![0], n, crate::encoded::IdEncoding::Raw, [])
                    .expect("no ids")
            })
            .collect()
    }

    #[test]
    fn totals_are_cut_exactly_from_uneven_pools() {
        // Equal batches: 40 321 spans of 1000 from a pool of 16 is 40 full and a 321 tail of
        // the pool's ninth batch.
        assert_eq!(
            split_total(40_321, &pool_of(&[1000; 16])),
            (40, Some((8, 321)))
        );
        // Datagrams of 5, 3 and 4 spans: 12 per round; 29 = 2 rounds + 5 spans.
        assert_eq!(split_total(29, &pool_of(&[5, 3, 4])), (7, None));
        assert_eq!(split_total(30, &pool_of(&[5, 3, 4])), (7, Some((1, 1))));
        assert_eq!(split_total(12, &pool_of(&[5, 3, 4])), (3, None));
        assert_eq!(split_total(4, &pool_of(&[5, 3, 4])), (0, Some((0, 4))));
    }
}
