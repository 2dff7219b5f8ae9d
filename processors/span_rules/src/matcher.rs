//! `include` / `exclude` span matching, as the Collector's `filterconfig.MatchProperties` and
//! `filterspan`: every property given must match (services, span names and kinds match if any
//! item matches; each listed attribute and resource attribute must match; libraries match if
//! any item matches). `match_type: regexp` uses unanchored RE2 matching, like Go's
//! `regexp.MatchString`. A span is processed when it matches `include` (if given) and does not
//! match `exclude` (if given): exclude wins.

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;
use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::Span;

use crate::value::{self, ConfigValue};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchProperties {
    /// strict or regexp (required, as in the Collector).
    pub match_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub span_names: Vec<String>,
    /// SPAN_KIND_SERVER, SPAN_KIND_CLIENT, ... (the Collector's spelling).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub span_kinds: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<AttributeMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<LibraryMatch>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    /// Absent: the key only has to exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ConfigValue>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LibraryMatch {
    pub name: String,
    /// Absent: any version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

pub fn span_kind_str(kind: i32) -> &'static str {
    usize::try_from(kind).ok().and_then(|k| SPAN_KINDS.get(k)).copied().unwrap_or("")
}

#[derive(Clone)]
enum StringSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl StringSet {
    fn matches(&self, s: &str) -> bool {
        match self {
            StringSet::Strict(items) => items.iter().any(|i| i == s),
            StringSet::Regexp(items) => items.iter().any(|re| re.is_match(s)),
        }
    }
}

#[derive(Clone)]
enum AttrCond {
    Exists,
    Equals(V),
    Regex(Regex),
}

#[derive(Clone)]
struct Properties {
    services: Option<StringSet>,
    names: Option<StringSet>,
    kinds: Option<StringSet>,
    attributes: Vec<(String, AttrCond)>,
    resources: Vec<(String, AttrCond)>,
    libraries: Vec<(StringSet, Option<StringSet>)>,
}

/// Compiled `include` / `exclude`.
#[derive(Clone)]
pub struct SpanMatcher {
    include: Option<Properties>,
    exclude: Option<Properties>,
}

impl SpanMatcher {
    /// `None` when neither is set (every span is processed).
    pub fn compile(
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
        path_prefix: &str,
    ) -> Result<Option<Self>, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let prefix = |name: &str| if path_prefix.is_empty() { name.to_string() } else { format!("{path_prefix}::{name}") };
        let mut one = |mp: Option<&MatchProperties>, name: &str| {
            mp.and_then(|mp| compile_properties(mp, &prefix(name)).map_err(|e| problems.extend(e)).ok())
        };
        let include_c = one(include, "include");
        let exclude_c = one(exclude, "exclude");
        if !problems.is_empty() {
            return Err(problems);
        }
        if include_c.is_none() && exclude_c.is_none() {
            return Ok(None);
        }
        Ok(Some(Self { include: include_c, exclude: exclude_c }))
    }

    /// True when the span is to be processed (included and not excluded).
    pub fn selects(&self, resource: Option<&Resource>, scope: Option<&InstrumentationScope>, span: &Span) -> bool {
        if let Some(inc) = &self.include {
            if !inc.matches(resource, scope, span) {
                return false;
            }
        }
        match &self.exclude {
            Some(exc) => !exc.matches(resource, scope, span),
            None => true,
        }
    }
}

impl Properties {
    fn matches(&self, resource: Option<&Resource>, scope: Option<&InstrumentationScope>, span: &Span) -> bool {
        let res_attrs: &[KeyValue] = resource.map_or(&[], |r| &r.attributes);
        if let Some(services) = &self.services {
            // Borrowed in the common case (a string service.name): no allocation per span.
            let service: std::borrow::Cow<'_, str> = match value::find(res_attrs, "service.name") {
                None => "<nil-service-name>".into(),
                Some(kv) => match value::value_of(kv) {
                    Some(V::StringValue(s)) => s.as_str().into(),
                    v => value::as_string(v).into(),
                },
            };
            if !services.matches(&service) {
                return false;
            }
        }
        if self.names.as_ref().is_some_and(|n| !n.matches(&span.name)) {
            return false;
        }
        if self.kinds.as_ref().is_some_and(|k| !k.matches(span_kind_str(span.kind))) {
            return false;
        }
        if !attrs_match(&self.attributes, &span.attributes) || !attrs_match(&self.resources, res_attrs) {
            return false;
        }
        if !self.libraries.is_empty() {
            let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            let any = self
                .libraries
                .iter()
                .any(|(n, v)| n.matches(name) && v.as_ref().is_none_or(|v| v.matches(version)));
            if !any {
                return false;
            }
        }
        true
    }
}

fn attrs_match(conds: &[(String, AttrCond)], attrs: &[KeyValue]) -> bool {
    conds.iter().all(|(key, cond)| {
        let Some(kv) = value::find(attrs, key) else { return false };
        let v = value::value_of(kv);
        match cond {
            AttrCond::Exists => true,
            AttrCond::Equals(want) => v == Some(want),
            // As filtermatcher: only scalars are matched as text; lists, maps, bytes never match.
            AttrCond::Regex(re) => match v {
                Some(V::StringValue(s)) => re.is_match(s),
                Some(x @ (V::BoolValue(_) | V::IntValue(_) | V::DoubleValue(_))) => re.is_match(&value::as_string(Some(x))),
                _ => false,
            },
        }
    })
}

fn compile_properties(mp: &MatchProperties, path: &str) -> Result<Properties, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let regexp = match mp.match_type.as_str() {
        "strict" => false,
        "regexp" => true,
        "" => {
            problems.push(ConfigProblem::new(format!("{path}::match_type"), "missing; use strict or regexp"));
            false
        }
        other => {
            problems.push(ConfigProblem::new(format!("{path}::match_type"), format!("unknown match_type {other:?}; use strict or regexp")));
            false
        }
    };
    if mp.services.is_empty() && mp.span_names.is_empty() && mp.span_kinds.is_empty() && mp.attributes.is_empty() && mp.resources.is_empty() && mp.libraries.is_empty() {
        problems.push(ConfigProblem::new(path, "set at least one of services, span_names, span_kinds, attributes, resources or libraries"));
    }
    if !regexp {
        for (i, k) in mp.span_kinds.iter().enumerate() {
            if !SPAN_KINDS.contains(&k.as_str()) {
                problems.push(ConfigProblem::new(format!("{path}::span_kinds::{i}"), format!("unknown span kind {k:?}; with match_type strict use one of {}", SPAN_KINDS[1..].join(", "))));
            }
        }
    }
    let mut set = |items: &[String], field: &str| -> Option<StringSet> {
        if items.is_empty() {
            return None;
        }
        if !regexp {
            return Some(StringSet::Strict(items.to_vec()));
        }
        let mut res = Vec::new();
        for (i, p) in items.iter().enumerate() {
            match Regex::new(p) {
                Ok(re) => res.push(re),
                Err(e) => problems.push(ConfigProblem::new(format!("{path}::{field}::{i}"), format!("invalid regex {p:?}: {e}"))),
            }
        }
        Some(StringSet::Regexp(res))
    };
    let services = set(&mp.services, "services");
    let names = set(&mp.span_names, "span_names");
    let kinds = set(&mp.span_kinds, "span_kinds");
    let mut libraries = Vec::new();
    for (i, lib) in mp.libraries.iter().enumerate() {
        let name = set(std::slice::from_ref(&lib.name), &format!("libraries::{i}::name"));
        let version = lib.version.as_ref().and_then(|v| set(std::slice::from_ref(v), &format!("libraries::{i}::version")));
        if let Some(name) = name {
            libraries.push((name, version));
        }
    }
    let attributes = attr_conds(&mp.attributes, regexp, &format!("{path}::attributes"), &mut problems);
    let resources = attr_conds(&mp.resources, regexp, &format!("{path}::resources"), &mut problems);
    if problems.is_empty() {
        Ok(Properties { services, names, kinds, attributes, resources, libraries })
    } else {
        Err(problems)
    }
}

fn attr_conds(items: &[AttributeMatch], regexp: bool, path: &str, problems: &mut Vec<ConfigProblem>) -> Vec<(String, AttrCond)> {
    let mut out = Vec::new();
    for (i, a) in items.iter().enumerate() {
        if a.key.is_empty() {
            problems.push(ConfigProblem::new(format!("{path}::{i}::key"), "missing attribute key"));
            continue;
        }
        let cond = match (&a.value, regexp) {
            (None, _) => AttrCond::Exists,
            (Some(v), false) => AttrCond::Equals(v.to_value()),
            (Some(ConfigValue::Str(p)), true) => match Regex::new(p) {
                Ok(re) => AttrCond::Regex(re),
                Err(e) => {
                    problems.push(ConfigProblem::new(format!("{path}::{i}::value"), format!("invalid regex {p:?}: {e}")));
                    continue;
                }
            },
            (Some(_), true) => {
                problems.push(ConfigProblem::new(format!("{path}::{i}::value"), "with match_type regexp the value must be a string (a regex)"));
                continue;
            }
        };
        out.push((a.key.clone(), cond));
    }
    out
}
