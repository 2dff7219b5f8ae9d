//! [`PipelineMemory`]: the bytes of span data the pipelines hold right now, counted by the
//! engine, for the `memory_limiter` and the `tracegate_pipeline_held_bytes` gauge.
//!
//! Why not the process's resident set: RSS also holds what the allocator keeps after data is
//! freed and what caches (sled's page cache, the store's block cache, query answers) hold by
//! design. A limiter that compares RSS with its limit refuses ingest because of a query, and
//! after an overload can stay above its limit with nothing left in the pipeline: it wedges.
//! What the pipeline holds drains to zero when the pipeline is idle, so a limiter that judges
//! it refuses exactly while data piles up and accepts again as soon as it has drained.
//!
//! What is counted, as the OTLP protobuf size of the batches ([`Traces::encoded_len`], the
//! unit of the sending queue's `bytes` sizer):
//! - every request from the moment a receiver hands it to the pipelines until they answer
//!   (this covers the batch processor with `wait_for_result` and in-caller exports of a
//!   durable store, whose data lives inside the request);
//! - every batch in an in-memory sending queue, until its export is over.
//!
//! Decoded spans take more memory than their protobuf (two to four times, docs/memory.md), so
//! the figure is the data's size, not its footprint: the limits are set with that in mind.
//!
//! [`Traces::encoded_len`]: crate::data::Traces::encoded_len

use prometheus::IntGauge;

/// The engine's count of bytes held by the pipelines; cheap to clone (one gauge).
#[derive(Clone)]
pub struct PipelineMemory {
    gauge: IntGauge,
}

/// Bytes counted as held until this is dropped.
#[must_use = "the bytes are counted only while the guard lives"]
pub struct Held {
    gauge: IntGauge,
    bytes: i64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.sub(self.bytes);
    }
}

impl PipelineMemory {
    pub fn new(gauge: IntGauge) -> Self {
        Self { gauge }
    }

    /// Counts `bytes` as held while the returned guard lives.
    pub fn hold(&self, bytes: usize) -> Held {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.gauge.add(bytes);
        Held {
            gauge: self.gauge.clone(),
            bytes,
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        u64::try_from(self.gauge.get()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_held_while_their_guards_live() {
        let m = PipelineMemory::new(IntGauge::new("held", "test").expect("valid gauge"));
        let a = m.hold(100);
        let b = m.clone().hold(50);
        assert_eq!(m.bytes(), 150);
        drop(a);
        assert_eq!(m.bytes(), 50);
        drop(b);
        assert_eq!(m.bytes(), 0);
    }
}
