//! The `bearertokenauth` extension, in the Collector's shape: the same config checks incoming
//! calls (the header must carry one of the tokens) and gives exporters their header.
//!
//! ```yaml
//! extensions:
//!   bearertokenauth:
//!     token: "${env:TOKEN}"        # or tokens: [a, b], or filename: /run/secrets/token
//!     scheme: Bearer               # the default; "" sends the bare token
//!     header: Authorization        # the default
//! ```
//!
//! `filename` is re-read when the file changes ([`TokenFile`]); with several tokens a server
//! accepts any of them and a client sends the first.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tracegate_core::auth::{sensitive, AuthError, ClientAuthenticator, Principal, ServerAuthenticator};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

use crate::token_file::TokenFile;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The header that carries the token.
    pub header: String,
    /// Put before the token with a space; empty for the bare token.
    pub scheme: String,
    /// One token.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Several tokens (a server accepts any; a client sends the first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    /// A file with the token(s), one per line, re-read when it changes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filename: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            header: "Authorization".to_string(),
            scheme: "Bearer".to_string(),
            token: String::new(),
            tokens: Vec::new(),
            filename: String::new(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("header", &self.header)
            .field("scheme", &self.scheme)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let given = [!self.token.is_empty(), !self.tokens.is_empty(), !self.filename.is_empty()];
        match given.iter().filter(|g| **g).count() {
            0 => problems.push(ConfigProblem::new("", "set one of token, tokens or filename")),
            1 => {}
            _ => problems.push(ConfigProblem::new("", "set only one of token, tokens or filename")),
        }
        if self.tokens.iter().any(String::is_empty) {
            problems.push(ConfigProblem::new("tokens", "a token must not be empty"));
        }
        if HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            problems.push(ConfigProblem::new("header", format!("\"{}\" is not an HTTP header name", self.header)));
        }
        if self.scheme.contains(char::is_whitespace) {
            problems.push(ConfigProblem::new("scheme", "must be one word (e.g. Bearer)"));
        }
        problems
    }
}

enum Tokens {
    Fixed(Arc<Vec<String>>),
    File(TokenFile),
}

impl Tokens {
    fn now(&self) -> Arc<Vec<String>> {
        match self {
            Tokens::Fixed(tokens) => tokens.clone(),
            Tokens::File(file) => file.tokens(),
        }
    }
}

/// Both sides of one `bearertokenauth` extension.
pub struct BearerToken {
    header: HeaderName,
    scheme: String,
    tokens: Tokens,
}

impl BearerToken {
    /// Builds it; reads `filename` now, so a missing file fails start-up with its path.
    pub fn new(config: &Config) -> Result<Self, String> {
        let header = HeaderName::from_bytes(config.header.as_bytes())
            .map_err(|_| format!("header: \"{}\" is not an HTTP header name", config.header))?;
        let tokens = if !config.filename.is_empty() {
            Tokens::File(TokenFile::open(&config.filename)?)
        } else if !config.token.is_empty() {
            Tokens::Fixed(Arc::new(vec![config.token.clone()]))
        } else {
            Tokens::Fixed(Arc::new(config.tokens.clone()))
        };
        Ok(Self { header, scheme: config.scheme.clone(), tokens })
    }

    fn value(&self, token: &str) -> String {
        if self.scheme.is_empty() {
            token.to_string()
        } else {
            format!("{} {token}", self.scheme)
        }
    }

    fn challenge_scheme(&self) -> &str {
        if self.scheme.is_empty() {
            "Bearer"
        } else {
            &self.scheme
        }
    }
}

#[async_trait]
impl ServerAuthenticator for BearerToken {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let value = headers
            .get(&self.header)
            .ok_or_else(|| AuthError::Missing(format!("no {} header", self.header)))?;
        let given = value.as_bytes();
        if !self.scheme.is_empty() {
            let prefix = format!("{} ", self.scheme);
            let has_scheme = given.len() > prefix.len()
                && given[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
            if !has_scheme {
                return Err(AuthError::Missing(format!("the {} header holds no {} token", self.header, self.scheme)));
            }
        }
        let tokens = self.tokens.now();
        // Every token is compared, in constant time, so timing tells nothing about which
        // (or how much of one) matched.
        let mut matched = subtle::Choice::from(0u8);
        for token in tokens.iter() {
            let expected = self.value(token);
            let same = if self.scheme.is_empty() {
                given.ct_eq(expected.as_bytes())
            } else {
                // The scheme is case-insensitive (RFC 7235); the token is not.
                let cut = self.scheme.len() + 1;
                given[cut..].ct_eq(&expected.as_bytes()[cut..])
            };
            matched |= same;
        }
        if bool::from(matched) {
            Ok(Principal { subject: "bearer token".to_string(), tenant: None })
        } else {
            Err(AuthError::Invalid("the token is not accepted".into()))
        }
    }

    fn challenge(&self, error: &AuthError) -> HeaderValue {
        let scheme = self.challenge_scheme();
        let text = match error {
            AuthError::Invalid(_) => format!("{scheme} realm=\"tracegate\", error=\"invalid_token\""),
            _ => format!("{scheme} realm=\"tracegate\""),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"tracegate\""))
    }
}

impl ClientAuthenticator for BearerToken {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        let tokens = self.tokens.now();
        let token = tokens.first().ok_or_else(|| AuthError::Unavailable("no token".into()))?;
        let value = HeaderValue::from_str(&self.value(token))
            .map_err(|_| AuthError::Unavailable("the token cannot be sent in a header".into()))?;
        Ok(vec![(self.header.clone(), sensitive(value))])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(yaml: &str) -> Config {
        tracegate_core::testing::parse_config::<Config>(yaml).unwrap()
    }

    fn with(header: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_bytes(header.as_bytes()).unwrap(), value.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn the_configured_token_passes_and_others_are_refused() {
        let auth = BearerToken::new(&config("tokens: [one, two]")).unwrap();
        for ok in ["Bearer one", "bearer two"] {
            auth.authenticate(&with("authorization", ok)).await.unwrap();
        }
        for (value, reason) in [("Bearer three", "invalid"), ("Bearer ONE", "invalid"), ("Basic one", "missing"), ("Bearer", "missing")] {
            assert_eq!(auth.authenticate(&with("authorization", value)).await.unwrap_err().reason(), reason, "{value}");
        }
        assert_eq!(auth.authenticate(&HeaderMap::new()).await.unwrap_err().reason(), "missing");
        let challenge = auth.challenge(&AuthError::Invalid(String::new()));
        assert_eq!(challenge, "Bearer realm=\"tracegate\", error=\"invalid_token\"");
    }

    #[tokio::test]
    async fn header_and_scheme_are_the_configured_ones_on_both_sides() {
        let auth = BearerToken::new(&config("token: s3cret\nheader: X-Api-Key\nscheme: ''")).unwrap();
        let (name, value) = auth.headers().unwrap().remove(0);
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "s3cret"));
        assert!(value.is_sensitive());
        auth.authenticate(&with("x-api-key", "s3cret")).await.unwrap();
        assert!(auth.authenticate(&with("authorization", "Bearer s3cret")).await.is_err());
        let custom = BearerToken::new(&config("token: t\nscheme: Token")).unwrap();
        assert_eq!(custom.headers().unwrap()[0].1, "Token t");
    }

    #[tokio::test]
    async fn a_rotated_token_file_is_used_on_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "old\n").unwrap();
        let auth = BearerToken::new(&config(&format!("filename: {}", path.display()))).unwrap();
        auth.authenticate(&with("authorization", "Bearer old")).await.unwrap();
        std::fs::write(&path, "new-token\n").unwrap();
        assert_eq!(auth.headers().unwrap()[0].1, "Bearer new-token");
        auth.authenticate(&with("authorization", "Bearer new-token")).await.unwrap();
        assert!(auth.authenticate(&with("authorization", "Bearer old")).await.is_err());
    }

    #[test]
    fn configs_that_cannot_work_are_refused() {
        let parse = tracegate_core::testing::parse_config_messages::<Config>;
        assert_eq!(parse("{}").unwrap_err(), ["set one of token, tokens or filename"]);
        assert_eq!(parse("token: a\nfilename: b").unwrap_err(), ["set only one of token, tokens or filename"]);
        assert_eq!(parse("token: a\nheader: 'bad header'").unwrap_err(), ["header: \"bad header\" is not an HTTP header name"]);
        assert_eq!(parse("token: a\nscheme: 'two words'").unwrap_err(), ["scheme: must be one word (e.g. Bearer)"]);
        assert!(BearerToken::new(&config("filename: /nonexistent/token")).err().unwrap().contains("/nonexistent/token"));
        let printed = format!("{:?}", config("token: hush"));
        assert!(!printed.contains("hush"), "{printed}");
    }
}
