//! The persistent queue's files holding any bytes: reopened, drained, reopened again.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch directory per fuzzing process, in memory where the machine has /dev/shm
/// (a file system round trip per input would be most of the time). scripts/fuzz removes
/// `tracegate-fuzz/` when it is done.
static DIR: OnceLock<PathBuf> = OnceLock::new();

fn dir() -> &'static PathBuf {
    DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
        let dir = base.join("tracegate-fuzz").join(format!("disk_queue-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        dir
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_core::fuzzing::disk_queue(dir(), data));
