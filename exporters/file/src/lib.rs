//! file exporter: appends spans to a file as OTLP JSON lines or length-prefixed protobuf,
//! after the Collector-contrib `file` exporter.
//!
//! It is the simplest durable sink: for capturing traffic to replay or inspect later, for
//! end-to-end tests that read what the gateway wrote, and for debugging a pipeline without
//! a backend. [`decode_json_lines`] and [`decode_proto_frames`] read the files back.

mod codec;
mod config;
mod exporter;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use codec::{decode_json_lines, decode_proto_frames, encode_json, encode_proto, CodecError};
pub use config::{Config, Format};
pub use exporter::FileExporter;

/// Builds [`FileExporter`]s for the `file` type.
pub struct FileExporterFactory;

impl ExporterFactory for FileExporterFactory {
    const TYPE: &'static str = "file";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(FileExporter::new(&config)))
    }
}

tracegate_core::register_exporter!(FileExporterFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_exporter() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Exporter, "file").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Alpha));
    }
}
