//! [`SpanEditProcessor`]: the shape the `attributes` and `span` processors share — walk the
//! batch copy-on-write, let `include`/`exclude` select spans, apply one edit to each selected
//! span, pass the batch on. The two processors differ only in the edit ([`SpanEdit`]).
//! [`SpanEditRules`] is their validated config: the edit and the selection compiled once,
//! when the config is validated, and handed to `create` (see `tracegate_core::factory`).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use tracegate_core::component::{Capabilities, ConsumeError, Consumer, Lifecycle, Processor};
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::{Span, Traces};

use crate::actions::Actions;
use crate::cow::edit_spans;
use crate::matcher::{MatchProperties, SpanMatcher};

/// What a processor does to one selected span; it must leave `span` borrowed when it changes
/// nothing, so an untouched batch is not copied.
pub trait SpanEdit: Send + Sync + 'static {
    fn edit(&self, span: &mut Cow<'_, Span>);
}

/// The `attributes` processor's edit: the actions on the span's attributes.
impl SpanEdit for Actions {
    fn edit(&self, span: &mut Cow<'_, Span>) {
        self.apply(span);
    }
}

/// An edit and the spans it applies to, compiled: what `create` of the `attributes` and
/// `span` processors is given.
#[derive(Clone)]
pub struct SpanEditRules<E> {
    pub edit: E,
    pub matcher: Option<SpanMatcher>,
}

impl<E> SpanEditRules<E> {
    /// The edit as compiled by its processor, with `include`/`exclude` compiled beside it;
    /// the problems of both are reported together.
    pub fn compile(
        edit: Result<E, Vec<ConfigProblem>>,
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        match (edit, SpanMatcher::compile(include, exclude, "")) {
            (Ok(edit), Ok(matcher)) => Ok(Self { edit, matcher }),
            (edit, matcher) => Err(edit.err().into_iter().chain(matcher.err()).flatten().collect()),
        }
    }
}

pub struct SpanEditProcessor<E> {
    edit: E,
    matcher: Option<SpanMatcher>,
    next: Arc<dyn Consumer>,
}

impl<E: SpanEdit> SpanEditProcessor<E> {
    pub fn new(rules: SpanEditRules<E>, next: Arc<dyn Consumer>) -> Self {
        Self { edit: rules.edit, matcher: rules.matcher, next }
    }

    /// Applies the edit to the selected spans of a batch (copy on write). Returns true if
    /// anything changed.
    pub fn process(&self, traces: &mut Traces) -> bool {
        edit_spans(traces, |ctx, span| {
            if self.matcher.as_ref().is_none_or(|m| m.selects(ctx.resource, ctx.scope, span)) {
                self.edit.edit(span);
            }
        })
    }
}

#[async_trait]
impl<E: SpanEdit> Consumer for SpanEditProcessor<E> {
    fn capabilities(&self) -> Capabilities {
        Capabilities { mutates_data: true }
    }

    async fn consume(&self, mut traces: Traces) -> Result<(), ConsumeError> {
        self.process(&mut traces);
        self.next.consume(traces).await
    }
}

#[async_trait]
impl<E: SpanEdit> Lifecycle for SpanEditProcessor<E> {}

impl<E: SpanEdit> Processor for SpanEditProcessor<E> {}
