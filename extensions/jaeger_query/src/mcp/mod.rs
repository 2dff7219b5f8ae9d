//! The MCP server for AI agents (issue 18 item 4), as Jaeger 2.15+ serves one: the Model
//! Context Protocol over streamable HTTP at `<base_path>/api/ai/mcp/` on the query port, when
//! `ai: { mcp: {} }` is configured. Agents (Claude, Cursor, ...) call tools named and shaped as
//! Jaeger's (`cmd/jaeger/internal/extension/jaegerquery/internal/mcptools`): `get_services`,
//! `get_span_names`, `search_traces`, `get_span_details`, `get_trace_errors`,
//! `get_trace_topology`, `get_critical_path`, `get_service_dependencies`. Jaeger's
//! `read_skill` (markdown playbooks shipped with Jaeger) is not served.
//!
//! The transport is the official Rust SDK's (`rmcp`), configured as Jaeger configures the Go
//! SDK's: sessions (`Mcp-Session-Id`), answers as server-sent events, an idle session closed
//! after 5 minutes. It is mounted on the query port's router, so that port's TLS, auth,
//! connection limits and CORS apply to it as to the rest of the API. The SDK's `Host` check
//! (which by default admits only loopback names, against DNS rebinding of a server on a
//! developer's machine) is off, as for every other route of the query port, which serves
//! whatever name it is reached by. At most `max_sessions` sessions are open at once
//! ([`sessions`]).
//!
//! The tools read through the query service's reader and bounds ([`tools`]); their answers
//! are limited in size ([`config`]) and a cut answer says so.

mod config;
mod critical_path;
mod server;
mod sessions;
mod span;
mod time;
mod tools;
mod topology;
mod types;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use config::{AiConfig, McpConfig};
pub use server::McpServer;

use crate::api::ApiState;

/// Jaeger's `mcpSessionTimeout`: an idle session is closed after this.
const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The MCP route under `base_path` (`None` for the root). Cancelling `shutdown` ends every
/// session and open event stream, so they do not hold the server's graceful stop.
pub fn router(state: Arc<ApiState>, config: &McpConfig, base_path: Option<&str>, shutdown: CancellationToken) -> Router {
    let server = McpServer::new(tools::Tools { state, limits: config.clone() });
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(SESSION_IDLE_TIMEOUT);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config = session_config;
    let transport = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(true)
        .with_json_response(false)
        .with_cancellation_token(shutdown);
    let sessions = sessions::CappedSessions::new(sessions, config.max_sessions);
    let service = StreamableHttpService::new(move || Ok(server.clone()), Arc::new(sessions), transport);
    let prefix = base_path.map(|p| p.trim_end_matches('/')).unwrap_or_default();
    Router::new().nest_service(&format!("{prefix}/api/ai/mcp"), service)
}

#[cfg(test)]
mod tests;
