//! [`AuthenticatorExtension`]: the one concrete type every authenticator extension is, so a
//! component can find it by id (as a capability) without knowing which kind it is.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ClientAuthenticator, ServerAuthenticator};
use crate::capability::{Capability, Offers};
use crate::component::{ComponentError, Extension, Host, Lifecycle};
use crate::telemetry::Telemetry;

/// An authenticator extension: a server side, a client side, or both, and an optional life of
/// its own (an OIDC authenticator fetching its issuer's keys at start).
pub struct AuthenticatorExtension {
    server: Option<Arc<dyn ServerAuthenticator>>,
    client: Option<Arc<dyn ClientAuthenticator>>,
    life: Option<Arc<dyn Lifecycle>>,
    telemetry: Arc<Telemetry>,
}

impl AuthenticatorExtension {
    /// An extension with neither side yet; `telemetry` is where listeners count refusals.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self {
            server: None,
            client: None,
            life: None,
            telemetry,
        }
    }

    /// Checks incoming calls with `server`.
    pub fn with_server(mut self, server: Arc<dyn ServerAuthenticator>) -> Self {
        self.server = Some(server);
        self
    }

    /// Gives exporters the credentials of `client`.
    pub fn with_client(mut self, client: Arc<dyn ClientAuthenticator>) -> Self {
        self.client = Some(client);
        self
    }

    /// Runs `life`'s start and shutdown with the extension's.
    pub fn with_lifecycle(mut self, life: Arc<dyn Lifecycle>) -> Self {
        self.life = Some(life);
        self
    }

    pub fn server(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        self.server.clone()
    }

    pub fn client(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        self.client.clone()
    }

    pub(crate) fn telemetry(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }
}

#[async_trait]
impl Lifecycle for AuthenticatorExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        match &self.life {
            Some(life) => life.start(host).await,
            None => Ok(()),
        }
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        match &self.life {
            Some(life) => life.shutdown().await,
            None => Ok(()),
        }
    }
}

impl Extension for AuthenticatorExtension {
    /// Itself, for listeners and exporters naming it in `auth: { authenticator: <id> }`.
    fn offers(self: Arc<Self>) -> Offers {
        Offers::new().with::<AuthenticatorExtension>(self)
    }
}

impl Capability for AuthenticatorExtension {
    const WHAT: &'static str = "an authenticator";
}
