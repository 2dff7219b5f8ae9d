//! The `span` processor, as the Collector's `spanprocessor`: for each selected span, first
//! `name.from_attributes` (rename from attribute values), then `name.to_attributes` (pull
//! attributes out of the name), then `status`.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Status};
use regex::Regex;
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::Span;

use tracegate_span_rules::value;
use tracegate_span_rules::{AttrTarget, SpanEdit};

use crate::config::SpanConfig;

#[derive(Clone)]
struct ToAttributesRule {
    re: Regex,
    /// Group names by index (index 0, the whole match, unused).
    names: Vec<String>,
}

/// The compiled `name` and `status` settings.
#[derive(Clone)]
pub struct SpanRules {
    from_attributes: Vec<String>,
    separator: String,
    rules: Vec<ToAttributesRule>,
    break_after_match: bool,
    keep_original_name: bool,
    /// (code, message) to set.
    status: Option<(StatusCode, String)>,
}

impl SpanRules {
    pub fn compile(cfg: &SpanConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let to = cfg.name.to_attributes.clone().unwrap_or_default();
        let mut rules = Vec::new();
        for (i, rule) in to.rules.iter().enumerate() {
            let path = format!("name::to_attributes::rules::{i}");
            match Regex::new(rule) {
                Ok(re) => {
                    let names: Vec<String> = re.capture_names().map(|n| n.unwrap_or_default().to_string()).collect();
                    // The Collector would add an attribute with an empty key for an unnamed group.
                    if names.iter().skip(1).any(String::is_empty) {
                        problems.push(ConfigProblem::new(path, format!("regex {rule:?} has an unnamed group; name it (?P<attribute>...) or make it non-capturing (?:...)")));
                    } else {
                        rules.push(ToAttributesRule { re, names });
                    }
                }
                Err(e) => problems.push(ConfigProblem::new(path, format!("invalid regex {rule:?}: {e}"))),
            }
        }
        if cfg.name.to_attributes.as_ref().is_some_and(|t| t.rules.is_empty()) {
            problems.push(ConfigProblem::new("name::to_attributes::rules", "missing: list at least one regex"));
        }
        let status = match &cfg.status {
            None => None,
            Some(s) => match s.code.as_str() {
                "Ok" | "Unset" if !s.description.is_empty() => {
                    problems.push(ConfigProblem::new("status::description", "may only be set with code Error"));
                    None
                }
                "Ok" => Some((StatusCode::Ok, String::new())),
                "Unset" => Some((StatusCode::Unset, String::new())),
                "Error" => Some((StatusCode::Error, s.description.clone())),
                other => {
                    problems.push(ConfigProblem::new("status::code", format!("unknown status code {other:?}; use Ok, Error or Unset")));
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            from_attributes: cfg.name.from_attributes.clone(),
            separator: cfg.name.separator.clone(),
            rules,
            break_after_match: to.break_after_match,
            keep_original_name: to.keep_original_name,
            status,
        })
    }

    /// Applies the rules to one span, writing through the `Cow` only on a real change.
    pub fn apply(&self, span: &mut Cow<'_, Span>) {
        self.rename_from_attributes(span);
        self.extract_to_attributes(span);
        if let Some((code, message)) = &self.status {
            let current = span.status.as_ref().map_or((0, ""), |s| (s.code, s.message.as_str()));
            if current != (*code as i32, message.as_str()) {
                span.to_mut().status = Some(Status { code: *code as i32, message: message.clone() });
            }
        }
    }

    fn rename_from_attributes(&self, span: &mut Cow<'_, Span>) {
        if self.from_attributes.is_empty() || span.attributes.is_empty() {
            return;
        }
        let mut name = String::new();
        for (i, key) in self.from_attributes.iter().enumerate() {
            // One missing attribute: the name stays.
            let Some(kv) = value::find(&span.attributes, key) else { return };
            if i > 0 {
                name.push_str(&self.separator);
            }
            match value::value_of(kv) {
                Some(v @ (V::StringValue(_) | V::BoolValue(_) | V::IntValue(_) | V::DoubleValue(_))) => {
                    name.push_str(&value::as_string(Some(v)));
                }
                _ => name.push_str("<unknown-attribute-type>"),
            }
        }
        if span.name != name {
            span.to_mut().name = name;
        }
    }

    fn extract_to_attributes(&self, span: &mut Cow<'_, Span>) {
        for rule in &self.rules {
            if span.name.is_empty() {
                return;
            }
            let old = span.name.clone();
            let Some(caps) = rule.re.captures(&old) else { continue };
            let mut name = String::with_capacity(old.len());
            let mut at = 0;
            for (i, attr) in rule.names.iter().enumerate().skip(1) {
                // A group that took no part in the match adds an empty attribute, as Go's
                // FindStringSubmatch yields "" for it; it leaves the name alone.
                let Some(m) = caps.get(i) else {
                    set_str(span, attr, "");
                    continue;
                };
                set_str(span, attr, m.as_str());
                name.push_str(&old[at..m.start().max(at)]);
                name.push('{');
                name.push_str(attr);
                name.push('}');
                at = at.max(m.end());
            }
            name.push_str(&old[at..]);
            if !self.keep_original_name && span.name != name {
                span.to_mut().name = name;
            }
            if self.break_after_match {
                return;
            }
        }
    }
}

fn set_str(span: &mut Cow<'_, Span>, key: &str, v: &str) {
    match span.attrs().iter().position(|kv| kv.key == key) {
        Some(i) if matches!(value::value_of(&span.attributes[i]), Some(V::StringValue(s)) if s == v) => {}
        Some(i) => span.attrs_mut()[i] = value::kv(key, V::StringValue(v.to_string())),
        None => span.attrs_mut().push(value::kv(key, V::StringValue(v.to_string()))),
    }
}

impl SpanEdit for SpanRules {
    fn edit(&self, span: &mut Cow<'_, Span>) {
        self.apply(span);
    }
}
