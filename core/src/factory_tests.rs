//! The validated-config contract (see the module docs of `factory`): a rule is compiled once
//! per config load however many components are created from it, `create` is handed the
//! compiled form, and what only compiling finds is a config problem with its full path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::*;
use crate::component::{ConsumeError, Lifecycle, Processor};
use crate::data::Traces;
use crate::id::ComponentId;
use crate::telemetry::Telemetry;

thread_local! {
    /// How often a [`Rule`] was compiled on this test's thread (tests may run in parallel).
    static COMPILED: Cell<usize> = const { Cell::new(0) };
}

fn compiled() -> usize {
    COMPILED.with(Cell::get)
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuleConfig {
    pattern: String,
}

/// The "compiled" pattern: upper-cased, refused when it has an unbalanced `(`.
#[derive(Clone)]
struct Rule(String);

impl ComponentConfig for RuleConfig {
    type Validated = Rule;

    fn validate(&self) -> Vec<ConfigProblem> {
        if self.pattern.is_empty() {
            return vec![ConfigProblem::new("pattern", "is required")];
        }
        Vec::new()
    }
}

impl FromConfig<RuleConfig> for Rule {
    fn from_config(c: &RuleConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        COMPILED.with(|n| n.set(n.get() + 1));
        if c.pattern.matches('(').count() != c.pattern.matches(')').count() {
            problems.push(ConfigProblem::new("pattern", "unbalanced parenthesis"));
            return None;
        }
        Some(Rule(c.pattern.to_uppercase()))
    }
}

struct Pass(Arc<dyn Consumer>);

#[async_trait::async_trait]
impl Consumer for Pass {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.0.consume(traces).await
    }
}

#[async_trait::async_trait]
impl Lifecycle for Pass {}

impl Processor for Pass {}

/// Records the compiled rule each `create` was handed.
#[derive(Clone, Default)]
struct RuleFactory(Arc<Mutex<Vec<String>>>);

impl ProcessorFactory for RuleFactory {
    const TYPE: &'static str = "rule";
    const STABILITY: Stability = Stability::Development;
    type Config = RuleConfig;

    fn create(&self, _ctx: CreateContext, rule: Rule, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        self.0.lock().unwrap().push(rule.0);
        Ok(Arc::new(Pass(next)))
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn a_rule_is_compiled_once_however_many_pipelines_create_the_processor() {
    let created = RuleFactory::default();
    let factory = ProcessorAdapter(created.clone());
    let before = compiled();
    let parsed = factory.parse_config(Some(&yaml("pattern: a(b)"))).map_err(|p| format!("{p:?}")).unwrap();
    let after_validation = compiled();
    assert_eq!(after_validation, before + 1, "validation compiles the rule");
    let next: Arc<dyn Consumer> = crate::testing::RecordingConsumer::ok();
    for pipeline in ["traces", "traces/a", "traces/b"] {
        let ctx = CreateContext { pipeline: Some(pipeline.into()), ..CreateContext::new(ComponentId::parse("rule").unwrap(), Telemetry::new()) };
        factory.create(ctx, &parsed, Some(next.clone())).map_err(|e| e.to_string()).unwrap();
    }
    assert_eq!(compiled(), after_validation, "create must not compile again");
    assert_eq!(*created.0.lock().unwrap(), vec!["A(B)"; 3], "each create is handed the compiled form");
    // The effective config shown by print-config is still the config as written.
    assert_eq!(parsed.effective, yaml("pattern: a(b)"));
}

#[test]
fn what_only_compiling_finds_is_a_config_problem_with_its_path_and_validate_runs_first() {
    let factory = ProcessorAdapter(RuleFactory::default());
    let messages = |text: &str| match factory.parse_config(Some(&yaml(text))) {
        Ok(_) => panic!("{text} must be refused"),
        Err(problems) => problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert_eq!(messages("pattern: a(b"), vec!["pattern: unbalanced parenthesis"]);
    // An error `validate` finds stops there: nothing is compiled from a refused config.
    let before = compiled();
    assert_eq!(messages("pattern: ''"), vec!["pattern: is required"]);
    assert_eq!(compiled(), before);
}
