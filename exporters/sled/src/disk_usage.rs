//! How much room the store has left: the bytes its filesystem still lets a writer use, and
//! the bytes its directory occupies. [`crate::disk_full`] decides from these whether a batch
//! may be written.
//!
//! Available bytes are `statvfs`'s `f_bavail` (what an unprivileged writer may still use,
//! without the blocks ext4 reserves for root), which is what `df` shows as available. The
//! directory's size is what its files occupy on disk (allocated blocks, as `du` counts them),
//! not their lengths: sled's files are sparse in places, and a cap is about disk, not bytes
//! of content.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes the filesystem holding `path` still lets this process write.
pub fn available_bytes(path: &Path) -> io::Result<u64> {
    let stats = rustix::fs::statvfs(path)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Bytes the files under `dir` occupy on disk, but for those under `except` (a
/// subdirectory). Symbolic links are counted as links, never followed; a file deleted while
/// the walk runs is skipped.
pub fn directory_bytes(dir: &Path, except: Option<&Path>) -> io::Result<u64> {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            // Removed since it was listed (retention dropping blobs, a log segment cut back).
            Err(e) if e.kind() == io::ErrorKind::NotFound && current != dir => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match entry.path().symlink_metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // `blocks` counts 512-byte units whatever the filesystem's block size.
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() && except != Some(entry.path().as_path()) {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_directory_size_counts_nested_files_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let before = directory_bytes(dir.path(), None).expect("walk");
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        let mut f = std::fs::File::create(dir.path().join("blobs").join("1")).expect("create");
        f.write_all(&vec![7u8; 1 << 20]).expect("write");
        f.sync_all().expect("sync");
        let after = directory_bytes(dir.path(), None).expect("walk");
        assert!(after >= before + (1 << 20), "a 1 MiB file in a subdirectory counts: {before} -> {after}");
        let without = directory_bytes(dir.path(), Some(&dir.path().join("blobs"))).expect("walk");
        assert!(without < before + (1 << 20), "the excluded subdirectory does not: {without}");
        assert!(available_bytes(dir.path()).expect("statvfs") > 0);
    }
}
