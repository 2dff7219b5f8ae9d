//! `tls:` next to a listen endpoint: the Collector's `configtls.ServerConfig`, so a receiver
//! config copied from the Collector carries over.
//!
//! ```yaml
//! tls:
//!   cert_file: server.crt          # or cert_pem
//!   key_file: server.key           # or key_pem
//!   client_ca_file: clients-ca.crt # optional: require client certificates signed by it (mTLS)
//!   client_ca_file_reload: false   # re-read client_ca_file too on each reload
//!   min_version: "1.2"             # "1.2" (default) or "1.3"
//!   max_version: ""                # "" (the newest, 1.3), "1.2" or "1.3"
//!   cipher_suites: []              # TLS 1.2 suites by IANA name; [] = rustls' safe defaults
//!   reload_interval: 0s            # re-read the certificate files this often; 0 = never
//! ```
//!
//! Differences from the Collector, each refused or warned about with its reason rather than
//! ignored: TLS 1.0 and 1.1 do not exist in rustls (so `min_version: "1.0"` is an error),
//! `ca_file`/`ca_pem` do nothing on a server (a warning pointing at `client_ca_file`), and
//! `cipher_suites` applies to TLS 1.2 only, as in Go (TLS 1.3 suites are not configurable).
//! The files themselves are read at start, where a missing or unreadable one fails start
//! with its path; `validate` only checks what can be checked without reading them.

use serde::{Deserialize, Serialize};

use super::{ConfigProblem, GoDuration};

/// TLS versions by their config names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// The TLS 1.2 cipher suites rustls (with ring) offers, by IANA name, which is also Go's.
pub const TLS12_CIPHER_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// A listener's TLS settings; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The server's certificate chain (PEM), leaf first.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// The same, inline.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_pem: String,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// The same, inline.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_pem: String,
    /// CAs whose client certificates are accepted; when set, every client must present one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ca_file: String,
    /// Re-read `client_ca_file` on each reload too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub client_ca_file_reload: bool,
    /// Accepted for Collector configs; has no effect on a server (warned about).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// Accepted for Collector configs; has no effect on a server (warned about).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_pem: String,
    /// Oldest version accepted: "1.2" (the default when empty) or "1.3".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    /// Newest version accepted: "1.2" or "1.3" (the default when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_version: String,
    /// TLS 1.2 cipher suites to offer, by name; empty for rustls' defaults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// How often the certificate (and key) files are re-read; zero never.
    #[serde(skip_serializing_if = "is_zero")]
    pub reload_interval: GoDuration,
}

impl TlsServerConfig {
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

    /// Problems that need no file to be read, relative to the `tls` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let has = |s: &str| !s.is_empty();
        for (file, pem, what) in [
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
        match (cert, key) {
            (true, true) => {}
            (false, false) => problems.push(ConfigProblem::new(
                "",
                "a server's TLS needs a certificate and its key: set cert_file and key_file (or cert_pem and key_pem)",
            )),
            (true, false) => problems.push(ConfigProblem::new(
                "key_file",
                "cert_file is set but key_file is not; a certificate needs its private key",
            )),
            (false, true) => problems.push(ConfigProblem::new(
                "cert_file",
                "key_file is set but cert_file is not; a key needs its certificate",
            )),
        }
        if let Err(e) = self.versions() {
            problems.push(ConfigProblem::new("", e));
        }
        for suite in &self.cipher_suites {
            if !TLS12_CIPHER_SUITES.contains(&suite.as_str()) {
                problems.push(ConfigProblem::new(
                    "cipher_suites",
                    format!(
                        "unknown or unsupported cipher suite \"{suite}\" (TLS 1.2 suites offered: {}; TLS 1.3 suites are not configurable)",
                        TLS12_CIPHER_SUITES.join(", ")
                    ),
                ));
            }
        }
        if self.client_ca_file_reload && !has(&self.client_ca_file) {
            problems.push(ConfigProblem::warning(
                "client_ca_file_reload",
                "has no effect without client_ca_file",
            ));
        }
        if has(&self.ca_file) || has(&self.ca_pem) {
            problems.push(ConfigProblem::warning(
                "ca_file",
                "a server does not use ca_file or ca_pem; to require client certificates set client_ca_file",
            ));
        }
        problems
    }
}

fn is_zero(d: &GoDuration) -> bool {
    d.is_zero()
}

pub(super) fn parse_version(s: &str, default: TlsVersion) -> Result<TlsVersion, String> {
    match s {
        "" => Ok(default),
        "1.2" => Ok(TlsVersion::V1_2),
        "1.3" => Ok(TlsVersion::V1_3),
        "1.0" | "1.1" => Err(format!(
            "TLS {s} is not offered (it is deprecated and rustls implements only 1.2 and 1.3); use \"1.2\""
        )),
        other => Err(format!("unknown TLS version \"{other}\" (use \"1.2\" or \"1.3\")")),
    }
}

/// Validates an optional `tls` section found at `path` (e.g. `protocols::grpc::tls`).
pub fn validate_tls(tls: Option<&TlsServerConfig>, path: &str) -> Vec<ConfigProblem> {
    tls.map(|t| t.validate().into_iter().map(|p| p.under(path)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn messages(tls: &TlsServerConfig) -> Vec<String> {
        tls.validate().iter().map(|p| p.to_string()).collect()
    }

    fn with_pair() -> TlsServerConfig {
        TlsServerConfig {
            cert_file: "s.crt".into(),
            key_file: "s.key".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_certificate_and_key_are_enough() {
        assert!(with_pair().validate().is_empty());
        assert_eq!(with_pair().versions().unwrap(), (TlsVersion::V1_2, TlsVersion::V1_3));
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(
            messages(&TlsServerConfig::default()),
            ["a server's TLS needs a certificate and its key: set cert_file and key_file (or cert_pem and key_pem)"]
        );
        let only_cert = TlsServerConfig { cert_file: "c".into(), ..Default::default() };
        assert_eq!(messages(&only_cert), ["key_file: cert_file is set but key_file is not; a certificate needs its private key"]);
        let both = TlsServerConfig { cert_pem: "x".into(), ..with_pair() };
        assert_eq!(messages(&both), ["cert_file: provide either cert_file or cert_pem, not both"]);
        let old = TlsServerConfig { min_version: "1.0".into(), ..with_pair() };
        assert!(messages(&old)[0].starts_with("min_version: TLS 1.0 is not offered"), "{:?}", messages(&old));
        let upside_down = TlsServerConfig { min_version: "1.3".into(), max_version: "1.2".into(), ..with_pair() };
        assert_eq!(messages(&upside_down), ["min_version \"1.3\" is newer than max_version \"1.2\""]);
        let suite = TlsServerConfig { cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()], ..with_pair() };
        assert!(messages(&suite)[0].starts_with("cipher_suites: unknown or unsupported cipher suite \"TLS_RSA_WITH_RC4_128_SHA\""));
        let ca = TlsServerConfig { ca_file: "ca.crt".into(), ..with_pair() };
        let problems = ca.validate();
        assert!(problems.iter().all(|p| !p.is_error()), "{problems:?}");
        assert_eq!(validate_tls(Some(&only_cert), "protocols::grpc::tls")[0].path, "protocols::grpc::tls::key_file");
        assert!(validate_tls(None, "tls").is_empty());
    }
}
