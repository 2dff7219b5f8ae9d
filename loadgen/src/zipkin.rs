//! Zipkin v2 JSON from the generated spans, for `zipkin-json` (`POST /api/v2/spans`).
//!
//! Shaped like what Brave or zipkin-go send: hex `traceId` (32 digits), `id` and `parentId`
//! (16), upper-case `kind`, `timestamp`/`duration` in microseconds, a `localEndpoint` with the
//! service name, an IPv4 address and a port, a `remoteEndpoint` for client spans that know
//! their peer, every tag as a string (`error` carries the failure's message), and events as
//! annotations packed the way the Collector's Zipkin exporter packs them
//! (`name|{json attributes}|dropped count`). Each resource is its own `localEndpoint`.
//!
//! [`encode`] notes where each span's `traceId`, `timestamp`, annotation timestamps and
//! id-like tag values sit, so sends can patch them (see `encoded`, `restamp`). serde writes
//! fields in declaration order and tags (a `BTreeMap`) sorted by key, so that is the order of
//! the needles.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span as OtlpSpan};
use rand::Rng;
use serde::Serialize;

use crate::encoded::{EncodedBatch, IdEncoding, Needle};
use crate::generator::{resize_padding, PADDING_KEY};
use crate::realistic::masked_value_needle;
use crate::restamp::TimeField;

const TRACE_ID_KEY: &[u8] = br#""traceId":""#;
const TIMESTAMP_KEY: &[u8] = br#""timestamp":"#;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    pub trace_id: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub timestamp: u64,
    pub duration: u64,
    pub local_endpoint: Endpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub timestamp: u64,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub service_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

fn value(kv: &KeyValue) -> Option<&any_value::Value> {
    kv.value.as_ref()?.value.as_ref()
}

fn text(kv: &KeyValue) -> Option<String> {
    Some(match value(kv)? {
        any_value::Value::StringValue(v) => v.clone(),
        any_value::Value::BoolValue(v) => v.to_string(),
        any_value::Value::IntValue(v) => v.to_string(),
        any_value::Value::DoubleValue(v) => v.to_string(),
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every span of the request, in order, as a Zipkin v2 client would report it.
pub fn spans(req: &ExportTraceServiceRequest) -> Vec<ZipkinSpan> {
    let mut out = Vec::new();
    for r in &req.resource_spans {
        let service = r
            .resource
            .iter()
            .flat_map(|res| &res.attributes)
            .filter(|kv| kv.key == "service.name")
            .find_map(text)
            .unwrap_or_else(|| "loadgen".to_owned());
        // A stable address per service: 10.42.x.y from the name.
        let h = service
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let local = Endpoint {
            ipv4: Some(format!("10.42.{}.{}", (h >> 8) % 256, h % 250 + 1)),
            service_name: service,
            port: Some(8080),
        };
        let all = r.scope_spans.iter().flat_map(|s| &s.spans);
        out.extend(all.map(|s| span(s, &local)));
    }
    out
}

fn annotation(e: &span::Event) -> Annotation {
    let attributes: serde_json::Map<String, serde_json::Value> = e
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), serde_json::Value::String(text(kv)?))))
        .collect();
    let value = if attributes.is_empty() {
        e.name.clone()
    } else {
        let json = serde_json::Value::Object(attributes);
        format!("{}|{json}|{}", e.name, e.dropped_attributes_count)
    };
    Annotation {
        timestamp: e.time_unix_nano / 1000,
        value,
    }
}

fn span(s: &OtlpSpan, local: &Endpoint) -> ZipkinSpan {
    let mut tags: BTreeMap<String, String> = s
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv)?)))
        .collect();
    if let Some(st) = s
        .status
        .as_ref()
        .filter(|st| st.code == status::StatusCode::Error as i32)
    {
        let message = if st.message.is_empty() {
            "true".to_owned()
        } else {
            st.message.clone()
        };
        tags.insert("error".to_owned(), message);
    }
    let kind = match span::SpanKind::try_from(s.kind) {
        Ok(span::SpanKind::Server) => Some("SERVER"),
        Ok(span::SpanKind::Client) => Some("CLIENT"),
        Ok(span::SpanKind::Producer) => Some("PRODUCER"),
        Ok(span::SpanKind::Consumer) => Some("CONSUMER"),
        _ => None,
    };
    let remote = (kind == Some("CLIENT"))
        .then(|| tags.get("net.peer.name"))
        .flatten()
        .map(|peer| Endpoint {
            service_name: peer.clone(),
            ipv4: None,
            port: tags.get("net.peer.port").and_then(|p| p.parse().ok()),
        });
    ZipkinSpan {
        trace_id: hex(&s.trace_id),
        id: hex(&s.span_id),
        parent_id: (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id)),
        name: s.name.clone(),
        kind,
        timestamp: s.start_time_unix_nano / 1000,
        duration: (s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) / 1000).max(1),
        local_endpoint: local.clone(),
        remote_endpoint: remote,
        annotations: s.events.iter().map(annotation).collect(),
        tags,
    }
}

/// What one span adds to the JSON list: its object and a comma.
pub fn span_len(span: &ZipkinSpan) -> usize {
    serde_json::to_vec(span).map_or(0, |v| v.len() + 1)
}

/// Resizes the `app.payload` tag so the span's JSON is about `target` bytes.
pub fn pad(span: &mut ZipkinSpan, target: usize, rng: &mut impl Rng) {
    // The padding is alphanumeric, so JSON adds no escapes and one round is exact.
    let len = span_len(span);
    if let Some(text) = span.tags.get_mut(PADDING_KEY) {
        let wanted = (text.len() + target).saturating_sub(len);
        resize_padding(text, wanted, rng);
    }
}

fn span_needles(s: &ZipkinSpan) -> impl Iterator<Item = Needle> + '_ {
    let trace_id = Needle::id(
        [TRACE_ID_KEY, s.trace_id.as_bytes()].concat(),
        TRACE_ID_KEY.len(),
        16.min(s.trace_id.len()),
        IdEncoding::Hex,
    );
    // A time is followed by a comma (`duration`, an annotation's `value`), so a needle never
    // matches the first digits of a longer number.
    let time = |t: u64| {
        let digits = format!("{t},");
        let mut n = Needle::time(TIMESTAMP_KEY, digits.as_bytes(), TimeField::DecimalMicros);
        n.patch_len -= 1;
        n
    };
    let values = s.tags.iter().filter_map(|(k, v)| masked_value_needle(k, v));
    std::iter::once(trace_id)
        .chain(std::iter::once(time(s.timestamp)))
        .chain(s.annotations.iter().map(move |a| time(a.timestamp)))
        .chain(values)
}

/// The JSON list, with the first 16 digits of each `traceId`, the times and id-like tag
/// values patchable.
pub fn encode(spans: &[ZipkinSpan]) -> Result<EncodedBatch, String> {
    let bytes = serde_json::to_vec(spans).map_err(|e| e.to_string())?;
    EncodedBatch::locate(
        bytes,
        spans.len() as u64,
        spans.iter().flat_map(span_needles),
    )
}
