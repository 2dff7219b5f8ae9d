//! The exporter: writes each batch on a blocking thread, optionally waits for it to be
//! durable, and runs the retention sweep in the background.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tracegate_core::storage::TraceReader;
use tracegate_core::{ComponentError, ConsumeError, Exporter, Host, Lifecycle, Traces};

use crate::config::Config;
use crate::db::{Shared, StoreError};
use crate::read::SledReader;
use crate::write::{write_traces, WriteOptions};

pub struct SledExporter {
    shared: Arc<Shared>,
    config: Config,
    retention_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl SledExporter {
    /// Opens (or joins this process's handle on) the database at `config.path`.
    pub fn open(config: Config) -> Result<Self, StoreError> {
        let shared = Shared::open(&config.path, config.cache_size_mib.saturating_mul(1 << 20))?;
        Ok(Self { shared, config, retention_task: Mutex::new(None) })
    }

    /// The reader over this exporter's database.
    pub fn reader(&self) -> SledReader {
        SledReader { shared: self.shared.clone(), retention: self.config.retention.get() }
    }

    fn write_options(&self) -> WriteOptions {
        let retention = self.config.retention.get().as_secs();
        WriteOptions {
            partition_secs: self.config.partition.get().as_secs().max(1),
            cutoff_secs: if retention == 0 { 0 } else { now_secs().saturating_sub(retention) },
            compression_level: self.config.compression_level,
        }
    }

    /// Drops partitions that ended more than `retention` before `now`; returns how many.
    pub fn drop_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        drop_expired(&self.shared, self.config.retention.get(), now)
    }

    /// Waits until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.shared.db.flush_async().await?;
        Ok(())
    }
}

fn drop_expired(shared: &Shared, retention: Duration, now: SystemTime) -> Result<usize, StoreError> {
    if retention.is_zero() {
        return Ok(0);
    }
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    shared.drop_before(now.saturating_sub(retention.as_secs()))
}

#[async_trait]
impl Lifecycle for SledExporter {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut task = self.retention_task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() || self.config.retention.is_zero() {
            return Ok(());
        }
        let shared = self.shared.clone();
        let retention = self.config.retention.get();
        // Partitions expire one partition length apart; checking more often than that (or
        // than once a minute) finds nothing new.
        let every = self.config.partition.get().clamp(Duration::from_secs(1), Duration::from_secs(60));
        *task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let shared = shared.clone();
                let swept = tokio::task::spawn_blocking(move || drop_expired(&shared, retention, SystemTime::now())).await;
                match swept {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(partitions = n, "retention dropped expired partitions"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
                    Err(e) => tracing::warn!(error = %e, "retention sweep task failed"),
                }
            }
        }));
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let task = self.retention_task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
        self.flush()
            .await
            .map_err(|e| ComponentError::other(format!("cannot flush {}: {e}", self.shared.path.display())))
    }
}

#[async_trait]
impl Exporter for SledExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        let shared = self.shared.clone();
        let opts = self.write_options();
        let written = tokio::task::spawn_blocking(move || write_traces(&shared, &traces, opts)).await;
        match written {
            Ok(Ok(_)) => {}
            // A disk or database fault may pass (space freed, I/O recovered): let the queue retry.
            Ok(Err(e)) => return Err(ConsumeError::retryable(e.to_string())),
            Err(e) => return Err(ConsumeError::retryable(format!("write task failed: {e}"))),
        }
        if self.config.sync_on_write {
            self.flush().await.map_err(|e| ConsumeError::retryable(format!("cannot make the batch durable: {e}")))?;
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn trace_reader(&self) -> Option<Arc<dyn TraceReader>> {
        Some(Arc::new(self.reader()))
    }
}

#[cfg(test)]
impl SledExporter {
    pub(crate) fn shared_for_test(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) async fn shutdown_for_test(self) {
        let _ = self.shutdown().await;
    }
}
