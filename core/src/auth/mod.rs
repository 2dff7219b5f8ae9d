//! Authenticators: who may call a listener, and what an exporter presents when it dials out.
//!
//! The Collector's `configauth` split, kept so its configs carry over: an authenticator is an
//! *extension* (`basicauth`, `bearertokenauth`, `oidc`, implemented in
//! `tracegate-extension-auth`), and a server or exporter names it with
//! `auth: { authenticator: <id> }` ([`AuthConfig`]).
//!
//! - **Server side** is plugged into [`ServerSet`](crate::server::ServerSet) once: a
//!   component hands its `auth:` to `TcpPlan::auth`, and every request on that listener, axum
//!   route or tonic service alike, passes the check in [`layer`] first. A refusal is HTTP 401
//!   with `WWW-Authenticate` (gRPC: `UNAUTHENTICATED`), counted in
//!   `tracegate_server_auth_failures{component,server,reason}`, and logged without the
//!   credentials.
//! - **Client side**: an exporter asks [`client_authenticator`] at start and adds the headers
//!   it returns to every request.
//!
//! Components find the extension the way the exporter queue finds `file_storage`: as a
//! capability by id on the [`Host`] (`host.capability::<AuthenticatorExtension>(id)`, see
//! [`crate::capability`]). [`AuthenticatorExtension`] is the one concrete type every
//! authenticator type is built as (the differences live behind the two traits), and it offers
//! itself.

mod extension;
pub(crate) mod layer;
mod references;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::capability::CapabilityError;
use crate::component::{ComponentError, Host};
use crate::config::AuthConfig;
use crate::id::ComponentId;
use crate::telemetry::Telemetry;

pub use extension::AuthenticatorExtension;
pub(crate) use references::check_references;

/// The extension types that are authenticators; an `auth:` naming another type is a config
/// error.
pub const AUTHENTICATOR_TYPES: &[&str] = &["basicauth", "bearertokenauth", "oidc"];

/// Why a call was refused. The messages never contain the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request carried no credentials of the kind this authenticator reads.
    #[error("no credentials: {0}")]
    Missing(String),
    /// Credentials were there but are not accepted.
    #[error("credentials refused: {0}")]
    Invalid(String),
    /// The authenticator cannot decide now (its key set cannot be fetched, ...).
    #[error("authenticator unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The `reason` label of the failure metric.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing(_) => "missing",
            AuthError::Invalid(_) => "invalid",
            AuthError::Unavailable(_) => "unavailable",
        }
    }
}

/// Who an accepted call came from; put into the request's extensions for the component (the
/// tenant, when an authenticator maps one, is for tenancy to read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user name, the token's subject, ...
    pub subject: String,
    /// A tenant the credentials carry (the OIDC claim mapped to it), if any.
    pub tenant: Option<String>,
}

/// Checks the credentials of incoming calls.
#[async_trait]
pub trait ServerAuthenticator: Send + Sync {
    /// Accepts or refuses a call by its headers (gRPC metadata are HTTP/2 headers).
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError>;

    /// The `WWW-Authenticate` value sent with a refusal (`Basic realm="..."` makes a browser
    /// ask for a user name and password).
    fn challenge(&self, error: &AuthError) -> HeaderValue;
}

/// Gives the credentials an exporter presents.
pub trait ClientAuthenticator: Send + Sync {
    /// Headers to add to each request (marked sensitive, so they are not HPACK-indexed or
    /// printed by `Debug`).
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError>;
}

/// A running server authenticator, as a listener needs it: the check and where to count.
#[derive(Clone)]
pub struct ServerAuth {
    pub(crate) id: ComponentId,
    pub(crate) authenticator: Arc<dyn ServerAuthenticator>,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuth").field("id", &self.id).finish_non_exhaustive()
    }
}

fn find(host: &dyn Host, auth: &AuthConfig) -> Result<(ComponentId, Arc<AuthenticatorExtension>), ComponentError> {
    let id = ComponentId::parse(&auth.authenticator)
        .map_err(|e| ComponentError::Config(format!("auth.authenticator: {e}")))?;
    let found = host.capability::<AuthenticatorExtension>(&auth.authenticator).map_err(|e| match e {
        CapabilityError::NotProvided { .. } => {
            ComponentError::Config(format!("auth.authenticator: \"{id}\" is not an authenticator extension"))
        }
        _ => ComponentError::Config(format!(
            "auth.authenticator: extension \"{id}\" is not running (configure it and list it in service::extensions)"
        )),
    })?;
    Ok((id, found))
}

/// The server side of the authenticator `auth` names; `None` when `auth` is `None`.
pub fn server_authenticator(
    host: &dyn Host,
    auth: Option<&AuthConfig>,
) -> Result<Option<ServerAuth>, ComponentError> {
    let Some(auth) = auth else { return Ok(None) };
    let (id, found) = find(host, auth)?;
    let authenticator = found.server().ok_or_else(|| {
        ComponentError::Config(format!(
            "auth.authenticator: \"{id}\" is set up for clients only and cannot check incoming calls"
        ))
    })?;
    Ok(Some(ServerAuth {
        id,
        authenticator,
        telemetry: found.telemetry(),
    }))
}

/// The client side of the authenticator `auth` names; `None` when `auth` is `None`.
pub fn client_authenticator(
    host: &dyn Host,
    auth: Option<&AuthConfig>,
) -> Result<Option<Arc<dyn ClientAuthenticator>>, ComponentError> {
    let Some(auth) = auth else { return Ok(None) };
    let (id, found) = find(host, auth)?;
    found.client().map(Some).ok_or_else(|| {
        ComponentError::Config(format!(
            "auth.authenticator: \"{id}\" has no client credentials (basicauth needs client_auth)"
        ))
    })
}

/// Adds `auth`'s headers to `headers` (replacing any of the same name from `headers:`).
pub fn add_client_headers(headers: &mut HeaderMap, auth: &dyn ClientAuthenticator) -> Result<(), AuthError> {
    for (name, value) in auth.headers()? {
        headers.insert(name, value);
    }
    Ok(())
}

/// Marks a credential header value sensitive.
pub fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}
