//! The `basicauth` extension, in the Collector's shape: a server side that checks HTTP Basic
//! credentials against htpasswd entries, or a client side that sends its own.
//!
//! ```yaml
//! extensions:
//!   basicauth/ingest:
//!     htpasswd: { file: .htpasswd, inline: "${env:USER}:${env:PASSWORD}" }
//!   basicauth/upstream:
//!     client_auth: { username: gateway, password: "${env:UPSTREAM_PASSWORD}" }
//! ```
//!
//! One instance is either a server or a client authenticator, never both (the Collector
//! refuses both as well). bcrypt checks run on the blocking pool, and credentials that passed
//! are remembered by their SHA-256 (never the password itself) for [`CACHE_TTL`], so a client
//! that exports every second pays bcrypt's cost once, not per request; wrong passwords are
//! never cached, so each costs a bcrypt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracegate_core::auth::{
    sensitive, AuthError, AuthenticatorExtension, ClientAuthenticator, Principal, ServerAuthenticator,
};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

use crate::htpasswd::Htpasswd;

/// How long a passed bcrypt check is remembered; a password removed from the file (after a
/// restart) or changed is refused again within this.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// At most this many remembered checks; the cache is emptied when full (an attacker cannot
/// grow it: only correct passwords enter).
const CACHE_MAX: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server side: the users allowed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub htpasswd: Option<HtpasswdConfig>,
    /// Client side: the credentials exporters send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuthConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// An htpasswd file.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// htpasswd lines in the config; its users take precedence over the file's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub inline: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ClientAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuthConfig").field("username", &self.username).finish_non_exhaustive()
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        match (&self.htpasswd, &self.client_auth) {
            (Some(_), Some(_)) => vec![ConfigProblem::new(
                "",
                "set either htpasswd (to check callers) or client_auth (to call out), not both; use two basicauth extensions for both",
            )],
            (None, None) => vec![ConfigProblem::new(
                "",
                "set htpasswd (file or inline) to check callers, or client_auth (username, password) for exporters",
            )],
            (Some(h), None) if h.file.is_empty() && h.inline.is_empty() => {
                vec![ConfigProblem::new("htpasswd", "set file or inline")]
            }
            (None, Some(c)) if c.username.is_empty() => {
                vec![ConfigProblem::new("client_auth::username", "must not be empty")]
            }
            (None, Some(c)) if c.username.contains(':') => vec![ConfigProblem::new(
                "client_auth::username",
                "must not contain ':' (Basic credentials are user:password)",
            )],
            _ => Vec::new(),
        }
    }
}

/// Builds the extension: reads the htpasswd file now, so a bad file fails start-up with its
/// path and line.
pub fn build(config: &Config, extension: AuthenticatorExtension) -> Result<AuthenticatorExtension, String> {
    if let Some(h) = &config.htpasswd {
        let mut users = Htpasswd::default();
        if !h.file.is_empty() {
            users.add_file(&h.file).map_err(|e| e.to_string())?;
        }
        if !h.inline.is_empty() {
            users.add(&h.inline, "htpasswd.inline").map_err(|e| e.to_string())?;
        }
        if users.is_empty() {
            tracing::warn!("basicauth: the htpasswd entries hold no user; every call will be refused");
        }
        return Ok(extension.with_server(Arc::new(BasicServer::new(users))));
    }
    if let Some(c) = &config.client_auth {
        return Ok(extension.with_client(Arc::new(BasicClient::new(c)?)));
    }
    Err("neither htpasswd nor client_auth is set".to_string())
}

/// Checks `Authorization: Basic ...` against htpasswd entries.
pub struct BasicServer {
    users: Arc<Htpasswd>,
    passed: Mutex<HashMap<[u8; 32], Instant>>,
}

impl BasicServer {
    pub fn new(users: Htpasswd) -> Self {
        Self { users: Arc::new(users), passed: Mutex::new(HashMap::new()) }
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        let passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        passed.get(key).is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        if passed.len() >= CACHE_MAX {
            passed.clear();
        }
        passed.insert(key, Instant::now());
    }
}

/// The user and password of a `Basic` authorization value.
fn credentials(headers: &HeaderMap) -> Result<(String, String), AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AuthError::Missing("no Authorization header".into()))?;
    let value = value.to_str().map_err(|_| AuthError::Invalid("malformed Authorization header".into()))?;
    let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Missing("the Authorization header is not Basic".into()));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AuthError::Invalid("malformed Basic credentials".into()))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| AuthError::Invalid("malformed Basic credentials".into()))?;
    Ok((user.to_string(), password.to_string()))
}

#[async_trait]
impl ServerAuthenticator for BasicServer {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let (user, password) = credentials(headers)?;
        let refused = || AuthError::Invalid("unknown user or wrong password".into());
        let stored = self.users.user(&user).ok_or_else(refused)?;
        let accepted = if stored.is_slow() {
            let key: [u8; 32] = Sha256::new()
                .chain_update(user.as_bytes())
                .chain_update([0u8])
                .chain_update(password.as_bytes())
                .finalize()
                .into();
            if self.remembered(&key) {
                true
            } else {
                let (users, name) = (self.users.clone(), user.clone());
                let ok = tokio::task::spawn_blocking(move || {
                    users.user(&name).is_some_and(|stored| stored.matches(&password))
                })
                .await
                .map_err(|e| AuthError::Unavailable(format!("the password check failed: {e}")))?;
                if ok {
                    self.remember(key);
                }
                ok
            }
        } else {
            stored.matches(&password)
        };
        if !accepted {
            return Err(refused());
        }
        Ok(Principal { subject: user, tenant: None })
    }

    fn challenge(&self, _error: &AuthError) -> HeaderValue {
        HeaderValue::from_static("Basic realm=\"tracegate\", charset=\"UTF-8\"")
    }
}

/// Sends `Authorization: Basic base64(user:password)`.
pub struct BasicClient {
    value: HeaderValue,
}

impl BasicClient {
    pub fn new(config: &ClientAuthConfig) -> Result<Self, String> {
        let encoded = STANDARD.encode(format!("{}:{}", config.username, config.password));
        let value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| "client_auth: cannot form a header value".to_string())?;
        Ok(Self { value: sensitive(value) })
    }
}

impl ClientAuthenticator for BasicClient {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        Ok(vec![(header::AUTHORIZATION, self.value.clone())])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn basic(user_password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(user_password));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn server(inline: &str) -> BasicServer {
        let mut users = Htpasswd::default();
        users.add(inline, "inline").unwrap();
        BasicServer::new(users)
    }

    #[tokio::test]
    async fn good_credentials_pass_and_others_are_refused_with_a_reason() {
        let bcrypt = bcrypt::hash("wonderland", 4).unwrap();
        let s = server(&format!("alice:{bcrypt}\nbob:{{SHA}}9SMYoF5RilWWASry7TjeaKwmpGg=\n"));
        assert_eq!(s.authenticate(&basic("alice:wonderland")).await.unwrap().subject, "alice");
        // Again, now from the cache of passed checks.
        assert_eq!(s.authenticate(&basic("alice:wonderland")).await.unwrap().subject, "alice");
        assert_eq!(s.authenticate(&basic("bob:builder")).await.unwrap().subject, "bob");
        for (headers, reason) in [
            (basic("alice:wrong"), "invalid"),
            (basic("carol:builder"), "invalid"),
            (basic("no-colon"), "invalid"),
            (HeaderMap::new(), "missing"),
        ] {
            assert_eq!(s.authenticate(&headers).await.unwrap_err().reason(), reason);
        }
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(s.authenticate(&bearer).await.unwrap_err().reason(), "missing");
        let error = s.authenticate(&basic("alice:wrong")).await.unwrap_err().to_string();
        assert!(!error.contains("wrong") || error.contains("wrong password"), "{error}");
    }

    #[test]
    fn client_sends_what_a_server_accepts() {
        let client = BasicClient::new(&ClientAuthConfig { username: "u".into(), password: "p:w".into() }).unwrap();
        let (name, value) = client.headers().unwrap().remove(0);
        assert_eq!(name, header::AUTHORIZATION);
        assert!(value.is_sensitive());
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        assert_eq!(credentials(&headers).unwrap(), ("u".to_string(), "p:w".to_string()));
        let printed = format!("{:?}", ClientAuthConfig { username: "u".into(), password: "secret".into() });
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn configs_that_cannot_work_are_refused() {
        let parse = tracegate_core::testing::parse_config_messages::<Config>;
        assert!(parse("htpasswd: { inline: 'a:b' }").is_ok());
        assert!(parse("client_auth: { username: a, password: b }").is_ok());
        assert_eq!(
            parse("{}").unwrap_err(),
            ["set htpasswd (file or inline) to check callers, or client_auth (username, password) for exporters"]
        );
        assert_eq!(parse("htpasswd: {}").unwrap_err(), ["htpasswd: set file or inline"]);
        assert!(parse("htpasswd: { inline: 'a:b' }\nclient_auth: { username: a, password: b }").unwrap_err()[0].contains("not both"));
        assert_eq!(parse("client_auth: { username: 'a:b', password: c }").unwrap_err().len(), 1);
        assert!(parse("htpasswd: { path: x }").unwrap_err()[0].contains("unknown field"));
    }
}
