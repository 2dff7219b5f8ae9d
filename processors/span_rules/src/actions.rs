//! The Collector's attribute actions (`internal/coreinternal/attraction`), shared by the
//! `attributes` processor (span attributes) and the `resource` processor.
//!
//! Actions run in order on one attribute list. Each looks before it writes and writes only
//! when the list really changes: the list sits behind an [`AttrTarget`] that clones a shared
//! span on the first write, so a batch no action touches is never copied.

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use regex::Regex;
use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

use crate::value::{self, ConfigValue, ConvertTo};

/// One action as written in YAML, with the Collector's field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ConfigValue>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pattern: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from_attribute: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from_context: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub converted_type: String,
    /// insert, update, upsert, delete, hash, extract or convert (any case, as the Collector).
    pub action: String,
}

/// Something that holds an attribute list: a span or resource behind copy-on-write, or a
/// plain list. `attrs_mut` may clone, so callers use it only to write.
pub trait AttrTarget {
    fn attrs(&self) -> &[KeyValue];
    fn attrs_mut(&mut self) -> &mut Vec<KeyValue>;
}

impl AttrTarget for Vec<KeyValue> {
    fn attrs(&self) -> &[KeyValue] {
        self
    }
    fn attrs_mut(&mut self) -> &mut Vec<KeyValue> {
        self
    }
}

#[derive(Clone)]
enum Source {
    Literal(V),
    FromAttribute(String),
}

#[derive(Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete(Option<Regex>),
    Hash(Option<Regex>),
    /// The regex and the name of each capture group (index 0 unused).
    Extract(Regex, Vec<String>),
    Convert(ConvertTo),
}

#[derive(Clone)]
struct Action {
    key: String,
    op: Op,
}

/// A validated, compiled list of actions.
#[derive(Clone)]
pub struct Actions(Vec<Action>);

impl Actions {
    /// Compiles `actions`; problems are reported under `path::N::field`.
    pub fn compile(actions: &[ActionConfig], path: &str) -> Result<Self, Vec<ConfigProblem>> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            match compile_one(a) {
                Ok(action) => out.push(action),
                Err((field, msg)) => {
                    let at = if field.is_empty() { format!("{path}::{i}") } else { format!("{path}::{i}::{field}") };
                    problems.push(ConfigProblem::new(at, msg));
                }
            }
        }
        if problems.is_empty() { Ok(Self(out)) } else { Err(problems) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every action in order on `t`, writing only where something changes.
    pub fn apply<T: AttrTarget + ?Sized>(&self, t: &mut T) {
        for a in &self.0 {
            match &a.op {
                Op::Insert(src) => {
                    if value::find(t.attrs(), &a.key).is_none() {
                        if let Some(v) = source(src, t.attrs()) {
                            t.attrs_mut().push(value::kv(&a.key, v));
                        }
                    }
                }
                Op::Update(src) => {
                    if value::find(t.attrs(), &a.key).is_some() {
                        if let Some(v) = source(src, t.attrs()) {
                            set(t, &a.key, v);
                        }
                    }
                }
                Op::Upsert(src) => {
                    if let Some(v) = source(src, t.attrs()) {
                        set(t, &a.key, v);
                    }
                }
                Op::Delete(pattern) => {
                    let doomed = |k: &str| k == a.key || pattern.as_ref().is_some_and(|re| re.is_match(k));
                    if t.attrs().iter().any(|kv| doomed(&kv.key)) {
                        t.attrs_mut().retain(|kv| !doomed(&kv.key));
                    }
                }
                Op::Hash(pattern) => {
                    // As the Collector: the key first, then every key the pattern matches (a key
                    // named by both is hashed twice there too).
                    hash_key(t, &a.key);
                    if let Some(re) = pattern {
                        let keys: Vec<String> =
                            t.attrs().iter().filter(|kv| re.is_match(&kv.key)).map(|kv| kv.key.clone()).collect();
                        for k in keys {
                            hash_key(t, &k);
                        }
                    }
                }
                Op::Extract(re, names) => {
                    let Some(V::StringValue(s)) = value::find(t.attrs(), &a.key).and_then(value::value_of) else {
                        continue;
                    };
                    let Some(caps) = re.captures(s) else { continue };
                    let found: Vec<(usize, String)> =
                        (1..names.len()).map(|i| (i, caps.get(i).map_or("", |m| m.as_str()).to_string())).collect();
                    for (i, v) in found {
                        set(t, &names[i], V::StringValue(v));
                    }
                }
                Op::Convert(to) => {
                    let current = value::find(t.attrs(), &a.key).and_then(value::value_of);
                    if let Some(v) = value::convert(current, *to) {
                        set(t, &a.key, v);
                    }
                }
            }
        }
    }
}

fn source(src: &Source, attrs: &[KeyValue]) -> Option<V> {
    match src {
        Source::Literal(v) => Some(v.clone()),
        // An attribute with an empty value counts as missing: there is nothing to copy.
        Source::FromAttribute(k) => value::find(attrs, k).and_then(value::value_of).cloned(),
    }
}

/// Sets `key` (the first occurrence) to `v`, or appends it; no write when already equal.
fn set<T: AttrTarget + ?Sized>(t: &mut T, key: &str, v: V) {
    match t.attrs().iter().position(|kv| kv.key == key) {
        Some(i) if value::value_of(&t.attrs()[i]) == Some(&v) => {}
        Some(i) => t.attrs_mut()[i].value = Some(AnyValue { value: Some(v) }),
        None => t.attrs_mut().push(value::kv(key, v)),
    }
}

fn hash_key<T: AttrTarget + ?Sized>(t: &mut T, key: &str) {
    if let Some(i) = t.attrs().iter().position(|kv| kv.key == key) {
        let hashed = value::hash(value::value_of(&t.attrs()[i]));
        t.attrs_mut()[i].value = Some(AnyValue { value: Some(V::StringValue(hashed)) });
    }
}

type Problem = (&'static str, String);

fn compile_one(a: &ActionConfig) -> Result<Action, Problem> {
    let kind = a.action.to_ascii_lowercase();
    let sources = usize::from(a.value.is_some()) + usize::from(!a.from_attribute.is_empty()) + usize::from(!a.from_context.is_empty());
    let not_for = |field: &'static str| -> Problem { (field, format!("action \"{kind}\" does not use \"{field}\"; remove it")) };
    if !a.from_context.is_empty() {
        return Err(("from_context", "from_context is not supported: tracegate does not carry client metadata (gRPC/HTTP headers, auth) through the pipeline; use value or from_attribute".into()));
    }
    match kind.as_str() {
        "delete" | "hash" if a.key.is_empty() && a.pattern.is_empty() => {
            return Err(("key", format!("action \"{kind}\" needs \"key\", \"pattern\" or both")));
        }
        "delete" | "hash" | "" => {}
        _ if a.key.is_empty() => return Err(("key", format!("action \"{kind}\" needs \"key\""))),
        _ => {}
    }
    let op = match kind.as_str() {
        "insert" | "update" | "upsert" => {
            if sources == 0 {
                return Err(("", format!("action \"{kind}\" needs \"value\" or \"from_attribute\"")));
            }
            if sources > 1 {
                return Err(("", "set only one of \"value\" and \"from_attribute\"".into()));
            }
            if !a.pattern.is_empty() {
                return Err(not_for("pattern"));
            }
            if !a.converted_type.is_empty() {
                return Err(not_for("converted_type"));
            }
            let src = match &a.value {
                Some(v) => Source::Literal(v.to_value()),
                None => Source::FromAttribute(a.from_attribute.clone()),
            };
            match kind.as_str() {
                "insert" => Op::Insert(src),
                "update" => Op::Update(src),
                _ => Op::Upsert(src),
            }
        }
        "delete" | "hash" => {
            if a.value.is_some() {
                return Err(not_for("value"));
            }
            if !a.from_attribute.is_empty() {
                return Err(not_for("from_attribute"));
            }
            if !a.converted_type.is_empty() {
                return Err(not_for("converted_type"));
            }
            let re = if a.pattern.is_empty() { None } else { Some(regex(&a.pattern)?) };
            if kind == "delete" { Op::Delete(re) } else { Op::Hash(re) }
        }
        "extract" => {
            if sources > 0 {
                return Err(("", "action \"extract\" takes no \"value\" or \"from_attribute\"".into()));
            }
            if !a.converted_type.is_empty() {
                return Err(not_for("converted_type"));
            }
            if a.pattern.is_empty() {
                return Err(("pattern", "action \"extract\" needs \"pattern\", a regex with named groups".into()));
            }
            let re = regex(&a.pattern)?;
            let names: Vec<String> = re.capture_names().map(|n| n.unwrap_or_default().to_string()).collect();
            if names.iter().skip(1).all(String::is_empty) {
                return Err(("pattern", format!("regex {:?} has no named groups; write (?P<attribute_name>...) for each value to extract", a.pattern)));
            }
            if names.iter().skip(1).any(String::is_empty) {
                return Err(("pattern", format!("regex {:?} has an unnamed group; name it (?P<attribute_name>...) or make it non-capturing (?:...)", a.pattern)));
            }
            Op::Extract(re, names)
        }
        "convert" => {
            if sources > 0 || !a.pattern.is_empty() {
                return Err(("", "action \"convert\" takes no \"value\", \"from_attribute\" or \"pattern\"".into()));
            }
            Op::Convert(match a.converted_type.as_str() {
                "int" => ConvertTo::Int,
                "double" => ConvertTo::Double,
                "string" => ConvertTo::Str,
                "" => return Err(("converted_type", "action \"convert\" needs \"converted_type\": int, double or string".into())),
                other => return Err(("converted_type", format!("unknown type {other:?}; use int, double or string"))),
            })
        }
        "" => return Err(("action", "missing; use insert, update, upsert, delete, hash, extract or convert".into())),
        other => return Err(("action", format!("unknown action {other:?}; use insert, update, upsert, delete, hash, extract or convert"))),
    };
    Ok(Action { key: a.key.clone(), op })
}

fn regex(pattern: &str) -> Result<Regex, Problem> {
    Regex::new(pattern).map_err(|e| ("pattern", format!("invalid regex {pattern:?}: {e}")))
}

