//! Counting, at append, the spans of a batch that start before the retention: the exporter
//! reports them as dropped in its answer ([`crate::exporter::PAST_RETENTION`]), before the
//! block they would go into is written.
//!
//! # Why not the writer's index
//!
//! The count used to come from [`crate::batch_index::index`], which parses every span into a view:
//! a second full parse of every span (the block writer parses them again when the block is
//! cut), ~3% of the all-in-one's CPU in a profile of the fill. Here only the start times are
//! read; every other field is skipped by its length. The test is the writer's own
//! ([`is_past`]), so the count matches the spans the writer leaves out.
//!
//! Usually not even that: a request the receiver checked carries the oldest start of its
//! spans (`EncodedPart::oldest_start_ns`), and when that one is kept every span is, so
//! [`in_request`] only runs for a request that holds a span past the retention (or came
//! without the check's note). The walk was ~2% of the all-in-one's fill CPU.

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tracegate_pdata::wire::{Reader, Value, WireError};

use crate::write::WriteOptions;

/// The bytes are not an encoding prost reads (the caller then asks prost for its verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a request prost reads")]
pub struct Malformed;

impl From<WireError> for Malformed {
    fn from(_: WireError) -> Self {
        Malformed
    }
}

/// Whether a span starting at `start_ns` is older than the retention (the writer skips it).
pub fn is_past(start_ns: u64, opts: &WriteOptions) -> bool {
    (start_ns / 1_000_000_000).saturating_add(opts.partition_secs) <= opts.cutoff_secs
}

/// The length-delimited fields numbered `field` in `buf`, skipping the rest (by the one wire
/// reader's rules, which are prost's).
fn messages(buf: &[u8], field: u32) -> impl Iterator<Item = Result<&[u8], Malformed>> {
    Reader::new(buf).filter_map(move |f| match f {
        Ok(f) if f.number == field => match f.value {
            Value::Bytes(message) => Some(Ok(message)),
            _ => Some(Err(Malformed)),
        },
        Ok(_) => None,
        Err(e) => Some(Err(e.into())),
    })
}

/// A `Span` encoding's `start_time_unix_nano` (field 7; the last one, as prost reads it).
fn start_time(span: &[u8]) -> Result<u64, Malformed> {
    let mut start = 0;
    for field in Reader::new(span) {
        let field = field?;
        if field.number == 7 {
            start = field.value.fixed64(7)?;
        }
    }
    Ok(start)
}

/// Spans of an `ExportTraceServiceRequest` encoding that start before the retention.
pub fn in_request(request: &[u8], opts: &WriteOptions) -> Result<usize, Malformed> {
    if opts.cutoff_secs == 0 {
        return Ok(0);
    }
    let mut past = 0;
    for rs in messages(request, 1) {
        for ss in messages(rs?, 2) {
            for span in messages(ss?, 2) {
                if is_past(start_time(span?)?, opts) {
                    past += 1;
                }
            }
        }
    }
    Ok(past)
}

/// [`in_request`] for decoded spans.
pub fn in_decoded(resource_spans: &[ResourceSpans], opts: &WriteOptions) -> usize {
    let spans = resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans);
    spans.filter(|s| is_past(s.start_time_unix_nano, opts)).count()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    use super::*;

    fn opts() -> WriteOptions {
        WriteOptions { partition_secs: 3600, cutoff_secs: 100_000, compression_level: 1, now_secs: 200_000, future_limit_secs: 300_000 }
    }

    fn span(start_secs: u64) -> Span {
        let attr = KeyValue { key: "k".into(), key_strindex: 0, value: Some(AnyValue { value: Some(any_value::Value::StringValue("v".into())) }) };
        Span { start_time_unix_nano: start_secs * 1_000_000_000, name: "op".into(), attributes: vec![attr], ..Span::default() }
    }

    #[test]
    fn counts_the_spans_the_writer_leaves_out() {
        let scope = |starts: &[u64]| ScopeSpans { spans: starts.iter().map(|s| span(*s)).collect(), ..ScopeSpans::default() };
        let rs = vec![
            ResourceSpans { scope_spans: vec![scope(&[10, 96_399, 96_400, 150_000]), scope(&[0])], ..ResourceSpans::default() },
            ResourceSpans { scope_spans: vec![scope(&[99_999, 200_000])], ..ResourceSpans::default() },
        ];
        let request = ExportTraceServiceRequest { resource_spans: rs.clone() }.encode_to_vec();
        // Starts up to cutoff - partition (96_400) are past: 10, 96_399, 96_400 and 0.
        assert_eq!(in_request(&request, &opts()), Ok(4));
        assert_eq!(in_decoded(&rs, &opts()), 4);
        let keep_all = WriteOptions { cutoff_secs: 0, ..opts() };
        assert_eq!(in_request(&request, &keep_all), Ok(0));
    }

    #[test]
    fn a_cut_short_request_is_an_error_not_a_panic() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span(5), span(6)], ..ScopeSpans::default() }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec();
        for cut in 1..request.len() {
            let _ = in_request(&request[..cut], &opts());
        }
        assert!(in_request(&request[..request.len() - 3], &opts()).is_err());
    }
}
