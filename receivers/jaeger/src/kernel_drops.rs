//! The kernel's count of datagrams it dropped for one UDP socket because the socket's receive
//! buffer was full: the drops nothing in user space can see.
//!
//! Linux keeps one counter per socket (`sk_drops`) and shows it two ways: as `SO_RXQ_OVFL`
//! ancillary data on each `recvmsg`, and as the `drops` column of `/proc/net/udp` (and
//! `udp6`) on the socket's inode. This reads `/proc`: it needs no `unsafe` `recvmsg` and leaves
//! the hot read path as it is, and it sees drops even when no datagram follows them
//! (`SO_RXQ_OVFL` only tells on the next datagram that is received, so the tail of a flood
//! would go uncounted until more traffic came). The reader polls it about once a second and
//! once more when the port closes. Where there is no `/proc` (not Linux, or not mounted), the
//! count stays 0 and a debug line says why.

use std::os::fd::AsRawFd;
use std::time::Duration;

/// How often the reader asks the kernel.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// One socket's drop counter as last read.
#[derive(Debug)]
pub struct KernelDrops {
    inode: u64,
    last: u32,
}

impl KernelDrops {
    /// The counter of `socket`, or `None` where the kernel does not show it.
    pub fn for_socket(socket: &impl AsRawFd) -> Option<Self> {
        let fd = socket.as_raw_fd();
        let Some(inode) = socket_inode(fd) else {
            tracing::debug!("no /proc/self/fd: kernel UDP drops cannot be counted on this system");
            return None;
        };
        // A fresh socket has dropped nothing; start at 0 so drops before the first poll count.
        Some(Self { inode, last: 0 })
    }

    /// Datagrams the kernel dropped since the last call.
    pub fn poll(&mut self) -> u64 {
        let Some(now) = read_drops(self.inode) else { return 0 };
        // The kernel's counter is 32 bits wide and wraps.
        let new = now.wrapping_sub(self.last);
        self.last = now;
        u64::from(new)
    }
}

/// `/proc/self/fd/N` links to `socket:[INODE]`.
fn socket_inode(fd: std::os::fd::RawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

fn read_drops(inode: u64) -> Option<u32> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .into_iter()
        .find_map(|table| parse_drops(&std::fs::read_to_string(table).ok()?, inode))
}

/// The `drops` column of the row whose `inode` column is `inode`. The columns are
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
/// ref pointer drops` (the header's names do not split like the values, so go by position).
pub(crate) fn parse_drops(table: &str, inode: u64) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.get(9)?.parse::<u64>() {
            Ok(i) if i == inode => fields.get(12)?.parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n \
        4632: 0100007F:B151 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 69916 2 00000000f5b1c39c 0         \n\
        11356: 0100007F:CB95 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 69917 2 00000000a1780ea5 4242      \n";

    #[test]
    fn the_drops_column_of_the_sockets_row() {
        assert_eq!(parse_drops(TABLE, 69917), Some(4242));
        assert_eq!(parse_drops(TABLE, 69916), Some(0));
        assert_eq!(parse_drops(TABLE, 1), None);
        assert_eq!(parse_drops("", 1), None);
        assert_eq!(parse_drops("header\n1: short row 69917\n", 69917), None);
    }

    #[test]
    fn a_bound_socket_is_found_with_no_drops() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let Some(mut drops) = KernelDrops::for_socket(&socket) else {
            return; // no /proc here
        };
        assert!(read_drops(drops.inode).is_some(), "the socket's row in /proc/net/udp");
        assert_eq!(drops.poll(), 0);
    }
}
