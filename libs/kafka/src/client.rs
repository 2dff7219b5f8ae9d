//! How to reach the brokers: `brokers`, `client_id`, `auth` (SASL and TLS) and a
//! `librdkafka_options` escape hatch, shared by the exporter and the receiver and turned into
//! a librdkafka `ClientConfig` in one place.
//!
//! The shape is the Collector's kafka `auth:` (`sasl: {username, password, mechanism}`,
//! `tls: {ca_file, cert_file, key_file, insecure, insecure_skip_verify}`); newer Collector
//! versions put `tls:` beside `auth:`, so both places are read (not both at once). A `tls`
//! block turns TLS on unless it says `insecure: true`, as in the Collector. SASL mechanisms are
//! PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (GSSAPI and OAUTHBEARER need libraries this build
//! does not link). Everything else librdkafka knows can be set with `librdkafka_options`,
//! applied last.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

/// `auth:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl: Option<Sasl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// `auth: { sasl: ... }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sasl {
    pub username: String,
    pub password: String,
    pub mechanism: SaslMechanism,
    /// The Collector's SASL handshake version (0 or 1); librdkafka negotiates it itself, so it
    /// is accepted for copied configs and otherwise ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[default]
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `tls:` (under `auth:` or beside it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Plain text after all (the block is then only documentation).
    pub insecure: bool,
    /// Do not check the broker's certificate or host name.
    pub insecure_skip_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_password: Option<String>,
}

/// What both components know about the cluster, borrowed from their configs.
pub struct Connection<'a> {
    pub brokers: &'a [String],
    pub client_id: &'a str,
    pub auth: &'a Auth,
    /// The top-level `tls:`.
    pub tls: Option<&'a Tls>,
    pub librdkafka_options: &'a BTreeMap<String, String>,
}

impl Connection<'_> {
    fn tls(&self) -> Option<&Tls> {
        self.auth.tls.as_ref().or(self.tls).filter(|t| !t.insecure)
    }

    /// Problems with these settings, paths relative to the component.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.brokers.is_empty() {
            problems.push(ConfigProblem::new(
                "brokers",
                "is required: at least one host:port, e.g. [kafka:9092]",
            ));
        }
        for (i, broker) in self.brokers.iter().enumerate() {
            if let Err(why) = check_broker(broker) {
                problems.push(ConfigProblem::new(format!("brokers::{i}"), why));
            }
        }
        if self.client_id.trim().is_empty() {
            problems.push(ConfigProblem::new("client_id", "must not be empty"));
        }
        if self.auth.tls.is_some() && self.tls.is_some() {
            problems.push(ConfigProblem::new(
                "tls",
                "is also set under auth::tls: keep one of the two",
            ));
        }
        if let Some(sasl) = &self.auth.sasl {
            if sasl.username.is_empty() {
                problems.push(ConfigProblem::new(
                    "auth::sasl::username",
                    "is required with SASL",
                ));
            }
            if sasl.password.is_empty() {
                problems.push(ConfigProblem::new(
                    "auth::sasl::password",
                    "is required with SASL",
                ));
            }
            if sasl.version.is_some_and(|v| v > 1) {
                problems.push(ConfigProblem::new("auth::sasl::version", "must be 0 or 1"));
            }
        }
        let tls_path = if self.auth.tls.is_some() {
            "auth::tls"
        } else {
            "tls"
        };
        if let Some(tls) = self.auth.tls.as_ref().or(self.tls) {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                problems.push(ConfigProblem::new(
                    format!("{tls_path}::cert_file"),
                    "a client certificate needs both cert_file and key_file",
                ));
            }
            for (name, value) in [
                ("ca_file", &tls.ca_file),
                ("cert_file", &tls.cert_file),
                ("key_file", &tls.key_file),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    problems.push(ConfigProblem::new(
                        format!("{tls_path}::{name}"),
                        "must not be empty when set",
                    ));
                }
            }
        }
        for key in self.librdkafka_options.keys() {
            if key.trim().is_empty() || key.contains(char::is_whitespace) {
                problems.push(ConfigProblem::new(
                    "librdkafka_options",
                    format!("{key:?} is not a librdkafka property name"),
                ));
            }
        }
        problems
    }

    /// The librdkafka settings for these options; the component adds its own on top.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","));
        c.set("client.id", self.client_id);
        let tls = self.tls();
        let protocol = match (&self.auth.sasl, tls) {
            (None, None) => "plaintext",
            (None, Some(_)) => "ssl",
            (Some(_), None) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        c.set("security.protocol", protocol);
        if let Some(sasl) = &self.auth.sasl {
            c.set("sasl.mechanism", sasl.mechanism.as_str());
            c.set("sasl.username", &sasl.username);
            c.set("sasl.password", &sasl.password);
        }
        if let Some(tls) = tls {
            let files = [
                ("ssl.ca.location", &tls.ca_file),
                ("ssl.certificate.location", &tls.cert_file),
                ("ssl.key.location", &tls.key_file),
                ("ssl.key.password", &tls.key_password),
            ];
            for (key, value) in files {
                if let Some(v) = value {
                    c.set(key, v);
                }
            }
            if tls.insecure_skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
                c.set("ssl.endpoint.identification.algorithm", "none");
            }
        }
        c
    }

    /// Applies `librdkafka_options` over whatever the component set, so a user can override
    /// anything.
    pub fn apply_overrides(&self, c: &mut ClientConfig) {
        for (k, v) in self.librdkafka_options {
            c.set(k, v);
        }
    }
}

fn check_broker(broker: &str) -> Result<(), String> {
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{broker}\" is not host:port"))?;
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains("://") {
        return Err(format!("\"{broker}\" is not host:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("\"{broker}\": \"{port}\" is not a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection<'a>(
        brokers: &'a [String],
        auth: &'a Auth,
        tls: Option<&'a Tls>,
        options: &'a BTreeMap<String, String>,
    ) -> Connection<'a> {
        Connection {
            brokers,
            client_id: "tracegate",
            auth,
            tls,
            librdkafka_options: options,
        }
    }

    #[test]
    fn sasl_and_tls_choose_the_security_protocol_and_pass_through() {
        let brokers = vec!["a:9092".to_string(), "b:9093".to_string()];
        let options = BTreeMap::from([("socket.keepalive.enable".to_string(), "true".to_string())]);
        let sasl = Sasl {
            username: "u".into(),
            password: "p".into(),
            mechanism: SaslMechanism::ScramSha512,
            version: None,
        };
        let tls = Tls {
            ca_file: Some("/ca.pem".into()),
            insecure_skip_verify: true,
            ..Tls::default()
        };
        let auth = Auth {
            sasl: Some(sasl),
            tls: Some(tls.clone()),
        };
        let conn = connection(&brokers, &auth, None, &options);
        let mut c = conn.client_config();
        c.set("socket.keepalive.enable", "false");
        conn.apply_overrides(&mut c);
        assert_eq!(c.get("bootstrap.servers"), Some("a:9092,b:9093"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("sasl.username"), Some("u"));
        assert_eq!(c.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(c.get("enable.ssl.certificate.verification"), Some("false"));
        assert_eq!(c.get("socket.keepalive.enable"), Some("true"));

        // Top-level tls, insecure: plain text; no auth at all: plaintext.
        let none = Auth::default();
        let insecure = Tls {
            insecure: true,
            ..tls.clone()
        };
        assert_eq!(
            connection(&brokers, &none, Some(&insecure), &options)
                .client_config()
                .get("security.protocol"),
            Some("plaintext")
        );
        assert_eq!(
            connection(&brokers, &none, Some(&tls), &options)
                .client_config()
                .get("security.protocol"),
            Some("ssl")
        );
        let plain = Auth {
            sasl: Some(Sasl {
                username: "u".into(),
                password: "p".into(),
                ..Sasl::default()
            }),
            tls: None,
        };
        let c = connection(&brokers, &plain, None, &options).client_config();
        assert_eq!(
            (c.get("security.protocol"), c.get("sasl.mechanism")),
            (Some("sasl_plaintext"), Some("PLAIN"))
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let brokers = vec![
            "ok:9092".to_string(),
            "noport".to_string(),
            "h:0".to_string(),
        ];
        let tls = Tls {
            cert_file: Some("c.pem".into()),
            ..Tls::default()
        };
        let auth = Auth {
            sasl: Some(Sasl::default()),
            tls: Some(tls.clone()),
        };
        let options = BTreeMap::from([(" ".to_string(), "x".to_string())]);
        let problems: Vec<String> = connection(&brokers, &auth, Some(&tls), &options)
            .validate()
            .iter()
            .map(ToString::to_string)
            .collect();
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("brokers::1: \"noport\" is not host:port")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("brokers::2:")),
            "{problems:?}"
        );
        for field in [
            "tls",
            "auth::sasl::username",
            "auth::sasl::password",
            "auth::tls::cert_file",
            "librdkafka_options",
        ] {
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("{field}: "))),
                "{field} missing in {problems:?} ({paths:?})"
            );
        }
        let empty: Vec<String> = Vec::new();
        let none = Auth::default();
        let problems = connection(&empty, &none, None, &BTreeMap::new()).validate();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].to_string().starts_with("brokers: is required"));
    }
}
