//! What the health check answers, computed from the service status on each request.
//!
//! The body keeps the Collector's shape, `{"status":"Server available","upSince":...,
//! "uptime":...}`, because load balancers, Kubernetes probes and dashboards already parse it.
//! As in the Collector, `upSince` is when the service became ready (Go's zero time while it is
//! not ready). A component that failed at run time makes the service unavailable even when the
//! state is ready, and the failures are listed so the probe's log says why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracegate_core::config::format_go_duration;
use tracegate_core::telemetry::{ServiceState, ServiceStatus};

#[derive(Debug, PartialEq, Serialize)]
pub struct Failure {
    pub component: String,
    pub error: String,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct HealthBody {
    pub status: &'static str,
    #[serde(rename = "upSince")]
    pub up_since: String,
    pub uptime: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
}

/// Go's `time.Time{}` as it marshals to JSON.
use tracegate_core::timefmt::GO_ZERO_TIME;

/// Whether the service is healthy, and the body to send.
pub fn health(status: &ServiceStatus, now: SystemTime) -> (bool, HealthBody) {
    let failures: Vec<Failure> =
        status.failures().into_iter().map(|(component, error)| Failure { component, error }).collect();
    let ready = status.state() == ServiceState::Ready;
    let (up_since, uptime) = if ready {
        let since = status.since();
        (rfc3339_nanos(since), format_go_duration(now.duration_since(since).unwrap_or_default()))
    } else {
        (GO_ZERO_TIME.to_string(), format_go_duration(Duration::ZERO))
    };
    let healthy = ready && failures.is_empty();
    let status = if healthy { "Server available" } else { "Server not available" };
    (healthy, HealthBody { status, up_since, uptime, failures })
}

/// RFC 3339 in UTC as Go marshals a `time.Time`; Go's zero time before 1970.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => tracegate_core::timefmt::rfc3339_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Err(_) => GO_ZERO_TIME.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_like_go() {
        let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(rfc3339_nanos(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nanos(at(1_605_067_951, 684_717_400)), "2020-11-11T04:12:31.6847174Z");
        assert_eq!(rfc3339_nanos(at(951_782_400, 5)), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339_nanos(UNIX_EPOCH - Duration::from_secs(1)), GO_ZERO_TIME);
    }

    #[test]
    fn ready_reports_uptime_and_anything_else_is_unavailable() {
        let status = ServiceStatus::default();
        let (healthy, body) = health(&status, SystemTime::now());
        assert!(!healthy);
        assert_eq!(
            body,
            HealthBody {
                status: "Server not available",
                up_since: GO_ZERO_TIME.into(),
                uptime: "0s".into(),
                failures: vec![]
            }
        );

        status.set_state(ServiceState::Ready);
        let (healthy, body) = health(&status, status.since() + Duration::from_millis(1500));
        assert!(healthy);
        assert_eq!((body.status, body.uptime.as_str()), ("Server available", "1.5s"));
        assert_eq!(body.up_since, rfc3339_nanos(status.since()));

        status.set_state(ServiceState::Stopping);
        assert!(!health(&status, SystemTime::now()).0);
    }

    #[test]
    fn a_run_time_failure_makes_a_ready_service_unavailable() {
        let status = ServiceStatus::default();
        status.set_state(ServiceState::Ready);
        status.report_failure("receiver/otlp", "listener died");
        let (healthy, body) = health(&status, SystemTime::now());
        assert!(!healthy);
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(json["status"], "Server not available");
        assert_eq!(json["failures"], serde_json::json!([{"component": "receiver/otlp", "error": "listener died"}]));
    }
}
