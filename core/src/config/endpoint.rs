//! `host:port` listen endpoints as the Collector writes them (`0.0.0.0:4317`, `:4317`,
//! `localhost:4317`, `[::1]:4317`), checked when the config is read rather than at bind time,
//! so `validate` catches them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("invalid endpoint \"{s}\": {why} (expected host:port, e.g. \"0.0.0.0:4317\")")
        };
        if s.contains("://") {
            return Err(bad("a listen endpoint has no scheme"));
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad("port must be a number from 0 to 65535"))?;
        let host = if let Some(h) = host.strip_prefix('[') {
            h.strip_suffix(']')
                .ok_or_else(|| bad("unclosed '['"))?
                .to_string()
        } else {
            if host.contains(':') {
                return Err(bad("an IPv6 host must be in brackets"));
            }
            host.to_string()
        };
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad("host contains invalid characters"));
        }
        Ok(Self { host, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address to bind: an empty host means every interface, as in Go.
    pub fn bind_addr(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            h if h.contains(':') => format!("[{h}]:{}", self.port),
            h => format!("{h}:{}", self.port),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Endpoint::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_collector_forms() {
        assert_eq!(
            Endpoint::parse("0.0.0.0:4317").unwrap().bind_addr(),
            "0.0.0.0:4317"
        );
        assert_eq!(
            Endpoint::parse(":4317").unwrap().bind_addr(),
            "0.0.0.0:4317"
        );
        assert_eq!(
            Endpoint::parse("[::1]:4317").unwrap().bind_addr(),
            "[::1]:4317"
        );
        assert_eq!(Endpoint::parse("localhost:0").unwrap().port(), 0);
    }

    #[test]
    fn rejects_with_reason() {
        for bad in ["4317", "host:99999", "http://x:1", "::1:4317", "a b:1"] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("invalid endpoint \"{bad}\"")), "{e}");
        }
    }
}
