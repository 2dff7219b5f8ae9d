//! Jaeger's clock-skew adjuster (`model/adjuster/clockskew.go`): a child span from another
//! host that starts before or ends after its parent is shifted to sit inside it, assuming the
//! network latency splits evenly between request and response. Shifts larger than the
//! configured maximum are not applied; each decision is reported in the span's `warnings`
//! with Jaeger's own texts, so the UI shows why a span moved (or did not).
//!
//! Hosts are told apart by the process tag `ip`, as in Jaeger; spans without it are always
//! treated as coming from a different host than their parent. The tree is walked with an
//! explicit stack so a deep (or hostile) trace cannot overflow the thread's stack.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tracegate_core::config::format_go_duration;
use tracegate_translator_jaeger::proto::{SpanRefType, ValueType};

use tracegate_translator_jaeger::proto::Process;

use crate::model::{duration_nanos, timestamp_nanos, JaegerSpan, TraceSpans};

fn host_key(process: &Process) -> String {
    let Some(tag) = process.tags.iter().find(|t| t.key == "ip") else {
        return String::new();
    };
    match ValueType::try_from(tag.v_type) {
        Ok(ValueType::String) => tag.v_str.clone(),
        Ok(ValueType::Int64) => Ipv4Addr::from(tag.v_int64 as u32).to_string(),
        Ok(ValueType::Binary) => match tag.v_binary.len() {
            4 => Ipv4Addr::new(tag.v_binary[0], tag.v_binary[1], tag.v_binary[2], tag.v_binary[3]).to_string(),
            16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(&tag.v_binary);
                let ip = Ipv6Addr::from(b);
                ip.to_ipv4_mapped().map_or_else(|| ip.to_string(), |v4| v4.to_string())
            }
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn span_id(id: &[u8]) -> u64 {
    id.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Jaeger's `ParentSpanID()`: the first CHILD_OF reference within the same trace.
fn parent_id(span: &JaegerSpan) -> u64 {
    span.references
        .iter()
        .find(|r| r.trace_id == span.trace_id && r.ref_type == SpanRefType::ChildOf as i32)
        .map_or(0, |r| span_id(&r.span_id))
}

/// Go's `%v` of a `time.Duration`, sign included.
fn go_duration(nanos: i64) -> String {
    let text = format_go_duration(Duration::from_nanos(nanos.unsigned_abs()));
    if nanos < 0 {
        format!("-{text}")
    } else {
        text
    }
}

fn start(span: &JaegerSpan) -> i128 {
    timestamp_nanos(span.start_time.as_ref())
}

fn calculate_skew(child: &JaegerSpan, parent: &JaegerSpan) -> i64 {
    let (p_start, c_start) = (start(parent), start(child));
    let (p_dur, c_dur) = (duration_nanos(parent.duration.as_ref()), duration_nanos(child.duration.as_ref()));
    let skew = if c_dur > p_dur {
        // The child outlived its parent (async, or the parent timed out): only make sure it
        // does not start before the parent.
        if c_start < p_start {
            p_start - c_start
        } else {
            0
        }
    } else if c_start >= p_start && c_start + c_dur <= p_start + p_dur {
        0
    } else {
        p_start + (p_dur - c_dur) / 2 - c_start
    };
    i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX })
}

fn shift(ts: &mut Option<prost_types::Timestamp>, delta: i64) {
    let nanos = timestamp_nanos(ts.as_ref()) + i128::from(delta);
    *ts = Some(prost_types::Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    });
}

fn adjust(span: &mut JaegerSpan, delta: i64, max: Duration) {
    if delta == 0 {
        return;
    }
    if u128::from(delta.unsigned_abs()) > max.as_nanos() {
        span.warnings.push(format!(
            "max clock skew adjustment delta of {} exceeded; not applying calculated delta of {}",
            format_go_duration(max),
            go_duration(delta)
        ));
        return;
    }
    shift(&mut span.start_time, delta);
    for log in &mut span.logs {
        shift(&mut log.timestamp, delta);
    }
    span.warnings.push(format!("This span's timestamps were adjusted by {}", go_duration(delta)));
}

/// Adjusts the spans of one trace in place.
pub fn adjust_clock_skew(trace: &mut TraceSpans, max: Duration) {
    let spans = &mut trace.spans;
    let mut index: HashMap<u64, usize> = HashMap::with_capacity(spans.len());
    for (i, span) in spans.iter_mut().enumerate() {
        match index.entry(span_id(&span.span_id)) {
            std::collections::hash_map::Entry::Occupied(_) => {
                span.warnings.push("duplicate span IDs; skipping clock skew adjustment".to_string());
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    // Hosts are worked out once per process and compared as small ids; `None` is "unknown",
    // which never matches (not even itself).
    let mut host_names: Vec<String> = Vec::new();
    let process_hosts: Vec<Option<usize>> = trace
        .processes
        .iter()
        .map(|p| {
            let name = host_key(p);
            if name.is_empty() {
                return None;
            }
            Some(host_names.iter().position(|h| *h == name).unwrap_or_else(|| {
                host_names.push(name);
                host_names.len() - 1
            }))
        })
        .collect();
    let hosts: Vec<Option<usize>> =
        trace.process_of.iter().map(|&p| process_hosts.get(p).copied().flatten()).collect();
    // Children as one flat list per parent, in span order (a CSR layout: no map of vectors).
    let mut parent_of: Vec<Option<usize>> = vec![None; spans.len()];
    let mut roots = Vec::new();
    let mut nodes: Vec<usize> = index.values().copied().collect();
    nodes.sort_unstable();
    for &i in &nodes {
        let parent = parent_id(&spans[i]);
        if parent == 0 {
            roots.push(i);
        } else if let Some(&p) = index.get(&parent) {
            parent_of[i] = Some(p);
        } else {
            spans[i]
                .warnings
                .push(format!("parent span ID={parent:016x} is not in the trace; skipping clock skew adjustment"));
            roots.push(i);
        }
    }
    let mut first_child = vec![0usize; spans.len() + 1];
    for p in parent_of.iter().flatten() {
        first_child[p + 1] += 1;
    }
    let mut sum = 0;
    for start in &mut first_child {
        sum += *start;
        *start = sum;
    }
    let mut fill = first_child.clone();
    let mut children = vec![0usize; first_child[spans.len()]];
    for &i in &nodes {
        if let Some(p) = parent_of[i] {
            children[fill[p]] = i;
            fill[p] += 1;
        }
    }
    // (node, parent, host of the current skew, delta of the current skew)
    let mut stack: Vec<(usize, Option<usize>, Option<usize>, i64)> =
        roots.into_iter().map(|r| (r, None, hosts[r], 0)).collect();
    while let Some((node, parent, mut host, mut delta)) = stack.pop() {
        if let Some(p) = parent {
            if hosts[node].is_none() || hosts[node] != host {
                host = hosts[node];
                delta = calculate_skew(&spans[node], &spans[p]);
            }
        }
        adjust(&mut spans[node], delta, max);
        for &child in &children[first_child[node]..first_child[node + 1]] {
            stack.push((child, Some(node), host, delta));
        }
    }
}
