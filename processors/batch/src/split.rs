//! Splitting a batch by span count while keeping resource and scope grouping.

use tracegate_core::data::{ResourceSpans, ScopeSpans};

/// Removes the first `n` spans from `from` and returns them, grouped under copies of their
/// resource and scope. Containers left empty are removed from `from`.
pub fn split_off_spans(from: &mut Vec<ResourceSpans>, mut n: usize) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    while n > 0 && !from.is_empty() {
        let rs_spans: usize = from[0].scope_spans.iter().map(|s| s.spans.len()).sum();
        if rs_spans <= n {
            n -= rs_spans;
            out.push(from.remove(0));
            continue;
        }
        let rs = &mut from[0];
        let mut taken = ResourceSpans {
            resource: rs.resource.clone(),
            schema_url: rs.schema_url.clone(),
            scope_spans: Vec::new(),
        };
        while n > 0 {
            let ss = &mut rs.scope_spans[0];
            if ss.spans.len() <= n {
                n -= ss.spans.len();
                taken.scope_spans.push(rs.scope_spans.remove(0));
            } else {
                let head: Vec<_> = ss.spans.drain(..n).collect();
                taken.scope_spans.push(ScopeSpans { scope: ss.scope.clone(), schema_url: ss.schema_url.clone(), spans: head });
                n = 0;
            }
        }
        out.push(taken);
    }
    out
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
                .map(|(i, n)| ScopeSpans { schema_url: format!("{name}-{i}"), spans: vec![Span::default(); *n], ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    fn count(v: &[ResourceSpans]) -> usize {
        v.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
    }

    #[test]
    fn splits_inside_scopes_and_keeps_grouping() {
        let mut batch = vec![rs("a", &[3, 2]), rs("b", &[4])];
        let first = split_off_spans(&mut batch, 4);
        assert_eq!(count(&first), 4);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].scope_spans.len(), 2);
        assert_eq!(first[0].scope_spans[1].schema_url, "a-1", "scope identity is kept");
        assert_eq!(count(&batch), 5);
        assert_eq!(batch[0].schema_url, "a", "the rest of resource a stays first");
        let rest = split_off_spans(&mut batch, 100);
        assert_eq!(count(&rest), 5);
        assert!(batch.is_empty());
    }
}
