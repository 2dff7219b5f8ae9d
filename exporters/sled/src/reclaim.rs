//! Gives the disk space of dropped partitions back to the filesystem now, not much later.
//!
//! Blocks are in files of their own, deleted with their partition ([`crate::block_file`]),
//! but sled writes blob files for every leaf over a quarter of a segment: leaves of summaries
//! and trace-id lists in partitions written before format 7 (since then sled holds only
//! pointers to them, and its leaves stay small), and the blocks of databases from before
//! format 4. sled 0.34
//! deletes the blobs of a dropped tree only once its log has moved past the segment in which
//! it recorded the drop; and the log grows slowly here, since a block costs it only a pointer.
//! Measured (128 KiB segments, 2026-12-07): after retention dropped a partition of 20 MB,
//! none of its 45 blob files was deleted, and none after 30 MB more were written either; the
//! directory only grew. So `retention` did not free disk, and a store refusing spans for
//! lack of space would never get room back from it. Writing a few segments' worth of small
//! values (which sled keeps in its log, not in blobs) right after a drop moves the log on,
//! and sled deletes those blob files at the next flush (measured: 53 -> 6 files after three
//! 60 KB writes).

use std::path::Path;

use crate::disk_usage::available_bytes;

/// Below sled's inline limit (a quarter of a segment) for every segment size this store
/// opens (128 KiB; 512 KiB for databases made before that was set).
const VALUE_BYTES: usize = 24 * 1024;

/// Enough log for two 512 KiB segments, with some to spare: the segment holding the drop is
/// then complete, and the next flush makes sled act on it.
const VALUES: usize = 48;

/// The nudge writes about 1.1 MiB (into log segments sled mostly reuses); it is skipped when
/// the disk has less than this, so that it can never be what fills a disk sled then fails on
/// (see `crate::disk_full`). Skipped, the blob files go later, as sled's log moves on.
const NEEDS_AVAILABLE: u64 = 4 << 20;

/// Name of the scratch tree; not a partition name, so opening the database ignores it.
const TREE: &str = "reclaim";

/// Moves sled's log past the drop of partitions and flushes, so that sled deletes their blob
/// files. Call after dropping trees. Returns false when skipped for lack of room.
pub fn release_dropped(db: &sled::Db, dir: &Path) -> Result<bool, sled::Error> {
    if available_bytes(dir).is_ok_and(|a| a < NEEDS_AVAILABLE) {
        tracing::debug!(path = %dir.display(), "too little disk left to make sled delete the blobs of dropped partitions now");
        return Ok(false);
    }
    let tree = db.open_tree(TREE)?;
    for i in 0..VALUES {
        // Distinct values (sled writes nothing for a value equal to the one stored), each
        // removed at once so the tree's node stays small enough for the log, not a blob.
        tree.insert(b"n", vec![i as u8; VALUE_BYTES])?;
        tree.remove(b"n")?;
        // sled acts on a full segment once what it holds is on disk.
        if i % 4 == 3 {
            db.flush()?;
        }
    }
    db.flush()?;
    Ok(true)
}
