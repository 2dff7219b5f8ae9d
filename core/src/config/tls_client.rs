//! `tls:` of a component that dials out (an exporter): the Collector's
//! `configtls.ClientConfig`, so an exporter config copied from the Collector carries over.
//!
//! ```yaml
//! tls:
//!   insecure: false              # true: plain text (gRPC h2c); no other key matters then
//!   ca_file: ca.crt              # or ca_pem; empty: the system's trusted roots
//!   cert_file: client.crt        # or cert_pem; with key_file, a client certificate (mTLS)
//!   key_file: client.key         # or key_pem
//!   server_name_override: ""     # the name checked in the server's certificate (and sent as SNI)
//!   insecure_skip_verify: false  # TLS without checking the server's certificate at all
//!   min_version: "1.2"           # "1.2" (default) or "1.3"
//!   max_version: ""              # "" (1.3), "1.2" or "1.3"
//! ```
//!
//! Unlike the Collector, `include_system_ca_certs_pool` is not needed to trust the system's
//! roots when no CA is given (that is already the default there and here); with a CA given,
//! only that CA is trusted unless `include_system_ca_certs_pool: true`. The files are read
//! when the component is created, so a missing one fails start with its path.

use serde::{Deserialize, Serialize};

use super::tls::parse_version;
use super::{ConfigProblem, TlsVersion};

/// A client's TLS settings; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsClientConfig {
    /// Plain text: no TLS at all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// CAs trusted to sign the server's certificate (PEM file).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// The same, inline.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_pem: String,
    /// Trust the system's roots as well as `ca_file`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub include_system_ca_certs_pool: bool,
    /// The client certificate chain presented to servers that ask (mTLS).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// The same, inline.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_pem: String,
    /// The client certificate's key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// The same, inline.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_pem: String,
    /// The host name the server's certificate must carry, instead of the endpoint's host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name_override: String,
    /// Accept any server certificate (encrypted, not authenticated): for tests only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// Oldest version offered: "1.2" (default) or "1.3".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    /// Newest version offered: "1.2" or "1.3" (default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_version: String,
}

impl TlsClientConfig {
    /// The range of versions to offer, oldest first.
    pub fn versions(&self) -> Result<(TlsVersion, TlsVersion), String> {
        let min = parse_version(&self.min_version, TlsVersion::V1_2)
            .map_err(|e| format!("min_version: {e}"))?;
        let max = parse_version(&self.max_version, TlsVersion::V1_3)
            .map_err(|e| format!("max_version: {e}"))?;
        if max < min {
            return Err(format!(
                "min_version \"{}\" is newer than max_version \"{}\"",
                self.min_version, self.max_version
            ));
        }
        Ok((min, max))
    }

    /// True when any key other than `insecure` is set (they are ignored with `insecure`).
    fn sets_tls_keys(&self) -> bool {
        let plain = TlsClientConfig {
            insecure: self.insecure,
            ..Default::default()
        };
        *self != plain
    }

    /// Problems that need no file to be read, relative to the `tls` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.insecure {
            if self.sets_tls_keys() {
                problems.push(ConfigProblem::warning(
                    "insecure",
                    "insecure: true sends plain text; the other tls keys are ignored",
                ));
            }
            return problems;
        }
        let has = |s: &str| !s.is_empty();
        for (file, pem, what) in [
            (&self.ca_file, &self.ca_pem, "ca"),
            (&self.cert_file, &self.cert_pem, "cert"),
            (&self.key_file, &self.key_pem, "key"),
        ] {
            if has(file) && has(pem) {
                problems.push(ConfigProblem::new(
                    format!("{what}_file"),
                    format!("provide either {what}_file or {what}_pem, not both"),
                ));
            }
        }
        let cert = has(&self.cert_file) || has(&self.cert_pem);
        let key = has(&self.key_file) || has(&self.key_pem);
        if cert != key {
            problems.push(ConfigProblem::new(
                if cert { "key_file" } else { "cert_file" },
                "a client certificate needs both cert_file and key_file (or cert_pem and key_pem)",
            ));
        }
        if let Err(e) = self.versions() {
            problems.push(ConfigProblem::new("", e));
        }
        if self.insecure_skip_verify {
            problems.push(ConfigProblem::warning(
                "insecure_skip_verify",
                "the server's certificate is not checked: anyone on the path can read and change the data",
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn errors(tls: &TlsClientConfig) -> Vec<String> {
        tls.validate().iter().filter(|p| p.is_error()).map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_default_is_tls_with_system_roots() {
        assert!(TlsClientConfig::default().validate().is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let half = TlsClientConfig { cert_file: "c.crt".into(), ..Default::default() };
        assert_eq!(errors(&half), ["key_file: a client certificate needs both cert_file and key_file (or cert_pem and key_pem)"]);
        let both = TlsClientConfig { ca_file: "a".into(), ca_pem: "b".into(), ..Default::default() };
        assert_eq!(errors(&both), ["ca_file: provide either ca_file or ca_pem, not both"]);
        let old = TlsClientConfig { min_version: "1.1".into(), ..Default::default() };
        assert!(errors(&old)[0].starts_with("min_version: TLS 1.1 is not offered"));
        let skip = TlsClientConfig { insecure_skip_verify: true, ..Default::default() };
        assert!(errors(&skip).is_empty() && !skip.validate().is_empty());
        let plain = TlsClientConfig { insecure: true, ca_file: "x".into(), ..Default::default() };
        assert!(errors(&plain).is_empty() && plain.validate().len() == 1);
    }
}
