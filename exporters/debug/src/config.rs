//! Settings of the debug exporter, named and defaulted as the Collector's `debug` exporter:
//! `verbosity` (basic), `sampling_initial` (2) and `sampling_thereafter` (1). With the
//! defaults every batch is logged; raising `sampling_thereafter` thins a busy pipeline's log.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracegate_core::factory::ComponentConfig;

/// How much of each batch is written to the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// One line per batch: resource spans and span counts.
    #[default]
    Basic,
    /// One line per span: ids, name, kind, duration.
    Normal,
    /// Every field of every span, several lines each.
    Detailed,
}

impl Verbosity {
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Basic => "basic",
            Verbosity::Normal => "normal",
            Verbosity::Detailed => "detailed",
        }
    }
}

impl fmt::Display for Verbosity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Verbosity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// The Collector reads the level case-insensitively (`Detailed` and `detailed` both work), and
// configs copied from it rely on that, so a derived, case-sensitive enum would not do.
impl<'de> Deserialize<'de> for Verbosity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "basic" => Ok(Verbosity::Basic),
            "normal" => Ok(Verbosity::Normal),
            "detailed" => Ok(Verbosity::Detailed),
            _ => Err(serde::de::Error::custom(format!(
                "unknown verbosity \"{s}\" (use basic, normal or detailed)"
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub verbosity: Verbosity,
    /// Batches logged in each one-second window before sampling starts.
    pub sampling_initial: u32,
    /// After the initial ones, every this-many-th batch in the window is logged; 0 logs none.
    pub sampling_thereafter: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { verbosity: Verbosity::Basic, sampling_initial: 2, sampling_thereafter: 1 }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_match_the_collector() {
        assert_eq!(parse("{}"), Ok(Config::default()));
        assert_eq!(Config::default().verbosity, Verbosity::Basic);
        assert_eq!((Config::default().sampling_initial, Config::default().sampling_thereafter), (2, 1));
    }

    #[test]
    fn verbosity_is_case_insensitive_and_errors_name_the_choices() {
        assert_eq!(parse("verbosity: Detailed").map(|c| c.verbosity), Ok(Verbosity::Detailed));
        assert_eq!(parse("verbosity: normal").map(|c| c.verbosity), Ok(Verbosity::Normal));
        let err = parse("verbosity: loud").expect_err("bad verbosity");
        assert!(err[0].starts_with("verbosity: unknown verbosity \"loud\""), "{err:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("use_internal_loger: true").expect_err("unknown key");
        assert!(err[0].contains("unknown field `use_internal_loger`"), "{err:?}");
    }
}
