//! The persistent queue's files: append-only segments of checksummed records, plus a small
//! `ack` file holding the sequence number below which every batch has been delivered.
//!
//! Record: `len u32 | crc32 u32 | seq u64 | payload` (little endian), where `payload` is an
//! OTLP `ExportTraceServiceRequest` and the checksum covers `seq` and `payload`. Sequence
//! numbers are consecutive, so a gap between two readable records counts the batches lost
//! between them.
//!
//! A damaged stretch in the middle of a segment (disk damage, a stray write) is skipped: the
//! scan resynchronises on the next offset where a whole record with a matching checksum
//! starts and is followed by the next sequence number's header (or by the end of the file),
//! so one bad record does not cost the records after it. Random bytes pass that test with
//! odds of about 2^-64, and the search is linear: the checksum is computed only for offsets
//! that already pass the cheap header checks. Damage that runs to the end of the file is a
//! torn tail: in the newest segment the mark of an interrupted write (a crash), which
//! reopening truncates; in an older segment what a failed append leaves (that append's batch
//! was refused and written again in a new segment, so nothing is lost) or damage. Either way
//! the queue starts, as the Collector's persistent queue does: availability over a stall on a
//! corrupt file, with the loss logged.
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
/// Sequence and segment numbers above this are damage, not data: counted one per batch from
/// 0, they cannot get there, and the bound keeps every `+ 1` on them from overflowing (a
/// record numbered `u64::MAX` made reopening panic; found by the fuzz target `disk_queue`).
pub const MAX_SEQ: u64 = u64::MAX / 2;

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
    /// Damaged stretches in the middle, each followed by a readable record: skipped.
    pub skipped: Vec<Damage>,
    /// Damage running to the end of the file: the offset of its first byte and why.
    pub damaged_tail: Option<(u64, String)>,
}

/// A damaged stretch of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub len: u64,
    pub why: String,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The record starting at `at`: its sequence number and payload length, or why it is bad.
fn record_at(bytes: &[u8], at: usize) -> Result<(u64, u32), &'static str> {
    let (Some(len), Some(crc), Some(seq)) = (u32_at(bytes, at), u32_at(bytes, at + 4), u64_at(bytes, at + 8)) else {
        return Err("torn record header");
    };
    if len > MAX_RECORD {
        return Err("record length out of range");
    }
    if seq > MAX_SEQ {
        return Err("sequence number out of range");
    }
    let Some(payload) = bytes.get(at + HEADER..at + HEADER + len as usize) else {
        return Err("torn record payload");
    };
    if crc != checksum(seq, payload) {
        return Err("checksum mismatch");
    }
    Ok((seq, len))
}

/// The first offset from `from` where a readable record starts whose sequence number is
/// above `after`, and which is followed by the next sequence number's header, the end of the
/// file, or too few bytes for a header (a torn tail). The cheap tests come first; the
/// checksum is computed only for the rare offset that passes them.
fn resync(bytes: &[u8], from: usize, after: Option<u64>) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER - 1)).find(|&p| {
        let (Some(len), Some(seq)) = (u32_at(bytes, p), u64_at(bytes, p + 8)) else {
            return false;
        };
        if after.is_some_and(|a| seq <= a) || len > MAX_RECORD {
            return false;
        }
        let end = p + HEADER + len as usize;
        if end > bytes.len() {
            return false;
        }
        let followed = end + HEADER > bytes.len() || u64_at(bytes, end + 8) == Some(seq.wrapping_add(1));
        followed && record_at(bytes, p).is_ok()
    })
}

/// Reads a segment's records in order, skipping damaged stretches (see the module docs).
pub fn scan_segment(path: &Path, segment: u64) -> io::Result<Scanned> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut scanned = Scanned {
        records: Vec::new(),
        skipped: Vec::new(),
        damaged_tail: None,
    };
    let mut at = 0usize;
    while at < bytes.len() {
        match record_at(&bytes, at) {
            Ok((seq, len)) => {
                scanned.records.push(RecordRef {
                    seq,
                    segment,
                    offset: at as u64,
                    len,
                });
                at += HEADER + len as usize;
            }
            Err(why) => {
                let after = scanned.records.last().map(|r| r.seq);
                match resync(&bytes, at + 1, after) {
                    Some(next) => {
                        scanned.skipped.push(Damage {
                            offset: at as u64,
                            len: (next - at) as u64,
                            why: why.to_string(),
                        });
                        at = next;
                    }
                    None => {
                        scanned.damaged_tail = Some((at as u64, why.to_string()));
                        break;
                    }
                }
            }
        }
    }
    Ok(scanned)
}

/// Segment numbers in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        // A number past MAX_SEQ is no file this queue wrote.
        if let Ok(n @ 0..=MAX_SEQ) = stem.parse::<u64>() {
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
            if crc != crc32fast::hash(&b[..8]) {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ack file checksum mismatch",
                ))
            } else if seq > MAX_SEQ {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ack file holds a sequence number out of range",
                ))
            } else {
                Ok(seq)
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
        assert_eq!(scanned.damaged_tail.map(|(at, _)| at), Some(whole as u64));
        assert!(scanned.skipped.is_empty());
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
            .damaged_tail
            .is_some_and(|(at, why)| at == 0 && why.contains("checksum")));
    }

    fn seqs(scanned: &Scanned) -> Vec<u64> {
        scanned.records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn damage_in_the_middle_is_skipped_and_the_records_after_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        let records: Vec<Vec<u8>> = (10..15)
            .map(|seq| encode_record(seq, format!("payload of batch {seq}").as_bytes()))
            .collect();
        let damaged_at = records[0].len() + records[1].len();
        let mut bytes = records.concat();
        // Record 12's checksum, then (in a second file) its length field.
        for (field, name) in [(4, "checksum mismatch"), (3, "record length out of range")] {
            let mut bytes = bytes.clone();
            bytes[damaged_at + field] ^= 0x40;
            fs::write(&path, &bytes).unwrap();
            let scanned = scan_segment(&path, 1).unwrap();
            assert_eq!(seqs(&scanned), [10, 11, 13, 14], "{name}");
            assert_eq!(
                scanned.skipped,
                [Damage {
                    offset: damaged_at as u64,
                    len: records[2].len() as u64,
                    why: name.into()
                }]
            );
            assert_eq!(scanned.damaged_tail, None);
            let file = File::open(&path).unwrap();
            assert_eq!(read_payload(&file, &scanned.records[2]).unwrap(), b"payload of batch 13");
        }
        // Garbage over two records and into the third's header, with a torn tail after more
        // good records: the good ones are found, the tail is reported.
        bytes[damaged_at..damaged_at + records[2].len() + records[3].len() + 5].fill(0xa5);
        bytes.extend(&encode_record(15, b"torn")[..HEADER + 1]);
        fs::write(&path, &bytes).unwrap();
        let scanned = scan_segment(&path, 1).unwrap();
        assert_eq!(seqs(&scanned), [10, 11]);
        assert!(scanned.skipped.is_empty(), "record 14 lost its header: nothing to resync on");
        let mut bytes = records.concat();
        bytes[damaged_at..damaged_at + records[2].len()].fill(0xa5);
        bytes.extend(&encode_record(15, b"torn")[..HEADER + 1]);
        fs::write(&path, &bytes).unwrap();
        let scanned = scan_segment(&path, 1).unwrap();
        assert_eq!(seqs(&scanned), [10, 11, 13, 14]);
        assert_eq!(scanned.skipped.len(), 1);
        let tail = records.concat().len() as u64;
        assert_eq!(scanned.damaged_tail.map(|(at, _)| at), Some(tail));
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
