//! A trace's shape for an agent, as Jaeger's `get_trace_topology` gives it: a flat,
//! depth-first list of spans where each `path` is the slash-joined span ids from the root
//! down to the span. Roots and siblings are in start-time order (span id breaks ties); a span
//! whose parent is not in the trace is a root whose path starts with the missing parent's id,
//! so the agent sees where it hangs. With a `depth`, spans below it are left out and the
//! deepest listed span says how many direct children it hides (`truncated_children`).
//!
//! Walked with an explicit stack and a visited mark, so a deep trace cannot exhaust the stack
//! and repeated span ids cannot loop.

use std::collections::HashMap;

use super::types::TopologySpan;

/// What the topology shows of a span.
#[derive(Clone, Debug)]
pub struct TopoSpan {
    pub span_id: String,
    /// "" for a root.
    pub parent_id: String,
    pub service: String,
    pub span_name: String,
    pub start_time: String,
    pub start_unix_nano: u64,
    pub duration_us: i64,
    pub status: String,
}

/// The depth-first list; `max_depth` 0 means the whole tree.
pub fn flat_topology(spans: &[TopoSpan], max_depth: usize) -> Vec<TopologySpan> {
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id.as_str()).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match by_id.get(s.parent_id.as_str()) {
            Some(&p) if !s.parent_id.is_empty() => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let order = |list: &mut Vec<usize>| list.sort_by(|&a, &b| (spans[a].start_unix_nano, &spans[a].span_id).cmp(&(spans[b].start_unix_nano, &spans[b].span_id)));
    order(&mut roots);
    children.iter_mut().for_each(order);

    let mut out = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    // (span, its path, its depth), pushed in reverse so the earliest sibling comes out first.
    let mut stack: Vec<(usize, String, usize)> = roots
        .iter()
        .rev()
        .map(|&r| {
            let s = &spans[r];
            let path = if s.parent_id.is_empty() { s.span_id.clone() } else { format!("{}/{}", s.parent_id, s.span_id) };
            (r, path, 1)
        })
        .collect();
    while let Some((i, path, depth)) = stack.pop() {
        if visited[i] {
            continue;
        }
        visited[i] = true;
        let s = &spans[i];
        let at_limit = max_depth > 0 && depth >= max_depth;
        let truncated_children = if at_limit { children[i].len() } else { 0 };
        if !at_limit {
            for &c in children[i].iter().rev() {
                stack.push((c, format!("{path}/{}", spans[c].span_id), depth + 1));
            }
        }
        out.push(TopologySpan {
            path,
            service: s.service.clone(),
            span_name: s.span_name.clone(),
            start_time: s.start_time.clone(),
            duration_us: s.duration_us,
            status: s.status.clone(),
            truncated_children,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, start: u64) -> TopoSpan {
        TopoSpan {
            span_id: id.into(),
            parent_id: parent.into(),
            service: format!("svc-{id}"),
            span_name: format!("op-{id}"),
            start_time: String::new(),
            start_unix_nano: start,
            duration_us: 1,
            status: "Unset".into(),
        }
    }

    fn paths(spans: &[TopoSpan], depth: usize) -> Vec<(String, usize)> {
        flat_topology(spans, depth).into_iter().map(|s| (s.path, s.truncated_children)).collect()
    }

    #[test]
    fn depth_first_with_siblings_in_start_order() {
        // Given out of order: the list follows the tree, earliest sibling first.
        let spans = [span("c", "a", 30), span("a", "", 0), span("b", "a", 10), span("d", "b", 20)];
        assert_eq!(paths(&spans, 0), [("a".into(), 0), ("a/b".into(), 0), ("a/b/d".into(), 0), ("a/c".into(), 0)]);
        let first = &flat_topology(&spans, 0)[0];
        assert_eq!((first.service.as_str(), first.span_name.as_str()), ("svc-a", "op-a"));
    }

    #[test]
    fn depth_limit_counts_the_hidden_children() {
        let spans = [span("a", "", 0), span("b", "a", 10), span("c", "a", 30), span("d", "b", 20)];
        assert_eq!(paths(&spans, 1), [("a".into(), 2)]);
        assert_eq!(paths(&spans, 2), [("a".into(), 0), ("a/b".into(), 1), ("a/c".into(), 0)]);
    }

    #[test]
    fn an_orphan_hangs_under_its_missing_parents_id() {
        let spans = [span("a", "", 0), span("x", "gone", 5), span("y", "x", 6)];
        assert_eq!(paths(&spans, 0), [("a".into(), 0), ("gone/x".into(), 0), ("gone/x/y".into(), 0)]);
    }

    #[test]
    fn repeated_ids_and_self_parents_do_not_loop() {
        let spans = [span("a", "", 0), span("a", "a", 1), span("s", "s", 2)];
        // The repeated `a` is listed once under the first; `s` (its own parent) hangs nowhere.
        assert_eq!(paths(&spans, 0), [("a".into(), 0), ("a/a".into(), 0)]);
    }

    #[test]
    fn a_deep_chain_is_listed_whole() {
        // Paths grow with depth (the answer is quadratic in it), which is why the server caps
        // the spans it lists (`max_topology_spans`).
        let spans: Vec<TopoSpan> =
            (0..2_000u64).map(|i| span(&format!("{i:x}"), &if i == 0 { String::new() } else { format!("{:x}", i - 1) }, i)).collect();
        let out = flat_topology(&spans, 0);
        assert_eq!(out.len(), 2_000);
        assert_eq!(out[3].path, "0/1/2/3");
    }
}
