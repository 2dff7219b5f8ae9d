//! Reloading the running config: on SIGHUP, or when a `--config` file changes while the
//! running config says `service.watch_config: true`. The new config is read and validated
//! first; an invalid one is refused with every problem in the log and the running graph
//! stays. A valid one goes to [`Service::reload`], which replaces only what changed (see
//! `tracegate_core::graph::reload`). Every outcome is counted in
//! `tracegate_config_reloads_total{result}`.
//!
//! Why the files are polled (once a second, by content) rather than watched with inotify:
//! editors and Kubernetes ConfigMap mounts replace files through renames and symlink swaps,
//! which a content comparison sees without special cases, and a second's delay is nothing
//! for a config change. A change is acted on once two polls in a row read the same new
//! content, so a file caught half-written is not loaded.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracegate_core::config::TelemetrySection;
use tracegate_core::graph::Service;

use crate::loader::Loader;

#[derive(Clone, Copy, Debug)]
pub enum Trigger {
    Signal,
    FileChanged,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChanged => "a changed config file",
        }
    }
}

/// The `--config` files and the content last loaded from them, shared by the poller and
/// [`reload`] so that a reload by SIGHUP does not trigger another when the poller sees it.
pub struct Watched {
    files: Vec<PathBuf>,
    loaded: AtomicU64,
}

impl Watched {
    pub fn new(files: Vec<PathBuf>) -> Arc<Self> {
        let loaded = AtomicU64::new(fingerprint(&files));
        Arc::new(Self { files, loaded })
    }

    /// Notes the files' content as loaded now (called as a reload reads them).
    fn mark_loaded(&self) {
        self.loaded.store(fingerprint(&self.files), Ordering::Relaxed);
    }
}

/// Starts listening for SIGHUP and polling the files; a poll only triggers while `watch` is set.
pub fn triggers(watched: Arc<Watched>, watch: Arc<AtomicBool>) -> mpsc::Receiver<Trigger> {
    let (tx, rx) = mpsc::channel(4);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        if tx.send(Trigger::Signal).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for SIGHUP ({e}); reloads only follow service.watch_config"),
        }
    }
    if !watched.files.is_empty() {
        tokio::spawn(poll_files(watched, watch, tx));
    }
    rx
}

/// A hash of every file's content (a missing file hashes as missing).
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    for f in files {
        std::fs::read(f).ok().hash(&mut h);
    }
    h.finish()
}

async fn poll_files(watched: Arc<Watched>, watch: Arc<AtomicBool>, tx: mpsc::Sender<Trigger>) {
    let mut last_seen = watched.loaded.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = fingerprint(&watched.files);
        let settled = now == last_seen;
        last_seen = now;
        if !watch.load(Ordering::Relaxed) {
            // Not watching: a later `watch_config: true` compares against what is loaded then.
            watched.loaded.store(now, Ordering::Relaxed);
        } else if settled && now != watched.loaded.load(Ordering::Relaxed) {
            if tx.send(Trigger::FileChanged).await.is_err() {
                return;
            }
            // The reload marks what it read; until then this content counts as handed over.
            watched.loaded.store(now, Ordering::Relaxed);
        }
    }
}

/// One reload: read and validate, then hand the config to the service.
pub async fn reload(service: &Service, loader: &Loader, watched: &Watched, watch: &AtomicBool, telemetry_at_start: &TelemetrySection, trigger: Trigger) {
    tracing::info!("reloading the config ({})", trigger.as_str());
    watched.mark_loaded();
    let loaded = match loader.load() {
        Ok(loaded) => loaded,
        Err(problems) => {
            let errors = problems.iter().filter(|p| p.is_error()).count();
            tracing::error!("reload refused: the new config has {errors} error(s); the running config stays");
            for p in &problems {
                if p.is_error() {
                    tracing::error!("  error: {p}");
                } else {
                    tracing::warn!("  warning: {p}");
                }
            }
            service.count_rejected_reload();
            return;
        }
    };
    let config = loaded.config;
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    if &config.service.telemetry != telemetry_at_start {
        tracing::warn!("service::telemetry changed: logs and the metrics address apply at the next start, not on reload");
    }
    match service.reload(&config).await {
        Ok(outcome) if outcome.is_unchanged() => tracing::info!("reload: nothing changed"),
        Ok(outcome) => tracing::info!(
            started = ?outcome.started,
            stopped = ?outcome.stopped,
            kept = outcome.kept,
            "reload applied"
        ),
        Err(e) => tracing::error!("reload failed: {e}; the previous config was restored"),
    }
    watch.store(config.service.watch_config, Ordering::Relaxed);
}
