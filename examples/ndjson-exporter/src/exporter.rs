//! The exporter: appends a batch's lines to the current file, starting a new file when it is
//! full. One file is open at a time, behind a mutex: tracegate may call `export` from several
//! queue consumers at once, and lines of two batches must not interleave mid-line.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracegate_plugin_abi::{ConfigIssue, ExportTraceServiceRequest, PluginComponent, PluginError, PluginExporter};

use crate::{span_lines, Config};

pub struct Ndjson {
    directory: PathBuf,
    prefix: String,
    max_file_bytes: u64,
    current: Mutex<Option<OpenFile>>,
}

struct OpenFile {
    writer: BufWriter<File>,
    written: u64,
}

impl PluginComponent for Ndjson {
    const TYPE: &'static str = "ndjson";
    type Config = Config;

    fn validate(config: &Config) -> Vec<ConfigIssue> {
        config.issues()
    }

    fn new(config: Config) -> Result<Self, PluginError> {
        if let Some(issue) = config.issues().into_iter().next() {
            return Err(PluginError::permanent(issue.to_string()));
        }
        let directory = PathBuf::from(&config.directory);
        std::fs::create_dir_all(&directory)
            .map_err(|e| PluginError::permanent(format!("cannot create directory {}: {e}", directory.display())))?;
        Ok(Self { directory, prefix: config.file_prefix, max_file_bytes: config.max_file_bytes, current: Mutex::new(None) })
    }
}

impl PluginExporter for Ndjson {
    fn export(&self, request: ExportTraceServiceRequest) -> Result<(), PluginError> {
        let lines = span_lines(&request);
        if lines.is_empty() {
            return Ok(());
        }
        // A poisoned lock only means an earlier export panicked mid-write; the file is still
        // usable (at worst it ends with a partial line), so carry on with it.
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_none_or(|f| f.written >= self.max_file_bytes) {
            *current = Some(self.open_next()?);
        }
        let Some(file) = current.as_mut() else {
            return Err(PluginError::retryable("no open file"));
        };
        let io = |e: std::io::Error| PluginError::retryable(format!("cannot write to {}: {e}", self.directory.display()));
        for line in &lines {
            file.writer.write_all(line.as_bytes()).map_err(io)?;
            file.writer.write_all(b"\n").map_err(io)?;
            file.written += line.len() as u64 + 1;
        }
        // Whole batches reach the file, so a reader never waits on a buffered half batch.
        file.writer.flush().map_err(io)?;
        Ok(())
    }
}

impl Ndjson {
    fn open_next(&self) -> Result<OpenFile, PluginError> {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        for n in 0u32.. {
            let path = self.directory.join(format!("{}-{millis}-{n}.ndjson", self.prefix));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok(OpenFile { writer: BufWriter::new(file), written: 0 }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(PluginError::retryable(format!("cannot create {}: {e}", path.display()))),
            }
        }
        Err(PluginError::retryable("no free file name"))
    }
}

#[cfg(test)]
mod tests {
    use tracegate_plugin_abi::proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use tracegate_plugin_abi::proto::tonic::resource::v1::Resource;
    use tracegate_plugin_abi::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn request(names: &[&str]) -> ExportTraceServiceRequest {
        let service = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue { value: Some(Value::StringValue("shop".into())) }),
            ..Default::default()
        };
        let spans = names
            .iter()
            .map(|n| Span { name: n.to_string(), trace_id: vec![0xab; 16], span_id: vec![1; 8], end_time_unix_nano: 5, ..Default::default() })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![service], ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    fn files(dir: &std::path::Path) -> Vec<Vec<serde_json::Value>> {
        let mut paths: Vec<_> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read").lines().map(|l| serde_json::from_str(l).expect("json line")).collect())
            .collect()
    }

    #[test]
    fn writes_one_line_per_span_and_rotates_by_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("spans");
        let config = Config { directory: out.display().to_string(), max_file_bytes: 1, ..Default::default() };
        let exporter = Ndjson::new(config).expect("created");
        exporter.export(request(&["a", "b"])).expect("exported");
        exporter.export(request(&["c"])).expect("exported");
        let files = files(&out);
        assert_eq!(files.len(), 2, "the first file was full after one batch");
        assert_eq!(files[0][0]["name"], "a");
        assert_eq!(files[0][0]["trace_id"], "abababababababababababababababab");
        assert_eq!(files[0][0]["service"], "shop");
        assert_eq!(files[0][0]["duration_ns"], 5);
        assert_eq!(files[0][1]["name"], "b");
        assert_eq!(files[1][0]["name"], "c");
    }

    #[test]
    fn config_problems_name_their_field() {
        let issues = Config { max_file_bytes: 0, ..Default::default() }.issues();
        let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, vec!["directory", "max_file_bytes"]);
    }
}
