//! Zipkin's v2 span model, the meeting point of the v2 JSON and protobuf decoders.
//!
//! It holds what the Collector's `zipkinmodel.SpanModel` holds after decoding, so
//! [`to_otlp`](crate::to_otlp) can apply the Collector's translation once for both encodings.
//! Values are already normalized the way zipkin-go normalizes them (trace ids as high/low,
//! IP addresses in Go's text form), so the translation never needs to know the encoding.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One Zipkin v2 span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub id: u64,
    pub parent_id: Option<u64>,
    pub name: String,
    pub kind: Kind,
    /// Epoch microseconds; `None` when the span carried none (JSON `0` or absent). The
    /// protobuf decoder always sets it, as zipkin-go does, so only JSON spans can be "absent".
    pub timestamp_us: Option<u64>,
    pub duration_us: u64,
    pub shared: bool,
    /// Zipkin's debug flag (or `X-B3-Flags: 1` for protobuf). The Collector maps it to
    /// nothing in OTLP, and neither does tracegate; it is kept for completeness.
    pub debug: bool,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<Annotation>,
    /// Unique keys, in the order they arrived.
    pub tags: Vec<(String, String)>,
}

/// The four kinds Zipkin knows; anything else (absent, unknown) is `Unspecified`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Unspecified,
    Client,
    Server,
    Producer,
    Consumer,
}

impl Kind {
    pub fn from_name(name: &str) -> Self {
        match name {
            "CLIENT" => Self::Client,
            "SERVER" => Self::Server,
            "PRODUCER" => Self::Producer,
            "CONSUMER" => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub service_name: String,
    /// Go's `net.IP.String()` of the `ipv4` field (which may hold any address).
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub port: u16,
}

impl Endpoint {
    /// zipkin-go drops endpoints that carry nothing.
    pub fn is_empty(&self) -> bool {
        self.service_name.is_empty() && self.ipv4.is_none() && self.ipv6.is_none() && self.port == 0
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    pub timestamp_us: u64,
    pub value: String,
}

/// Formats an address as Go's `net.IP.String()` does: IPv4 and IPv4-mapped IPv6 addresses in
/// dotted form, other IPv6 addresses in RFC 5952 form.
pub fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
    }
}

/// Go's `net.IP(bytes).String()` for raw address bytes, as zipkin-go builds endpoints from
/// protobuf and Thrift: `None` for no bytes; a `?`-prefixed hex dump for a length that is
/// neither 4 nor 16, as Go prints it.
pub fn go_ip_bytes_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        0 => None,
        4 => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            Some(go_ip_string(IpAddr::V6(Ipv6Addr::from(octets))))
        }
        _ => {
            let mut out = String::with_capacity(1 + 2 * bytes.len());
            out.push('?');
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            Some(out)
        }
    }
}

/// Keeps the last value of each key, as a Go map filled in order would. Small tag sets (the
/// usual case) are checked pairwise, which is cheaper than hashing; large ones use a set, so a
/// hostile body cannot make this quadratic. Only a set with duplicates is rebuilt.
pub fn dedupe_tags(tags: &mut Vec<(String, String)>) {
    if tags.len() < 2 {
        return;
    }
    let has_duplicates = if tags.len() <= 32 {
        (1..tags.len()).any(|i| tags[..i].iter().any(|(k, _)| *k == tags[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(tags.len());
        !tags.iter().all(|(k, _)| seen.insert(k.as_str()))
    };
    if !has_duplicates {
        return;
    }
    let mut seen = std::collections::HashSet::with_capacity(tags.len());
    let mut kept: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for (k, v) in std::mem::take(tags).into_iter().rev() {
        if seen.insert(k.clone()) {
            kept.push((k, v));
        }
    }
    kept.reverse();
    *tags = kept;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ip_text_follows_go() {
        assert_eq!(go_ip_string("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(go_ip_string("2001:db8::1".parse().unwrap()), "2001:db8::1");
        assert_eq!(go_ip_bytes_string(&[10, 0, 0, 1]).unwrap(), "10.0.0.1");
        assert_eq!(go_ip_bytes_string(&[]), None);
        assert_eq!(go_ip_bytes_string(&[1, 2, 0xab]).unwrap(), "?0102ab");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(go_ip_bytes_string(&v6).unwrap(), "::1");
    }

    #[test]
    fn duplicate_tags_keep_the_last_value() {
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut tags = vec![t("a", "1"), t("b", "2"), t("a", "3")];
        dedupe_tags(&mut tags);
        assert_eq!(tags, vec![t("b", "2"), t("a", "3")]);
        let mut many: Vec<_> = (0..100).map(|i| t(&format!("k{}", i % 50), &i.to_string())).collect();
        dedupe_tags(&mut many);
        assert_eq!(many.len(), 50);
        assert_eq!(many[0], t("k0", "50"));
    }
}
