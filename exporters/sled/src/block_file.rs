//! Where a partition's compressed blocks live, and since format 7 its other large values:
//! one append-only file per partition beside sled's files (blocks and the trace index's
//! lists, chunks and filters in `blocks/`, search summaries in `summaries/`, where a search
//! reads them in batches: [`crate::summary_scan`]), with sled keeping only where each value
//! is.
//!
//! # Why not in sled
//!
//! sled 0.34 sizes its page cache by what a page costs in its *log*, and a page written as a
//! blob (a log entry over a quarter of a segment: every block, and every leaf holding one)
//! costs the log ~20 bytes, a pointer to the blob file. So the leaves of blocks counted ~20 B
//! each against `cache_capacity`, were never evicted, and every block the process wrote stayed
//! resident: ~110 MiB of the all-in-one's 180 MiB idle after a 3M-span fill
//! (docs/memory.md). Counting their real size would not do either: the cache is split into
//! 256 shards, so a small cache would evict a leaf of up to 16 blocks (~300 KB each) at the
//! next access to its shard, and sled reads a whole leaf back to insert one block into it. A
//! block is written once and read whole, which a plain file does well: a positioned read
//! from the kernel's page cache, which the kernel sizes and gives back under pressure.
//!
//! Smaller values stayed resident too. A shard weighs the pages it was asked for only after
//! 64 accesses to it, and a leaf holds up to 16 values whatever their size, so the leaves of
//! ~7 KB summaries and ~4.5 KB run chunks, written once and never read again by the writer,
//! sat unweighed: after a 28.5M-span overload sled held ~60 MB of them against a 4 MiB
//! cache, the largest part of the idle gateway's heap (a jemalloc heap profile; docs/memory.md).
//! With every such value in a file, sled's leaves hold 13-byte pointers.
//!
//! # Layout and the order of writes
//!
//! `blocks/<start>-<end>` per partition (its bounds as in its trees' names). In the
//! partition's blocks tree a block's sequence number maps to a [`pointer`] (offset and
//! length), a value no earlier format wrote there: those values begin with the block
//! container's version byte, and are still read as they are (a format 3 store is upgraded in
//! place). Appends happen under the store's block insert lock, one writer at a time, and a
//! block is appended before its pointer is inserted, so a reader never follows a pointer past
//! what was written. The write-ahead log is cut back only after a `syncfs`, which makes these
//! files durable together with sled's ([`crate::ingest`]). A crash between an append and
//! sled's flush leaves bytes no pointer names (the log's replay writes the block again): they
//! cost disk until retention deletes the file. A failed append is cut back off the file.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The first byte of a value that points into the block file (a stored block begins with its
/// container's version, 2).
const POINTER: u8 = b'f';

/// Marker, offset (u64 LE), length (u32 LE).
const POINTER_LEN: usize = 13;

/// Largest block a pointer may name: a guard against a damaged pointer asking for gigabytes.
const MAX_BLOCK_BYTES: u32 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BlockFileError {
    #[error("block file \"{path}\": {source}")]
    Io { path: String, source: io::Error },
    #[error("block file \"{path}\": a damaged pointer ({len} bytes at {offset})")]
    BadPointer { path: String, offset: u64, len: u64 },
}

/// The blocks of one partition, in the order they were written.
pub struct BlockFile {
    path: PathBuf,
    /// Opened at first use (created by the first append); shared by readers, which read at
    /// offsets.
    file: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    file: Option<Arc<File>>,
    /// Set by [`BlockFile::remove`]: a reader still holding the partition must not create
    /// the file again.
    removed: bool,
}

/// The block file of the partition `[start, end)` in the store at `dir`.
pub fn path_of(dir: &Path, start: u64, end: u64) -> PathBuf {
    dir.join("blocks").join(format!("{start:012}-{end:012}"))
}

/// The summary file of the partition `[start, end)` in the store at `dir` (format 7).
pub fn summaries_path_of(dir: &Path, start: u64, end: u64) -> PathBuf {
    dir.join("summaries").join(format!("{start:012}-{end:012}"))
}

impl BlockFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: Mutex::default() }
    }

    fn err(&self, source: io::Error) -> BlockFileError {
        BlockFileError::Io { path: self.path.display().to_string(), source }
    }

    /// The open file; `create` for a writer (a reader of a missing file gets `NotFound`).
    fn handle(&self, create: bool) -> Result<Arc<File>, BlockFileError> {
        let mut slot = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = slot.file.as_ref() {
            return Ok(file.clone());
        }
        if slot.removed {
            return Err(self.err(io::Error::new(io::ErrorKind::NotFound, "the partition was dropped")));
        }
        if create {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
            }
        }
        let file = OpenOptions::new().read(true).append(true).create(create).open(&self.path).map_err(|e| self.err(e))?;
        Ok(slot.file.insert(Arc::new(file)).clone())
    }

    /// Appends `block` and returns the value that points to it. The caller is the only
    /// writer of this file at this moment (the store's block insert lock).
    pub fn append(&self, block: &[u8]) -> Result<Vec<u8>, BlockFileError> {
        let mut pointers = self.append_many(block, &[block.len()])?;
        Ok(pointers.pop().unwrap_or_default())
    }

    /// Appends `bytes`, which hold values of the lengths `lens` one after another, in one
    /// write, and returns a pointer to each value (a run's chunks: one write, not hundreds).
    /// The same single writer as [`Self::append`].
    pub fn append_many(&self, bytes: &[u8], lens: &[usize]) -> Result<Vec<Vec<u8>>, BlockFileError> {
        let too_big = |n: usize| self.err(io::Error::new(io::ErrorKind::InvalidInput, format!("a value of {n} bytes")));
        if lens.iter().sum::<usize>() != bytes.len() {
            return Err(self.err(io::Error::new(io::ErrorKind::InvalidInput, "value lengths do not add up to the bytes")));
        }
        let lens: Vec<u32> = lens
            .iter()
            .map(|&n| u32::try_from(n).ok().filter(|&n| n <= MAX_BLOCK_BYTES).ok_or_else(|| too_big(n)))
            .collect::<Result<_, _>>()?;
        let file = self.handle(true)?;
        let mut offset = file.metadata().map_err(|e| self.err(e))?.len();
        if let Err(e) = (&*file).write_all(bytes) {
            // Whatever part was written is named by no pointer; give the disk back (a full
            // disk is the likely cause).
            let _ = file.set_len(offset);
            return Err(self.err(e));
        }
        let mut pointers = Vec::with_capacity(lens.len());
        for len in lens {
            let mut value = Vec::with_capacity(POINTER_LEN);
            value.push(POINTER);
            value.extend_from_slice(&offset.to_le_bytes());
            value.extend_from_slice(&len.to_le_bytes());
            pointers.push(value);
            offset += u64::from(len);
        }
        Ok(pointers)
    }

    /// The bytes a blocks-tree value stands for: read from the file when it is a pointer, the
    /// value itself when it was stored in sled (blocks of formats 2 and 3; summaries,
    /// trace-id lists, run chunks and filters of formats 2 to 6). No value stored inline is
    /// ever a pointer's 13 bytes beginning with its marker: a block begins with its version
    /// (2), a summary is longer, a trace-id list is a multiple of 16 bytes, a run chunk holds
    /// at least one 16-byte id, and a filter begins with its kind (0, 0xF6, or a Bloom
    /// filter's 5 probes).
    pub fn resolve<'a>(&self, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, BlockFileError> {
        let Some((offset, len)) = pointer(stored) else { return Ok(Cow::Borrowed(stored)) };
        let mut buf = Vec::new();
        self.read_into(offset, len as usize, &mut buf)?;
        Ok(Cow::Owned(buf))
    }

    /// The file's size in bytes (an error if it does not exist).
    pub fn size(&self) -> Result<u64, BlockFileError> {
        let file = self.handle(false)?;
        file.metadata().map(|m| m.len()).map_err(|e| self.err(e))
    }

    /// Reads the `len` bytes at `offset` into `buf[..len]`, growing `buf` if it is shorter
    /// (a buffer reused across reads keeps its size: [`crate::summary_scan`]). A range past
    /// the file or over [`MAX_BLOCK_BYTES`] (a damaged pointer) is refused before anything is
    /// allocated.
    pub fn read_into(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<(), BlockFileError> {
        let bad = || BlockFileError::BadPointer { path: self.path.display().to_string(), offset, len: len as u64 };
        if u32::try_from(len).ok().is_none_or(|n| n > MAX_BLOCK_BYTES) {
            return Err(bad());
        }
        let file = self.handle(false)?;
        let size = file.metadata().map_err(|e| self.err(e))?.len();
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(bad());
        }
        if buf.len() < len {
            buf.resize(len, 0);
        }
        file.read_exact_at(&mut buf[..len], offset).map_err(|e| self.err(e))
    }

    /// Deletes the file (its partition was dropped). Readers that still hold it open finish
    /// their reads.
    pub fn remove(&self) -> Result<(), BlockFileError> {
        let mut slot = self.file.lock().unwrap_or_else(|p| p.into_inner());
        slot.removed = true;
        slot.file = None;
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.err(e)),
            _ => Ok(()),
        }
    }
}

/// `(offset, length)` when `value` is a pointer into a block file.
pub fn pointer(value: &[u8]) -> Option<(u64, u32)> {
    if value.len() != POINTER_LEN || value[0] != POINTER {
        return None;
    }
    let offset = u64::from_le_bytes(value[1..9].try_into().ok()?);
    let len = u32::from_le_bytes(value[9..13].try_into().ok()?);
    Some((offset, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_from_their_pointers_and_inline_values_as_they_are() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = BlockFile::new(path_of(dir.path(), 0, 3600));
        let a = file.append(&[2, 1, 2, 3]).expect("append a");
        let b = file.append(&vec![2; 100_000]).expect("append b");
        assert_eq!(&*file.resolve(&b).expect("b"), &vec![2; 100_000][..]);
        assert_eq!(&*file.resolve(&a).expect("a"), &[2, 1, 2, 3]);
        // A block stored in sled by format 3 starts with its version byte, never the marker.
        let inline = [2u8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(&*file.resolve(&inline).expect("inline"), &inline);
        // A reopened store reads what an earlier process appended.
        let again = BlockFile::new(path_of(dir.path(), 0, 3600));
        assert_eq!(&*again.resolve(&a).expect("a again"), &[2, 1, 2, 3]);
    }

    #[test]
    fn a_pointer_past_the_file_is_an_error_not_a_huge_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = BlockFile::new(path_of(dir.path(), 0, 3600));
        let mut p = file.append(&[2, 0, 0, 0, 0]).expect("append");
        p[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(file.resolve(&p), Err(BlockFileError::BadPointer { .. })));
        p[9..13].copy_from_slice(&6u32.to_le_bytes());
        assert!(matches!(file.resolve(&p), Err(BlockFileError::BadPointer { .. })), "one byte past the end");
    }

    #[test]
    fn a_removed_file_is_gone_from_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_of(dir.path(), 0, 3600);
        let file = BlockFile::new(path.clone());
        file.append(&[2]).expect("append");
        assert!(path.exists());
        file.remove().expect("remove");
        assert!(!path.exists());
        file.remove().expect("removing twice is fine");
        assert!(file.append(&[2]).is_err() && !path.exists(), "a late writer does not bring it back");
    }
}
