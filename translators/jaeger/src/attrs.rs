//! Attribute helpers and the special tag names both translation directions agree on.
//!
//! OTLP attributes are a `Vec<KeyValue>` here, handled with the semantics of the Collector's
//! `pcommon.Map`, because the translation rules are written against it: a put on an existing key
//! overwrites the value in place, a remove swaps the last entry into the hole, and `Str()` of a
//! non-string value is "".

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

pub(crate) const SERVICE_NAME: &str = "service.name";
/// The service name the Collector gives a resource without attributes (and skips on the way in).
pub(crate) const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
pub(crate) const HOSTNAME: &str = "hostname";
pub(crate) const HOST_NAME: &str = "host.name";
pub(crate) const JAEGER_VERSION: &str = "jaeger.version";
pub(crate) const EXPORTER_VERSION: &str = "opencensus.exporterversion";
pub(crate) const SPAN_KIND: &str = "span.kind";
pub(crate) const ERROR: &str = "error";
pub(crate) const STATUS_CODE: &str = "otel.status_code";
pub(crate) const STATUS_DESCRIPTION: &str = "otel.status_description";
pub(crate) const HTTP_STATUS_CODE: &str = "http.status_code";
pub(crate) const HTTP_STATUS_MESSAGE: &str = "http.status_message";
pub(crate) const TRACE_STATE: &str = "w3c.tracestate";
pub(crate) const EVENT: &str = "event";
pub(crate) const SCOPE_NAME: &str = "otel.scope.name";
pub(crate) const SCOPE_VERSION: &str = "otel.scope.version";
pub(crate) const LIBRARY_NAME: &str = "otel.library.name";
pub(crate) const LIBRARY_VERSION: &str = "otel.library.version";
pub(crate) const REF_TYPE: &str = "opentracing.ref_type";
pub(crate) const REF_CHILD_OF: &str = "child_of";
pub(crate) const REF_FOLLOWS_FROM: &str = "follows_from";

/// Above this many entries, upserts use a hash index instead of a linear scan, so a hostile
/// datagram with thousands of tags costs O(n), not O(n²).
const LINEAR_LIMIT: usize = 32;

pub(crate) fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn string_kv(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// Builds attributes from (key, value) pairs with put semantics: a repeated key keeps its first
/// position and takes the last value.
pub(crate) fn from_pairs(pairs: impl ExactSizeIterator<Item = (String, Value)>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::with_capacity(pairs.len());
    if pairs.len() <= LINEAR_LIMIT {
        for (k, v) in pairs {
            put(&mut out, k, v);
        }
        return out;
    }
    let mut index: HashMap<String, usize> = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        match index.get(&k) {
            Some(&i) => out[i].value = Some(AnyValue { value: Some(v) }),
            None => {
                index.insert(k.clone(), out.len());
                out.push(kv(k, v));
            }
        }
    }
    out
}

/// `pcommon.Map.Put*`: overwrite in place, else append.
pub(crate) fn put(attrs: &mut Vec<KeyValue>, key: String, value: Value) {
    match attrs.iter_mut().find(|a| a.key == key) {
        Some(a) => a.value = Some(AnyValue { value: Some(value) }),
        None => attrs.push(kv(key, value)),
    }
}

pub(crate) fn position(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|a| a.key == key)
}

pub(crate) fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<Option<&'a Value>> {
    attrs.iter().find(|a| a.key == key).map(value_of)
}

pub(crate) fn value_of(a: &KeyValue) -> Option<&Value> {
    a.value.as_ref().and_then(|v| v.value.as_ref())
}

/// `pcommon.Value.Str()`: the string, or "" for any other type.
pub(crate) fn str_of(v: Option<&Value>) -> &str {
    match v {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

/// `pcommon.Map.Remove`: takes the entry out, moving the last one into its place.
pub(crate) fn remove(attrs: &mut Vec<KeyValue>, key: &str) -> Option<KeyValue> {
    position(attrs, key).map(|i| attrs.swap_remove(i))
}

/// Removes `key` and returns its value as `Str()` would.
pub(crate) fn take_str(attrs: &mut Vec<KeyValue>, key: &str) -> Option<String> {
    remove(attrs, key).map(|a| match a.value.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => s,
        _ => String::new(),
    })
}

/// Ids are big-endian bytes in OTLP; the Collector (pdata) writes an all-zero id as empty bytes.
pub(crate) fn trace_id_bytes(high: u64, low: u64) -> Vec<u8> {
    if high == 0 && low == 0 {
        return Vec::new();
    }
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&high.to_be_bytes());
    b.extend_from_slice(&low.to_be_bytes());
    b
}

pub(crate) fn span_id_bytes(id: u64) -> Vec<u8> {
    if id == 0 {
        return Vec::new();
    }
    id.to_be_bytes().to_vec()
}

/// Reads a big-endian id of up to `N` bytes. A shorter one is right-aligned (an 8-byte trace id
/// is its low half), a longer one is cut to its first `N` bytes, as Jaeger's decoder reads it.
pub(crate) fn id_from_bytes<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    if bytes.len() >= N {
        out.copy_from_slice(&bytes[..N]);
    } else {
        out[N - bytes.len()..].copy_from_slice(bytes);
    }
    out
}

pub(crate) fn trace_id_parts(bytes: &[u8]) -> (u64, u64) {
    let id: [u8; 16] = id_from_bytes(bytes);
    let mut high = [0u8; 8];
    let mut low = [0u8; 8];
    high.copy_from_slice(&id[..8]);
    low.copy_from_slice(&id[8..]);
    (u64::from_be_bytes(high), u64::from_be_bytes(low))
}

pub(crate) fn span_id_value(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(id_from_bytes(bytes))
}
