//! The critical path of a trace: the chain of work that decided how long it took, as the
//! Jaeger UI's critical path (`packages/jaeger-ui/src/components/TracePage/CriticalPath`) and
//! Jaeger's `get_critical_path` tool compute it, so an agent reads the same answer the UI draws.
//!
//! From the root, the path follows the *last finishing child* (LFC); the parent's time after
//! that child ended is the parent's own (blocking) time. Back from a child, the path continues
//! in the parent before the child's start, with the child that finished last before that
//! moment, and so on; time covered by no such child is the parent's again. A child that
//! overlaps a later-finishing sibling is thus off the path: the sibling blocked longer.
//! Before that, children are fitted into their parent's time (cut where they overflow it,
//! dropped with their subtree when wholly outside it, as are spans whose parent is missing).
//!
//! Unlike the recursive originals this walks with a loop and visits each parent/child step at
//! most once, so a deep trace cannot exhaust the stack and a malformed one (a span that names
//! itself as parent, repeated ids) cannot loop. Times are in microseconds, as Jaeger's.

use std::collections::{HashMap, VecDeque};

/// What the algorithm needs of a span.
#[derive(Clone, Debug)]
pub struct CpSpan {
    pub span_id: Vec<u8>,
    /// Empty (or all zero) for a root.
    pub parent_span_id: Vec<u8>,
    pub start_us: u64,
    pub duration_us: u64,
}

/// One stretch of the path: `span` (an index into the input) was the blocking work from
/// `start_us` to `end_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub span: usize,
    pub start_us: u64,
    pub end_us: u64,
}

fn is_root(parent: &[u8]) -> bool {
    parent.iter().all(|b| *b == 0)
}

/// The critical path, latest section first (the order Jaeger reports it in); `None` when the
/// trace has no root span. The root is the earliest-starting span without a parent.
pub fn critical_path(spans: &[CpSpan]) -> Option<Vec<Section>> {
    let root = (0..spans.len()).filter(|&i| is_root(&spans[i].parent_span_id)).min_by_key(|&i| (spans[i].start_us, i))?;
    // First span of each id wins; a repeated id is ignored.
    let mut by_id: HashMap<&[u8], usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id.as_slice()).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if is_root(&s.parent_span_id) || by_id.get(s.span_id.as_slice()) != Some(&i) {
            continue;
        }
        if let Some(&p) = by_id.get(s.parent_span_id.as_slice()) {
            if p != i {
                children[p].push(i);
            }
        }
    }
    let (start, end) = fit_children(spans, root, &children);
    let mut parent = vec![usize::MAX; spans.len()];
    for (p, kids) in children.iter().enumerate() {
        for &c in kids {
            parent[c] = p;
        }
    }

    let mut path = Vec::new();
    let (mut current, mut returning_start) = (root, None::<u64>);
    // Each step either enters a child not entered before or returns to a parent: 2 per span.
    for _ in 0..=2 * spans.len() {
        let section_end = returning_start.unwrap_or(end[current]);
        let lfc = children[current]
            .iter()
            .copied()
            .filter(|&c| start[c] != u64::MAX && returning_start.is_none_or(|r| end[c] < r))
            .filter(|&c| end[c] > 0)
            .max_by_key(|&c| (end[c], std::cmp::Reverse(c)));
        match lfc {
            Some(child) => {
                if end[child] != section_end {
                    path.push(Section { span: current, start_us: end[child].min(section_end), end_us: section_end });
                }
                (current, returning_start) = (child, None);
            }
            None => {
                if start[current] != section_end {
                    path.push(Section { span: current, start_us: start[current].min(section_end), end_us: section_end });
                }
                if current == root || parent[current] == usize::MAX {
                    break;
                }
                (current, returning_start) = (parent[current], Some(start[current]));
            }
        }
    }
    Some(path)
}

/// Each span's (start, end) after fitting children into their parents, parents first
/// (breadth-first from the root); `u64::MAX` starts mark dropped spans. Spans not under the
/// root (other roots, orphans) stay dropped.
fn fit_children(spans: &[CpSpan], root: usize, children: &[Vec<usize>]) -> (Vec<u64>, Vec<u64>) {
    let mut start = vec![u64::MAX; spans.len()];
    let mut end = vec![0u64; spans.len()];
    start[root] = spans[root].start_us;
    end[root] = spans[root].start_us.saturating_add(spans[root].duration_us);
    let mut queue = VecDeque::from([root]);
    let mut seen = vec![false; spans.len()];
    seen[root] = true;
    while let Some(p) = queue.pop_front() {
        for &c in &children[p] {
            if seen[c] {
                continue;
            }
            seen[c] = true;
            let (cs, ce) = (spans[c].start_us, spans[c].start_us.saturating_add(spans[c].duration_us));
            // Wholly outside the parent: dropped, and its subtree with it (never queued).
            if cs >= end[p] || ce <= start[p] {
                continue;
            }
            start[c] = cs.max(start[p]);
            end[c] = ce.min(end[p]);
            queue.push_back(c);
        }
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spans named by one byte: `(id, parent (0 = root), start, end)`.
    fn trace(spans: &[(u8, u8, u64, u64)]) -> Vec<CpSpan> {
        spans
            .iter()
            .map(|&(id, parent, start, end)| CpSpan {
                span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
                parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
                start_us: start,
                duration_us: end - start,
            })
            .collect()
    }

    /// The path as `(span id byte, start, end)`, latest first.
    fn path(spans: &[(u8, u8, u64, u64)]) -> Vec<(u8, u64, u64)> {
        let t = trace(spans);
        critical_path(&t).expect("has a root").iter().map(|s| (t[s.span].span_id[7], s.start_us, s.end_us)).collect()
    }

    #[test]
    fn a_lone_span_is_the_whole_path() {
        assert_eq!(path(&[(1, 0, 0, 100)]), [(1, 0, 100)]);
    }

    #[test]
    fn sequential_children_are_both_on_the_path_with_the_parents_gaps() {
        //  1 |--------------------------------------------|  0..100
        //  2     |-----------|                               10..40
        //  3                     |----------------|          50..90
        let p = path(&[(1, 0, 0, 100), (2, 1, 10, 40), (3, 1, 50, 90)]);
        assert_eq!(p, [(1, 90, 100), (3, 50, 90), (1, 40, 50), (2, 10, 40), (1, 0, 10)]);
        assert_eq!(p.iter().map(|(_, s, e)| e - s).sum::<u64>(), 100);
    }

    #[test]
    fn an_overlapped_child_is_off_the_path() {
        //  2 runs 10..60 while 3 runs 20..80: 3 finishes last and blocks the root longer.
        let p = path(&[(1, 0, 0, 100), (2, 1, 10, 60), (3, 1, 20, 80)]);
        assert_eq!(p, [(1, 80, 100), (3, 20, 80), (1, 0, 20)]);
    }

    #[test]
    fn the_path_descends_into_grandchildren() {
        let p = path(&[(1, 0, 0, 100), (2, 1, 10, 90), (3, 2, 20, 50), (4, 2, 60, 80)]);
        assert_eq!(p, [(1, 90, 100), (2, 80, 90), (4, 60, 80), (2, 50, 60), (3, 20, 50), (2, 10, 20), (1, 0, 10)]);
    }

    #[test]
    fn children_overflowing_the_parent_are_cut_and_those_outside_dropped() {
        // 2 ends after the root: cut at 100. 3 starts after the root ended: dropped with its child 4.
        let p = path(&[(1, 0, 0, 100), (2, 1, 50, 150), (3, 1, 120, 130), (4, 3, 121, 125)]);
        assert_eq!(p, [(2, 50, 100), (1, 0, 50)]);
        // A child starting before its parent is cut at the parent's start.
        let p = path(&[(1, 0, 10, 100), (2, 1, 0, 40)]);
        assert_eq!(p, [(1, 40, 100), (2, 10, 40)]);
    }

    #[test]
    fn malformed_traces_end_instead_of_looping() {
        // A span naming itself as parent, a repeated id and an orphan.
        let p = path(&[(1, 0, 0, 100), (2, 2, 10, 20), (3, 1, 30, 60), (3, 1, 40, 90), (5, 9, 0, 100)]);
        assert_eq!(p, [(1, 60, 100), (3, 30, 60), (1, 0, 30)]);
        assert!(critical_path(&trace(&[(2, 3, 0, 10), (3, 2, 0, 10)])).is_none(), "no root");
    }

    #[test]
    fn a_deep_chain_does_not_exhaust_the_stack() {
        let spans: Vec<CpSpan> = (0..100_000u64)
            .map(|i| CpSpan {
                span_id: (i + 1).to_be_bytes().to_vec(),
                parent_span_id: if i == 0 { Vec::new() } else { i.to_be_bytes().to_vec() },
                start_us: i,
                duration_us: 300_000 - 2 * i,
            })
            .collect();
        let p = critical_path(&spans).expect("root");
        assert_eq!(p.len(), 2 * 100_000 - 1);
        assert_eq!(p.iter().map(|s| s.end_us - s.start_us).sum::<u64>(), 300_000);
    }
}
