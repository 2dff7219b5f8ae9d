//! Writing Jaeger Thrift, the way Jaeger clients do: for tests, benches and the load generator.
//!
//! Optional fields are written only when set (a `None` or, for lists, an empty `Vec` is left out,
//! as the clients do); required fields always.

use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use super::types::{Batch, Log, Process, Span, SpanRef, Tag};

/// An `Agent.emitBatch` oneway message in compact Thrift, as a client sends to UDP 6831.
pub fn encode_emit_batch_compact(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail and the schema's depth is far below the protocol's limit,
    // so an error here is impossible; an empty result would still be a safe answer.
    let _ = write_emit_batch(&mut TCompactOutputProtocol::new(&mut out), batch);
    out
}

/// An `Agent.emitBatch` oneway message in strict binary Thrift, as a client sends to UDP 6832.
pub fn encode_emit_batch_binary(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write_emit_batch(&mut TBinaryOutputProtocol::new(&mut out, true), batch);
    out
}

/// A bare binary-Thrift `Batch`, the body of HTTP `POST /api/traces`.
pub fn encode_batch_binary(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = TBinaryOutputProtocol::new(&mut out, true);
    let _ = write_batch(&mut p, batch).and_then(|()| p.flush());
    out
}

type R = thrift::Result<()>;

fn write_emit_batch<P: TOutputProtocol>(p: &mut P, batch: &Batch) -> R {
    p.write_message_begin(&TMessageIdentifier::new(
        "emitBatch",
        TMessageType::OneWay,
        0,
    ))?;
    p.write_struct_begin(&TStructIdentifier::new("emitBatch_args"))?;
    field(p, "batch", TType::Struct, 1)?;
    write_batch(p, batch)?;
    p.write_field_end()?;
    p.write_field_stop()?;
    p.write_struct_end()?;
    p.write_message_end()?;
    p.flush()
}

fn field<P: TOutputProtocol>(p: &mut P, name: &str, ty: TType, id: i16) -> R {
    p.write_field_begin(&TFieldIdentifier::new(name, ty, id))
}

fn i64_field<P: TOutputProtocol>(p: &mut P, name: &str, id: i16, v: i64) -> R {
    field(p, name, TType::I64, id)?;
    p.write_i64(v)?;
    p.write_field_end()
}

fn i32_field<P: TOutputProtocol>(p: &mut P, name: &str, id: i16, v: i32) -> R {
    field(p, name, TType::I32, id)?;
    p.write_i32(v)?;
    p.write_field_end()
}

fn string_field<P: TOutputProtocol>(p: &mut P, name: &str, id: i16, v: &str) -> R {
    field(p, name, TType::String, id)?;
    p.write_string(v)?;
    p.write_field_end()
}

/// Writes a list field of structs; left out entirely when `optional` and empty.
fn list_field<P: TOutputProtocol, T>(
    p: &mut P,
    name: &str,
    id: i16,
    items: &[T],
    optional: bool,
    write: impl Fn(&mut P, &T) -> R,
) -> R {
    if optional && items.is_empty() {
        return Ok(());
    }
    field(p, name, TType::List, id)?;
    let len = i32::try_from(items.len()).unwrap_or(i32::MAX);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, len))?;
    for item in items.iter().take(len as usize) {
        write(p, item)?;
    }
    p.write_list_end()?;
    p.write_field_end()
}

pub(super) fn write_batch<P: TOutputProtocol>(p: &mut P, b: &Batch) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Batch"))?;
    field(p, "process", TType::Struct, 1)?;
    write_process(p, &b.process)?;
    p.write_field_end()?;
    list_field(p, "spans", 2, &b.spans, false, write_span)?;
    if let Some(seq) = b.seq_no {
        i64_field(p, "seqNo", 3, seq)?;
    }
    if let Some(s) = &b.stats {
        field(p, "stats", TType::Struct, 4)?;
        p.write_struct_begin(&TStructIdentifier::new("ClientStats"))?;
        i64_field(p, "fullQueueDroppedSpans", 1, s.full_queue_dropped_spans)?;
        i64_field(p, "tooLargeDroppedSpans", 2, s.too_large_dropped_spans)?;
        i64_field(p, "failedToEmitSpans", 3, s.failed_to_emit_spans)?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        p.write_field_end()?;
    }
    p.write_field_stop()?;
    p.write_struct_end()
}

fn write_process<P: TOutputProtocol>(p: &mut P, proc_: &Process) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Process"))?;
    string_field(p, "serviceName", 1, &proc_.service_name)?;
    list_field(p, "tags", 2, &proc_.tags, true, write_tag)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

fn write_span<P: TOutputProtocol>(p: &mut P, s: &Span) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Span"))?;
    i64_field(p, "traceIdLow", 1, s.trace_id_low)?;
    i64_field(p, "traceIdHigh", 2, s.trace_id_high)?;
    i64_field(p, "spanId", 3, s.span_id)?;
    i64_field(p, "parentSpanId", 4, s.parent_span_id)?;
    string_field(p, "operationName", 5, &s.operation_name)?;
    list_field(p, "references", 6, &s.references, true, write_span_ref)?;
    i32_field(p, "flags", 7, s.flags)?;
    i64_field(p, "startTime", 8, s.start_time)?;
    i64_field(p, "duration", 9, s.duration)?;
    list_field(p, "tags", 10, &s.tags, true, write_tag)?;
    list_field(p, "logs", 11, &s.logs, true, write_log)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

fn write_span_ref<P: TOutputProtocol>(p: &mut P, r: &SpanRef) -> R {
    p.write_struct_begin(&TStructIdentifier::new("SpanRef"))?;
    i32_field(p, "refType", 1, r.ref_type.to_i32())?;
    i64_field(p, "traceIdLow", 2, r.trace_id_low)?;
    i64_field(p, "traceIdHigh", 3, r.trace_id_high)?;
    i64_field(p, "spanId", 4, r.span_id)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

fn write_log<P: TOutputProtocol>(p: &mut P, l: &Log) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Log"))?;
    i64_field(p, "timestamp", 1, l.timestamp)?;
    list_field(p, "fields", 2, &l.fields, false, write_tag)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

fn write_tag<P: TOutputProtocol>(p: &mut P, t: &Tag) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Tag"))?;
    string_field(p, "key", 1, &t.key)?;
    i32_field(p, "vType", 2, t.v_type.to_i32())?;
    if let Some(v) = &t.v_str {
        string_field(p, "vStr", 3, v)?;
    }
    if let Some(v) = t.v_double {
        field(p, "vDouble", TType::Double, 4)?;
        p.write_double(v)?;
        p.write_field_end()?;
    }
    if let Some(v) = t.v_bool {
        field(p, "vBool", TType::Bool, 5)?;
        p.write_bool(v)?;
        p.write_field_end()?;
    }
    if let Some(v) = t.v_long {
        i64_field(p, "vLong", 6, v)?;
    }
    if let Some(v) = &t.v_binary {
        field(p, "vBinary", TType::String, 7)?;
        p.write_bytes(v)?;
        p.write_field_end()?;
    }
    p.write_field_stop()?;
    p.write_struct_end()
}
