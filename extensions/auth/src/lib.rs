//! Authenticator extensions, in the Collector's config shapes so its configs carry over:
//! `basicauth` (htpasswd on the server side, `client_auth` on the client side) and
//! `bearertokenauth` (a token, tokens or a token file; both sides) and `oidc` (JWTs checked
//! against an issuer's keys; server side).
//!
//! Each is built as core's [`AuthenticatorExtension`], which listeners find by id when a
//! server says `auth: { authenticator: <id> }` and exporters find the same way; the check in
//! front of a listener, its 401 / `UNAUTHENTICATED` answer and the failure metric are core's
//! (`tracegate_core::auth`), written once for every listener.

pub mod basic;
pub mod bearer;
pub mod htpasswd;
pub mod oidc;
pub mod token_file;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tracegate_core::auth::AuthenticatorExtension;
use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

/// Builds `basicauth` extensions.
pub struct BasicAuthFactory;

impl ExtensionFactory for BasicAuthFactory {
    const TYPE: &'static str = "basicauth";
    const STABILITY: Stability = Stability::Beta;
    type Config = basic::Config;

    fn create(&self, ctx: CreateContext, config: basic::Config) -> Result<Arc<dyn Extension>, ComponentError> {
        let extension = AuthenticatorExtension::new(ctx.telemetry.clone());
        let extension = basic::build(&config, extension).map_err(ComponentError::Config)?;
        Ok(Arc::new(extension))
    }
}

/// Builds `bearertokenauth` extensions.
pub struct BearerTokenAuthFactory;

impl ExtensionFactory for BearerTokenAuthFactory {
    const TYPE: &'static str = "bearertokenauth";
    const STABILITY: Stability = Stability::Beta;
    type Config = bearer::Config;

    fn create(&self, ctx: CreateContext, config: bearer::Config) -> Result<Arc<dyn Extension>, ComponentError> {
        let token = Arc::new(bearer::BearerToken::new(&config).map_err(ComponentError::Config)?);
        let extension = AuthenticatorExtension::new(ctx.telemetry.clone())
            .with_server(token.clone())
            .with_client(token);
        Ok(Arc::new(extension))
    }
}

/// Builds `oidc` extensions.
pub struct OidcFactory;

impl ExtensionFactory for OidcFactory {
    const TYPE: &'static str = "oidc";
    const STABILITY: Stability = Stability::Alpha;
    type Config = oidc::Config;

    fn create(&self, ctx: CreateContext, config: oidc::Config) -> Result<Arc<dyn Extension>, ComponentError> {
        let oidc = Arc::new(oidc::Oidc::new(&config).map_err(ComponentError::Config)?);
        let extension = AuthenticatorExtension::new(ctx.telemetry.clone())
            .with_server(oidc.clone())
            .with_lifecycle(oidc);
        Ok(Arc::new(extension))
    }
}

tracegate_core::register_extension!(BasicAuthFactory);
tracegate_core::register_extension!(BearerTokenAuthFactory);
tracegate_core::register_extension!(OidcFactory);
