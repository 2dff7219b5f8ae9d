//! Capabilities: the one way a component finds what another component offers.
//!
//! A query service needs a trace store, an exporter's queue needs a directory to keep its
//! files in, a receiver serves the sampling strategies some extension computes. None of those
//! users should know which crate or type provides the thing, only what it is and its name in
//! the config. So a provider (an extension or an exporter) lists what it offers in
//! [`Offers`], each offer a trait object of a *capability* type (`dyn TraceStore`,
//! `dyn QueueStorage`, `dyn SamplingStrategies`, ...), and a user asks the [`Host`] with one
//! typed call:
//!
//! ```ignore
//! let store = host.capability::<dyn TraceStore>("some_store")?;   // by name
//! let all = host.capabilities::<dyn SamplingStrategies>();         // every offer of a type
//! ```
//!
//! # Names
//!
//! An offer is found by one of two names:
//!
//! - **the provider's own id** ([`Offers::with`]): the `sled` exporter offers its store as
//!   `sled`, a `file_storage/disk` extension its directory as `file_storage/disk`;
//! - **a name it gives the offer** ([`Offers::named`]): the `jaeger_storage` extension offers
//!   each of its backends under the backend's name (`backends: { some_store: {...} }`), as
//!   Jaeger v2's `jaeger_query` and `jaeger_storage_exporter` name them.
//!
//! [`Host::capability`](trait@Host) looks at named offers of running extensions first, then at
//! the component whose id is the name (extensions, then exporters). Two extensions offering
//! one name for the same capability is an error saying so, not a silent pick.
//!
//! # Why not downcasts or crate dependencies
//!
//! Before this, `jaeger_query` asked an exporter for `trace_reader()`, the exporter queue
//! downcast an extension to `FileStorage`, and the `jaeger` receiver searched extensions for
//! the `remote_sampling` crate's concrete type (so it depended on that crate). Each user had
//! its own lookup and its own error messages, and a store could only live in a pipeline
//! exporter. Capability traits live in core ([`crate::storage::TraceStore`],
//! [`crate::queue::QueueStorage`], [`crate::sampling::SamplingStrategies`]), so a user
//! depends on core only, and a new provider (a storage extension) needs no change in any user.
//!
//! # Timing
//!
//! Offers are read when asked for (at a user's `start`), and a provider may offer things
//! created when it was created, before it starts: the graph creates every component before
//! starting any, and starts extensions first. A provider whose offer needs its own start
//! should say so in its capability's docs.

use std::any::{Any, TypeId};
use std::sync::Arc;

use crate::component::Host;
use crate::id::ComponentId;

/// A type components offer to each other: usually a trait object (`dyn TraceStore`).
///
/// `WHAT` names it in errors ("a trace store"), so a user's message says what was missing.
pub trait Capability: Send + Sync + 'static {
    const WHAT: &'static str;
}

struct Offer {
    /// `None`: offered under the provider's own id.
    name: Option<String>,
    type_id: TypeId,
    /// An `Arc<C>` for the capability `C` whose `TypeId` is `type_id`.
    value: Box<dyn Any + Send + Sync>,
}

/// What one component offers others; see the module docs.
#[derive(Default)]
pub struct Offers {
    entries: Vec<Offer>,
}

impl Offers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `value` under the provider's own component id.
    pub fn with<C: ?Sized + Capability>(mut self, value: Arc<C>) -> Self {
        self.entries.push(Offer { name: None, type_id: TypeId::of::<C>(), value: Box::new(value) });
        self
    }

    /// Offers `value` under `name` (a backend's name, not a component id).
    pub fn named<C: ?Sized + Capability>(mut self, name: impl Into<String>, value: Arc<C>) -> Self {
        self.entries.push(Offer { name: Some(name.into()), type_id: TypeId::of::<C>(), value: Box::new(value) });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The offer of `C` under the provider's own id.
    pub fn own<C: ?Sized + Capability>(&self) -> Option<Arc<C>> {
        self.find::<C>(|n| n.is_none())
    }

    /// The offer of `C` under `name`.
    pub fn by_name<C: ?Sized + Capability>(&self, name: &str) -> Option<Arc<C>> {
        self.find::<C>(|n| n == Some(name))
    }

    /// Every offer of `C`, with its name (`None`: the provider's id).
    pub fn all<C: ?Sized + Capability>(&self) -> Vec<(Option<&str>, Arc<C>)> {
        self.entries
            .iter()
            .filter(|o| o.type_id == TypeId::of::<C>())
            .filter_map(|o| o.value.downcast_ref::<Arc<C>>().map(|v| (o.name.as_deref(), v.clone())))
            .collect()
    }

    fn find<C: ?Sized + Capability>(&self, name: impl Fn(Option<&str>) -> bool) -> Option<Arc<C>> {
        self.entries
            .iter()
            .filter(|o| o.type_id == TypeId::of::<C>() && name(o.name.as_deref()))
            .find_map(|o| o.value.downcast_ref::<Arc<C>>().cloned())
    }

    /// The names of everything offered of `C`, for "did you mean" messages.
    fn names<C: ?Sized + Capability>(&self, provider: &ComponentId) -> Vec<String> {
        self.all::<C>()
            .into_iter()
            .map(|(name, _)| name.map_or_else(|| provider.to_string(), str::to_string))
            .collect()
    }
}

/// Why a capability lookup found nothing usable. The messages are meant for a config's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// Nothing is named `name` (no running component, no backend of a storage extension).
    #[error("nothing named \"{name}\" provides {what}{}", offered_hint(.offered))]
    NotFound { name: String, what: &'static str, offered: Vec<String> },
    /// A component is named `name`, but it offers no such capability.
    #[error("{kind} \"{name}\" does not provide {what}{}", offered_hint(.offered))]
    NotProvided { name: String, kind: &'static str, what: &'static str, offered: Vec<String> },
    /// Several extensions offer `name`.
    #[error("{what} \"{name}\" is offered by several extensions ({}); rename one", .providers.join(", "))]
    Ambiguous { name: String, what: &'static str, providers: Vec<String> },
}

fn offered_hint(offered: &[String]) -> String {
    if offered.is_empty() {
        String::new()
    } else {
        format!(" (these do: {})", offered.join(", "))
    }
}

impl From<CapabilityError> for crate::component::ComponentError {
    fn from(e: CapabilityError) -> Self {
        crate::component::ComponentError::Config(e.to_string())
    }
}

impl<'a> dyn Host + 'a {
    /// The capability `C` named `name` (see the module docs for how names resolve).
    pub fn capability<C: ?Sized + Capability>(&self, name: &str) -> Result<Arc<C>, CapabilityError> {
        let extensions = self.extensions();
        let offers: Vec<(ComponentId, Offers)> = extensions.iter().map(|(id, x)| (id.clone(), x.clone().offers())).collect();
        let named: Vec<(&ComponentId, Arc<C>)> = offers.iter().filter_map(|(id, o)| o.by_name::<C>(name).map(|c| (id, c))).collect();
        match named.as_slice() {
            [] => {}
            [(_, one)] => return Ok(one.clone()),
            _ => {
                return Err(CapabilityError::Ambiguous {
                    name: name.to_string(),
                    what: C::WHAT,
                    providers: named.iter().map(|(id, _)| id.to_string()).collect(),
                })
            }
        }
        let mut offered: Vec<String> = offers.iter().flat_map(|(id, o)| o.names::<C>(id)).collect();
        let Ok(id) = ComponentId::parse(name) else {
            return Err(CapabilityError::NotFound { name: name.to_string(), what: C::WHAT, offered });
        };
        let (kind, own) = if let Some(x) = self.extension(&id) {
            ("extension", x.offers())
        } else if let Some(e) = self.exporter(&id) {
            ("exporter", e.offers())
        } else {
            offered.sort();
            offered.dedup();
            return Err(CapabilityError::NotFound { name: name.to_string(), what: C::WHAT, offered });
        };
        own.own::<C>().ok_or_else(|| {
            offered.sort();
            offered.dedup();
            CapabilityError::NotProvided { name: name.to_string(), kind, what: C::WHAT, offered }
        })
    }

    /// Every offer of `C` by a running extension, with the name it is found by, in the
    /// extensions' start order (for users that take "the one there is", as Jaeger's
    /// receivers take the one `remote_sampling` extension).
    pub fn capabilities<C: ?Sized + Capability>(&self) -> Vec<(String, Arc<C>)> {
        let mut out = Vec::new();
        for (id, x) in self.extensions() {
            for (name, c) in x.offers().all::<C>() {
                out.push((name.map_or_else(|| id.to_string(), str::to_string), c));
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "capability_tests.rs"]
mod tests;
