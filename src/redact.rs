//! Secrets out of `print-config`'s output: a printed config is pasted into tickets and chats,
//! so the values of keys that hold credentials are shown as `[REDACTED]` (the Collector's
//! `configopaque` does the same). Empty values stay empty, so "no password set" still shows.

use serde_yaml_ng::Value;

/// Keys whose values are credentials wherever they appear in a config.
const SECRET_KEYS: [&str; 6] = ["password", "key_password", "api_key", "token", "tokens", "key_pem"];

pub const REDACTED: &str = "[REDACTED]";

pub fn redact(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                if key.as_str().is_some_and(|k| SECRET_KEYS.contains(&k)) {
                    hide(v);
                } else {
                    redact(v);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(redact),
        Value::Tagged(tagged) => redact(&mut tagged.value),
        _ => {}
    }
}

fn hide(value: &mut Value) {
    match value {
        Value::String(s) if s.is_empty() => {}
        Value::Sequence(items) => items.iter_mut().for_each(hide),
        Value::Null => {}
        other => *other = Value::String(REDACTED.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_at_any_depth_and_empty_ones_stay_empty() {
        let mut v: Value = serde_yaml_ng::from_str(
            "exporters: {elasticsearch: {auth: {username: u, password: hunter2, api_key: ''}}}\n\
             extensions: {bearer: {tokens: [a, b]}, basic: {htpasswd: {inline: x}}}",
        )
        .expect("yaml");
        redact(&mut v);
        let text = serde_yaml_ng::to_string(&v).expect("render");
        assert!(!text.contains("hunter2") && !text.contains("- a"), "{text}");
        assert_eq!(v["exporters"]["elasticsearch"]["auth"]["username"], Value::from("u"));
        assert_eq!(v["exporters"]["elasticsearch"]["auth"]["password"], Value::from(REDACTED));
        assert_eq!(v["exporters"]["elasticsearch"]["auth"]["api_key"], Value::from(""));
        assert_eq!(v["extensions"]["bearer"]["tokens"][1], Value::from(REDACTED));
    }
}
