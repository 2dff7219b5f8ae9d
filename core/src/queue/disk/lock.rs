//! [`DirLock`]: one running instance per persistent queue directory.
//!
//! Two writers on one queue directory clobber each other: each numbers its records and
//! segments from what it found at open, both rewrite the `ack` file, and each delivers the
//! batches the other also delivers. A config reload would do exactly that if it started an
//! exporter's new instance beside the old one on the same `file_storage` directory, so a
//! queue takes this lock before reading anything, and a second open fails with an error
//! naming the directory; the reload then replaces the exporter behind its closed gate
//! (`graph::reload`), old instance first.
//!
//! The lock is an exclusive `flock` on the file `lock` in the directory: it is held by the
//! open file, so it goes when the holder lets go of it ([`DirLock`] dropped) or when the
//! process dies (the kernel closes its files), and a queue left by a killed process opens
//! without anyone removing a stale file. `flock` also excludes a second open in the same
//! process, which a reload is.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::DiskQueueError;

/// The lock file's name inside the directory it guards.
pub const LOCK_FILE: &str = "lock";

/// An exclusive hold on a directory, until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock, or says that another instance holds it.
    pub fn acquire(dir: &Path) -> Result<Self, DiskQueueError> {
        let err = |source| DiskQueueError { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(err)?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(Self { _file: file, dir: dir.to_path_buf() }),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => Err(err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another running instance holds it (its lock file {} is locked); one directory serves one queue at a time",
                    path.display()
                ),
            ))),
            Err(e) => Err(err(io::Error::new(e.kind(), format!("cannot lock {}: {e}", path.display())))),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether `e` says the directory is held by another instance.
pub fn is_held_elsewhere(e: &DiskQueueError) -> bool {
    e.source.kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
