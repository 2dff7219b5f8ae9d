//! The block writer's reading of a batch of structs (Jaeger, Zipkin, OTLP/JSON, or changed by
//! a processor): the same columns, written from the borrowed `opentelemetry-proto` structs
//! rather than from their prost encoding read back through the views.
//!
//! A block must not depend on the form its batch came in, so this path makes every choice
//! the byte path makes, in the same order. The one that depends on history is the value
//! columns' cache (`ValueColumn`): the byte path looks a value up by its bytes, which it only
//! does once the key has been written in the block, and counts hits and misses to decide when
//! a column stops caching and deduplicating strings. Here the same lookups happen at the same
//! points, keyed by the value itself ([`ValueKey`]: equal values have equal canonical bytes,
//! and prost writes canonical bytes), so the counts, and so the bytes written, are the same
//! (`tests::a_batch_of_structs_is_stored_as_its_bytes_would_be`). A block that mixes both
//! forms is as valid, but each form has its own cache, so such a block may deduplicate a
//! little differently than a block of one form.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tracegate_pdata::view::ValueView;

use super::{AttrValue, BlockWriter, ATTR_KEYS, EVENTS, RARE};
use crate::codec::{put_bytes, put_varint, write_filter_text, zigzag};
use crate::summary::tag_hash_seeded;

/// A value the cache can write again, as the byte path's cache key (the value's bytes) tells
/// values apart: doubles by their bits, other shapes not at all (the byte path never caches
/// them, and looks them up in vain).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ValueKey<'b> {
    /// The `KeyValue` has no value.
    None,
    Str(&'b str),
    Bool(bool),
    Int(i64),
    Double(u64),
}

fn attr_value(v: &AnyValue) -> AttrValue<'_> {
    match &v.value {
        Some(Value::StringValue(s)) => AttrValue::Scalar(ValueView::Str(s)),
        Some(Value::BoolValue(b)) => AttrValue::Scalar(ValueView::Bool(*b)),
        Some(Value::IntValue(i)) => AttrValue::Scalar(ValueView::Int(*i)),
        Some(Value::DoubleValue(d)) => AttrValue::Scalar(ValueView::Double(*d)),
        _ => AttrValue::Struct(v),
    }
}

fn value_key<'b>(value: Option<&AttrValue<'b>>) -> Option<ValueKey<'b>> {
    match value {
        None => Some(ValueKey::None),
        Some(AttrValue::Scalar(ValueView::Str(s))) => Some(ValueKey::Str(s)),
        Some(AttrValue::Scalar(ValueView::Bool(b))) => Some(ValueKey::Bool(*b)),
        Some(AttrValue::Scalar(ValueView::Int(i))) => Some(ValueKey::Int(*i)),
        Some(AttrValue::Scalar(ValueView::Double(d))) => Some(ValueKey::Double(d.to_bits())),
        Some(_) => None,
    }
}

impl<'b> BlockWriter<'b> {
    /// [`BlockWriter::attributes`] for attributes read from structs.
    pub(super) fn decoded_attributes(&mut self, attrs: &'b [KeyValue], seed: u64) {
        put_varint(&mut self.cols[ATTR_KEYS], attrs.len() as u64);
        for kv in attrs {
            let value = kv.value.as_ref().map(attr_value);
            let key = value_key(value.as_ref());
            // The byte path looks a value up once its key has been written in this block
            // (the key's column is then catalogued).
            let known = self
                .string_index
                .get(kv.key.as_str())
                .copied()
                .filter(|&k| self.values.get(k as usize).is_some_and(|c| c.catalogued.is_some()));
            if let Some(col) = known.and_then(|k| self.values.get_mut(k as usize)) {
                if col.caching() {
                    if let Some(seen) = key.and_then(|key| col.seen_decoded.get(&(seed, key))) {
                        col.hits += 1;
                        col.bytes.extend_from_slice(&seen.value[..usize::from(seen.len)]);
                        put_varint(&mut self.cols[ATTR_KEYS], u64::from(seen.key));
                        continue;
                    }
                    col.misses += 1;
                }
            }
            let seen = self.write_attribute(&kv.key, value, seed, known.unwrap_or(0));
            if let (true, Some(key), Some(col)) = (seen.len > 0, key, self.values.get_mut(seen.key as usize)) {
                if col.caching() {
                    col.seen_decoded.insert((seed, key), seen);
                }
            }
        }
    }

    /// The span's events, as [`BlockWriter::span`] writes them from views.
    pub(super) fn decoded_events(&mut self, span: &'b Span, seed: u64) {
        put_varint(&mut self.cols[EVENTS], span.events.len() as u64);
        for e in &span.events {
            let name = self.string(&e.name);
            let ev = &mut self.cols[EVENTS];
            put_varint(ev, zigzag(e.time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64));
            put_varint(ev, u64::from(name));
            put_varint(ev, u64::from(e.dropped_attributes_count));
            self.decoded_attributes(&e.attributes, seed);
        }
    }

    /// The span's links, as [`BlockWriter::rare`] writes them from views: each `Link` as
    /// prost encodes it, its attributes into the tag filter and the key catalog.
    pub(super) fn decoded_links(&mut self, span: &'b Span, seed: u64) {
        put_varint(&mut self.cols[RARE], span.links.len() as u64);
        for link in &span.links {
            put_bytes(&mut self.cols[RARE], &link.encode_to_vec());
            for kv in &link.attributes {
                let k = self.string(&kv.key);
                self.keys.insert((seed, k));
                if kv.value.as_ref().and_then(|v| v.value.as_ref()).is_some_and(|v| write_filter_text(v, &mut self.text)) {
                    self.tags.insert(tag_hash_seeded(seed, &kv.key, &self.text));
                }
            }
        }
    }
}
