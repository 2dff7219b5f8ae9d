//! Rebuilds OTLP messages from a block ([`crate::block_read`] walks it): the spans of the
//! traces a fetch asked for, each found by walking only its page.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::block_read::{Attr, Block, SpanRow, TraceSpans, Val};
use crate::codec::CodecError;

impl Val<'_> {
    fn to_any(self) -> Result<Option<AnyValue>, CodecError> {
        let v = |v| Some(AnyValue { value: Some(v) });
        Ok(match self {
            Val::None => None,
            Val::Str(s) => v(any_value::Value::StringValue(s.to_string())),
            Val::Bool(b) => v(any_value::Value::BoolValue(b)),
            Val::Int(i) => v(any_value::Value::IntValue(i)),
            Val::Double(d) => v(any_value::Value::DoubleValue(d)),
            Val::Other(b) => Some(AnyValue::decode(b)?),
        })
    }
}

impl Block {
    /// The spans of one trace in this block, grouped by resource and scope as they came.
    #[cfg(test)]
    pub fn trace(&self, id: &[u8; 16]) -> Result<Vec<ResourceSpans>, CodecError> {
        Ok(self.traces(&[*id])?.pop().map(|(_, rs)| rs).unwrap_or_default())
    }

    /// The spans of each of `ids` held in this block, grouped by resource and scope as they
    /// came, in one walk (a search's results usually share a few blocks). Only traces with
    /// spans here are returned, in the block's order. The walk stops after the last of them.
    pub fn traces(&self, ids: &[[u8; 16]]) -> Result<Vec<TraceSpans>, CodecError> {
        // Trace ordinals in this block -> slot in `out`.
        let mut slot: Vec<Option<usize>> = vec![None; self.ids.len()];
        let mut out: Vec<TraceSpans> = Vec::new();
        for (t, id) in self.ids.iter().enumerate() {
            if ids.contains(id) {
                slot[t] = Some(out.len());
                out.push((*id, Vec::new()));
            }
        }
        // Per page holding some of them, the last of them there: only those pages are walked.
        let mut pages: Vec<(usize, usize)> = Vec::new();
        for t in slot.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(t, _)| t) {
            let p = self.page_of(t);
            match pages.last_mut() {
                Some((q, last)) if *q == p => *last = t,
                _ => pages.push((p, t)),
            }
        }
        let mut last: Option<(usize, usize, usize)> = None;
        for (p, last_trace) in pages {
            self.walk_page(None, p, |row| self.add_to(row, last_trace, &slot, &mut out, &mut last))?;
        }
        Ok(out)
    }

    /// [`Block::traces`]' step: adds `row` to its trace's spans if that trace is wanted;
    /// false once the walk is past `last_trace`.
    fn add_to(
        &self,
        row: &SpanRow<'_>,
        last_trace: usize,
        slot: &[Option<usize>],
        out: &mut [TraceSpans],
        last: &mut Option<(usize, usize, usize)>,
    ) -> Result<bool, CodecError> {
        {
            if row.trace > last_trace {
                return Ok(false);
            }
            let Some(i) = slot[row.trace] else { return Ok(true) };
            let span = self.span(row)?;
            let same_resource = last.is_some_and(|(t, r, _)| t == row.trace && r == row.resource);
            let same_scope = same_resource && last.is_some_and(|(_, _, s)| s == row.scope);
            let trace = &mut out[i].1;
            if !same_resource {
                let r = &self.resources[row.resource];
                trace.push(ResourceSpans { resource: r.resource(self)?.cloned(), scope_spans: Vec::new(), schema_url: r.schema_url.clone() });
            }
            let rs = trace.last_mut().ok_or(CodecError::Corrupt("no resource"))?;
            if !same_scope {
                let (scope, schema_url) = &self.scopes[row.scope];
                rs.scope_spans.push(ScopeSpans { scope: scope.clone(), spans: Vec::new(), schema_url: schema_url.clone() });
            }
            rs.scope_spans.last_mut().ok_or(CodecError::Corrupt("no scope"))?.spans.push(span);
            *last = Some((row.trace, row.resource, row.scope));
            Ok(true)
        }
    }

    fn span(&self, row: &SpanRow<'_>) -> Result<Span, CodecError> {
        let attrs = |a: &[Attr<'_>]| -> Result<Vec<KeyValue>, CodecError> {
            a.iter().map(|(k, v)| Ok(KeyValue { key: k.to_string(), value: v.to_any()?, key_strindex: 0 })).collect()
        };
        Ok(Span {
            trace_id: row.trace_id.map_or_else(|| self.ids[row.trace].to_vec(), <[u8]>::to_vec),
            span_id: row.span_id.to_vec(),
            trace_state: row.trace_state.to_string(),
            parent_span_id: row.parent.to_vec(),
            flags: row.flags,
            name: row.name.to_string(),
            kind: row.kind,
            start_time_unix_nano: row.start,
            end_time_unix_nano: row.end,
            attributes: attrs(&row.attrs)?,
            dropped_attributes_count: row.dropped[0],
            events: row
                .events
                .iter()
                .map(|e| {
                    Ok(Event {
                        time_unix_nano: e.time,
                        name: e.name.to_string(),
                        attributes: attrs(&row.event_attrs[e.attrs.clone()])?,
                        dropped_attributes_count: e.dropped,
                    })
                })
                .collect::<Result<_, CodecError>>()?,
            dropped_events_count: row.dropped[1],
            links: row.links.iter().map(|b| Link::decode(*b)).collect::<Result<_, _>>()?,
            dropped_links_count: row.dropped[2],
            status: row.status.map(|(code, message)| Status { code, message: message.to_string() }),
        })
    }
}
