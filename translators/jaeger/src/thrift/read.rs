//! Decoding (placeholder: being written).
use super::types::Batch;
use crate::DecodeError;

pub fn decode_emit_batch_compact(_bytes: &[u8]) -> Result<Batch, DecodeError> {
    Err(DecodeError::Thrift("not implemented yet".into()))
}
pub fn decode_emit_batch_binary(_bytes: &[u8]) -> Result<Batch, DecodeError> {
    Err(DecodeError::Thrift("not implemented yet".into()))
}
pub fn decode_batch_binary(_bytes: &[u8]) -> Result<Batch, DecodeError> {
    Err(DecodeError::Thrift("not implemented yet".into()))
}
