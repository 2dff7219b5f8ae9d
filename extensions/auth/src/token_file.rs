//! Tokens kept in a file and re-read when the file changes, so a rotated token (a Kubernetes
//! secret update, a cron job) is used without a restart.
//!
//! The file is checked with one `stat` per use: a different modification time, length or
//! inode (a file replaced by rename, as secret mounts do) means re-read. A file that cannot be
//! read keeps the last tokens in use and is warned about once, not per request. One token per
//! non-empty line; surrounding whitespace is not part of a token.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What identifies one version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self { modified: meta.modified().ok(), len: meta.len(), inode }
    }
}

struct Cached {
    /// The version read last; `None` after a failed read, so the next change retries.
    stamp: Option<Stamp>,
    tokens: Arc<Vec<String>>,
    failing: bool,
}

/// A token file; see the module docs.
pub struct TokenFile {
    path: PathBuf,
    cached: Mutex<Cached>,
}

impl TokenFile {
    /// Reads `path` now; a missing, unreadable or empty file is an error naming the path.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
        let tokens = read(&path)?;
        Ok(Self {
            path,
            cached: Mutex::new(Cached { stamp: Some(Stamp::of(&meta)), tokens: Arc::new(tokens), failing: false }),
        })
    }

    /// The tokens in the file now (re-read if it changed since the last call).
    pub fn tokens(&self) -> Arc<Vec<String>> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = std::fs::metadata(&self.path).map(|m| Stamp::of(&m));
        match stamp {
            Ok(stamp) if cached.stamp == Some(stamp) => {}
            Ok(stamp) => match read(&self.path) {
                Ok(tokens) => {
                    tracing::info!(file = %self.path.display(), "token file changed; using its new content");
                    *cached = Cached { stamp: Some(stamp), tokens: Arc::new(tokens), failing: false };
                }
                Err(e) => {
                    if !cached.failing {
                        tracing::warn!(error = %e, "keeping the tokens read before");
                    }
                    cached.stamp = Some(stamp);
                    cached.failing = true;
                }
            },
            Err(e) => {
                if !cached.failing {
                    tracing::warn!(file = %self.path.display(), error = %e, "cannot read the token file; keeping the tokens read before");
                }
                cached.stamp = None;
                cached.failing = true;
            }
        }
        cached.tokens.clone()
    }
}

fn read(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let tokens: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    if tokens.is_empty() {
        return Err(format!("token file {} holds no token", path.display()));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_last_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = TokenFile::open(&path).unwrap();
        assert_eq!(*file.tokens(), ["first"]);
        // A rename over the file, as secret mounts do: a new inode.
        let next = dir.path().join("token.new");
        std::fs::write(&next, " second \n\nthird\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(*file.tokens(), ["second", "third"]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*file.tokens(), ["second", "third"]);
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(*file.tokens(), ["second", "third"]);
        std::fs::write(&path, "fourth").unwrap();
        assert_eq!(*file.tokens(), ["fourth"]);
    }

    #[test]
    fn a_missing_or_empty_file_fails_open_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        assert!(TokenFile::open(&missing).err().unwrap().contains("none"));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        assert!(TokenFile::open(&empty).err().unwrap().ends_with("holds no token"));
    }
}
