//! The retry decision for every answer the Collector distinguishes.

use std::time::{Duration, SystemTime};

use http::{HeaderValue, StatusCode, Uri};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracegate_core::ConsumeError;

use super::*;

fn uri() -> Uri {
    Uri::from_static("http://backend:4317")
}

#[test]
fn grpc_codes_follow_the_collector() {
    let retryable = [
        Code::Cancelled,
        Code::DeadlineExceeded,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unavailable,
        Code::DataLoss,
    ];
    let permanent = [
        Code::InvalidArgument,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Unimplemented,
        Code::Internal,
        Code::Unauthenticated,
        Code::Unknown,
    ];
    for code in retryable {
        let e = grpc_error(&uri(), &Status::new(code, "busy"));
        assert!(matches!(e, ConsumeError::Retryable(_)), "{code:?}: {e:?}");
    }
    for code in permanent {
        let e = grpc_error(&uri(), &Status::new(code, "no"));
        assert!(e.is_permanent(), "{code:?}: {e:?}");
    }
    let e = grpc_error(&uri(), &Status::invalid_argument("bad span"));
    assert_eq!(
        e.to_string(),
        "exporting to http://backend:4317/ failed: gRPC InvalidArgument: bad span"
    );
}

#[test]
fn retry_info_throttles() {
    let details = ErrorDetails::with_retry_info(Some(Duration::from_secs(3)));
    let status = Status::with_error_details(Code::ResourceExhausted, "slow down", details.clone());
    let e = grpc_error(&uri(), &status);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)), "{e:?}");

    // RetryInfo on an already retryable code also carries its delay.
    let status = Status::with_error_details(Code::Unavailable, "later", details);
    assert_eq!(
        grpc_error(&uri(), &status).retry_after(),
        Some(Duration::from_secs(3))
    );

    // RetryInfo without a delay: retry, with the engine's own backoff.
    let status = Status::with_error_details(
        Code::ResourceExhausted,
        "later",
        ErrorDetails::with_retry_info(None),
    );
    assert!(matches!(
        grpc_error(&uri(), &status),
        ConsumeError::Retryable(_)
    ));
}

#[test]
fn local_transport_failures_are_retryable() {
    let io = std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset by peer",
    );
    let status = Status::from_error(Box::new(io));
    assert_eq!(status.code(), Code::Unknown);
    let e = grpc_error(&uri(), &status);
    assert!(matches!(e, ConsumeError::Retryable(_)), "{e:?}");
    assert!(e.to_string().contains("connection reset"), "{e}");
}

fn http(code: u16, retry_after: Option<&'static str>) -> ConsumeError {
    let status = StatusCode::from_u16(code).unwrap();
    let header = retry_after.map(HeaderValue::from_static);
    http_error(
        &uri(),
        status,
        header.as_ref(),
        "why",
        SystemTime::UNIX_EPOCH,
    )
}

#[test]
fn http_codes_follow_the_collector() {
    assert_eq!(
        http(503, Some("7")).retry_after(),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        http(429, Some("Thu, 01 Jan 1970 00:01:00 GMT")).retry_after(),
        Some(Duration::from_secs(60))
    );
    for code in [429, 503] {
        assert!(matches!(http(code, None), ConsumeError::Retryable(_)));
        assert!(matches!(
            http(code, Some("soon")),
            ConsumeError::Retryable(_)
        ));
    }
    for code in [502, 504] {
        assert!(
            matches!(http(code, Some("7")), ConsumeError::Retryable(_)),
            "{code}"
        );
    }
    for code in [400, 401, 403, 404, 413, 500, 501] {
        assert!(http(code, None).is_permanent(), "{code}");
    }
    assert_eq!(
        http(400, None).to_string(),
        "exporting to http://backend:4317/ failed: HTTP 400 Bad Request: why"
    );
    assert!(http(308, None).to_string().contains("traces_endpoint"));
}

#[test]
fn retry_after_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(120);
    assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Thu, 01 Jan 1970 00:02:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("-1", now), None);
    assert_eq!(parse_retry_after("tomorrow", now), None);
}

#[test]
fn body_messages() {
    let status = tonic_types::pb::Status {
        code: 3,
        message: "span too large".into(),
        details: vec![],
    };
    assert_eq!(
        http_body_message(Some("application/x-protobuf"), &status.encode_to_vec()),
        "span too large"
    );
    let json = br#"{"code":3,"message":"bad json span"}"#;
    assert_eq!(
        http_body_message(Some("application/json; charset=utf-8"), json),
        "bad json span"
    );
    assert_eq!(http_body_message(Some("text/plain"), b"  nope\n"), "nope");
    assert_eq!(http_body_message(None, &[0xff, b'x']), "\u{fffd}x");
    let long = "x".repeat(2000);
    assert_eq!(
        http_body_message(None, long.as_bytes()).len(),
        MAX_MESSAGE_CHARS + 3
    );
    // A protobuf content type with a body that is not a Status still says something.
    assert_eq!(
        http_body_message(Some("application/x-protobuf"), b"\xff\xff oops"),
        "\u{fffd}\u{fffd} oops"
    );
}
