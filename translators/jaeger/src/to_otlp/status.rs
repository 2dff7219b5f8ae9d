//! The status rule: `error`, `otel.status_code`/`otel.status_description`, and the
//! `http.status_code` fallback, in the Collector's order of precedence.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Status;

use crate::attrs::*;

pub(super) fn status(attributes: &mut Vec<KeyValue>, kind: SpanKind) -> Option<Status> {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    // The `error` tag is the ultimate truth, but only as a bool `true`.
    if let Some(Some(Value::BoolValue(true))) = get(attributes, ERROR) {
        remove(attributes, ERROR);
        code = StatusCode::Error;
        exists = true;
        if let Some(desc) = take_str(attributes, STATUS_DESCRIPTION) {
            message = desc;
        } else if let Some(v) = get(attributes, HTTP_STATUS_MESSAGE) {
            message = str_of(v).to_string();
        }
    }
    if let Some(v) = get(attributes, STATUS_CODE) {
        if !exists {
            exists = true;
            match str_of(v).to_uppercase().as_str() {
                "OK" => code = StatusCode::Ok,
                "ERROR" => code = StatusCode::Error,
                _ => {}
            }
            if let Some(desc) = take_str(attributes, STATUS_DESCRIPTION) {
                message = desc;
            }
        }
        remove(attributes, STATUS_CODE);
    } else if !exists {
        if let Some(http) =
            get(attributes, HTTP_STATUS_CODE).and_then(|v| status_from_http(v, kind))
        {
            if http != StatusCode::Unset {
                exists = true;
                code = http;
            }
            if let Some(v) = get(attributes, HTTP_STATUS_MESSAGE) {
                message = str_of(v).to_string();
            }
        }
    }
    exists.then_some(Status {
        message,
        code: code as i32,
    })
}

fn status_from_http(v: Option<&Value>, kind: SpanKind) -> Option<StatusCode> {
    let code = match v? {
        Value::IntValue(i) => *i,
        Value::StringValue(s) => s.parse::<i64>().ok()?,
        _ => return None,
    };
    if (400..500).contains(&code) {
        match kind {
            SpanKind::Client => return Some(StatusCode::Error),
            SpanKind::Server => return Some(StatusCode::Unset),
            _ => {}
        }
    }
    Some(if (100..399).contains(&code) {
        StatusCode::Unset
    } else {
        StatusCode::Error
    })
}
