//! Holds the strategies being served and keeps them in step with the file.
//!
//! Requests read an `Arc<Strategies>` snapshot under a read lock held for one clone, so a
//! reload never blocks a request for longer than a pointer swap and a request never sees half
//! a file. The reload task re-reads the file every `reload_interval` and only parses it when
//! its bytes changed; a file that fails keeps the last good strategies, and the reason is
//! logged once per change of the file (or of the read error), not on every tick.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::proto::SamplingStrategyResponse;
use crate::strategies::{ParseError, Strategies};

/// Anything that answers "which strategy for this service": the file provider here, or
/// [`AdaptiveSampling`](crate::adaptive::AdaptiveSampling). The HTTP and gRPC endpoints serve
/// whichever the extension was configured with.
pub trait StrategySource: Send + Sync {
    fn strategy_for(&self, service: &str) -> SamplingStrategyResponse;
}

impl StrategySource for StrategyProvider {
    fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        StrategyProvider::strategy_for(self, service)
    }
}

/// Why the strategies file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read sampling strategies file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("sampling strategies file {path}: {source}")]
    Parse { path: PathBuf, source: ParseError },
}

/// What one reload attempt did; returned for tests and logged by the reload task.
#[derive(Debug, PartialEq)]
pub enum Reload {
    /// Same bytes (or same failure) as last time: nothing to do.
    Unchanged,
    /// New strategies are being served.
    Updated,
    /// The file changed but cannot be used; the last good strategies stay.
    Kept(String),
}

/// The current strategies of one file.
pub struct StrategyProvider {
    path: PathBuf,
    default_probability: f64,
    current: RwLock<Arc<Strategies>>,
    /// What the reload task last saw: the file's bytes or the read error's text.
    last_seen: std::sync::Mutex<Seen>,
}

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Bytes(Vec<u8>),
    ReadError(String),
}

impl StrategyProvider {
    /// Reads and parses the file; fails with the path and the problem. Warnings about the
    /// file's content (unknown types, rate-limited operations) are logged here.
    pub fn from_file(path: &Path, default_probability: f64) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
        let parsed = Strategies::parse(&bytes, default_probability)
            .map_err(|source| LoadError::Parse { path: path.to_path_buf(), source })?;
        for warning in &parsed.warnings {
            tracing::warn!(path = %path.display(), "sampling strategies: {warning}");
        }
        Ok(Self {
            path: path.to_path_buf(),
            default_probability,
            current: RwLock::new(Arc::new(parsed.strategies)),
            last_seen: std::sync::Mutex::new(Seen::Bytes(bytes)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A consistent snapshot of everything being served.
    pub fn current(&self) -> Arc<Strategies> {
        // A poisoned lock only means a writer panicked between two whole values; the value
        // inside is still a complete snapshot.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The answer for `service` (the default for services the file does not name).
    pub fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        self.current().strategy_for(service).clone()
    }

    /// Re-reads the file and swaps in its strategies if it changed and parses.
    pub async fn reload(&self) -> Reload {
        let seen = match tokio::fs::read(&self.path).await {
            Ok(bytes) => Seen::Bytes(bytes),
            Err(e) => Seen::ReadError(format!("cannot read sampling strategies file {}: {e}", self.path.display())),
        };
        {
            let mut last = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
            if *last == seen {
                return Reload::Unchanged;
            }
            *last = seen.clone();
        }
        let bytes = match seen {
            Seen::Bytes(bytes) => bytes,
            Seen::ReadError(why) => return Reload::Kept(why),
        };
        match Strategies::parse(&bytes, self.default_probability) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    tracing::warn!(path = %self.path.display(), "sampling strategies: {warning}");
                }
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(parsed.strategies);
                Reload::Updated
            }
            Err(e) => Reload::Kept(LoadError::Parse { path: self.path.clone(), source: e }.to_string()),
        }
    }

    /// Reloads every `interval` until the task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration, id: String) -> JoinHandle<()> {
        let provider = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once; the file was just read by `from_file`.
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match provider.reload().await {
                    Reload::Unchanged => {}
                    Reload::Updated => tracing::info!(extension = %id, path = %provider.path.display(), "updated sampling strategies"),
                    Reload::Kept(why) => {
                        tracing::warn!(extension = %id, "keeping the last good sampling strategies: {why}");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::strategies::{probabilistic, rate_limiting};

    fn strategies(foo: f64) -> String {
        format!(
            r#"{{"default_strategy": {{"type": "probabilistic", "param": 0.5}},
                "service_strategies": [{{"service": "foo", "type": "probabilistic", "param": {foo}}},
                                       {{"service": "bar", "type": "ratelimiting", "param": 5}}]}}"#
        )
    }

    #[test]
    fn a_missing_or_malformed_file_names_the_path_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = StrategyProvider::from_file(&missing, 0.001).err().unwrap().to_string();
        assert!(err.starts_with(&format!("cannot read sampling strategies file {}: ", missing.display())), "{err}");

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\n  \"default_strategy\": 7\n}").unwrap();
        let err = StrategyProvider::from_file(&bad, 0.001).err().unwrap().to_string();
        assert!(err.starts_with(&format!("sampling strategies file {}: invalid JSON at line 2 column", bad.display())), "{err}");
        assert!(err.contains("invalid type: integer `7`"), "{err}");
    }

    #[tokio::test]
    async fn reload_serves_a_changed_file_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, strategies(0.8)).unwrap();
        let provider = StrategyProvider::from_file(&path, 0.001).unwrap();
        assert_eq!(provider.strategy_for("foo"), probabilistic(0.8));
        assert_eq!(provider.strategy_for("bar"), rate_limiting(5));
        assert_eq!(provider.strategy_for("unknown"), probabilistic(0.5));
        assert_eq!(provider.reload().await, Reload::Unchanged);

        std::fs::write(&path, strategies(0.9)).unwrap();
        assert_eq!(provider.reload().await, Reload::Updated);
        assert_eq!(provider.strategy_for("foo"), probabilistic(0.9));

        // A broken file is reported once, and the last good strategies stay.
        std::fs::write(&path, "{ \"service_strategies\": [").unwrap();
        let Reload::Kept(why) = provider.reload().await else { panic!("a broken file is not used") };
        assert!(why.starts_with(&format!("sampling strategies file {}: invalid JSON", path.display())), "{why}");
        assert_eq!(provider.reload().await, Reload::Unchanged, "the same broken file is not reported again");
        assert_eq!(provider.strategy_for("foo"), probabilistic(0.9));

        // So is a file that disappears; its return is picked up.
        std::fs::remove_file(&path).unwrap();
        let Reload::Kept(why) = provider.reload().await else { panic!("a missing file is not used") };
        assert!(why.starts_with("cannot read sampling strategies file"), "{why}");
        assert_eq!(provider.reload().await, Reload::Unchanged);
        assert_eq!(provider.strategy_for("foo"), probabilistic(0.9));

        std::fs::write(&path, strategies(0.1)).unwrap();
        assert_eq!(provider.reload().await, Reload::Updated);
        assert_eq!(provider.strategy_for("foo"), probabilistic(0.1));
    }
}
