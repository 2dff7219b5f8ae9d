//! Tests of `data`.

use super::*;
use crate::testing::blank_spans;

#[test]
fn clone_shares_and_make_mut_copies_only_when_shared() {
    let a = blank_spans(3);
    let mut b = a.clone();
    assert!(a.shares_with(&b));
    b.make_mut()[0].scope_spans[0].spans.pop();
    assert!(!a.shares_with(&b));
    assert_eq!(a.span_count(), 3);
    assert_eq!(b.span_count(), 2);

    let mut sole = blank_spans(3);
    let before = sole.resource_spans().as_ptr();
    sole.make_mut();
    assert_eq!(
        before,
        sole.resource_spans().as_ptr(),
        "sole owner must not copy"
    );
}

fn as_bytes(t: &Traces) -> Traces {
    let bytes = Bytes::from(t.to_request().encode_to_vec());
    let summary = validate_request(&bytes).unwrap();
    Traces::from_checked(bytes, summary)
}

fn named(names: &[&str]) -> Traces {
    let span = |n: &&str| Span {
        name: n.to_string(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        // Each name its own start, so a batch's oldest start tells its spans apart.
        start_time_unix_nano: 1_000 * u64::from(n.as_bytes().first().copied().unwrap_or(0)),
        ..Default::default()
    };
    Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: names.iter().map(span).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }])
}

#[test]
fn a_batch_of_bytes_counts_without_decoding_and_reads_like_the_original() {
    let original = named(&["a", "b"]);
    let lazy = as_bytes(&original);
    assert_eq!(lazy.span_count(), 2);
    assert_eq!(
        lazy.encode_request(),
        original.encode_request(),
        "bytes are passed through"
    );
    assert_eq!(lazy.resource_spans(), original.resource_spans());
    assert!(
        lazy.is_encoded(),
        "reading does not give up the bytes"
    );
}

/// Span names read through [`Traces::read`], with where each name's bytes are.
#[derive(Default)]
struct Names(Vec<String>, Vec<usize>);

impl PartsRead for Names {
    fn part<'a, T: tracegate_pdata::read::TracesRead<'a>>(&mut self, part: T) -> Result<(), ViewError> {
        use tracegate_pdata::read::{ResourceSpansRead, ScopeSpansRead, SpanRead};
        for rs in part.resource_spans() {
            for ss in rs?.scope_spans() {
                for span in ss?.spans() {
                    let name = span?.name();
                    self.0.push(name.to_string());
                    self.1.push(name.as_ptr() as usize);
                }
            }
        }
        Ok(())
    }
}

#[test]
fn read_sees_the_same_spans_in_either_form_and_reads_bytes_in_place() {
    let (a, b) = (named(&["a", "b"]), named(&["c"]));
    let bytes = Traces::concat(vec![as_bytes(&a), as_bytes(&b)]);
    let structs = Traces::concat(vec![a, b]);
    let (mut from_bytes, mut from_structs) = (Names::default(), Names::default());
    bytes.read(&mut from_bytes).unwrap();
    structs.read(&mut from_structs).unwrap();
    assert_eq!(from_bytes.0, ["a", "b", "c"]);
    assert_eq!(from_bytes.0, from_structs.0);
    let parts = bytes.encoded_parts().unwrap();
    let inside = |at: usize| parts.iter().any(|p| (p.bytes.as_ptr() as usize..p.bytes.as_ptr() as usize + p.bytes.len()).contains(&at));
    assert!(from_bytes.1.iter().all(|at| inside(*at)), "names borrowed from the request bytes, not decoded");
    assert!(bytes.is_encoded());
}

#[test]
fn encoded_len_is_the_length_of_the_request_bytes_in_either_form() {
    let decoded = named(&["a", "bb", "ccc"]);
    let bytes = as_bytes(&decoded);
    let len = decoded.encode_request().len();
    assert_eq!(decoded.encoded_len(), len);
    assert_eq!(bytes.encoded_len(), len);
    let joined = Traces::concat(vec![bytes.clone(), bytes]);
    assert_eq!(joined.encoded_len(), joined.encode_request().len());
    assert_eq!(Traces::default().encoded_len(), 0);
}

#[test]
fn changing_a_batch_of_bytes_drops_the_bytes_and_leaves_other_holders_alone() {
    let lazy = as_bytes(&named(&["a", "b"]));
    let mut changed = lazy.clone();
    changed.make_mut()[0].scope_spans[0].spans[0].name = "renamed".into();
    assert!(!changed.is_encoded());
    assert_eq!(lazy.resource_spans()[0].scope_spans[0].spans[0].name, "a");
    let reencoded = ExportTraceServiceRequest::decode(changed.encode_request()).unwrap();
    assert_eq!(
        reencoded.resource_spans[0].scope_spans[0].spans[0].name,
        "renamed"
    );
}

#[test]
fn the_tenant_survives_changes_joins_and_cuts_and_groups_keep_tenants_apart() {
    let acme: Option<Arc<str>> = Some(Arc::from("acme"));
    let globex: Option<Arc<str>> = Some(Arc::from("globex"));
    let mut changed = as_bytes(&named(&["a"])).with_tenant(acme.clone());
    changed.make_mut()[0].scope_spans[0].spans[0].name = "b".into();
    assert_eq!(changed.tenant(), acme.as_ref());
    let joined = Traces::concat(vec![changed.clone(), named(&["c"]).with_tenant(acme.clone())]);
    assert_eq!(joined.tenant(), acme.as_ref());
    let bytes = Traces::concat(vec![as_bytes(&named(&["a"])), as_bytes(&named(&["b"]))]).with_tenant(acme.clone());
    for piece in bytes.split_encoded(1).unwrap_or_default().into_iter().chain(bytes.split_encoded(1 << 20).unwrap()) {
        assert_eq!(piece.tenant(), acme.as_ref());
    }
    let parts = vec![
        named(&["1"]).with_tenant(acme.clone()),
        named(&["2"]).with_tenant(globex.clone()),
        named(&["3"]),
        named(&["4"]).with_tenant(acme.clone()),
    ];
    let groups = Traces::group_by_tenant(parts);
    let shape: Vec<(Option<&str>, usize)> = groups.iter().map(|g| (g[0].tenant().map(|t| &**t), g.len())).collect();
    assert_eq!(shape, [(Some("acme"), 2), (Some("globex"), 1), (None, 1)]);
    assert_eq!(groups[0][1].resource_spans()[0].scope_spans[0].spans[0].name, "4", "order kept within a tenant");
}

#[test]
fn concat_keeps_bytes_when_every_part_is_bytes() {
    let (a, b) = (named(&["a"]), named(&["b", "c"]));
    let joined = Traces::concat(vec![as_bytes(&a), as_bytes(&b)]);
    assert!(joined.is_encoded());
    assert_eq!(joined.span_count(), 3);
    let mixed = Traces::concat(vec![as_bytes(&a), b.clone()]);
    assert!(!mixed.is_encoded());
    assert_eq!(joined.resource_spans(), mixed.resource_spans());
    let names: Vec<_> = mixed
        .resource_spans()
        .iter()
        .flat_map(|r| &r.scope_spans[0].spans)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn split_encoded_cuts_at_resources_without_decoding() {
    let joined = Traces::concat(vec![
        as_bytes(&named(&["a", "b"])),
        as_bytes(&named(&["c"])),
        as_bytes(&named(&["d", "e", "f"])),
    ]);
    let one = named(&["d", "e", "f"]).encode_request().len();
    let pieces = joined.split_encoded(one + 2).unwrap();
    let counts: Vec<_> = pieces.iter().map(Traces::span_count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6);
    assert!(pieces.len() >= 2 && pieces.iter().all(|p| p.encode_request().len() <= one + 2));
    let rejoined: Vec<_> = pieces.iter().flat_map(|p| p.resource_spans().to_vec()).collect();
    assert_eq!(rejoined, joined.resource_spans());
    for (piece, count) in pieces.iter().zip(counts) {
        assert_eq!(piece.resource_spans().iter().map(|r| r.scope_spans[0].spans.len()).sum::<usize>(), count);
    }
    // A piece keeps its request's note of the oldest start: no span of it starts earlier.
    for piece in &pieces {
        let oldest = piece.resource_spans().iter().flat_map(|r| &r.scope_spans[0].spans).map(|s| s.start_time_unix_nano).min();
        let noted = piece.encoded_parts().unwrap().iter().map(|p| p.oldest_start_ns).min();
        assert!(noted.is_some_and(|n| n > 0) && noted <= oldest, "noted {noted:?}, spans from {oldest:?}");
    }
    assert_eq!(joined.encoded_parts().unwrap().iter().map(|p| p.oldest_start_ns).collect::<Vec<_>>(), [97_000, 99_000, 100_000]);
    assert!(joined.split_encoded(3).is_none(), "a resource larger than the limit");
    assert!(named(&["a"]).split_encoded(1 << 20).is_none(), "decoded batches are not cut here");
}

#[test]
fn concat_keeps_each_request_and_joins_only_when_asked() {
    let (a, b) = (as_bytes(&named(&["a"])), as_bytes(&named(&["b", "c"])));
    let joined = Traces::concat(vec![a.clone(), b.clone()]);
    let parts = joined.encoded_parts().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].bytes.as_ptr(), a.encode_request().as_ptr(), "no copy");
    assert_eq!(parts.iter().map(|p| p.spans).collect::<Vec<_>>(), [1, 2]);
    let mut expected = a.encode_request().to_vec();
    expected.extend_from_slice(&b.encode_request());
    assert_eq!(joined.encode_request(), expected);
}

#[test]
fn split_encoded_sends_big_requests_alone_and_groups_small_ones() {
    let big = as_bytes(&named(&["x"; 40]));
    let small = as_bytes(&named(&["s"]));
    let max = big.encode_request().len() * 2;
    assert!(small.encode_request().len() < max / 4);
    let batch = Traces::concat(vec![small.clone(), small.clone(), big.clone(), small.clone()]);
    let pieces = batch.split_encoded(max).unwrap();
    let shapes: Vec<_> = pieces.iter().map(|p| p.encoded_parts().unwrap().len()).collect();
    assert_eq!(shapes, [2, 1, 1], "small ones joined, the big one alone, order kept");
    assert_eq!(pieces[1].encode_request().as_ptr(), big.encode_request().as_ptr(), "no copy");
    assert_eq!(pieces.iter().map(Traces::span_count).sum::<usize>(), 43);
    let rejoined: Vec<_> = pieces.iter().flat_map(|p| p.resource_spans().to_vec()).collect();
    assert_eq!(rejoined, batch.resource_spans());
}
