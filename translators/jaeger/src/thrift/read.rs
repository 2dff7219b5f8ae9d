//! Reading Jaeger Thrift with the `thrift` crate's input protocols.
//!
//! Safety against hostile input rests on three things:
//! - a [`TConfiguration`] whose message, string and container limits are the input's length, so
//!   a declared length or element count larger than what the datagram could hold is refused
//!   before anything is allocated (the thrift crate checks them in `read_bytes` and
//!   `read_list_begin`);
//! - a list reserves room for no more elements than the input could hold at the element's
//!   minimal wire size (e.g. 5 bytes per tag), so the decoded structs take at most ~25x the input
//!   (a `Tag` is ~120 bytes in memory), plus the strings, which are never longer than the input;
//! - structure depth is fixed by the schema (Batch > Span > Log > Tag), and unknown fields are
//!   skipped by the crate's `skip`, held to a recursion depth of 16.
//!
//! Trailing bytes after the message are ignored, as Jaeger's agent and collector ignore them.
//!
//! Like Go's generated code (which Jaeger and the Collector use), a known field id with an
//! unexpected wire type is skipped, and a `required` field that never arrived is an error.

use thrift::protocol::{
    TBinaryInputProtocol, TCompactInputProtocol, TFieldIdentifier, TInputProtocol, TMessageType,
    TType,
};
use thrift::TConfiguration;

use super::types::{Batch, ClientStats, Log, Process, Span, SpanRef, SpanRefType, Tag, TagType};
use crate::DecodeError;

/// A protocol plus the input's length, which bounds how much a list may reserve up front.
struct Reader<P> {
    p: P,
    input_len: usize,
}

impl<P> std::ops::Deref for Reader<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.p
    }
}

impl<P> std::ops::DerefMut for Reader<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.p
    }
}

/// The fewest bytes each element can take on the wire (compact protocol, required fields only):
/// a list never reserves room for more elements than the input could hold.
const SPANS: (TType, usize) = (TType::Struct, 17);
const TAGS: (TType, usize) = (TType::Struct, 5);
const LOGS: (TType, usize) = (TType::Struct, 4);
const REFS: (TType, usize) = (TType::Struct, 9);

/// Decodes a UDP agent datagram in compact Thrift (port 6831): `Agent.emitBatch(1: Batch)`.
pub fn decode_emit_batch_compact(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let p = TCompactInputProtocol::with_config(bytes, limits(bytes.len())?);
    read_emit_batch(&mut Reader {
        p,
        input_len: bytes.len(),
    })
}

/// Decodes a UDP agent datagram in binary Thrift (port 6832): `Agent.emitBatch(1: Batch)`.
/// Both strict (versioned) and old-style message headers are accepted, as Jaeger's agent does.
pub fn decode_emit_batch_binary(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let p = TBinaryInputProtocol::with_config(bytes, false, limits(bytes.len())?);
    read_emit_batch(&mut Reader {
        p,
        input_len: bytes.len(),
    })
}

/// Decodes the body of HTTP `POST /api/traces` (port 14268): a bare binary-Thrift `Batch`.
pub fn decode_batch_binary(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let p = TBinaryInputProtocol::with_config(bytes, false, limits(bytes.len())?);
    read_batch(&mut Reader {
        p,
        input_len: bytes.len(),
    })
}

/// Limits that make every declared size answer to the actual input length.
fn limits(len: usize) -> Result<TConfiguration, DecodeError> {
    Ok(TConfiguration::builder()
        .max_message_size(Some(len))
        .max_frame_size(Some(len))
        .max_string_size(Some(len))
        .max_container_size(Some(len))
        .max_recursion_depth(Some(16))
        .build()?)
}

fn read_emit_batch<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Batch, DecodeError> {
    let msg = p.read_message_begin()?;
    // Oneway is what the IDL says; some old clients mark the call as a plain Call. Both carry
    // the same arguments, so accept both, as Jaeger's agent does.
    let kind_ok = matches!(msg.message_type, TMessageType::OneWay | TMessageType::Call);
    if msg.name != "emitBatch" || !kind_ok {
        return Err(DecodeError::UnexpectedMessage { name: msg.name });
    }
    let mut batch = None;
    read_struct(p, |p, f| {
        if (f.id, f.field_type) != (Some(1), TType::Struct) {
            return Ok(false);
        }
        batch = Some(read_batch(p)?);
        Ok(true)
    })?;
    p.read_message_end()?;
    required(batch, "emitBatch_args", "batch")
}

/// Reads a struct's fields until its stop marker. `field` handles the fields it knows and
/// returns false for the rest, which are skipped.
fn read_struct<P: TInputProtocol>(
    p: &mut Reader<P>,
    mut field: impl FnMut(&mut Reader<P>, &TFieldIdentifier) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        if !field(p, &f)? {
            p.skip(f.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()?;
    Ok(())
}

fn read_list<P: TInputProtocol, T>(
    p: &mut Reader<P>,
    element: (TType, usize),
    place: (&'static str, &'static str),
    mut read: impl FnMut(&mut Reader<P>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let list = p.read_list_begin()?;
    let size = usize::try_from(list.size).map_err(|_| invalid(place, "negative list size"))?;
    let (element, min_bytes) = element;
    if size > 0 && list.element_type != element {
        let reason = format!("list of {:?}, expected {:?}", list.element_type, element);
        return Err(invalid(place, reason));
    }
    let mut out = Vec::with_capacity(size.min(p.input_len / min_bytes));
    for _ in 0..size {
        out.push(read(p)?);
    }
    p.read_list_end()?;
    Ok(out)
}

fn required<T>(v: Option<T>, strukt: &'static str, field: &'static str) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::MissingField { strukt, field })
}

fn invalid(place: (&'static str, &'static str), reason: impl Into<String>) -> DecodeError {
    DecodeError::InvalidField {
        strukt: place.0,
        field: place.1,
        reason: reason.into(),
    }
}

fn read_batch<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Batch, DecodeError> {
    let (mut process, mut spans, mut seq_no, mut stats) = (None, None, None, None);
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::Struct) => process = Some(read_process(p)?),
            (Some(2), TType::List) => {
                spans = Some(read_list(p, SPANS, ("Batch", "spans"), read_span)?)
            }
            (Some(3), TType::I64) => seq_no = Some(p.read_i64()?),
            (Some(4), TType::Struct) => stats = Some(read_client_stats(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Batch {
        process: required(process, "Batch", "process")?,
        spans: required(spans, "Batch", "spans")?,
        seq_no,
        stats,
    })
}

fn read_process<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Process, DecodeError> {
    let (mut service_name, mut tags) = (None, Vec::new());
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::String) => service_name = Some(p.read_string()?),
            (Some(2), TType::List) => tags = read_list(p, TAGS, ("Process", "tags"), read_tag)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Process {
        service_name: required(service_name, "Process", "serviceName")?,
        tags,
    })
}

fn read_client_stats<P: TInputProtocol>(p: &mut Reader<P>) -> Result<ClientStats, DecodeError> {
    let (mut full, mut large, mut failed) = (None, None, None);
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::I64) => full = Some(p.read_i64()?),
            (Some(2), TType::I64) => large = Some(p.read_i64()?),
            (Some(3), TType::I64) => failed = Some(p.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ClientStats {
        full_queue_dropped_spans: required(full, "ClientStats", "fullQueueDroppedSpans")?,
        too_large_dropped_spans: required(large, "ClientStats", "tooLargeDroppedSpans")?,
        failed_to_emit_spans: required(failed, "ClientStats", "failedToEmitSpans")?,
    })
}

fn read_span<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Span, DecodeError> {
    // Required fields, in IDL order: traceIdLow, traceIdHigh, spanId, parentSpanId, flags,
    // startTime, duration (i64/i32) and operationName.
    let mut ints: [Option<i64>; 7] = [None; 7];
    let mut operation_name = None;
    let (mut references, mut tags, mut logs) = (Vec::new(), Vec::new(), Vec::new());
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(id @ 1..=4), TType::I64) => ints[id as usize - 1] = Some(p.read_i64()?),
            (Some(5), TType::String) => operation_name = Some(p.read_string()?),
            (Some(6), TType::List) => {
                references = read_list(p, REFS, ("Span", "references"), read_span_ref)?
            }
            (Some(7), TType::I32) => ints[4] = Some(i64::from(p.read_i32()?)),
            (Some(8), TType::I64) => ints[5] = Some(p.read_i64()?),
            (Some(9), TType::I64) => ints[6] = Some(p.read_i64()?),
            (Some(10), TType::List) => tags = read_list(p, TAGS, ("Span", "tags"), read_tag)?,
            (Some(11), TType::List) => logs = read_list(p, LOGS, ("Span", "logs"), read_log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    const NAMES: [&str; 7] = [
        "traceIdLow",
        "traceIdHigh",
        "spanId",
        "parentSpanId",
        "flags",
        "startTime",
        "duration",
    ];
    let mut v = [0i64; 7];
    for (i, slot) in ints.iter().enumerate() {
        v[i] = required(*slot, "Span", NAMES[i])?;
    }
    Ok(Span {
        trace_id_low: v[0],
        trace_id_high: v[1],
        span_id: v[2],
        parent_span_id: v[3],
        operation_name: required(operation_name, "Span", "operationName")?,
        references,
        // Read as an i32 above, so the narrowing is exact.
        flags: v[4] as i32,
        start_time: v[5],
        duration: v[6],
        tags,
        logs,
    })
}

fn read_span_ref<P: TInputProtocol>(p: &mut Reader<P>) -> Result<SpanRef, DecodeError> {
    let (mut ref_type, mut low, mut high, mut span_id) = (None, None, None, None);
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::I32) => ref_type = Some(SpanRefType::from_i32(p.read_i32()?)),
            (Some(2), TType::I64) => low = Some(p.read_i64()?),
            (Some(3), TType::I64) => high = Some(p.read_i64()?),
            (Some(4), TType::I64) => span_id = Some(p.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(SpanRef {
        ref_type: required(ref_type, "SpanRef", "refType")?,
        trace_id_low: required(low, "SpanRef", "traceIdLow")?,
        trace_id_high: required(high, "SpanRef", "traceIdHigh")?,
        span_id: required(span_id, "SpanRef", "spanId")?,
    })
}

fn read_log<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Log, DecodeError> {
    let (mut timestamp, mut fields) = (None, None);
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::I64) => timestamp = Some(p.read_i64()?),
            (Some(2), TType::List) => {
                fields = Some(read_list(p, TAGS, ("Log", "fields"), read_tag)?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Log {
        timestamp: required(timestamp, "Log", "timestamp")?,
        fields: required(fields, "Log", "fields")?,
    })
}

fn read_tag<P: TInputProtocol>(p: &mut Reader<P>) -> Result<Tag, DecodeError> {
    let mut tag = Tag::default();
    let (mut key, mut v_type) = (None, None);
    read_struct(p, |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::String) => key = Some(p.read_string()?),
            (Some(2), TType::I32) => v_type = Some(TagType::from_i32(p.read_i32()?)),
            (Some(3), TType::String) => tag.v_str = Some(p.read_string()?),
            (Some(4), TType::Double) => tag.v_double = Some(p.read_double()?),
            (Some(5), TType::Bool) => tag.v_bool = Some(p.read_bool()?),
            (Some(6), TType::I64) => tag.v_long = Some(p.read_i64()?),
            (Some(7), TType::String) => tag.v_binary = Some(p.read_bytes()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    tag.key = required(key, "Tag", "key")?;
    tag.v_type = required(v_type, "Tag", "vType")?;
    Ok(tag)
}
