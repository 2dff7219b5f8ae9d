//! The `oidc` extension: JWT bearer tokens checked against an OpenID Connect issuer's keys, in
//! the shape of the Collector's `oidcauthextension`, plus a local key set and a tenant claim.
//!
//! ```yaml
//! extensions:
//!   oidc:
//!     issuer_url: https://login.example.com/realms/obs   # discovery, and the expected `iss`
//!     issuer_ca_path: /etc/tracegate/idp-ca.crt           # optional: CA of the issuer's TLS
//!     jwks_file: ""                                       # or a local JWKS instead of discovery
//!     audience: tracegate                                 # the expected `aud`
//!     username_claim: sub                                 # the caller's name
//!     tenant_claim: tenant                                # optional: the claim that is the tenant
//!     attribute: authorization                            # the header carrying "Bearer <jwt>"
//! ```
//!
//! A token passes when its signature verifies with a key of the set (by `kid`; asymmetric
//! algorithms only, so a key can never be used as an HMAC secret), `exp` is in the future and
//! `nbf` in the past (30 s of clock skew allowed), `aud` holds `audience` and, with
//! `issuer_url`, `iss` is the issuer. The keys come from `{issuer_url}/.well-known/
//! openid-configuration`'s `jwks_uri` at start, or from `jwks_file`. A token signed with a key
//! not in the set makes the set be fetched (or the file read) again, at most every
//! [`REFRESH_EVERY`], which is how an issuer's key rotation is followed. An issuer that cannot
//! be reached at start does not stop the gateway: calls are answered 503 (`UNAVAILABLE`) and
//! the fetch is retried, since refusing them as unauthenticated would blame the caller.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracegate_core::auth::{AuthError, Principal, ServerAuthenticator};
use tracegate_core::config::{ConfigProblem, TlsClientConfig};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::{ComponentError, Host, Lifecycle};

/// The shortest time between two fetches of the key set.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// The algorithms a token may be signed with: public-key ones only.
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub issuer_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_ca_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwks_file: String,
    pub audience: String,
    pub username_claim: String,
    /// Accepted for Collector configs; groups are not used yet.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub groups_claim: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tenant_claim: String,
    pub attribute: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer_url: String::new(),
            issuer_ca_path: String::new(),
            jwks_file: String::new(),
            audience: String::new(),
            username_claim: "sub".to_string(),
            groups_claim: String::new(),
            tenant_claim: String::new(),
            attribute: "authorization".to_string(),
        }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.issuer_url.is_empty() && self.jwks_file.is_empty() {
            problems.push(ConfigProblem::new("", "set issuer_url (keys by OIDC discovery) or jwks_file (a local key set)"));
        }
        let url_like = self.issuer_url.starts_with("https://") || self.issuer_url.starts_with("http://");
        if !self.issuer_url.is_empty() && !url_like {
            problems.push(ConfigProblem::new("issuer_url", "must be an http:// or https:// URL"));
        }
        if self.audience.is_empty() {
            problems.push(ConfigProblem::new("audience", "required: the `aud` a token must be issued for (the client id)"));
        }
        if self.username_claim.is_empty() {
            problems.push(ConfigProblem::new("username_claim", "must not be empty"));
        }
        if HeaderName::from_bytes(self.attribute.as_bytes()).is_err() {
            problems.push(ConfigProblem::new("attribute", format!("\"{}\" is not an HTTP header name", self.attribute)));
        }
        if !self.issuer_ca_path.is_empty() && !self.jwks_file.is_empty() {
            problems.push(ConfigProblem::warning("issuer_ca_path", "has no effect with jwks_file (nothing is fetched)"));
        }
        problems
    }
}

struct Keys {
    set: Arc<JwkSet>,
    fetched: Option<Instant>,
}

/// An OIDC token checker; see the module docs.
pub struct Oidc {
    config: Config,
    header: HeaderName,
    http: reqwest::Client,
    keys: Mutex<Keys>,
    /// One fetch at a time; the others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

impl Oidc {
    /// Builds it; reads `jwks_file` (and `issuer_ca_path`) now, so a bad file fails start-up.
    pub fn new(config: &Config) -> Result<Self, String> {
        let header = HeaderName::from_bytes(config.attribute.as_bytes())
            .map_err(|_| format!("attribute: \"{}\" is not an HTTP header name", config.attribute))?;
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if config.issuer_url.starts_with("https://") {
            let tls = TlsClientConfig { ca_file: config.issuer_ca_path.clone(), ..Default::default() };
            if let Some(rustls) = tracegate_core::tls_client::client_config(&tls).map_err(|e| format!("issuer_ca_path: {e}"))? {
                builder = builder.use_preconfigured_tls(rustls);
            }
        }
        let http = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut keys = Keys { set: Arc::new(JwkSet { keys: Vec::new() }), fetched: None };
        if !config.jwks_file.is_empty() {
            keys = Keys { set: Arc::new(read_jwks_file(&config.jwks_file)?), fetched: Some(Instant::now()) };
        }
        Ok(Self { config: config.clone(), header, http, keys: Mutex::new(keys), fetching: tokio::sync::Mutex::new(()) })
    }

    fn keys(&self) -> (Arc<JwkSet>, Option<Instant>) {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        (keys.set.clone(), keys.fetched)
    }

    /// Fetches (or re-reads) the key set unless that happened within [`REFRESH_EVERY`].
    async fn refresh(&self) -> Result<(), String> {
        let _one = self.fetching.lock().await;
        if self.keys().1.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
            return Ok(());
        }
        let fetched = if self.config.jwks_file.is_empty() {
            self.discover().await
        } else {
            read_jwks_file(&self.config.jwks_file)
        };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        match fetched {
            Ok(set) => {
                tracing::debug!(keys = set.keys.len(), "OIDC key set loaded");
                *keys = Keys { set: Arc::new(set), fetched: Some(Instant::now()) };
                Ok(())
            }
            Err(e) => {
                // Counted as a fetch, so a dead issuer is asked once per period, not per call.
                keys.fetched = Some(Instant::now());
                Err(e)
            }
        }
    }

    async fn discover(&self) -> Result<JwkSet, String> {
        let issuer = self.config.issuer_url.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let document: Value = self.get_json(&url).await?;
        if let Some(said) = document.get("issuer").and_then(Value::as_str) {
            if said.trim_end_matches('/') != issuer {
                return Err(format!("{url} names issuer \"{said}\", not \"{}\"", self.config.issuer_url));
            }
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url} has no jwks_uri"))?;
        let set: Value = self.get_json(jwks_uri).await?;
        serde_json::from_value(set).map_err(|e| format!("{jwks_uri}: not a JWK set: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self.http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: not JSON: {e}"))
    }

    fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, AuthError> {
        let value = headers
            .get(&self.header)
            .ok_or_else(|| AuthError::Missing(format!("no {} header", self.header)))?;
        let value = value.to_str().map_err(|_| AuthError::Invalid("malformed header".into()))?;
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
            _ => Err(AuthError::Missing(format!("the {} header holds no Bearer token", self.header))),
        }
    }

    fn verify(&self, token: &str, set: &JwkSet, alg: Algorithm, kid: Option<&str>) -> Result<Option<Value>, AuthError> {
        let jwk = match kid {
            Some(kid) => set.find(kid),
            // No kid: the set's one key, if it has exactly one.
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else { return Ok(None) };
        let key = DecodingKey::from_jwk(jwk).map_err(|_| AuthError::Invalid("the signing key cannot be used".into()))?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.config.audience]);
        let mut required = vec!["exp", "aud"];
        if !self.config.issuer_url.is_empty() {
            validation.set_issuer(&[self.config.issuer_url.as_str(), self.config.issuer_url.trim_end_matches('/')]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| AuthError::Invalid(describe(&e)))?;
        Ok(Some(data.claims))
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let claim = |name: &str| claims.get(name).and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())));
        let subject = claim(&self.config.username_claim)
            .ok_or_else(|| AuthError::Invalid(format!("the token has no \"{}\" claim", self.config.username_claim)))?;
        let tenant = if self.config.tenant_claim.is_empty() {
            None
        } else {
            Some(claim(&self.config.tenant_claim).ok_or_else(|| {
                AuthError::Invalid(format!("the token has no \"{}\" claim (the tenant)", self.config.tenant_claim))
            })?)
        };
        Ok(Principal { subject, tenant })
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token is for another audience".into(),
        ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no \"{claim}\" claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        _ => "the token cannot be read".into(),
    }
}

fn read_jwks_file(path: &str) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read jwks_file {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("jwks_file {path}: not a JWK set: {e}"))
}

#[async_trait]
impl ServerAuthenticator for Oidc {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let token = self.token(headers)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("not a JWT".into()))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("the {:?} algorithm is not accepted", header.alg)));
        }
        let (set, fetched) = self.keys();
        if let Some(claims) = self.verify(token, &set, header.alg, header.kid.as_deref())? {
            return self.principal(&claims);
        }
        // A key we do not have: the issuer may have rotated its keys.
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "cannot load the OIDC key set");
            if fetched.is_none() || set.keys.is_empty() {
                return Err(AuthError::Unavailable("the issuer's keys cannot be loaded".into()));
            }
        }
        let (set, _) = self.keys();
        match self.verify(token, &set, header.alg, header.kid.as_deref())? {
            Some(claims) => self.principal(&claims),
            None if set.keys.is_empty() => Err(AuthError::Unavailable("the issuer's keys cannot be loaded".into())),
            None => Err(AuthError::Invalid("the token is signed by an unknown key".into())),
        }
    }

    fn challenge(&self, error: &AuthError) -> HeaderValue {
        match error {
            AuthError::Invalid(_) => HeaderValue::from_static("Bearer realm=\"tracegate\", error=\"invalid_token\""),
            _ => HeaderValue::from_static("Bearer realm=\"tracegate\""),
        }
    }
}

#[async_trait]
impl Lifecycle for Oidc {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if !self.config.jwks_file.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.refresh().await {
            tracing::warn!(issuer = %self.config.issuer_url, error = %e, "cannot load the OIDC key set yet; calls are answered 503 until it loads");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
