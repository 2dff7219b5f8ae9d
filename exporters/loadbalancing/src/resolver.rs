//! Where the backends come from: a fixed list (`static`) or a DNS name looked up again and again
//! (`dns`), as the Collector's resolvers.
//!
//! A resolver only answers "which backends now"; what changes when the answer changes is the
//! backend set's business ([`crate::backends`]). Names come out sorted and without duplicates,
//! so an unchanged answer compares equal and costs nothing downstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{DnsResolverConfig, ResolverConfig};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot resolve \"{host}\": {source}")]
    Lookup { host: String, source: std::io::Error },
    #[error("resolving \"{host}\" took longer than {timeout:?}")]
    TimedOut { host: String, timeout: Duration },
    #[error("\"{0}\" resolved to no address")]
    Empty(String),
    #[error("no resolver configured")]
    None,
}

#[derive(Clone, Debug)]
pub enum Resolver {
    Static(Vec<Arc<str>>),
    Dns(DnsResolverConfig),
}

impl Resolver {
    pub fn from_config(config: &ResolverConfig) -> Result<Self, ResolveError> {
        match (&config.static_list, &config.dns) {
            (_, Some(dns)) => Ok(Resolver::Dns(dns.clone())),
            (Some(list), None) => {
                let mut names: Vec<Arc<str>> = list.hostnames.iter().map(|h| Arc::from(h.trim())).collect();
                names.sort();
                names.dedup();
                Ok(Resolver::Static(names))
            }
            (None, None) => Err(ResolveError::None),
        }
    }

    /// `static` or `dns`, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Resolver::Static(_) => "static",
            Resolver::Dns(_) => "dns",
        }
    }

    /// How often to ask again; `None` for a list that never changes.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Resolver::Static(_) => None,
            Resolver::Dns(dns) => Some(dns.interval.get()),
        }
    }

    /// The backends now: their ring names, sorted. A DNS name gives each address, with the
    /// configured port (`10.0.0.7:4317`, `[fd00::7]:4317`) or, without one, the bare address
    /// (dialled on 4317), exactly as the Collector names them so both place them alike.
    pub async fn resolve(&self) -> Result<Vec<Arc<str>>, ResolveError> {
        let dns = match self {
            Resolver::Static(names) => return Ok(names.clone()),
            Resolver::Dns(dns) => dns,
        };
        let host = dns.hostname.trim();
        let timeout = dns.timeout.get();
        let lookup = tokio::net::lookup_host((host, dns.port.unwrap_or(0)));
        let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, lookup)
            .await
            .map_err(|_| ResolveError::TimedOut { host: host.to_string(), timeout })?
            .map_err(|source| ResolveError::Lookup { host: host.to_string(), source })?
            .collect();
        let mut names: Vec<Arc<str>> = addrs
            .iter()
            .map(|a| {
                let ip = match a {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
                };
                match dns.port {
                    Some(port) => Arc::from(format!("{ip}:{port}")),
                    None => Arc::from(ip),
                }
            })
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(ResolveError::Empty(host.to_string()));
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::StaticResolverConfig;

    #[tokio::test]
    async fn a_static_list_resolves_to_itself_sorted() {
        let config = ResolverConfig {
            static_list: Some(StaticResolverConfig { hostnames: vec!["b:4317".into(), " a:4317".into(), "b:4317".into()] }),
            dns: None,
        };
        let resolver = Resolver::from_config(&config).unwrap();
        assert_eq!(resolver.interval(), None);
        let names = resolver.resolve().await.unwrap();
        assert_eq!(names.iter().map(|n| &**n).collect::<Vec<_>>(), ["a:4317", "b:4317"]);
    }

    #[tokio::test]
    async fn localhost_resolves_to_the_loopback_address_with_the_port() {
        let dns = DnsResolverConfig { hostname: "localhost".into(), port: Some(4317), ..Default::default() };
        let names = Resolver::Dns(dns.clone()).resolve().await.unwrap();
        assert!(names.iter().any(|n| &**n == "127.0.0.1:4317"), "{names:?}");
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        let bare = Resolver::Dns(DnsResolverConfig { port: None, ..dns }).resolve().await.unwrap();
        assert!(bare.iter().any(|n| &**n == "127.0.0.1"), "{bare:?}");
    }
}
