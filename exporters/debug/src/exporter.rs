//! The exporter: samples, formats and logs each batch through `tracing` under the target
//! `tracegate::debug`, so users filter it like any other log (`RUST_LOG=tracegate::debug=info`)
//! and it goes wherever the service's logs go.

use std::time::Instant;

use async_trait::async_trait;
use tracegate_core::{ConsumeError, Exporter, Lifecycle, Traces};

use crate::config::{Config, Verbosity};
use crate::format::format_batch;
use crate::sampler::LogSampler;

/// Logs every batch it is given (subject to sampling) and never fails.
#[derive(Debug)]
pub struct DebugExporter {
    verbosity: Verbosity,
    sampler: LogSampler,
}

impl DebugExporter {
    pub fn new(config: &Config) -> Self {
        Self {
            verbosity: config.verbosity,
            sampler: LogSampler::new(config.sampling_initial, config.sampling_thereafter),
        }
    }
}

impl Lifecycle for DebugExporter {}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        // Formatting a detailed batch is costly; skip it when nobody would see the line.
        if !tracing::enabled!(target: "tracegate::debug", tracing::Level::INFO) {
            return Ok(());
        }
        if !self.sampler.admit(Instant::now()) {
            return Ok(());
        }
        let text = format_batch(self.verbosity, &traces);
        tracing::info!(
            target: "tracegate::debug",
            resource_spans = traces.resource_spans().len(),
            spans = traces.span_count(),
            "{text}"
        );
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    /// Collects everything the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
        }
    }

    fn batch(spans: usize) -> Traces {
        Traces::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: "op".into(), ..Default::default() }; spans],
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn logs_each_batch_under_the_debug_target_with_sampling() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let config = Config { verbosity: Verbosity::Normal, sampling_initial: 1, sampling_thereafter: 0 };
        let exporter = DebugExporter::new(&config);
        assert_eq!(exporter.export(batch(3)).await, Ok(()));
        // Sampled out within the same second, but still accepted.
        assert_eq!(exporter.export(batch(5)).await, Ok(()));

        let text = captured.text();
        assert!(text.contains("tracegate::debug"), "{text}");
        assert!(text.contains("Traces: 1 resource spans, 3 spans"), "{text}");
        assert_eq!(text.matches(" op kind=Unspecified duration=0s").count(), 3, "{text}");
        assert!(!text.contains("5 spans"), "{text}");
        exporter.shutdown().await.expect("shutdown");
        exporter.shutdown().await.expect("second shutdown");
    }
}
