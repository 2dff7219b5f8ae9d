//! The transport-neutral face of a sender: one connection, one request in flight.

use bytes::Bytes;

use crate::cli::Protocol;
use crate::grpc::GrpcSender;
use crate::http::HttpSender;
use crate::stats::ErrorKind;
use crate::udp::UdpSender;

/// A request the server accepted; `rejected` spans came back in a partial success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOutcome {
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Held once per connection, so boxing the larger variant costs nothing measurable.
pub enum Sender {
    Grpc(GrpcSender),
    Http(Box<HttpSender>),
    Udp(UdpSender),
}

impl Sender {
    pub async fn connect(protocol: Protocol, endpoint: &str, gzip: bool) -> Result<Self, String> {
        let uri = endpoint_uri(protocol, endpoint);
        let result = match protocol {
            Protocol::Grpc => GrpcSender::connect(&uri, gzip).await.map(Sender::Grpc),
            Protocol::Http => http(&uri, gzip, "application/x-protobuf", true).await,
            Protocol::JaegerHttp => http(&uri, gzip, "application/x-thrift", false).await,
            Protocol::ZipkinJson => http(&uri, gzip, "application/json", false).await,
            Protocol::JaegerUdpCompact => UdpSender::connect(&uri).await.map(Sender::Udp),
        };
        result.map_err(|e| format!("cannot connect to {uri}: {e}"))
    }

    pub async fn send(&mut self, body: Bytes) -> Result<SendOutcome, SendError> {
        match self {
            Sender::Grpc(s) => s.send(body).await,
            Sender::Http(s) => s.send(body).await,
            Sender::Udp(s) => s.send(body).await,
        }
    }
}

async fn http(
    uri: &str,
    gzip: bool,
    content_type: &'static str,
    otlp: bool,
) -> Result<Sender, String> {
    HttpSender::connect(uri, gzip, content_type, otlp)
        .await
        .map(|s| Sender::Http(Box::new(s)))
}

/// Accepts `host:port` as OTLP exporters do and adds what each protocol needs: a scheme, and
/// for the HTTP protocols their usual path when none is given. UDP takes `host:port` as is.
pub fn endpoint_uri(protocol: Protocol, endpoint: &str) -> String {
    let path = match protocol {
        Protocol::JaegerUdpCompact => {
            return endpoint
                .strip_prefix("udp://")
                .unwrap_or(endpoint)
                .to_owned()
        }
        Protocol::Grpc => None,
        Protocol::Http => Some("/v1/traces"),
        Protocol::JaegerHttp => Some("/api/traces"),
        Protocol::ZipkinJson => Some("/api/v2/spans"),
    };
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    match path {
        Some(path) if !after_scheme.contains('/') => format!("{with_scheme}{path}"),
        _ => with_scheme,
    }
}

/// An error with its sources: tonic's and hyper's top-level messages ("transport error")
/// hide the useful part ("Connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_host_port_or_url() {
        assert_eq!(
            endpoint_uri(Protocol::Grpc, "127.0.0.1:4317"),
            "http://127.0.0.1:4317"
        );
        assert_eq!(
            endpoint_uri(Protocol::Http, "127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            endpoint_uri(Protocol::Http, "http://gw:80/otlp/v1/traces"),
            "http://gw:80/otlp/v1/traces"
        );
        assert_eq!(
            endpoint_uri(Protocol::Grpc, "http://gw:4317"),
            "http://gw:4317"
        );
        assert_eq!(
            endpoint_uri(Protocol::JaegerHttp, "gw:14268"),
            "http://gw:14268/api/traces"
        );
        assert_eq!(
            endpoint_uri(Protocol::ZipkinJson, "gw:9411"),
            "http://gw:9411/api/v2/spans"
        );
        assert_eq!(
            endpoint_uri(Protocol::JaegerUdpCompact, "udp://gw:6831"),
            "gw:6831"
        );
    }
}
