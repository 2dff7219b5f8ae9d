#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;
use crate::component::{ConsumeError, Exporter, Extension, Lifecycle};
use crate::data::Traces;
use crate::testing::ExtensionsHost;

/// A capability made up for the tests: something with a label.
trait Labelled: Send + Sync {
    fn label(&self) -> String;
}

impl Capability for dyn Labelled {
    const WHAT: &'static str = "a label";
}

struct Label(&'static str);

impl Labelled for Label {
    fn label(&self) -> String {
        self.0.to_string()
    }
}

/// An extension offering labels under names of its choosing.
struct Named(Vec<(&'static str, &'static str)>);

impl Lifecycle for Named {}

impl Extension for Named {
    fn offers(self: Arc<Self>) -> Offers {
        self.0.iter().fold(Offers::new(), |o, (name, label)| o.named::<dyn Labelled>(*name, Arc::new(Label(label))))
    }
}

/// An exporter offering one label under its own id.
struct OwnLabel(&'static str);

impl Lifecycle for OwnLabel {}

#[async_trait::async_trait]
impl Exporter for OwnLabel {
    async fn export(&self, _traces: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn offers(self: Arc<Self>) -> Offers {
        Offers::new().with::<dyn Labelled>(Arc::new(Label(self.0)))
    }
}

/// An exporter offering nothing.
struct Plain;

impl Lifecycle for Plain {}

#[async_trait::async_trait]
impl Exporter for Plain {
    async fn export(&self, _traces: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn host() -> Arc<dyn Host> {
    Arc::new(
        ExtensionsHost::default()
            .with("storage", Arc::new(Named(vec![("main", "main of storage"), ("archive", "archive of storage")])))
            .with_exporter("own", Arc::new(OwnLabel("own exporter")))
            .with_exporter("plain", Arc::new(Plain)),
    )
}

#[test]
fn a_named_offer_of_an_extension_is_found_by_its_name() {
    let found = host().capability::<dyn Labelled>("archive").unwrap();
    assert_eq!(found.label(), "archive of storage");
}

#[test]
fn a_component_offering_under_its_own_id_is_found_by_the_id() {
    let found = host().capability::<dyn Labelled>("own").unwrap();
    assert_eq!(found.label(), "own exporter");
}

#[test]
fn a_missing_name_says_what_was_asked_for_and_what_is_offered() {
    let err = host().capability::<dyn Labelled>("nope").err().unwrap();
    assert_eq!(
        err.to_string(),
        "nothing named \"nope\" provides a label (these do: archive, main)"
    );
}

#[test]
fn a_component_without_the_capability_is_named_with_its_kind() {
    let err = host().capability::<dyn Labelled>("plain").err().unwrap();
    assert!(matches!(err, CapabilityError::NotProvided { kind: "exporter", .. }), "{err}");
    assert!(err.to_string().starts_with("exporter \"plain\" does not provide a label"), "{err}");
}

#[test]
fn two_extensions_offering_one_name_is_an_error_not_a_pick() {
    let host: Arc<dyn Host> = Arc::new(
        ExtensionsHost::default()
            .with("a", Arc::new(Named(vec![("main", "a")])))
            .with("b", Arc::new(Named(vec![("main", "b")]))),
    );
    let err = host.capability::<dyn Labelled>("main").err().unwrap();
    assert_eq!(err.to_string(), "a label \"main\" is offered by several extensions (a, b); rename one");
}

#[test]
fn capabilities_lists_every_offer_of_a_type_by_extensions() {
    let all = host().capabilities::<dyn Labelled>();
    let names: Vec<_> = all.iter().map(|(n, c)| (n.as_str(), c.label())).collect();
    assert_eq!(names, vec![("main", "main of storage".to_string()), ("archive", "archive of storage".to_string())]);
}

#[test]
fn an_offer_of_another_type_is_not_found() {
    trait Other: Send + Sync {}
    impl Capability for dyn Other {
        const WHAT: &'static str = "something else";
    }
    assert!(host().capability::<dyn Other>("main").is_err());
    assert!(host().capabilities::<dyn Other>().is_empty());
}
