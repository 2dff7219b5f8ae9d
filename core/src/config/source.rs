//! Reading config sources into one YAML tree: files (line and column on syntax errors),
//! `${env:VAR}` / `${env:VAR:-default}` expansion, deep merge of repeated `--config`, and
//! `--set key.path=value` overrides.
//!
//! Expansion happens on parsed values, not raw text, as in the Collector, so an env value can
//! never break the YAML structure around it. A string that is exactly one reference takes the
//! YAML type of what it expands to (`port: ${env:PORT}` gives a number).

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::nesting::{flow_too_deep, MAX_FLOW_DEPTH};
use super::ConfigProblem;

/// Reads and parses one YAML file. Errors name the file and, for syntax errors, line and column.
pub fn read_yaml_file(path: &Path) -> Result<Value, ConfigProblem> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigProblem::new(
            path.display().to_string(),
            format!("cannot read config file: {e}"),
        )
    })?;
    parse_yaml(&text, &path.display().to_string())
}

/// Parses YAML text; `origin` names the source in errors (`pipeline.yaml:12:5: ...`).
pub fn parse_yaml(text: &str, origin: &str) -> Result<Value, ConfigProblem> {
    // Before the parser, which takes quadratic time on deep [ ] / { } nesting (see `nesting`).
    if let Some((line, column)) = flow_too_deep(text, MAX_FLOW_DEPTH) {
        return Err(ConfigProblem::new(
            format!("{origin}:{line}:{column}"),
            format!("more than {MAX_FLOW_DEPTH} levels of [ ] or {{ }}: {TOO_DEEP} (is a bracket left open?)"),
        ));
    }
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(Value::Mapping(Mapping::new())),
        Ok(v @ Value::Mapping(_)) => Ok(v),
        Ok(_) => Err(ConfigProblem::new(
            origin,
            "the top level of a config must be a mapping",
        )),
        Err(e) => {
            let mut message = e.to_string();
            // The parser's own limit (128 levels), reached by indentation: say it plainly.
            if message.starts_with("recursion limit exceeded") {
                message = format!(
                    "more than 128 levels of indentation, lists or mappings: {TOO_DEEP}{}",
                    &message["recursion limit exceeded".len()..]
                );
            }
            let place = match e.location() {
                Some(loc) => {
                    // The place goes in the path; drop the parser's own copy of it.
                    let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                    if let Some(pos) = message.find(&suffix) {
                        message.replace_range(pos..pos + suffix.len(), "");
                    }
                    format!("{origin}:{}:{}", loc.line(), loc.column())
                }
                None => origin.to_string(),
            };
            Err(ConfigProblem::new(
                place,
                format!("YAML syntax error: {message}"),
            ))
        }
    }
}

const TOO_DEEP: &str = "nested too deeply for a config";

/// Merges `overlay` into `base`: mappings merge key by key, anything else (lists included) is
/// replaced, as the Collector merges repeated `--config`.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Applies `--set key=value`. The key path splits on `::` when it contains one (so ids with a
/// dot stay whole), else on `.`. The value is read as a YAML scalar or flow collection.
pub fn apply_set(root: &mut Value, assignment: &str) -> Result<(), ConfigProblem> {
    let (key, raw_value) = assignment.split_once('=').ok_or_else(|| {
        ConfigProblem::new(
            "--set",
            format!("\"{assignment}\" must have the form key.path=value"),
        )
    })?;
    let parts: Vec<&str> = if key.contains("::") {
        key.split("::").collect()
    } else {
        key.split('.').collect()
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigProblem::new(
            "--set",
            format!("\"{key}\" has an empty path segment"),
        ));
    }
    if flow_too_deep(raw_value, MAX_FLOW_DEPTH).is_some() {
        return Err(ConfigProblem::new(
            format!("--set {key}"),
            format!("the value is {TOO_DEEP} (more than {MAX_FLOW_DEPTH} levels of [ ] or {{ }})"),
        ));
    }
    let value: Value =
        serde_yaml_ng::from_str(raw_value).unwrap_or_else(|_| Value::String(raw_value.to_string()));
    let mut node = root;
    for part in &parts {
        // A YAML tag (`key: !tag {..}`) means nothing to a config: look through it. (A
        // tagged mapping also answers `is_mapping()`, which once made this an unreachable!.)
        while let Value::Tagged(tagged) = node {
            let inner = std::mem::take(&mut tagged.value);
            *node = inner;
        }
        if !matches!(node, Value::Mapping(_)) {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(ConfigProblem::new(format!("--set {key}"), "cannot descend into this value"));
        };
        node = map
            .entry(Value::String((*part).to_string()))
            .or_insert(Value::Null);
    }
    *node = value;
    Ok(())
}

/// Expands env references in every string of the tree. Undefined variables without a default
/// expand to "" and are reported as warnings (the Collector does the same).
pub fn expand_env(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    expand_at(value, "", lookup, &mut problems);
    problems
}

fn expand_at(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand_str(s, lookup) {
            Ok((expanded, whole, missing)) => {
                for name in missing {
                    problems.push(ConfigProblem::warning(
                        path,
                        format!("environment variable {name} is not set; using an empty value"),
                    ));
                }
                *value = if whole {
                    retype_scalar(expanded)
                } else {
                    Value::String(expanded)
                };
            }
            Err(msg) => problems.push(ConfigProblem::new(path, msg)),
        },
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}::{key}")
                };
                expand_at(v, &child, lookup, problems);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_at(v, &format!("{path}[{i}]"), lookup, problems);
            }
        }
        _ => {}
    }
}

/// A whole-string reference takes the YAML type of its value; a multi-line or structured
/// value stays a string, so env values cannot inject config structure.
fn retype_scalar(s: String) -> Value {
    // Only a bool or a number is kept, so a deeply nested value need not be parsed at all.
    if flow_too_deep(&s, MAX_FLOW_DEPTH).is_some() {
        return Value::String(s);
    }
    match serde_yaml_ng::from_str::<Value>(&s) {
        Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
        _ => Value::String(s),
    }
}

/// Returns (expanded, whole-string-was-one-reference, undefined names).
fn expand_str(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool, Vec<String>), String> {
    let mut out = String::with_capacity(s.len());
    let mut missing = Vec::new();
    let mut rest = s;
    let mut refs = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$$") {
            // `$$` escapes a literal `$`.
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let end = body_start
            .find('}')
            .ok_or_else(|| format!("unclosed \"${{\" in \"{s}\""))?;
        let body = &body_start[..end];
        rest = &body_start[end + 1..];
        refs += 1;
        let reference = body.strip_prefix("env:").unwrap_or(body);
        let (name, default) = match reference.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "invalid reference \"${{{body}}}\": use ${{env:NAME}} or ${{env:NAME:-default}}"
            ));
        }
        match (lookup(name), default) {
            (Some(v), _) if !v.is_empty() || default.is_none() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            (None, None) => missing.push(name.to_string()),
            (Some(_), None) => {}
        }
    }
    out.push_str(rest);
    let whole = refs == 1 && s.starts_with("${") && s.ends_with('}');
    Ok((out, whole, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("collector".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn yaml(s: &str) -> Value {
        parse_yaml(s, "t.yaml").unwrap()
    }

    #[test]
    fn expands_env_with_defaults_and_types() {
        let mut v = yaml("a: ${env:PORT}\nb: \"${env:HOST}:${env:PORT}\"\nc: ${env:NOPE:-x}\nd: ${EMPTY:-fallback}\ne: $${env:PORT}\n");
        let problems = expand_env(&mut v, &env);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(v["a"], Value::Number(4317.into()));
        assert_eq!(v["b"], Value::String("collector:4317".into()));
        assert_eq!(v["c"], Value::String("x".into()));
        assert_eq!(v["d"], Value::String("fallback".into()));
        assert_eq!(v["e"], Value::String("${env:PORT}".into()));
    }

    #[test]
    fn missing_env_warns_with_path() {
        let mut v = yaml("exporters:\n  otlp:\n    endpoint: ${env:MISSING}\n");
        let problems = expand_env(&mut v, &env);
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].is_error());
        assert_eq!(
            problems[0].to_string(),
            "exporters::otlp::endpoint: environment variable MISSING is not set; using an empty value"
        );
    }

    #[test]
    fn merge_is_deep_for_maps_and_replaces_lists() {
        let mut base = yaml("a: {x: 1, y: [1, 2]}\nb: 1\n");
        merge(&mut base, yaml("a: {y: [3], z: 2}\n"));
        assert_eq!(base, yaml("a: {x: 1, y: [3], z: 2}\nb: 1\n"));
    }

    #[test]
    fn set_reads_through_a_yaml_tag() {
        // Found by the fuzz target `config`: `--set` into a tagged mapping panicked.
        let mut v = parse_yaml("exporters: !debug {debug: {verbosity: basic}}", "t").unwrap();
        apply_set(&mut v, "exporters.debug.verbosity=detailed").unwrap();
        let verbosity = &v["exporters"]["debug"]["verbosity"];
        assert_eq!(verbosity.as_str(), Some("detailed"));
        let mut v = parse_yaml("a: !t 1", "t").unwrap();
        apply_set(&mut v, "a.b=2").unwrap();
        assert_eq!(v["a"]["b"].as_u64(), Some(2));
    }

    #[test]
    fn set_overrides_nested_keys() {
        let mut v = yaml("processors: {batch: {timeout: 1s}}\n");
        apply_set(&mut v, "processors.batch.timeout=2s").unwrap();
        apply_set(&mut v, "exporters::otlp/a.b::endpoint=x:1").unwrap();
        apply_set(&mut v, "processors.batch.send_batch_size=10").unwrap();
        assert_eq!(
            v["processors"]["batch"]["timeout"],
            Value::String("2s".into())
        );
        assert_eq!(
            v["processors"]["batch"]["send_batch_size"],
            Value::Number(10.into())
        );
        assert_eq!(
            v["exporters"]["otlp/a.b"]["endpoint"],
            Value::String("x:1".into())
        );
        assert!(apply_set(&mut v, "novalue").is_err());
    }

    /// 100,000 open brackets took close to a minute to refuse; now the refusal is immediate
    /// (well under a second even in a debug build) and names the line and column.
    #[test]
    fn deeply_nested_configs_are_refused_at_once_with_the_place() {
        let started = std::time::Instant::now();
        for (text, place) in [
            (format!("receivers:\n  otlp: {}\n", "[".repeat(100_000)), "deep.yaml:2:73"),
            (format!("receivers:\n  otlp: {}\n", "{a: ".repeat(50_000)), "deep.yaml:2:265"),
        ] {
            let e = parse_yaml(&text, "deep.yaml").expect_err("too deep");
            assert_eq!(e.path, place, "{e}");
            assert!(e.message.contains("nested too deeply for a config"), "{e}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        // Deep indentation reaches the parser's limit, which is said as plainly.
        let mut text = String::from("receivers:\n");
        for i in 0..200 {
            text += &format!("{}k{i}:\n", "  ".repeat(i + 1));
        }
        let e = parse_yaml(&text, "deep.yaml").expect_err("too deep");
        assert!(e.message.starts_with("YAML syntax error: more than 128 levels of indentation, lists or mappings: nested too deeply"), "{e}");
        assert!(e.path.starts_with("deep.yaml:129:"), "{e}");
        // --set and env values are checked too.
        let mut root = yaml("{}");
        let e = apply_set(&mut root, &format!("a.b={}", "[".repeat(100_000))).expect_err("too deep");
        assert!(e.message.contains("nested too deeply"), "{e}");
        assert_eq!(retype_scalar("[".repeat(100_000)), Value::String("[".repeat(100_000)));
        assert!(started.elapsed() < std::time::Duration::from_secs(4), "took {:?}", started.elapsed());
        // What a config really nests is fine.
        parse_yaml("a: {b: [c, {d: [e, [f]]}]}\n", "ok.yaml").expect("nesting a config really has");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = parse_yaml("receivers:\n  otlp: {\n    bad\n", "p.yaml").unwrap_err();
        assert!(e.path.starts_with("p.yaml:"), "{e}");
        assert_eq!(e.path.split(':').count(), 3, "{e}");
    }
}
