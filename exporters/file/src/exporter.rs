//! The exporter: appends each batch to one file and flushes it before `export` returns, so
//! whoever reads the file while the gateway runs (a test, `tail -f`, a log shipper) sees whole
//! batches as soon as they are accepted.
//!
//! Batches are encoded before the file lock is taken, so concurrent queue workers only
//! serialize on the write itself. After a failed write the writer is dropped (with whatever it
//! had buffered) and the file reopened on the next batch, so a disk that was full and is not
//! any more, or a file that was moved away, recovers without a restart.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::Mutex;
use tracegate_core::{ComponentError, ConsumeError, Exporter, Host, Lifecycle, Traces};

use crate::codec::{encode_json, encode_proto};
use crate::config::{Config, Format};

enum State {
    /// Before `start` or after `shutdown`.
    Closed,
    /// Started; `None` after a write failed, until the next batch reopens the file.
    Open(Option<BufWriter<File>>),
}

pub struct FileExporter {
    path: PathBuf,
    format: Format,
    state: Mutex<State>,
}

impl FileExporter {
    pub fn new(config: &Config) -> Self {
        Self { path: config.path.clone(), format: config.format, state: Mutex::new(State::Closed) }
    }

    fn encode(&self, traces: Traces) -> Result<Vec<u8>, ConsumeError> {
        let request = traces.into_request();
        let encoded = match self.format {
            Format::Json => encode_json(&request),
            Format::Proto => encode_proto(&request),
        };
        // The same batch would fail the same way again.
        encoded.map_err(|e| ConsumeError::permanent(e.to_string()))
    }
}

async fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path).await?;
    Ok(BufWriter::new(file))
}

#[async_trait]
impl Lifecycle for FileExporter {
    async fn start(&self, _host: std::sync::Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Open(Some(_))) {
            return Ok(());
        }
        let writer = open(&self.path)
            .await
            .map_err(|e| ComponentError::other(format!("cannot open \"{}\" for writing: {e}", self.path.display())))?;
        *state = State::Open(Some(writer));
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let mut state = self.state.lock().await;
        let previous = std::mem::replace(&mut *state, State::Closed);
        if let State::Open(Some(mut writer)) = previous {
            writer
                .flush()
                .await
                .map_err(|e| ComponentError::other(format!("cannot flush \"{}\": {e}", self.path.display())))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Exporter for FileExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        let bytes = self.encode(traces)?;
        let mut state = self.state.lock().await;
        let slot = match &mut *state {
            State::Closed => {
                return Err(ConsumeError::permanent("file exporter is not running (not started or already shut down)"))
            }
            State::Open(slot) => slot,
        };
        let io_error = |e: std::io::Error| ConsumeError::retryable(format!("cannot write to \"{}\": {e}", self.path.display()));
        let writer = match slot {
            Some(writer) => writer,
            None => slot.insert(open(&self.path).await.map_err(io_error)?),
        };
        let written = async {
            writer.write_all(&bytes).await?;
            writer.flush().await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), "write failed, reopening the file for the next batch: {e}");
            *slot = None;
            return Err(io_error(e));
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;
    use crate::codec::{decode_json_lines, decode_proto_frames};

    fn host() -> Arc<dyn Host> {
        tracegate_core::testing::TestHost::new()
    }

    fn request(name: &str, trace_byte: u8) -> ExportTraceServiceRequest {
        crate::codec::tests::request(name, trace_byte)
    }

    fn read_back(path: &Path, format: Format) -> Vec<ExportTraceServiceRequest> {
        let bytes = std::fs::read(path).expect("file exists");
        match format {
            Format::Json => decode_json_lines(&String::from_utf8(bytes).expect("utf-8")).expect("valid json lines"),
            Format::Proto => decode_proto_frames(&bytes).expect("valid frames"),
        }
    }

    async fn two_batches_read_back_while_running(format: Format) {
        let dir = tempfile::tempdir().expect("temp dir");
        // A parent that does not exist yet: start creates it.
        let path = dir.path().join("nested/out/spans.data");
        let exporter = FileExporter::new(&Config { path: path.clone(), format });
        exporter.start(host()).await.expect("start");
        let (a, b) = (request("first", 1), request("second", 2));

        exporter.export(a.clone().into()).await.expect("first batch");
        // Flushed per batch: readable while the exporter is still running.
        assert_eq!(read_back(&path, format), vec![a.clone()]);
        exporter.export(b.clone().into()).await.expect("second batch");
        assert_eq!(read_back(&path, format), vec![a.clone(), b.clone()]);
        exporter.shutdown().await.expect("shutdown");

        // A restart appends instead of truncating.
        let again = FileExporter::new(&Config { path: path.clone(), format });
        again.start(host()).await.expect("restart");
        again.export(a.clone().into()).await.expect("third batch");
        again.shutdown().await.expect("shutdown");
        assert_eq!(read_back(&path, format), vec![a.clone(), b, a]);
    }

    #[tokio::test]
    async fn json_batches_are_appended_as_lines() {
        two_batches_read_back_while_running(Format::Json).await;
    }

    #[tokio::test]
    async fn proto_batches_are_appended_as_frames() {
        two_batches_read_back_while_running(Format::Proto).await;
    }

    #[tokio::test]
    async fn lifecycle_edges_are_safe() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exporter = FileExporter::new(&Config { path: dir.path().join("s.json"), format: Format::Json });
        exporter.shutdown().await.expect("shutdown without start");
        let err = exporter.export(request("x", 1).into()).await.expect_err("not started");
        assert!(err.is_permanent(), "{err}");
        exporter.start(host()).await.expect("start");
        exporter.shutdown().await.expect("shutdown");
        exporter.shutdown().await.expect("second shutdown");
        assert!(exporter.export(request("x", 1).into()).await.is_err(), "closed after shutdown");

        // A path that cannot be a file fails start with the path in the message.
        let blocked = FileExporter::new(&Config { path: dir.path().to_path_buf(), format: Format::Json });
        let err = blocked.start(host()).await.expect_err("a directory is not a file");
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_write_is_retryable() {
        // Linux's /dev/full accepts the open and fails every write with ENOSPC.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let exporter = FileExporter::new(&Config { path: "/dev/full".into(), format: Format::Proto });
        exporter.start(host()).await.expect("open /dev/full");
        for _ in 0..2 {
            let err = exporter.export(request("x", 1).into()).await.expect_err("disk full");
            assert!(matches!(err, ConsumeError::Retryable(_)), "{err:?}");
            assert!(err.to_string().contains("/dev/full"), "{err}");
        }
        exporter.shutdown().await.expect("shutdown");
    }
}
