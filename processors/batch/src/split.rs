//! Splitting a batch by span count while keeping resource and scope grouping.

use tracegate_core::data::{ResourceSpans, ScopeSpans, Traces};

/// Removes the first `n` spans from a queue of batches. Whole batches move as they are (a
/// batch still in its received bytes stays bytes); only the one batch cut in two is decoded.
pub fn split_off_parts(from: &mut Vec<Traces>, mut n: usize) -> Vec<Traces> {
    let mut whole = 0;
    for part in from.iter() {
        let spans = part.span_count();
        if spans > n {
            break;
        }
        n -= spans;
        whole += 1;
    }
    let mut out: Vec<Traces> = from.drain(..whole).collect();
    if n > 0 && !from.is_empty() {
        let first = std::mem::take(&mut from[0]);
        let tenant = first.tenant().cloned();
        let mut rest = first.into_resource_spans();
        out.push(Traces::new(split_off_spans(&mut rest, n)).with_tenant(tenant.clone()));
        from[0] = Traces::new(rest).with_tenant(tenant);
    }
    out
}

/// Removes the first `n` spans from `from` and returns them, grouped under copies of their
/// resource and scope. Containers left empty are removed from `from`.
pub fn split_off_spans(from: &mut Vec<ResourceSpans>, mut n: usize) -> Vec<ResourceSpans> {
    // Whole resources first, drained in one move (removing them one by one from the front
    // would shift the rest each time: quadratic in a batch of many small resources).
    let mut whole = 0;
    for rs in from.iter() {
        let spans = span_count(rs);
        if spans > n {
            break;
        }
        n -= spans;
        whole += 1;
    }
    let mut out: Vec<ResourceSpans> = from.drain(..whole).collect();
    if n == 0 || from.is_empty() {
        return out;
    }
    // Then part of the next resource, under a copy of it.
    let rs = &mut from[0];
    let mut taken = ResourceSpans {
        resource: rs.resource.clone(),
        schema_url: rs.schema_url.clone(),
        scope_spans: Vec::new(),
    };
    let mut whole_scopes = 0;
    for ss in &rs.scope_spans {
        if ss.spans.len() > n {
            break;
        }
        n -= ss.spans.len();
        whole_scopes += 1;
    }
    taken
        .scope_spans
        .extend(rs.scope_spans.drain(..whole_scopes));
    if n > 0 {
        if let Some(ss) = rs.scope_spans.first_mut() {
            let head: Vec<_> = ss.spans.drain(..n).collect();
            taken.scope_spans.push(ScopeSpans {
                scope: ss.scope.clone(),
                schema_url: ss.schema_url.clone(),
                spans: head,
            });
        }
    }
    out.push(taken);
    out
}

fn span_count(rs: &ResourceSpans) -> usize {
    rs.scope_spans.iter().map(|s| s.spans.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracegate_core::data::Span;

    fn rs(name: &str, scopes: &[usize]) -> ResourceSpans {
        use tracegate_core::data::ScopeSpans;
        ResourceSpans {
            schema_url: name.to_string(),
            scope_spans: scopes
                .iter()
                .enumerate()
                .map(|(i, n)| ScopeSpans {
                    schema_url: format!("{name}-{i}"),
                    spans: vec![Span::default(); *n],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn count(v: &[ResourceSpans]) -> usize {
        v.iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    #[test]
    fn splits_inside_scopes_and_keeps_grouping() {
        let mut batch = vec![rs("a", &[3, 2]), rs("b", &[4])];
        let first = split_off_spans(&mut batch, 4);
        assert_eq!(count(&first), 4);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].scope_spans.len(), 2);
        assert_eq!(
            first[0].scope_spans[1].schema_url, "a-1",
            "scope identity is kept"
        );
        assert_eq!(count(&batch), 5);
        assert_eq!(
            batch[0].schema_url, "a",
            "the rest of resource a stays first"
        );
        let rest = split_off_spans(&mut batch, 100);
        assert_eq!(count(&rest), 5);
        assert!(batch.is_empty());
    }

    #[test]
    fn splits_at_resource_and_scope_boundaries_without_empty_containers() {
        let mut batch = vec![rs("a", &[2]), rs("b", &[1, 3]), rs("c", &[1])];
        let first = split_off_spans(&mut batch, 3);
        assert_eq!(
            first
                .iter()
                .map(|r| r.schema_url.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            first[1].scope_spans.len(),
            1,
            "b's first scope whole, nothing of its second"
        );
        assert_eq!(batch[0].schema_url, "b");
        assert_eq!(batch[0].scope_spans.len(), 1);
        assert_eq!(batch[0].scope_spans[0].schema_url, "b-1");
        let second = split_off_spans(&mut batch, 2);
        assert_eq!((count(&second), count(&batch)), (2, 2));
        assert_eq!(
            second[0].scope_spans[0].schema_url, "b-1",
            "a split scope keeps its identity"
        );
        assert!(split_off_spans(&mut batch, 0).is_empty());
        assert_eq!(count(&split_off_spans(&mut batch, 2)), 2);
        assert!(batch.is_empty());
        assert!(split_off_spans(&mut batch, 5).is_empty());
    }
}
