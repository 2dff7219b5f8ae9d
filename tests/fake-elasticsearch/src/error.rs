//! Errors in Elasticsearch's response shape: `{"error": {"type", "reason", "root_cause"}, "status"}`.

use serde_json::{json, Value};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {reason}")]
pub struct EsError {
    pub status: u16,
    pub kind: &'static str,
    pub reason: String,
}

impl EsError {
    pub fn new(status: u16, kind: &'static str, reason: impl Into<String>) -> Self {
        Self { status, kind, reason: reason.into() }
    }

    /// A request body Elasticsearch cannot parse (unknown query, aggregation or key).
    pub fn parsing(reason: impl Into<String>) -> Self {
        Self::new(400, "parsing_exception", reason)
    }

    pub fn illegal(reason: impl Into<String>) -> Self {
        Self::new(400, "illegal_argument_exception", reason)
    }

    pub fn body(&self) -> Value {
        let cause = json!({"type": self.kind, "reason": self.reason});
        json!({"error": {"root_cause": [cause.clone()], "type": self.kind, "reason": self.reason}, "status": self.status})
    }
}
