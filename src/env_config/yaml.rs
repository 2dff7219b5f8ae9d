//! Two helpers that keep the config built from the environment readable as the YAML it
//! stands for.

use serde_yaml_ng::{Mapping, Value};

/// A YAML mapping from `(key, value)` pairs, in order.
pub fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String(k.to_string()), v);
    }
    Value::Mapping(m)
}

/// A YAML string.
pub fn s(text: &str) -> Value {
    Value::String(text.to_string())
}
