//! Whether a block, and then a span of it, can meet a search: Jaeger v2's rules.
//!
//! A trace matches when one span meets every condition. A tag condition is met by the
//! span's attributes, its resource's, its instrumentation scope's (and the scope's name and
//! version as `otel.scope.name` / `otel.scope.version`, or `scope.name` / `scope.version` as
//! Jaeger v2's memory store spells them), its events' and its links'
//! attributes, or by the tags Jaeger derives from OTLP fields (`span.kind`, `error`,
//! `otel.status_code`). Typed values compare by their text as Jaeger prints them (`"123"`
//! finds int 123, `"true"` finds bool true). An empty service means any service (Jaeger 2.x
//! search without `service_name`).
//!
//! Three stages, cheapest first: the block's summary ([`Conditions::block_may_match`]: time
//! and duration ranges, operations, the tag filter); the tags' value columns
//! ([`Conditions::candidates`]: exact, no span walked; ints and bools compared as such); then span by span
//! ([`Conditions::row_matches`], with what depends only on a resource or scope worked out
//! once per block in [`BlockContext`]).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use prost::Message;
use tracegate_core::storage::TraceQuery;

use crate::block_read::{Attr, Block, SpanRow, Val};
use crate::codec::{derived_tags_of, value_text, CodecError, DOUBLE_VALUES, SCOPE_NAME, SCOPE_VERSION};
use crate::summary::{tag_hash, ServiceView, SummaryView};

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// A tag condition's value, parsed once per search: what a stored value of each type must be
/// to print as it (Jaeger compares typed values by their text: `"123"` finds int 123). A
/// column of ints is then compared as ints, not formatted value by value (formatting was ~5%
/// of a search for `http.response_content_length=10007`).
pub struct Want {
    pub text: String,
    /// The int that prints as `text` exactly (`"0123"` is no int's text).
    int: Option<i64>,
    boolean: Option<bool>,
    /// `text` reads as a float: a double may print as it (compared by its text in the walk).
    double: bool,
}

impl Want {
    pub fn new(text: &str) -> Self {
        let int = text.parse::<i64>().ok().filter(|i| itoa::Buffer::new().format(*i) == text);
        let boolean = match text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        Self { text: text.to_string(), int, boolean, double: text.parse::<f64>().is_ok() }
    }

    /// Whether `v` may print as the wanted text: exact for strings, ints and bools; doubles
    /// that may, and every other shape (arrays, maps, bytes), are left to [`Want::is`].
    /// [`Block::count_values`] counts with this, and the walk that stops after the last
    /// counted value must count the same way.
    pub fn maybe(&self, v: Val<'_>) -> bool {
        match v {
            Val::None => false,
            Val::Str(s) => s == self.text,
            Val::Int(i) => self.int == Some(i),
            Val::Bool(b) => self.boolean == Some(b),
            Val::Double(_) => self.double,
            Val::Other(_) => true,
        }
    }

    /// `value_text(v) == text`, without building the value where the type tells.
    fn is(&self, v: Val<'_>, text: &mut String) -> Result<bool, CodecError> {
        use std::fmt::Write;
        Ok(match v {
            Val::Double(d) if self.double => {
                text.clear();
                let _ = write!(text, "{d}");
                *text == self.text
            }
            Val::Other(bytes) => value_text(&AnyValue::decode(bytes)?).is_some_and(|t| t == self.text),
            v => self.maybe(v),
        })
    }
}

/// What a tag condition looks up in a block summary's tag filter for one service: its text,
/// and when the text reads as a float, the marker every double is filed under
/// ([`DOUBLE_VALUES`]; summaries written before it hold doubles by their text, which the
/// first hash finds).
pub struct FilterHashes {
    text: u64,
    double: Option<u64>,
}

impl FilterHashes {
    fn new(service: &str, key: &str, want: &Want) -> Self {
        Self { text: tag_hash(service, key, &want.text), double: want.double.then(|| tag_hash(service, key, DOUBLE_VALUES)) }
    }

    fn pass(&self, s: &SummaryView<'_>) -> bool {
        s.may_have_tag(self.text) || self.double.is_some_and(|h| s.may_have_tag(h))
    }
}

pub struct Conditions {
    /// Empty: any service.
    pub service: String,
    operation: Option<String>,
    /// (key, value, filter hashes for `service`; unused when any service will do).
    pub tags: Vec<(String, Want, FilterHashes)>,
    pub start: (u64, u64),
    duration: (u64, u64),
}

/// What a block's resources and scopes say about the search, worked out once per block.
pub struct BlockContext {
    ours: Vec<bool>,
    /// `[resource * tags + i]`: that resource carries tag `i`.
    resource_tags: Vec<bool>,
    /// `[scope * tags + i]`: that scope (attributes, name, version) carries tag `i`.
    scope_tags: Vec<bool>,
    tags: usize,
}

impl BlockContext {
    pub fn new(cond: &Conditions, block: &Block) -> Result<Self, CodecError> {
        let ours: Vec<bool> = block.resources.iter().map(|r| cond.service.is_empty() || r.service == cond.service).collect();
        let mut resource_tags = Vec::with_capacity(block.resources.len() * cond.tags.len());
        for (r, ours) in block.resources.iter().zip(&ours) {
            // Other services' resources never match: they are not decoded.
            let attrs = if *ours && !cond.tags.is_empty() { r.attributes(block)? } else { &[] };
            resource_tags.extend(cond.tags.iter().map(|(key, want, _)| kv_is(attrs, key, &want.text)));
        }
        let scope_tags = (0..block.scope_count())
            .flat_map(|i| {
                let scope = block.scope(i);
                cond.tags.iter().map(move |(key, want, _)| {
                    scope.is_some_and(|s| {
                        let want = want.text.as_str();
                        (SCOPE_NAME.contains(&key.as_str()) && s.name == want && !want.is_empty())
                            || (SCOPE_VERSION.contains(&key.as_str()) && s.version == want && !want.is_empty())
                            || kv_is(&s.attributes, key, want)
                    })
                })
            })
            .collect();
        Ok(Self { ours, resource_tags, scope_tags, tags: cond.tags.len() })
    }

    /// Whether the span's resource is of the queried service.
    pub fn ours(&self, row: &SpanRow<'_>) -> bool {
        self.ours_resource(row.resource)
    }

    pub fn ours_resource(&self, resource: usize) -> bool {
        self.ours.get(resource).copied().unwrap_or(false)
    }

    /// Whether a resource of the queried service or any scope of the block carries tag `i`.
    fn any_carries(&self, i: usize) -> bool {
        let has = |v: &[bool], j: usize| v.get(j * self.tags + i).copied().unwrap_or(false);
        (0..self.ours.len()).any(|r| self.ours[r] && has(&self.resource_tags, r))
            || (0..self.scope_tags.len() / self.tags.max(1)).any(|s| has(&self.scope_tags, s))
    }

    fn outside_span(&self, row: &SpanRow<'_>, i: usize) -> bool {
        let at = |v: &[bool], j: usize| v.get(j * self.tags + i).copied().unwrap_or(false);
        at(&self.resource_tags, row.resource) || at(&self.scope_tags, row.scope)
    }
}

impl Conditions {
    pub fn new(q: &TraceQuery) -> Self {
        Self {
            service: q.service.clone(),
            operation: q.operation.clone(),
            tags: q
                .tags
                .iter()
                .map(|(k, v)| {
                    let want = Want::new(v);
                    let hashes = FilterHashes::new(&q.service, k, &want);
                    (k.clone(), want, hashes)
                })
                .collect(),
            start: (q.start_min.map(nanos).unwrap_or(0), q.start_max.map(nanos).unwrap_or(u64::MAX)),
            duration: (
                q.duration_min.map(|d| d.as_nanos() as u64).unwrap_or(0),
                q.duration_max.map(|d| d.as_nanos() as u64).unwrap_or(u64::MAX),
            ),
        }
    }

    /// Whether the block can match, from the value columns of its tags (a filter false
    /// positive ends here, with no span walked): `None` when it cannot. Otherwise the tag
    /// with the fewest attributes that may carry its value, and that count per page, so the
    /// search walks only pages that have one and stops in each once it has passed them all;
    /// no such tag when a resource, scope or link of the block may carry every one of them,
    /// or a tag is one Jaeger derives from span fields (then any span may match).
    #[allow(clippy::type_complexity)]
    pub fn candidates<'c>(&'c self, block: &Block, context: &BlockContext) -> Result<Option<Option<(&'c str, &'c Want, Vec<usize>)>>, CodecError> {
        let mut fewest: Option<(&str, &Want, Vec<usize>, usize)> = None;
        for (tag, (key, want, _)) in self.tags.iter().enumerate() {
            if is_derived(key) || context.any_carries(tag) || link_may_carry(block, key, want) {
                continue;
            }
            let pages = block.count_values_by_page(key, want)?;
            let n: usize = pages.iter().sum();
            if n == 0 {
                return Ok(None);
            }
            if fewest.as_ref().is_none_or(|(_, _, _, m)| n < *m) {
                fewest = Some((key, want, pages, n));
            }
        }
        Ok(Some(fewest.map(|(key, want, pages, _)| (key, want, pages))))
    }

    /// `beat`: the start a matching span must be later than to change the result (`None`
    /// while fewer than `limit` traces are found).
    pub fn block_may_match(&self, s: &SummaryView<'_>, beat: Option<u64>) -> bool {
        if self.service.is_empty() {
            return s.services().map_while(|svc| svc).any(|svc| self.service_may_match(s, &svc, beat, true));
        }
        s.service(&self.service).is_some_and(|svc| self.service_may_match(s, &svc, beat, false))
    }

    fn service_may_match(&self, s: &SummaryView<'_>, svc: &ServiceView<'_>, beat: Option<u64>, any: bool) -> bool {
        if !(svc.max_start >= self.start.0
            && svc.min_start <= self.start.1
            && svc.max_duration >= self.duration.0
            && svc.min_duration <= self.duration.1)
        {
            return false;
        }
        // The newest start a matching span can have here: the service's, the operation's and
        // that of the spans in the asked duration range, whichever is earliest. Long spans
        // start long before the block that holds them is written, so without the last two a
        // search for them walked every block written since.
        let mut newest_possible = svc.max_start.min(self.start.1).min(svc.latest_with_duration(self.duration.0));
        if let Some(op) = &self.operation {
            match svc.operation_latest(op) {
                Some(latest) => newest_possible = newest_possible.min(latest),
                None => return false,
            }
        }
        newest_possible >= self.start.0
            && beat.is_none_or(|k| newest_possible > k)
            && self.tags.iter().all(|(k, v, h)| {
                let any_service;
                let hashes = if any {
                    any_service = FilterHashes::new(&String::from_utf8_lossy(svc.name), k, v);
                    &any_service
                } else {
                    h
                };
                hashes.pass(s)
            })
    }

    /// Whether a search can be answered by [`Block::walk_light`] and [`Conditions::times_and_name_match`].
    pub fn needs_attributes(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Every condition but the tags (a span of a queried service).
    pub fn times_and_name_match(&self, start: u64, end: u64, name: &str) -> bool {
        (self.start.0..=self.start.1).contains(&start)
            && (self.duration.0..=self.duration.1).contains(&end.saturating_sub(start))
            && self.operation.as_ref().is_none_or(|op| op == name)
    }

    /// Whether this span (of a queried service) meets every condition.
    pub fn row_matches(&self, row: &SpanRow<'_>, context: &BlockContext, text: &mut String) -> Result<bool, CodecError> {
        if !self.times_and_name_match(row.start, row.end, row.name) {
            return Ok(false);
        }
        for (i, (key, want, _)) in self.tags.iter().enumerate() {
            let found = any_attr_is(&row.attrs, key, want, text)?
                || context.outside_span(row, i)
                || any_attr_is(&row.event_attrs, key, want, text)?
                || derived_tags_of(row.kind, row.status.map(|s| s.0).unwrap_or(0)).any(|(k, v)| k == key && v == want.text)
                || links_have(&row.links, key, &want.text)?;
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn links_have(links: &[&[u8]], key: &str, want: &str) -> Result<bool, CodecError> {
    for raw in links {
        if kv_is(&Link::decode(*raw)?.attributes, key, want) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn any_attr_is(attrs: &[Attr<'_>], key: &str, want: &Want, text: &mut String) -> Result<bool, CodecError> {
    for (k, v) in attrs {
        if *k == key && want.is(*v, text)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tags Jaeger derives from span fields (see `codec::derived_tags_of`): any span may
/// carry them, whatever its attribute columns hold.
fn is_derived(key: &str) -> bool {
    matches!(key, "span.kind" | "otel.status_code" | "error")
}

/// Whether a link of the block may carry the tag. Links keep the client's protobuf bytes,
/// so a link attribute under `key` has the key's bytes in them, and a string value its own;
/// a typed value (an int is a varint there, bytes print as hex) may be in any link that has
/// the key.
fn link_may_carry(block: &Block, key: &str, want: &Want) -> bool {
    let rare = block.rare_bytes();
    let has = |needle: &str| memchr::memmem::find(rare, needle.as_bytes()).is_some();
    has(key) && (!only_a_string(&want.text) || has(&want.text))
}

/// True when no non-string attribute has `value` as its text (see `codec::value_text`):
/// then the value's bytes appear verbatim in any span data that has it.
pub fn only_a_string(value: &str) -> bool {
    let hex = value.len().is_multiple_of(2) && value.bytes().all(|b| b.is_ascii_hexdigit());
    !hex && value.parse::<i64>().is_err() && value.parse::<f64>().is_err() && !matches!(value, "true" | "false")
}

fn kv_is(kvs: &[KeyValue], key: &str, want: &str) -> bool {
    kvs.iter().any(|kv| kv.key == key && kv.value.as_ref().and_then(value_text).is_some_and(|t| t == want))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tracegate_core::storage::TraceQuery;

    use super::Conditions;
    use crate::codec::DOUBLE_VALUES;
    use crate::summary::{tag_hash, ServiceSummary, Summary, SummaryView};

    /// Whether a search for `ratio=<value>` (and for `ratio=<value>` in any service) gets
    /// past the filter of a summary of service `api` whose filter holds `tags`.
    fn passes(tags: &[(&str, &str)], value: &str) -> (bool, bool) {
        let api = ServiceSummary { name: "api".into(), min_start: 10, max_start: 20, max_duration: u64::MAX, ..Default::default() };
        let tags: HashSet<u64> = tags.iter().map(|(k, v)| tag_hash("api", k, v)).collect();
        let bytes = Summary::new(vec![api], &tags).encode();
        let view = SummaryView::parse(&bytes).expect("parses");
        let query = |service: &str| TraceQuery {
            service: service.into(),
            tags: [("ratio".to_string(), value.to_string())].into(),
            limit: 20,
            ..Default::default()
        };
        (Conditions::new(&query("api")).block_may_match(&view, None), Conditions::new(&query("")).block_may_match(&view, None))
    }

    /// Format 6 files doubles under one marker per key, format 5 by their text: a search
    /// for a double's text gets past both (the walk then compares the text), and past
    /// neither when the block has no double under that key.
    #[test]
    fn a_double_search_passes_the_marker_and_the_text_older_summaries_hold() {
        assert_eq!(passes(&[("ratio", DOUBLE_VALUES)], "0.5"), (true, true), "format 6: the marker");
        assert_eq!(passes(&[("ratio", "0.5")], "0.5"), (true, true), "format 5: the text");
        assert_eq!(passes(&[("other", DOUBLE_VALUES), ("ratio", "0.25")], "0.5"), (false, false), "no double under the key");
        // Text that no double prints as does not look for the marker.
        assert_eq!(passes(&[("ratio", DOUBLE_VALUES)], "fast"), (false, false));
    }
}
