//! The `run` command: telemetry up, graph built and started, then wait for SIGINT/SIGTERM
//! (reloading on SIGHUP or a watched file change meanwhile, see [`crate::reload`]) and stop
//! in order.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use tracegate_core::config::{MetricsLevel, ValidConfig};
use tracegate_core::graph::Service;
use tracegate_core::telemetry::{init_logs, serve_metrics, Telemetry};

use crate::loader::{Loaded, Loader};

pub fn run(loaded: Loaded, loader: &Loader) -> anyhow::Result<()> {
    let Loaded { config, ephemeral_dir } = loaded;
    let result = run_config(config, loader);
    if let Some(dir) = ephemeral_dir {
        // Badger's ephemeral mode: the data lives as long as the process.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove the ephemeral store {}: {e}", dir.display());
            }
        }
    }
    result
}

fn run_config(config: ValidConfig, loader: &Loader) -> anyhow::Result<()> {
    init_logs(&config.service.telemetry.logs);
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    // Every connection is a descriptor; the listeners' default caps are shares of this limit.
    let open_files = tracegate_core::server::fd_limit::raise_open_file_limit();
    tracing::debug!(open_files, "open-file limit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tracegate")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, loader))
}

async fn serve(config: ValidConfig, loader: &Loader) -> anyhow::Result<()> {
    let telemetry = Telemetry::new();
    let service = Arc::new(Service::build(&config, telemetry.clone())?);
    service.start().await?;
    // Metrics answer only once every receiver listens: a scraper or a script that waits for
    // `/metrics` (query-bench, a probe) then finds the ports open. Served first, they answered
    // 20-160 ms before the OTLP port accepted, and a load generator started on that signal
    // was refused.
    let metrics = &config.service.telemetry.metrics;
    let metrics_servers = if metrics.level != MetricsLevel::None {
        let started = serve_metrics(&metrics.address, metrics.tls.as_ref(), &metrics.limits, telemetry.clone()).await;
        let servers = match started {
            Ok(servers) => servers,
            Err(e) => {
                service.shutdown().await;
                return Err(anyhow::Error::new(e).context("self-metrics (service::telemetry::metrics::address)"));
            }
        };
        if let Some(url) = servers.url("metrics") {
            tracing::info!("metrics on {url}/metrics");
        }
        Some(servers)
    } else {
        None
    };

    let watch = Arc::new(AtomicBool::new(config.service.watch_config));
    let watched = crate::reload::Watched::new(loader.files().to_vec());
    let mut reloads = crate::reload::triggers(watched.clone(), watch.clone());
    let stop = wait_for_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(trigger) = reloads.recv() => {
                crate::reload::reload(&service, loader, &watched, &watch, &config.service.telemetry, trigger).await;
            }
        }
    }
    tracing::info!("shutting down: receivers stop, processors flush, queues drain");
    service.shutdown().await;
    for (exporter, spans) in service.undelivered() {
        if spans > 0 {
            tracing::error!(%exporter, spans, "not delivered before shutdown");
        }
    }
    if let Some(servers) = metrics_servers {
        servers.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
