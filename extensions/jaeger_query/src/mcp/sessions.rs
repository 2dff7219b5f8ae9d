//! A bound on open MCP sessions. Each `initialize` opens a session (a task and its buffers)
//! that lives until the client ends it or it has been idle for 5 minutes, and rmcp's session
//! manager sets no limit: a client opening sessions in a loop could hold memory without
//! bound. This wraps rmcp's in-memory manager and refuses a new session past `max_sessions`
//! (the client gets an error saying so; existing sessions go on). Closed and timed-out
//! sessions leave the manager's table, so their places come free.

use std::sync::Arc;

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, LocalSessionManagerError};
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage, SessionId, SessionManager};

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("this server already holds its max_sessions of {0} MCP sessions: end an unused session (DELETE) or retry when one has been idle for 5 minutes")]
    TooMany(usize),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// rmcp's [`LocalSessionManager`] with at most `max` sessions open.
pub struct CappedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// Makes "count, then create" one step, so concurrent `initialize`s cannot overshoot.
    creating: tokio::sync::Mutex<()>,
}

impl CappedSessions {
    pub fn new(inner: LocalSessionManager, max: usize) -> Self {
        Self { inner, max, creating: tokio::sync::Mutex::new(()) }
    }

    /// Sessions open now.
    pub async fn open(&self) -> usize {
        self.inner.sessions.read().await.len()
    }
}

impl SessionManager for CappedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _one_at_a_time = self.creating.lock().await;
        if self.open().await >= self.max {
            tracing::warn!(max_sessions = self.max, "an MCP session was refused: max_sessions are open");
            return Err(SessionsError::TooMany(self.max));
        }
        Ok(self.inner.create_session().await?)
    }

    async fn initialize_session(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
