//! Encoding (placeholder: being written).
use super::types::Batch;

pub fn encode_emit_batch_compact(_batch: &Batch) -> Vec<u8> {
    Vec::new()
}
pub fn encode_emit_batch_binary(_batch: &Batch) -> Vec<u8> {
    Vec::new()
}
pub fn encode_batch_binary(_batch: &Batch) -> Vec<u8> {
    Vec::new()
}
