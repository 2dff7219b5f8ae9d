//! Where pending traces go when the memory budget is reached: append-only segment files in a
//! directory, read back when their trace is decided.
//!
//! The spill is scratch space, not persistence: nothing in it outlives the process (the
//! pending traces' index is in memory, so a restart could not use it anyway). Each segment is
//! therefore an *anonymous* file (`tempfile::tempfile_in`: created and unlinked at once, or
//! `O_TMPFILE`), so a crash or a kill leaves nothing behind to clean up, two instances (two
//! pipelines, or an old and a new graph during a reload) can share a directory, and the space
//! is the kernel's to reclaim when the file closes.
//!
//! Records are written in arrival order of their traces, and traces are decided in arrival
//! order, so segments empty from the oldest: a segment is dropped (and its space freed) when
//! its last live record is read back or given up; the segment being written is truncated and
//! reused instead. Each record is `u32 length | u32 CRC-32 | payload` (little-endian), so a
//! record that comes back different (a disk error) is detected, counted and dropped, never
//! decoded into nonsense.
//!
//! The files are written with plain blocking writes under the processor's lock: they go to the
//! page cache, and writing inline keeps the memory bound a hard one (a trace leaves memory when
//! it is on disk, not when some later task gets to it).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Where one record is: segment, offset and length (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpillRef {
    pub segment: u32,
    pub offset: u32,
    pub len: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("spill directory {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
    #[error("spilled record in segment {0} is corrupt (checksum mismatch)")]
    Corrupt(u32),
    #[error("spilled record refers to segment {0}, which is gone")]
    Missing(u32),
    #[error("spilled chunk is malformed")]
    Malformed,
}

const HEADER: usize = 8;
/// A segment is not grown past this (a write that does not fit starts the next); offsets stay
/// far inside `u32`.
pub const SEGMENT_LIMIT: u64 = 64 << 20;

struct Segment {
    file: File,
    len: u64,
    live: u32,
}

pub struct Spill {
    dir: PathBuf,
    segments: HashMap<u32, Segment>,
    current: Option<u32>,
    next_id: u32,
    segment_limit: u64,
}

impl Spill {
    /// Uses `dir` (created if missing) and checks that a file can be made there now, so a
    /// directory that cannot work is a start error rather than the first drop.
    pub fn open(dir: &Path) -> Result<Self, SpillError> {
        let err = |source| SpillError::Io { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        // A probe: the first segment is made at the first spill, which may never come.
        drop(tempfile::tempfile_in(dir).map_err(err)?);
        Ok(Self { dir: dir.to_path_buf(), segments: HashMap::new(), current: None, next_id: 0, segment_limit: SEGMENT_LIMIT })
    }

    #[cfg(test)]
    pub fn with_segment_limit(mut self, limit: u64) -> Self {
        self.segment_limit = limit;
        self
    }

    pub fn directory(&self) -> &Path {
        &self.dir
    }

    fn io(&self, source: io::Error) -> SpillError {
        SpillError::Io { dir: self.dir.clone(), source }
    }

    fn rotate(&mut self) -> Result<u32, SpillError> {
        if let Some(old) = self.current.take() {
            if self.segments.get(&old).is_some_and(|s| s.live == 0) {
                self.segments.remove(&old);
            }
        }
        let file = tempfile::tempfile_in(&self.dir).map_err(|e| self.io(e))?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.segments.insert(id, Segment { file, len: 0, live: 0 });
        self.current = Some(id);
        Ok(id)
    }

    /// Appends `payloads` as records, in one write (see [`Spill::write_with`]).
    pub fn write(&mut self, payloads: &[Vec<u8>]) -> Result<Vec<SpillRef>, SpillError> {
        let size = payloads.iter().map(|p| HEADER + p.len()).sum();
        self.write_with(payloads.len(), size, |i, buf| buf.extend_from_slice(payloads.get(i).map_or(&[][..], Vec::as_slice)))
    }

    /// Appends `count` records, each payload written by `fill(i, buf)` at the end of one
    /// buffer (so the records are encoded once, in place, not built apart and copied), in one
    /// write. All or nothing: on an error (a full or failing disk) no record was written and
    /// the segment is cut back to where it was.
    pub fn write_with(&mut self, count: usize, size_hint: usize, mut fill: impl FnMut(usize, &mut Vec<u8>)) -> Result<Vec<SpillRef>, SpillError> {
        let mut buf = Vec::with_capacity(size_hint + count * HEADER);
        let mut records = Vec::with_capacity(count);
        for i in 0..count {
            let at = buf.len();
            buf.extend_from_slice(&[0; HEADER]);
            fill(i, &mut buf);
            let payload = buf.get(at + HEADER..).unwrap_or_default();
            let (len, crc) = (payload.len() as u32, crc32fast::hash(payload));
            buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
            buf[at + 4..at + HEADER].copy_from_slice(&crc.to_le_bytes());
            records.push((at, HEADER + len as usize));
        }
        let total = buf.len() as u64;
        let mut id = match self.current {
            Some(id) => id,
            None => self.rotate()?,
        };
        let full = self.segments.get(&id).is_none_or(|s| s.len > 0 && s.len + total > self.segment_limit);
        if full {
            id = self.rotate()?;
        }
        let Some(segment) = self.segments.get_mut(&id) else { return Err(SpillError::Missing(id)) };
        let start = segment.len;
        if start + total > u64::from(u32::MAX) {
            return Err(SpillError::Io { dir: self.dir.clone(), source: io::Error::other("spill batch too large for one segment") });
        }
        if let Err(e) = write_at(&segment.file, &buf, start) {
            // Best effort: what was partly written is unreachable anyway, but it takes room.
            let _ = segment.file.set_len(start);
            return Err(SpillError::Io { dir: self.dir.clone(), source: e });
        }
        segment.len += total;
        segment.live += records.len() as u32;
        Ok(records.into_iter().map(|(at, len)| SpillRef { segment: id, offset: (start + at as u64) as u32, len: len as u32 }).collect())
    }

    /// A record's payload, checked.
    pub fn read(&self, r: SpillRef) -> Result<Vec<u8>, SpillError> {
        let segment = self.segments.get(&r.segment).ok_or(SpillError::Missing(r.segment))?;
        let mut buf = vec![0u8; r.len as usize];
        read_at(&segment.file, &mut buf, u64::from(r.offset)).map_err(|e| self.io(e))?;
        let (header, payload) = buf.split_at(HEADER.min(buf.len()));
        let field = |i: usize| header.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        let (Some(len), Some(crc)) = (field(0), field(4)) else { return Err(SpillError::Corrupt(r.segment)) };
        if len as usize != payload.len() || crc32fast::hash(payload) != crc {
            return Err(SpillError::Corrupt(r.segment));
        }
        buf.drain(..HEADER);
        Ok(buf)
    }

    /// Gives a record up (read back, or its trace dropped). A segment with no live record
    /// left is closed, which frees its space; the one being written is emptied and reused.
    pub fn free(&mut self, r: SpillRef) {
        let Some(segment) = self.segments.get_mut(&r.segment) else { return };
        segment.live = segment.live.saturating_sub(1);
        if segment.live > 0 {
            return;
        }
        if self.current == Some(r.segment) {
            if segment.file.set_len(0).is_ok() {
                segment.len = 0;
            }
        } else {
            self.segments.remove(&r.segment);
        }
    }

    /// Bytes the segments take on disk now.
    pub fn bytes_on_disk(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum()
    }

    /// Segment files open.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, at)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(at))?;
    file.write_all(buf)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn records_come_back_as_written_and_segments_go_when_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spill::open(dir.path()).unwrap().with_segment_limit(64);
        let refs = s.write(&[b"first".to_vec(), b"second".to_vec()]).unwrap();
        let more = s.write(&[vec![7u8; 60]]).unwrap();
        assert_ne!(more[0].segment, refs[0].segment, "over the limit: a new segment");
        assert_eq!(s.read(refs[1]).unwrap(), b"second");
        assert_eq!(s.read(more[0]).unwrap(), vec![7u8; 60]);
        assert_eq!(s.segments(), 2);
        s.free(refs[0]);
        s.free(refs[1]);
        assert_eq!(s.segments(), 1, "the old segment is closed once empty");
        assert!(matches!(s.read(refs[0]), Err(SpillError::Missing(_))));
        s.free(more[0]);
        assert_eq!(s.bytes_on_disk(), 0, "the current segment is emptied for reuse");
        let again = s.write(&[b"x".to_vec()]).unwrap();
        assert_eq!((again[0].segment, again[0].offset), (more[0].segment, 0));
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "segments are anonymous files");
    }

    #[test]
    fn an_unusable_directory_is_an_error_at_open_and_at_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert!(Spill::open(&file).is_err(), "a file is not a directory");
        let gone = dir.path().join("gone");
        let mut s = Spill::open(&gone).unwrap().with_segment_limit(1);
        s.write(&[b"a".to_vec()]).unwrap();
        std::fs::remove_dir(&gone).unwrap();
        let err = s.write(&[b"b".to_vec()]).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
