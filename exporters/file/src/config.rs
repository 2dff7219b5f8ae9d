//! Settings of the file exporter, after the Collector-contrib `file` exporter: `path`
//! (required) and `format` (`json`, the default, or `proto`). Rotation, compression and
//! `group_by` are not supported; the file is always appended to.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

/// How each batch is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One OTLP-JSON `ExportTraceServiceRequest` per line.
    #[default]
    Json,
    /// Each request as a 4-byte big-endian length followed by its protobuf bytes.
    Proto,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub path: PathBuf,
    pub format: Format,
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.path.as_os_str().is_empty() {
            problems.push(ConfigProblem::new("path", "is required: the file to write spans to, e.g. ./spans.json"));
        } else if self.path.file_name().is_none() {
            problems.push(ConfigProblem::new(
                "path",
                format!("\"{}\" names a directory, not a file", self.path.display()),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn path_is_required_and_format_defaults_to_json() {
        assert_eq!(
            parse("{}"),
            Err(vec!["path: is required: the file to write spans to, e.g. ./spans.json".to_string()])
        );
        let config = parse("path: ./out/spans.json").expect("valid config");
        assert_eq!(config, Config { path: "./out/spans.json".into(), format: Format::Json });
        assert_eq!(parse("{path: x.bin, format: proto}").map(|c| c.format), Ok(Format::Proto));
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let err = parse("{path: x, format: xml}").expect_err("unknown format");
        assert!(err[0].starts_with("format: unknown variant `xml`"), "{err:?}");
        let err = parse("{path: x, rotation: {max_megabytes: 10}}").expect_err("unsupported key");
        assert!(err[0].contains("unknown field `rotation`"), "{err:?}");
        let err = parse("path: /tmp/..").expect_err("directory");
        assert!(err[0].starts_with("path: \"/tmp/..\" names a directory"), "{err:?}");
    }
}
