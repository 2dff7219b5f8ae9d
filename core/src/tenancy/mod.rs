//! Tenancy as Jaeger has it: one gateway, several tenants, each seeing only its own traces.
//!
//! ```yaml
//! tenancy: { enabled: true, header: x-tenant, tenants: [acme, globex] }
//! ```
//!
//! One config type, [`TenancyConfig`], is read wherever a tenant is decided: under each
//! receiver that takes spans over HTTP or gRPC (`otlp`, `jaeger`, `zipkin`) and under
//! `jaeger_query`. Jaeger v2 has it on its storage and query side only, and the Collector's
//! receivers merely copy headers into the batch (`include_metadata` + `metadata_keys`) for a
//! later component to act on; here the receiver *decides*, so a request of an unknown tenant
//! is refused before it costs a decode, and the store never sees a tenant it was not told of.
//!
//! The rules follow Jaeger's `internal/tenancy`:
//! - the tenant is the value of `header` (default `x-tenant`); a request without it is
//!   refused (HTTP 401 "missing tenant header", gRPC `UNAUTHENTICATED`), one naming a tenant
//!   not in `tenants` too (HTTP 401 "unknown tenant", gRPC `PERMISSION_DENIED`), and so is one
//!   carrying the header twice ("extra tenant header");
//! - unlike Jaeger, `tenants` must list the tenants when tenancy is on: Jaeger then accepts
//!   any value, but each tenant here gets a store of its own (see the sled exporter), and an
//!   open list would let any caller create stores;
//! - a caller whose authenticator mapped a tenant (the `oidc` extension's `tenant_claim`,
//!   [`crate::auth::Principal::tenant`]) is that tenant: a header naming another is refused.
//!
//! How the decided tenant reaches the data is in [`layer`]: receivers stamp it on the batch
//! ([`crate::data::Traces::tenant`]), and `jaeger_query` answers from that tenant's store.

pub mod layer;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::config::ConfigProblem;

/// Jaeger's default tenant header.
pub const DEFAULT_HEADER: &str = "x-tenant";

/// Longest tenant name: it becomes a directory name and a label.
pub const MAX_TENANT_LEN: usize = 64;

/// `tenancy:` under a receiver or `jaeger_query`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// Off by default: every request is accepted and kept in the untenanted store.
    pub enabled: bool,
    /// The request header (gRPC metadata key) naming the tenant.
    pub header: String,
    /// The tenants allowed; required when `enabled`.
    pub tenants: Vec<String>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self { enabled: false, header: DEFAULT_HEADER.to_string(), tenants: Vec::new() }
    }
}

/// Whether `name` can be a tenant: it names a directory and travels in a header, so only
/// letters, digits, `-`, `_` and `.` (not `.` or `..` alone), at most [`MAX_TENANT_LEN`].
pub fn is_valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TENANT_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl TenancyConfig {
    /// Problems of this section, relative to the `tenancy` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if axum::http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            problems.push(ConfigProblem::new("header", format!("\"{}\" is not an HTTP header name; Jaeger's is x-tenant", self.header)));
        }
        if !self.enabled {
            return problems;
        }
        if self.tenants.is_empty() {
            problems.push(ConfigProblem::new(
                "tenants",
                "is empty; list the tenants allowed (each gets a store of its own, so the list bounds how many there are)",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, tenant) in self.tenants.iter().enumerate() {
            if !is_valid_tenant_name(tenant) {
                problems.push(ConfigProblem::new(
                    format!("tenants::{i}"),
                    format!("\"{tenant}\" is not a tenant name: use 1 to {MAX_TENANT_LEN} letters, digits, '-', '_' or '.'"),
                ));
            } else if !seen.insert(tenant.as_str()) {
                problems.push(ConfigProblem::new(format!("tenants::{i}"), format!("\"{tenant}\" is listed twice")));
            }
        }
        problems
    }
}

/// `tenancy` checked as a component config's `validate` reports it (under `path`).
pub fn validate_tenancy(tenancy: Option<&TenancyConfig>, path: &str) -> Vec<ConfigProblem> {
    tenancy.map(|t| t.validate().into_iter().map(|p| p.under(path)).collect()).unwrap_or_default()
}

/// Why a request was refused; the texts are Jaeger's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error("missing tenant header")]
    Missing,
    #[error("unknown tenant")]
    Unknown,
    #[error("extra tenant header")]
    Extra,
    /// The header names another tenant than the caller's credentials.
    #[error("tenant header does not match the tenant of the credentials")]
    Mismatch,
}

impl TenancyError {
    /// The `reason` label of the refusal metric.
    pub fn reason(&self) -> &'static str {
        match self {
            TenancyError::Missing => "missing",
            TenancyError::Unknown => "unknown",
            TenancyError::Extra => "extra",
            TenancyError::Mismatch => "mismatch",
        }
    }

    /// gRPC's status code for it, as Jaeger's gRPC interceptor answers.
    pub fn grpc_code(&self) -> tonic_code::Code {
        match self {
            TenancyError::Missing => tonic_code::Code::Unauthenticated,
            _ => tonic_code::Code::PermissionDenied,
        }
    }
}

/// gRPC status codes used here (numbers from the gRPC spec; core does not depend on tonic).
pub mod tonic_code {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Code {
        PermissionDenied = 7,
        Unauthenticated = 16,
    }
}

/// A running tenancy check: the config, with the tenants ready to hand out as shared names.
#[derive(Debug, Clone)]
pub struct Tenancy {
    header: axum::http::HeaderName,
    tenants: Vec<Arc<str>>,
}

impl Tenancy {
    /// The check `config` asks for; `None` when tenancy is off (or the config is absent).
    /// Call on a validated config: a header that is not a header name falls back to Jaeger's.
    pub fn new(config: Option<&TenancyConfig>) -> Option<Arc<Tenancy>> {
        let config = config.filter(|c| c.enabled)?;
        let header = axum::http::HeaderName::from_bytes(config.header.as_bytes())
            .unwrap_or_else(|_| axum::http::HeaderName::from_static(DEFAULT_HEADER));
        let mut tenants: Vec<Arc<str>> = config.tenants.iter().map(|t| Arc::from(t.as_str())).collect();
        tenants.sort();
        tenants.dedup();
        Some(Arc::new(Tenancy { header, tenants }))
    }

    /// The header naming the tenant (lower case, as HTTP/2 carries it).
    pub fn header(&self) -> &str {
        self.header.as_str()
    }

    /// The allowed tenants, sorted.
    pub fn tenants(&self) -> &[Arc<str>] {
        &self.tenants
    }

    /// The allowed tenant named `name`, shared.
    pub fn tenant(&self, name: &str) -> Option<&Arc<str>> {
        self.tenants.binary_search_by(|t| (**t).cmp(name)).ok().map(|i| &self.tenants[i])
    }

    /// The tenant of a request with `headers`, authenticated as `principal` (if a listener
    /// authenticator ran), or why it is refused (see the module docs).
    pub fn tenant_of(&self, headers: &HeaderMap, principal: Option<&Principal>) -> Result<Arc<str>, TenancyError> {
        let mut values = headers.get_all(&self.header).iter();
        let from_header = match (values.next(), values.next()) {
            (Some(_), Some(_)) => return Err(TenancyError::Extra),
            (Some(v), None) => Some(v.to_str().map_err(|_| TenancyError::Unknown)?),
            (None, _) => None,
        };
        let claimed = principal.and_then(|p| p.tenant.as_deref());
        let name = match (from_header, claimed) {
            (Some(h), Some(c)) if h != c => return Err(TenancyError::Mismatch),
            (Some(""), None) | (None, None) => return Err(TenancyError::Missing),
            (Some(h), _) => h,
            (None, Some(c)) => c,
        };
        self.tenant(name).cloned().ok_or(TenancyError::Unknown)
    }
}

#[cfg(test)]
mod tests;
