//! Group commit: batches written by concurrent exports share one sync of the database.
//!
//! With `sync_on_write` (the default) an export returns only once its batch is on disk, so
//! that the engine can answer the client "stored" (see `tracegate_core::queue::exporter`). A
//! sync per batch would cost one `fsync` each; instead each export counts its finished write,
//! then takes a turn at the flush lock. Whoever holds it flushes everything written up to that
//! moment and records how far that reached; exports whose writes that flush covered find
//! their write durable when their turn comes and return without syncing again. Under load,
//! one flush serves every batch that finished writing while the previous flush ran.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::db::StoreError;

#[derive(Default)]
pub struct GroupCommit {
    /// Writes finished so far (a counter; a write's number is its place in that order).
    written: AtomicU64,
    /// Every write numbered up to this one is durable.
    durable: AtomicU64,
    turn: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// Call after a write finished; returns once that write is durable.
    pub async fn make_durable(&self, db: &sled::Db) -> Result<(), StoreError> {
        let mine = self.written.fetch_add(1, Ordering::AcqRel) + 1;
        let _turn = self.turn.lock().await;
        if self.durable.load(Ordering::Acquire) >= mine {
            return Ok(());
        }
        // Every write counted by now has finished, so this flush covers all of them.
        let upto = self.written.load(Ordering::Acquire);
        db.flush_async().await?;
        self.durable.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// How many flushes would have been needed without grouping, against how many ran
    /// (for tests).
    #[cfg(test)]
    pub fn counts(&self) -> (u64, u64) {
        (self.written.load(Ordering::Acquire), self.durable.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_are_all_covered_by_a_flush() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("open");
        let commit = Arc::new(GroupCommit::default());
        let tasks: Vec<_> = (0..64u32)
            .map(|i| {
                let (db, commit) = (db.clone(), commit.clone());
                tokio::spawn(async move {
                    db.insert(i.to_be_bytes(), vec![0u8; 1000]).expect("insert");
                    commit.make_durable(&db).await.expect("durable");
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let (written, durable) = commit.counts();
        assert_eq!((written, durable), (64, 64), "every write is covered by a flush");
        assert_eq!(db.len(), 64);
    }
}
