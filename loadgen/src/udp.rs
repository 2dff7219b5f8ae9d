//! Jaeger agent sender: one connected UDP socket per `--connections`, one datagram per send.
//!
//! UDP says nothing back, so a successful send only means the kernel took the datagram; a
//! receiver that falls behind drops from its socket buffer without telling anyone (the
//! gateway's metrics do, see `gateway`). What the kernel does report is counted: on a
//! connected socket, an ICMP port-unreachable for an earlier datagram surfaces as
//! `ECONNREFUSED` on a later send (nothing listens: `unavailable`, and the run loop rests), and
//! a full interface queue as `ENOBUFS` (`throttled`, and the sender rests a millisecond rather
//! than retrying in a hot loop).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::sender::{SendError, SendOutcome};
use crate::stats::ErrorKind;

/// Linux's ENOBUFS; std has no `io::ErrorKind` for it.
const ENOBUFS: i32 = 105;
const ENOBUFS_PAUSE: Duration = Duration::from_millis(1);

pub struct UdpSender {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl UdpSender {
    /// Resolves the target and connects a socket to it (which only fixes the peer; nothing is
    /// sent, so an absent receiver shows up as errors during the run, not here).
    pub async fn connect(endpoint: &str) -> Result<Self, String> {
        let host_port = endpoint.strip_prefix("udp://").unwrap_or(endpoint);
        let mut addrs = tokio::net::lookup_host(host_port)
            .await
            .map_err(|e| format!("{host_port}: {e}"))?;
        let peer = addrs
            .next()
            .ok_or_else(|| format!("{host_port}: no address"))?;
        let local: SocketAddr = if peer.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
        socket
            .connect(peer)
            .await
            .map_err(|e| format!("{peer}: {e}"))?;
        Ok(Self { socket, peer })
    }

    pub async fn send(&mut self, datagram: Bytes) -> Result<SendOutcome, SendError> {
        match self.socket.send(&datagram).await {
            Ok(n) if n == datagram.len() => Ok(SendOutcome { rejected: 0 }),
            Ok(n) => Err(SendError {
                kind: ErrorKind::Other,
                message: format!(
                    "UDP send to {} took {n} of {} bytes",
                    self.peer,
                    datagram.len()
                ),
            }),
            Err(e) => {
                let error = classify(&e, self.peer);
                if e.raw_os_error() == Some(ENOBUFS) {
                    tokio::time::sleep(ENOBUFS_PAUSE).await;
                }
                Err(error)
            }
        }
    }
}

fn classify(e: &std::io::Error, peer: SocketAddr) -> SendError {
    let kind = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorKind::Unavailable,
        _ if e.raw_os_error() == Some(ENOBUFS) => ErrorKind::Throttled,
        _ => ErrorKind::Other,
    };
    let hint = if kind == ErrorKind::Unavailable {
        " (ICMP port unreachable: nothing listens there)"
    } else {
        ""
    };
    SendError {
        kind,
        message: format!("UDP send to {peer}: {e}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_map_to_kinds() {
        let peer: SocketAddr = ([127, 0, 0, 1], 6831).into();
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused, peer).kind, ErrorKind::Unavailable);
        assert_eq!(
            classify(&std::io::Error::from_raw_os_error(ENOBUFS), peer).kind,
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(&std::io::Error::other("x"), peer).kind,
            ErrorKind::Other
        );
    }

    #[tokio::test]
    async fn a_closed_port_shows_up_as_unavailable() {
        let listener = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let mut sender = UdpSender::connect(&addr.to_string())
            .await
            .expect("connect");
        // The first send's ICMP answer makes a later send fail; loopback answers at once, but
        // give it a few tries rather than a timing assumption.
        let mut kinds = Vec::new();
        for _ in 0..50 {
            if let Err(e) = sender.send(Bytes::from_static(b"x")).await {
                kinds.push(e.kind);
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(kinds, [ErrorKind::Unavailable]);
    }
}
