//! The `attributes` processor (actions on the attributes of the spans `include`/`exclude`
//! select) and the `resource` processor (the same actions on every resource).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use tracegate_core::component::{Capabilities, ConsumeError, Consumer, Lifecycle, Processor};
use tracegate_core::data::{Span, Traces};

use crate::actions::Actions;
use crate::cow::edit_resources;
use crate::span_edit::{SpanEdit, SpanEditProcessor};

/// The `attributes` processor: the actions on each selected span.
pub type AttributesProcessor = SpanEditProcessor<Actions>;

impl SpanEdit for Actions {
    fn edit(&self, span: &mut Cow<'_, Span>) {
        self.apply(span);
    }
}

pub struct ResourceProcessor {
    actions: Actions,
    next: Arc<dyn Consumer>,
}

impl ResourceProcessor {
    pub fn new(actions: Actions, next: Arc<dyn Consumer>) -> Self {
        Self { actions, next }
    }

    /// Applies the actions to every resource (copy on write). Returns true if anything changed.
    pub fn process(&self, traces: &mut Traces) -> bool {
        edit_resources(traces, |resource| self.actions.apply(resource))
    }
}

#[async_trait]
impl Consumer for ResourceProcessor {
    fn capabilities(&self) -> Capabilities {
        Capabilities { mutates_data: true }
    }

    async fn consume(&self, mut traces: Traces) -> Result<(), ConsumeError> {
        self.process(&mut traces);
        self.next.consume(traces).await
    }
}

#[async_trait]
impl Lifecycle for ResourceProcessor {}

impl Processor for ResourceProcessor {}
