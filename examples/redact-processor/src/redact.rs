//! The processor: walks every attribute of resources, spans, events and links (nested arrays
//! and maps included) and masks what the patterns match.

use std::borrow::Cow;
use std::collections::HashSet;

use regex::Regex;
use tracegate_plugin_abi::proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use tracegate_plugin_abi::{ConfigIssue, ExportTraceServiceRequest, PluginComponent, PluginError, PluginProcessor};

use crate::Config;

pub struct Redact {
    /// All patterns as one alternation: one pass over each value however many patterns.
    pattern: Regex,
    mask: String,
    keys: HashSet<String>,
    resource: bool,
}

impl PluginComponent for Redact {
    const TYPE: &'static str = "redact";
    type Config = Config;

    fn validate(config: &Config) -> Vec<ConfigIssue> {
        config.issues()
    }

    fn new(config: Config) -> Result<Self, PluginError> {
        if let Some(issue) = config.issues().into_iter().next() {
            return Err(PluginError::permanent(issue.to_string()));
        }
        let joined = config.patterns.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
        let pattern = Regex::new(&joined).map_err(|e| PluginError::permanent(e.to_string()))?;
        Ok(Self { pattern, mask: config.mask, keys: config.keys.into_iter().collect(), resource: config.resource })
    }
}

impl PluginProcessor for Redact {
    fn process(&self, mut request: ExportTraceServiceRequest) -> Result<ExportTraceServiceRequest, PluginError> {
        for rs in &mut request.resource_spans {
            if self.resource {
                if let Some(resource) = &mut rs.resource {
                    self.attributes(&mut resource.attributes);
                }
            }
            for span in rs.scope_spans.iter_mut().flat_map(|ss| ss.spans.iter_mut()) {
                self.attributes(&mut span.attributes);
                for event in &mut span.events {
                    self.attributes(&mut event.attributes);
                }
                for link in &mut span.links {
                    self.attributes(&mut link.attributes);
                }
            }
        }
        Ok(request)
    }
}

impl Redact {
    fn attributes(&self, attributes: &mut [KeyValue]) {
        for kv in attributes {
            if self.keys.is_empty() || self.keys.contains(&kv.key) {
                if let Some(value) = &mut kv.value {
                    self.value(value);
                }
            }
        }
    }

    fn value(&self, value: &mut AnyValue) {
        match &mut value.value {
            Some(Value::StringValue(s)) => {
                if let Cow::Owned(masked) = self.pattern.replace_all(s, self.mask.as_str()) {
                    *s = masked;
                }
            }
            Some(Value::ArrayValue(array)) => array.values.iter_mut().for_each(|v| self.value(v)),
            // Inside a map every entry is redacted: `keys` selects top-level attributes.
            Some(Value::KvlistValue(list)) => {
                for kv in &mut list.values {
                    if let Some(v) = &mut kv.value {
                        self.value(v);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use tracegate_plugin_abi::proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use tracegate_plugin_abi::proto::tonic::resource::v1::Resource;
    use tracegate_plugin_abi::proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::StringValue(v.into())) })
    }

    fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
        KeyValue { key: k.into(), value: v, ..Default::default() }
    }

    fn redact(config: &str) -> Redact {
        Redact::new(serde_yaml_ng::from_str(config).expect("config")).expect("valid")
    }

    fn request() -> ExportTraceServiceRequest {
        let span = Span {
            attributes: vec![
                kv("card", s("paid with 4111-1111-1111-1111 ok")),
                kv("email", s("bob@example.com")),
                kv("n", Some(AnyValue { value: Some(Value::IntValue(4111)) })),
                kv("list", Some(AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: s("x 4111-1111-1111-1111").into_iter().collect() })) })),
                kv("map", Some(AnyValue { value: Some(Value::KvlistValue(KeyValueList { values: vec![kv("inner", s("bob@example.com"))] })) })),
            ],
            events: vec![Event { attributes: vec![kv("e", s("4111-1111-1111-1111"))], ..Default::default() }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![kv("host", s("bob@example.com"))], ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    fn string_at(v: &Option<AnyValue>) -> String {
        match v.as_ref().and_then(|v| v.value.clone()) {
            Some(Value::StringValue(s)) => s,
            Some(Value::ArrayValue(a)) => string_at(&Some(a.values[0].clone())),
            Some(Value::KvlistValue(l)) => string_at(&l.values[0].value),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn masks_matches_everywhere_and_leaves_the_rest() {
        let r = redact("patterns: ['\\d{4}-\\d{4}-\\d{4}-\\d{4}', '[a-z]+@[a-z.]+']\nmask: '<hidden>'");
        let out = r.process(request()).expect("processed");
        let rs = &out.resource_spans[0];
        let span = &rs.scope_spans[0].spans[0];
        let attrs: Vec<String> = span.attributes.iter().map(|a| string_at(&a.value)).collect();
        assert_eq!(attrs, vec!["paid with <hidden> ok", "<hidden>", "Some(IntValue(4111))", "x <hidden>", "<hidden>"]);
        assert_eq!(string_at(&span.events[0].attributes[0].value), "<hidden>");
        assert_eq!(string_at(&rs.resource.as_ref().expect("resource").attributes[0].value), "<hidden>");
    }

    #[test]
    fn keys_and_resource_limit_what_is_looked_at() {
        let r = redact("patterns: ['[a-z]+@[a-z.]+']\nkeys: [email]\nresource: false");
        let out = r.process(request()).expect("processed");
        let rs = &out.resource_spans[0];
        let span = &rs.scope_spans[0].spans[0];
        assert_eq!(string_at(&span.attributes[1].value), "***");
        assert_eq!(string_at(&span.attributes[4].value), "bob@example.com", "map attribute not in keys");
        assert_eq!(string_at(&rs.resource.as_ref().expect("resource").attributes[0].value), "bob@example.com");
    }
}
