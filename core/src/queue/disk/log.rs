//! The persistent queue's files: append-only segments of checksummed records, plus a small
//! `ack` file holding the sequence number below which every batch has been delivered.
//!
//! Record: `len u32 | crc32 u32 | seq u64 | payload` (little endian), where `payload` is an
//! OTLP `ExportTraceServiceRequest` and the checksum covers `seq` and `payload`. A crash can
//! leave a torn record at the end of the newest segment; reopening finds it by its length or
//! checksum and truncates the segment there, so everything before it is kept. A bad record in
//! an older segment (disk damage) skips the rest of that segment, logged, rather than refusing
//! to start: the Collector's persistent queue makes the same choice, availability over a
//! stall on a corrupt file.
//!
//! The `ack` file is rewritten through a temporary file and a rename, so it is either the old
//! or the new value, never a torn mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes before the payload.
pub const HEADER: usize = 16;
/// A record larger than this is treated as corruption, not allocated.
pub const MAX_RECORD: u32 = 256 << 20;

/// Where one record's payload lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef {
    pub seq: u64,
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.seg"))
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Header and payload of one record, ready for a single `write_all`.
pub fn encode_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads one payload and checks it against its checksum.
pub fn read_payload(file: &File, rec: &RecordRef) -> io::Result<Vec<u8>> {
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, rec.offset)?;
    let mut payload = vec![0u8; rec.len as usize];
    file.read_exact_at(&mut payload, rec.offset + HEADER as u64)?;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if crc != checksum(rec.seq, &payload) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("checksum mismatch in record {}", rec.seq),
        ));
    }
    Ok(payload)
}

/// What a segment held when it was reopened.
pub struct Scanned {
    pub records: Vec<RecordRef>,
    /// Set when the scan stopped early: the offset of the first bad byte and why.
    pub damaged_at: Option<(u64, String)>,
}

/// Reads a segment's records in order, stopping at the first torn or damaged one.
pub fn scan_segment(path: &Path, segment: u64) -> io::Result<Scanned> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let bad = |why: &str| Some((at as u64, why.to_string()));
        let Some(header) = bytes.get(at..at + HEADER) else {
            return Ok(Scanned {
                records,
                damaged_at: bad("torn record header"),
            });
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let seq = u64::from_le_bytes([
            header[8], header[9], header[10], header[11], header[12], header[13], header[14],
            header[15],
        ]);
        if len > MAX_RECORD {
            return Ok(Scanned {
                records,
                damaged_at: bad("record length out of range"),
            });
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len as usize) else {
            return Ok(Scanned {
                records,
                damaged_at: bad("torn record payload"),
            });
        };
        if crc != checksum(seq, payload) {
            return Ok(Scanned {
                records,
                damaged_at: bad("checksum mismatch"),
            });
        }
        records.push(RecordRef {
            seq,
            segment,
            offset: at as u64,
            len,
        });
        at += HEADER + len as usize;
    }
    Ok(Scanned {
        records,
        damaged_at: None,
    })
}

/// Segment numbers in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        if let Ok(n) = stem.parse::<u64>() {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The delivered-below sequence number; 0 when the queue is new.
pub fn read_ack(dir: &Path) -> io::Result<u64> {
    match fs::read(dir.join("ack")) {
        Ok(b) if b.len() == 12 => {
            let seq = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let crc = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            if crc == crc32fast::hash(&b[..8]) {
                Ok(seq)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ack file checksum mismatch",
                ))
            }
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "ack file has the wrong size",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

pub fn write_ack(dir: &Path, seq: u64, fsync: bool) -> io::Result<()> {
    let mut b = seq.to_le_bytes().to_vec();
    b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
    let tmp = dir.join("ack.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&b)?;
    if fsync {
        f.sync_data()?;
    }
    fs::rename(&tmp, dir.join("ack"))
}

/// Opens a new segment for appending.
pub fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(segment_path(dir, segment))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_torn_tail_is_found_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        let mut bytes = encode_record(7, b"first");
        bytes.extend(encode_record(8, b"second"));
        let whole = bytes.len();
        bytes.extend(&encode_record(9, b"third")[..10]);
        fs::write(&path, &bytes).unwrap();
        let scanned = scan_segment(&path, 1).unwrap();
        assert_eq!(
            scanned.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![7, 8]
        );
        assert_eq!(scanned.damaged_at.map(|(at, _)| at), Some(whole as u64));
        let file = File::open(&path).unwrap();
        assert_eq!(read_payload(&file, &scanned.records[1]).unwrap(), b"second");
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        let mut bytes = encode_record(1, b"payload");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let scanned = scan_segment(&path, 1).unwrap();
        assert!(scanned.records.is_empty());
        assert!(scanned
            .damaged_at
            .is_some_and(|(at, why)| at == 0 && why.contains("checksum")));
    }

    #[test]
    fn ack_round_trips_and_defaults_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_ack(dir.path()).unwrap(), 0);
        write_ack(dir.path(), 42, true).unwrap();
        assert_eq!(read_ack(dir.path()).unwrap(), 42);
        fs::write(dir.path().join("ack"), b"garbage").unwrap();
        assert!(read_ack(dir.path()).is_err());
    }
}
