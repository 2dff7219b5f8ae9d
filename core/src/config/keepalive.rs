//! `keepalive:` of a gRPC listener, in the Collector's `configgrpc` shape, so a Collector
//! config carries over:
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:
//!         endpoint: 0.0.0.0:4317
//!         keepalive:
//!           server_parameters: { max_connection_idle: 11s, max_connection_age: 12s, max_connection_age_grace: 13s, time: 30s, timeout: 5s }
//! ```
//!
//! What tracegate's HTTP/2 server (hyper) can do, it does: `time` and `timeout` are hyper's
//! keep-alive pings; `max_connection_idle` closes a connection with no stream open for that
//! long (it tightens the listener's `idle_timeout`); `max_connection_age` sends GOAWAY once a
//! connection is that old, and `max_connection_age_grace` then gives its streams that long
//! before the connection is closed (unset: until they finish, as in grpc-go).
//!
//! What it cannot do is refused when the config is loaded rather than ignored: hyper answers
//! every client ping and has no policy on them, so `enforcement_policy` (`min_time`,
//! `permit_without_stream`) cannot be honoured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigProblem, GoDuration};

/// Default of `timeout` when `time` is set: grpc-go's 20 s.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A gRPC listener's keepalive settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcKeepalive {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_parameters: Option<KeepaliveServerParameters>,
    /// Accepted so it can be refused with a reason (see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcement_policy: Option<KeepaliveEnforcementPolicy>,
}

/// grpc-go's `keepalive.ServerParameters`; zero means unset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepaliveServerParameters {
    pub max_connection_idle: GoDuration,
    pub max_connection_age: GoDuration,
    pub max_connection_age_grace: GoDuration,
    /// How long a connection may be silent before the server pings it.
    pub time: GoDuration,
    /// How long the server waits for the ping's answer before closing the connection.
    pub timeout: GoDuration,
}

/// grpc-go's `keepalive.EnforcementPolicy`: not honoured, so refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepaliveEnforcementPolicy {
    pub min_time: GoDuration,
    pub permit_without_stream: bool,
}

fn set(d: GoDuration) -> Option<Duration> {
    (!d.is_zero()).then(|| d.get())
}

impl GrpcKeepalive {
    fn params(&self) -> KeepaliveServerParameters {
        self.server_parameters.clone().unwrap_or_default()
    }
    /// Idle time between pings, if pings are on.
    pub fn ping_interval(&self) -> Option<Duration> {
        set(self.params().time)
    }
    /// How long a ping's answer may take.
    pub fn ping_timeout(&self) -> Duration {
        set(self.params().timeout).unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT)
    }
    pub fn max_connection_idle(&self) -> Option<Duration> {
        set(self.params().max_connection_idle)
    }
    pub fn max_connection_age(&self) -> Option<Duration> {
        set(self.params().max_connection_age)
    }
    pub fn max_connection_age_grace(&self) -> Option<Duration> {
        set(self.params().max_connection_age_grace)
    }

    /// Problems relative to the `keepalive` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.enforcement_policy.is_some() {
            problems.push(ConfigProblem::new(
                "enforcement_policy",
                "is not supported: tracegate's HTTP/2 server answers every client ping and cannot enforce min_time or permit_without_stream; remove enforcement_policy (server_parameters are supported)",
            ));
        }
        let p = self.params();
        if p.time.is_zero() && !p.timeout.is_zero() {
            problems.push(ConfigProblem::new(
                "server_parameters::timeout",
                "has no effect without server_parameters::time (the ping interval); set time too",
            ));
        }
        if p.max_connection_age.is_zero() && !p.max_connection_age_grace.is_zero() {
            problems.push(ConfigProblem::new(
                "server_parameters::max_connection_age_grace",
                "has no effect without server_parameters::max_connection_age; set it too",
            ));
        }
        problems
    }
}

/// Validates an optional `keepalive` section found at `path` (e.g. `protocols::grpc::keepalive`).
pub fn validate_keepalive(keepalive: Option<&GrpcKeepalive>, path: &str) -> Vec<ConfigProblem> {
    keepalive.map(|k| k.validate().into_iter().map(|p| p.under(path)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(yaml: &str) -> GrpcKeepalive {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn the_collectors_server_parameters_are_read_and_enforcement_is_refused_by_name() {
        let k = parse("server_parameters: { max_connection_idle: 11s, max_connection_age: 12s, max_connection_age_grace: 13s, time: 30s, timeout: 5s }");
        assert_eq!(k.max_connection_idle(), Some(Duration::from_secs(11)));
        assert_eq!(k.max_connection_age(), Some(Duration::from_secs(12)));
        assert_eq!(k.max_connection_age_grace(), Some(Duration::from_secs(13)));
        assert_eq!((k.ping_interval(), k.ping_timeout()), (Some(Duration::from_secs(30)), Duration::from_secs(5)));
        assert!(validate_keepalive(Some(&k), "grpc::keepalive").is_empty());

        let k = parse("enforcement_policy: { min_time: 5s, permit_without_stream: true }");
        let problems = validate_keepalive(Some(&k), "protocols::grpc::keepalive");
        assert_eq!(problems[0].path, "protocols::grpc::keepalive::enforcement_policy");
        assert!(problems[0].message.contains("not supported"), "{}", problems[0].message);
        assert_eq!(parse("{}").ping_interval(), None);
        assert!(serde_yaml_ng::from_str::<GrpcKeepalive>("server_parameters: { tme: 1s }").is_err());
    }
}
