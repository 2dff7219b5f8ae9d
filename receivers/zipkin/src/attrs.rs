//! OTLP attribute building shared by the v1 and v2 translations: the Collector's
//! `parse_string_tags` typing, upserts with Go map semantics, id bytes, and the list of tag
//! keys the Collector treats as resource (not span) attributes.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// The Collector's attribute key for spans that arrived without a start time.
pub const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";
/// A tag naming the resource attribute the local service name goes to (default `service.name`).
pub const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";

pub fn string_value(s: String) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s)) }
}

pub fn int_value(i: i64) -> AnyValue {
    AnyValue { value: Some(any_value::Value::IntValue(i)) }
}

pub fn bool_value(b: bool) -> AnyValue {
    AnyValue { value: Some(any_value::Value::BoolValue(b)) }
}

pub fn double_value(d: f64) -> AnyValue {
    AnyValue { value: Some(any_value::Value::DoubleValue(d)) }
}

pub fn kv(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue { key: key.into(), value: Some(value), ..Default::default() }
}

/// Sets `key`, replacing an existing value, as `pcommon.Map.Put*` does.
pub fn put(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attrs.iter_mut().find(|a| a.key == key) {
        Some(existing) => existing.value = Some(value),
        None => attrs.push(kv(key, value)),
    }
}

/// Attributes with Go map semantics (a later key replaces an earlier one) that stay linear
/// in the number of keys: past a few dozen keys, lookups go through an index.
#[derive(Default)]
pub struct AttributeMap {
    attrs: Vec<KeyValue>,
    index: Option<std::collections::HashMap<String, usize>>,
}

impl AttributeMap {
    const INDEX_FROM: usize = 32;

    pub fn put(&mut self, key: String, value: AnyValue) {
        if self.index.is_none() && self.attrs.len() >= Self::INDEX_FROM {
            let index = self.attrs.iter().enumerate().map(|(i, a)| (a.key.clone(), i)).collect();
            self.index = Some(index);
        }
        let found = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.attrs.iter().position(|a| a.key == key),
        };
        match found {
            Some(i) => self.attrs[i].value = Some(value),
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), self.attrs.len());
                }
                self.attrs.push(kv(key, value));
            }
        }
    }

    pub fn into_vec(self) -> Vec<KeyValue> {
        self.attrs
    }
}

/// A tag value, typed the way the Collector types it when `parse_string_tags` is on:
/// `-?\d+` is an int (0 if it overflows, as Go's ignored parse error leaves it), `-?\d+\.\d+`
/// a double, `true`/`false` a bool, everything else (including JSON-looking text) a string.
pub fn tag_value(value: String, parse_string_tags: bool) -> AnyValue {
    if !parse_string_tags {
        return string_value(value);
    }
    match classify(&value) {
        Typed::Int => int_value(value.parse().unwrap_or(0)),
        Typed::Double => double_value(value.parse().unwrap_or(0.0)),
        Typed::Bool => bool_value(value == "true"),
        Typed::Str => string_value(value),
    }
}

enum Typed {
    Int,
    Double,
    Bool,
    Str,
}

fn classify(s: &str) -> Typed {
    if s == "true" || s == "false" {
        return Typed::Bool;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if all_digits(digits) {
        return Typed::Int;
    }
    match digits.split_once('.') {
        Some((int, frac)) if all_digits(int) && all_digits(frac) => Typed::Double,
        _ => Typed::Str,
    }
}

/// A trace id as OTLP bytes. An all-zero id is written as no bytes, as pdata writes an empty
/// id on the wire.
pub fn trace_id_bytes(high: u64, low: u64) -> Vec<u8> {
    if high == 0 && low == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&high.to_be_bytes());
    out.extend_from_slice(&low.to_be_bytes());
    out
}

/// A span id as OTLP bytes; zero is written as no bytes.
pub fn span_id_bytes(id: u64) -> Vec<u8> {
    if id == 0 {
        Vec::new()
    } else {
        id.to_be_bytes().to_vec()
    }
}

/// Tags that never become span attributes in the Collector's v2 translation: the resource
/// semantic conventions of semconv v1.6.1 plus OpenCensus and instrumentation-scope keys.
pub fn is_non_span_attribute(key: &str) -> bool {
    is_resource_tag(key)
        || matches!(
            key,
            SERVICE_NAME_SOURCE
                | "otel.library.name"
                | "otel.library.version"
                | "otel.scope.name"
                | "otel.scope.version"
        )
}

/// Tags the Collector moves from the first span of a resource onto the resource.
pub fn is_resource_tag(key: &str) -> bool {
    matches!(
        key,
        "opencensus.starttime"
            | "opencensus.exporterversion"
            | "opencensus.resourcetype"
            | "cloud.provider"
            | "cloud.account.id"
            | "cloud.region"
            | "cloud.availability_zone"
            | "cloud.platform"
            | "aws.ecs.container.arn"
            | "aws.ecs.cluster.arn"
            | "aws.ecs.launchtype"
            | "aws.ecs.task.arn"
            | "aws.ecs.task.family"
            | "aws.ecs.task.revision"
            | "aws.eks.cluster.arn"
            | "aws.log.group.names"
            | "aws.log.group.arns"
            | "aws.log.stream.names"
            | "aws.log.stream.arns"
            | "container.name"
            | "container.id"
            | "container.runtime"
            | "container.image.name"
            | "container.image.tag"
            | "deployment.environment"
            | "device.id"
            | "device.model.identifier"
            | "device.model.name"
            | "device.manufacturer"
            | "faas.name"
            | "faas.id"
            | "faas.version"
            | "faas.instance"
            | "faas.max_memory"
            | "host.id"
            | "host.name"
            | "host.type"
            | "host.arch"
            | "host.image.name"
            | "host.image.id"
            | "host.image.version"
            | "k8s.cluster.name"
            | "k8s.node.name"
            | "k8s.node.uid"
            | "k8s.namespace.name"
            | "k8s.pod.uid"
            | "k8s.pod.name"
            | "k8s.container.name"
            | "k8s.container.restart_count"
            | "k8s.replicaset.uid"
            | "k8s.replicaset.name"
            | "k8s.deployment.uid"
            | "k8s.deployment.name"
            | "k8s.statefulset.uid"
            | "k8s.statefulset.name"
            | "k8s.daemonset.uid"
            | "k8s.daemonset.name"
            | "k8s.job.uid"
            | "k8s.job.name"
            | "k8s.cronjob.uid"
            | "k8s.cronjob.name"
            | "os.type"
            | "os.description"
            | "os.name"
            | "os.version"
            | "process.pid"
            | "process.executable.name"
            | "process.executable.path"
            | "process.command"
            | "process.command_line"
            | "process.command_args"
            | "process.owner"
            | "process.runtime.name"
            | "process.runtime.version"
            | "process.runtime.description"
            | "service.name"
            | "service.namespace"
            | "service.instance.id"
            | "service.version"
            | "telemetry.sdk.name"
            | "telemetry.sdk.language"
            | "telemetry.sdk.version"
            | "telemetry.auto.version"
            | "webengine.name"
            | "webengine.version"
            | "webengine.description"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Option<any_value::Value> {
        tag_value(s.to_string(), true).value
    }

    #[test]
    fn string_tags_are_typed_like_the_collector() {
        use any_value::Value::*;
        assert_eq!(typed("42"), Some(IntValue(42)));
        assert_eq!(typed("-7"), Some(IntValue(-7)));
        assert_eq!(typed("99999999999999999999"), Some(IntValue(0)));
        assert_eq!(typed("1.5"), Some(DoubleValue(1.5)));
        assert_eq!(typed("true"), Some(BoolValue(true)));
        assert_eq!(typed("false"), Some(BoolValue(false)));
        for s in ["", "1.", ".5", "1e5", "TRUE", "+1", "0x10", "{\"a\":1}", "1.2.3"] {
            assert_eq!(typed(s), Some(StringValue(s.to_string())), "{s:?}");
        }
        assert_eq!(tag_value("42".into(), false).value, Some(StringValue("42".into())));
    }

    #[test]
    fn attribute_map_replaces_values_at_any_size() {
        let mut m = AttributeMap::default();
        for i in 0..100 {
            m.put(format!("k{}", i % 40), int_value(i));
        }
        let v = m.into_vec();
        assert_eq!(v.len(), 40);
        assert_eq!(v[0].value, Some(int_value(80)));
        assert_eq!(v[39].value, Some(int_value(79)));
    }

    #[test]
    fn zero_ids_are_empty() {
        assert!(trace_id_bytes(0, 0).is_empty());
        assert_eq!(trace_id_bytes(0, 1)[15], 1);
        assert!(span_id_bytes(0).is_empty());
    }
}
