//! The rule engine of the `attributes`, `resource`, `span` and `filter` processors, with the
//! OpenTelemetry Collector's config names and semantics so configs carry over: the attribute
//! actions ([`actions`]), the `include`/`exclude` span matcher ([`matcher`]), attribute values
//! as the Collector reads and writes them ([`value`]), and the copy-on-write walk over a batch
//! ([`cow`]): a batch no rule changes is passed on as the same shared `Arc`, never copied.
//!
//! Why a library of its own: each processor is its own crate (a build that wants only one
//! links only one), and the four share this engine rather than each keeping a copy.
//! [`SpanEditProcessor`] is the processor shape the `attributes` and `span` processors share,
//! [`SpanEditRules`] their compiled config. Every rule is compiled once, when the config is
//! validated, so a processor's `create` cannot fail on one.

pub mod actions;
pub mod cow;
pub mod matcher;
pub mod span_edit;
pub mod testing;
pub mod value;

pub use actions::{ActionConfig, Actions, AttrTarget};
pub use matcher::{AttributeMatch, LibraryMatch, MatchProperties, SpanMatcher};
pub use span_edit::{SpanEdit, SpanEditProcessor, SpanEditRules};
pub use value::ConfigValue;
