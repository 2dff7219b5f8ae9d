//! Copy on write for whole batches: walk the batch read-only until an edit really changes a
//! span (or resource), and only then take the batch with [`Traces::make_mut`], which clones
//! it only if it is shared (a fan-out). A batch no rule touches passes through as the same
//! `Arc`, and a batch that is changed is cloned at most once.
//!
//! An edit gets a `Cow`: it reads through it freely and calls `to_mut()` only to write. In the
//! read-only phase that clones just the one span; once the batch is ours, every span is
//! handed over owned (moved out and back), so `to_mut()` is free.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracegate_core::data::{Span, Traces};

use crate::actions::AttrTarget;

impl AttrTarget for Cow<'_, Span> {
    fn attrs(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn attrs_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.to_mut().attributes
    }
}

impl AttrTarget for Cow<'_, Resource> {
    fn attrs(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn attrs_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.to_mut().attributes
    }
}

/// Where a span sits: its resource and instrumentation scope (for matching).
#[derive(Clone, Copy)]
pub struct SpanCtx<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
}

/// Runs `edit` on every span. Returns true if anything changed.
pub fn edit_spans<F>(traces: &mut Traces, mut edit: F) -> bool
where
    F: FnMut(SpanCtx<'_>, &mut Cow<'_, Span>),
{
    let mut first = None;
    'find: for (i, rs) in traces.resource_spans().iter().enumerate() {
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            let ctx = SpanCtx { resource: rs.resource.as_ref(), scope: ss.scope.as_ref() };
            for (k, span) in ss.spans.iter().enumerate() {
                let mut cow = Cow::Borrowed(span);
                edit(ctx, &mut cow);
                if let Cow::Owned(changed) = cow {
                    first = Some((i, j, k, changed));
                    break 'find;
                }
            }
        }
    }
    let Some((i0, j0, k0, changed)) = first else { return false };
    let batch = traces.make_mut();
    for (i, rs) in batch.iter_mut().enumerate().skip(i0) {
        let resource = rs.resource.as_ref();
        for (j, ss) in rs.scope_spans.iter_mut().enumerate() {
            if i == i0 && j < j0 {
                continue;
            }
            let ctx = SpanCtx { resource, scope: ss.scope.as_ref() };
            let start = if i == i0 && j == j0 { k0 + 1 } else { 0 };
            for span in ss.spans.iter_mut().skip(start) {
                let mut cow: Cow<'_, Span> = Cow::Owned(std::mem::take(span));
                edit(ctx, &mut cow);
                *span = cow.into_owned();
            }
        }
    }
    // Placed last: `changed` was computed from the same span before the batch was taken.
    if let Some(span) = batch.get_mut(i0).and_then(|rs| rs.scope_spans.get_mut(j0)).and_then(|ss| ss.spans.get_mut(k0)) {
        *span = changed;
    }
    true
}

/// Runs `edit` on every resource (a missing resource is edited as an empty one). Returns true
/// if anything changed.
pub fn edit_resources<F>(traces: &mut Traces, mut edit: F) -> bool
where
    F: FnMut(&mut Cow<'_, Resource>),
{
    let empty = Resource::default();
    let mut first = None;
    for (i, rs) in traces.resource_spans().iter().enumerate() {
        let mut cow = Cow::Borrowed(rs.resource.as_ref().unwrap_or(&empty));
        edit(&mut cow);
        if let Cow::Owned(changed) = cow {
            first = Some((i, changed));
            break;
        }
    }
    let Some((i0, changed)) = first else { return false };
    let batch = traces.make_mut();
    for rs in batch.iter_mut().skip(i0 + 1) {
        // Resources are few and small, so this phase borrows too (a resource an edit leaves
        // alone stays exactly as it was, absent included).
        let mut cow = Cow::Borrowed(rs.resource.as_ref().unwrap_or(&empty));
        edit(&mut cow);
        if let Cow::Owned(changed) = cow {
            rs.resource = Some(changed);
        }
    }
    if let Some(rs) = batch.get_mut(i0) {
        rs.resource = Some(changed);
    }
    true
}
