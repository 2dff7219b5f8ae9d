//! The two JSON forms Jaeger's HTTP sampling endpoints answer, byte for byte.
//!
//! - `/sampling` (the "proto" form): Jaeger marshals the `api_v2` message with gogo's `jsonpb`
//!   and `EmitDefaults` (so `"strategyType":"PROBABILISTIC"`, enum value 0, is not dropped),
//!   then deletes the `null` strategy fields. Enums are names; every scalar of a present
//!   message is written, zero or not; fields follow proto field order.
//! - `/` (the "legacy" form, for clients built on Thrift 0.9.2): the Thrift struct through Go's
//!   `encoding/json`, with `strategyType` as the enum's number. Thrift's `maxTracesPerSecond`
//!   is an i16, so a larger limit cannot be expressed and Jaeger answers 500.
//!
//! Both write numbers as Go does (`1`, not `1.0`; `1e-07` becomes `1e-7`), because some
//! clients compare bodies in tests and a few hand-written parsers choke on surprises.

use std::fmt::Write;

use crate::proto::{PerOperationSamplingStrategies, SamplingStrategyResponse, SamplingStrategyType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `GET /sampling`: enum names.
    Proto,
    /// `GET /`: enum numbers, Thrift 0.9.2 style.
    Legacy,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncodeError {
    #[error("maxTracesPerSecond {0} does not fit the legacy endpoint's 16-bit field")]
    RateTooHigh(i32),
    #[error("could not convert sampling strategy type {0}")]
    UnknownType(i32),
}

pub fn encode(response: &SamplingStrategyResponse, form: Form) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(128);
    out.push_str("{\"strategyType\":");
    match (form, SamplingStrategyType::try_from(response.strategy_type)) {
        (Form::Proto, Ok(t)) => push_str(&mut out, t.as_str_name()),
        // jsonpb writes an enum value it has no name for as its number.
        (Form::Proto, Err(_)) => push_display(&mut out, response.strategy_type),
        (Form::Legacy, Ok(_)) => push_display(&mut out, response.strategy_type),
        (Form::Legacy, Err(_)) => return Err(EncodeError::UnknownType(response.strategy_type)),
    }
    if let Some(p) = &response.probabilistic_sampling {
        out.push_str(",\"probabilisticSampling\":{\"samplingRate\":");
        push_float(&mut out, p.sampling_rate);
        out.push('}');
    }
    if let Some(r) = &response.rate_limiting_sampling {
        let max = r.max_traces_per_second;
        out.push_str(",\"rateLimitingSampling\":{\"maxTracesPerSecond\":");
        match form {
            Form::Proto => push_display(&mut out, max),
            Form::Legacy if max > i32::from(i16::MAX) => return Err(EncodeError::RateTooHigh(max)),
            // Go's int16(int32) conversion wraps; only the upper bound is checked by Jaeger.
            Form::Legacy => push_display(&mut out, max as i16),
        }
        out.push('}');
    }
    if let Some(ops) = &response.operation_sampling {
        out.push_str(",\"operationSampling\":");
        push_operations(&mut out, ops);
    }
    out.push('}');
    Ok(out)
}

fn push_operations(out: &mut String, ops: &PerOperationSamplingStrategies) {
    out.push_str("{\"defaultSamplingProbability\":");
    push_float(out, ops.default_sampling_probability);
    out.push_str(",\"defaultLowerBoundTracesPerSecond\":");
    push_float(out, ops.default_lower_bound_traces_per_second);
    out.push_str(",\"perOperationStrategies\":[");
    for (i, op) in ops.per_operation_strategies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"operation\":");
        push_str(out, &op.operation);
        out.push_str(",\"probabilisticSampling\":");
        match &op.probabilistic_sampling {
            Some(p) => {
                out.push_str("{\"samplingRate\":");
                push_float(out, p.sampling_rate);
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push_str("],\"defaultUpperBoundTracesPerSecond\":");
    push_float(out, ops.default_upper_bound_traces_per_second);
    out.push('}');
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// A string as Go's `encoding/json` writes it: HTML-safe (`<`, `>`, `&` as `\u003c` ...),
/// with U+2028 and U+2029 escaped for JavaScript.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float64 as Go's `encoding/json` writes it: shortest round-trip digits, plain notation
/// from 1e-6 up to 1e21, otherwise an exponent without a leading zero (`1e-7`, `1e+21`).
/// NaN and infinities (never produced from JSON input) are written as jsonpb writes them.
pub fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        // Rust's Display is the shortest round-trip form in plain notation, as Go's 'f', -1.
        push_display(out, v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::proto::{OperationSamplingStrategy, ProbabilisticSamplingStrategy};
    use crate::strategies::{probabilistic, rate_limiting};

    fn float(v: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, v);
        s
    }

    #[test]
    fn floats_are_written_as_go_writes_them() {
        for (v, go) in [
            (0.5, "0.5"),
            (1.0, "1"),
            (0.0, "0"),
            (0.001, "0.001"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1e21, "1e+21"),
            (123456.0, "123456"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(float(v), go, "{v:e}");
        }
    }

    #[test]
    fn simple_strategies_in_both_forms() {
        let p = probabilistic(0.5);
        assert_eq!(encode(&p, Form::Proto).unwrap(), r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#);
        assert_eq!(encode(&p, Form::Legacy).unwrap(), r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#);
        let r = rate_limiting(5);
        assert_eq!(encode(&r, Form::Proto).unwrap(), r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#);
        assert_eq!(encode(&r, Form::Legacy).unwrap(), r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#);
    }

    #[test]
    fn per_operation_strategies_emit_every_field() {
        let mut response = rate_limiting(3);
        response.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability: 0.2,
            per_operation_strategies: vec![OperationSamplingStrategy {
                operation: "/health \"x\"".into(),
                probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: 0.1 }),
            }],
            ..Default::default()
        });
        let ops = r#""operationSampling":{"defaultSamplingProbability":0.2,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health \"x\"","probabilisticSampling":{"samplingRate":0.1}}],"defaultUpperBoundTracesPerSecond":0}"#;
        assert_eq!(
            encode(&response, Form::Proto).unwrap(),
            format!(r#"{{"strategyType":"RATE_LIMITING","rateLimitingSampling":{{"maxTracesPerSecond":3}},{ops}}}"#)
        );
        assert_eq!(
            encode(&response, Form::Legacy).unwrap(),
            format!(r#"{{"strategyType":1,"rateLimitingSampling":{{"maxTracesPerSecond":3}},{ops}}}"#)
        );
        let mut empty = probabilistic(1.0);
        empty.operation_sampling = Some(PerOperationSamplingStrategies { default_sampling_probability: 1.0, ..Default::default() });
        assert!(encode(&empty, Form::Proto).unwrap().contains(r#""perOperationStrategies":[]"#));
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\n\t\u{1}<&>\u{2028}é");
        assert_eq!(out, r#""a\"b\\c\n\t\u0001\u003c\u0026\u003e\u2028é""#);
    }

    #[test]
    fn the_legacy_form_cannot_carry_large_rates() {
        let r = rate_limiting(40_000);
        assert_eq!(encode(&r, Form::Legacy), Err(EncodeError::RateTooHigh(40_000)));
        assert!(encode(&r, Form::Proto).unwrap().contains(r#""maxTracesPerSecond":40000"#));
        assert!(encode(&rate_limiting(32_767), Form::Legacy).is_ok());
    }
}
