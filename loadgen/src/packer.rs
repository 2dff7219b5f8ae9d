//! Packing Jaeger spans into `Agent.emitBatch` datagrams for `jaeger-udp-compact`.
//!
//! A UDP datagram cannot be split by the network layer for us (and Jaeger's agent refuses
//! anything above its `max_packet_size`), so [`Packer`] measures each span's encoded size and
//! fills a datagram until the next span would not fit. A datagram carries one `Process`, so
//! [`Packers`] keeps one packer per service, as each service's Jaeger client fills its own.

use std::collections::BTreeMap;

use tracegate_translator_jaeger::encode_emit_batch_compact;
use tracegate_translator_jaeger::thrift::{Batch, Process, Span};

use crate::encoded::varint;
use crate::jaeger::span_len;

/// Fills `Agent.emitBatch` datagrams in order: a span goes into the current datagram unless
/// that would exceed `max_packet` bytes or `max_spans` spans.
pub struct Packer {
    process: Process,
    max_packet: usize,
    max_spans: usize,
    /// The datagram with no spans.
    base: usize,
    current: Vec<Span>,
    current_len: usize,
    done: Vec<Batch>,
}

impl Packer {
    pub fn new(process: Process, max_packet: usize, max_spans: usize) -> Self {
        let base = encode_emit_batch_compact(&Batch {
            process: process.clone(),
            ..Batch::default()
        })
        .len();
        Self {
            process,
            max_packet,
            max_spans: max_spans.max(1),
            base,
            current: Vec::new(),
            current_len: 0,
            done: Vec::new(),
        }
    }

    /// A compact list header holds up to 14 elements in its one byte; beyond, the count
    /// follows as a varint.
    fn datagram_len(&self, spans: usize, spans_len: usize) -> usize {
        let header_extra = if spans < 15 {
            0
        } else {
            varint(spans as u64).len()
        };
        self.base + spans_len + header_extra
    }

    pub fn push(&mut self, span: Span) -> Result<(), String> {
        let (span, len) = span_len(span, encode_emit_batch_compact);
        let alone = self.datagram_len(1, len);
        if alone > self.max_packet {
            return Err(format!(
                "a span encodes to {len} bytes, so even a datagram of one span is {alone} bytes, above --max-packet-size {}; lower --span-size or --attributes",
                self.max_packet
            ));
        }
        let n = self.current.len();
        if n > 0
            && (n >= self.max_spans
                || self.datagram_len(n + 1, self.current_len + len) > self.max_packet)
        {
            self.flush();
        }
        self.current.push(span);
        self.current_len += len;
        Ok(())
    }

    /// The datagrams completed so far (all but the one being filled).
    pub fn take_full(&mut self) -> Vec<Batch> {
        std::mem::take(&mut self.done)
    }

    fn flush(&mut self) {
        let spans = std::mem::take(&mut self.current);
        self.current_len = 0;
        self.done.push(Batch {
            process: self.process.clone(),
            spans,
            ..Batch::default()
        });
    }

    pub fn finish(mut self) -> Vec<Batch> {
        if !self.current.is_empty() {
            self.flush();
        }
        self.done
    }
}

/// One [`Packer`] per service (by service name), filled in the order spans come.
pub struct Packers {
    max_packet: usize,
    max_spans: usize,
    by_service: BTreeMap<String, Packer>,
}

impl Packers {
    pub fn new(max_packet: usize, max_spans: usize) -> Self {
        Self {
            max_packet,
            max_spans,
            by_service: BTreeMap::new(),
        }
    }

    /// Adds a batch's spans to its service's datagrams.
    pub fn push(&mut self, batch: Batch) -> Result<(), String> {
        let packer = self
            .by_service
            .entry(batch.process.service_name.clone())
            .or_insert_with(|| Packer::new(batch.process, self.max_packet, self.max_spans));
        batch.spans.into_iter().try_for_each(|s| packer.push(s))
    }

    /// The datagrams completed so far, service by service.
    pub fn take_full(&mut self) -> Vec<Batch> {
        self.by_service
            .values_mut()
            .flat_map(Packer::take_full)
            .collect()
    }

    /// Every datagram left, the partly filled ones included.
    pub fn finish(self) -> Vec<Batch> {
        self.by_service
            .into_values()
            .flat_map(Packer::finish)
            .collect()
    }
}
