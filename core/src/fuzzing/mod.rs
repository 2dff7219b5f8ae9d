//! What the fuzz targets in `fuzz/` call (see docs/fuzzing.md). It is public, though no
//! component needs it, so that the normal tests replay every committed seed and regression
//! input through the very code the fuzzer runs. Each function takes any bytes and panics only
//! when a decoder breaks a promise (a panic is what libFuzzer reports as a crash).
//!
//! Every crate with a decoder has a module like this one; [`inputs`] is the one way their
//! tests find the committed inputs.

mod config;
mod disk_queue;
mod sample;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

pub use config::config;
pub use disk_queue::disk_queue;
pub use sample::sample_request;

/// The fuzz crate's directory (`fuzz/` at the workspace root).
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every committed input of a target: its seeds (`fuzz/seeds/<target>/`) and the inputs of
/// crashes found and fixed (`fuzz/regressions/<target>/`), with their paths for messages.
/// Panics when the target has no seed at all, so a renamed directory cannot make a replay
/// test pass by replaying nothing.
pub fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => out.push((path, bytes)),
                Err(e) => panic!("cannot read {}: {e}", path.display()),
            }
        }
    }
    assert!(!out.is_empty(), "no committed inputs for fuzz target {target} under {}", fuzz_dir().display());
    out
}

/// Feeds every committed input of `target` to `check` (the function its fuzz target calls)
/// and fails naming each input that panics: the replay test of each crate with a decoder.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    let failed: Vec<String> = inputs(target)
        .into_iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| check(data))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "fuzz target {target}: these committed inputs fail: {failed:?}");
}

/// Writes one seed input of `target` (for the crates' `write_fuzz_seeds` tests, run by hand
/// when a format changes: `cargo test -p <crate> write_fuzz_seeds -- --ignored`).
pub fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("seeds").join(target);
    let path = dir.join(name);
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes)) {
        panic!("cannot write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests;
