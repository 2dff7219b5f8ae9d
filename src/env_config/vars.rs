//! Reading Jaeger's environment variables with Jaeger's value rules, collecting every bad
//! value as a [`ConfigProblem`] named after its variable instead of stopping at the first.
//!
//! Jaeger v1 reads its flags through viper, so each `--a.b-c` flag is also the variable
//! `A_B_C`; values follow Go's parsers: `strconv.ParseBool` for booleans, `time.ParseDuration`
//! for durations, comma-separated lists with blanks stripped, and `host:port` where a bare
//! port `9411` means `:9411` (`ports.FormatHostPort`).

use std::collections::{BTreeMap, BTreeSet};

use tracegate_core::config::{parse_go_duration, ConfigProblem};

/// A snapshot of the environment, the variables read from it, and the problems found.
pub struct Env {
    vars: BTreeMap<String, String>,
    read: BTreeSet<String>,
    pub problems: Vec<ConfigProblem>,
}

impl Env {
    pub fn new(vars: BTreeMap<String, String>) -> Self {
        Self { vars, read: BTreeSet::new(), problems: Vec::new() }
    }

    /// The variable's value; an empty value counts as unset, as viper treats it.
    pub fn get(&mut self, name: &str) -> Option<String> {
        self.read.insert(name.to_string());
        self.vars.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    pub fn string(&mut self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem::new(name, message));
    }

    pub fn warn(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem::warning(name, message));
    }

    /// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True and their false forms.
    pub fn bool(&mut self, name: &str, default: bool) -> bool {
        let Some(raw) = self.get(name) else { return default };
        match raw.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => {
                self.error(name, format!("\"{raw}\" is not a boolean; use true or false"));
                default
            }
        }
    }

    pub fn uint(&mut self, name: &str, default: u64) -> u64 {
        let Some(raw) = self.get(name) else { return default };
        raw.parse().unwrap_or_else(|_| {
            self.error(name, format!("\"{raw}\" is not a whole number of 0 or more"));
            default
        })
    }

    /// A Go duration (`72h`, `90m`, `1h30m`), returned in its canonical text.
    pub fn duration(&mut self, name: &str, default: &str) -> String {
        let Some(raw) = self.get(name) else { return default.to_string() };
        match parse_go_duration(&raw) {
            Ok(_) => raw,
            Err(e) => {
                self.error(name, format!("{e} (a Go duration such as 72h or 90m)"));
                default.to_string()
            }
        }
    }

    /// A comma-separated list, blanks stripped and empty items dropped.
    pub fn list(&mut self, name: &str, default: &str) -> Vec<String> {
        let raw = self.string(name, default);
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    /// A listen address: `host:port`, `:port`, or a bare port (Jaeger's `FormatHostPort`).
    pub fn host_port(&mut self, name: &str, default: &str) -> String {
        let raw = self.string(name, default);
        if raw.contains(':') {
            raw
        } else {
            format!(":{raw}")
        }
    }

    /// Variables that are set, look like Jaeger settings (`prefixes`), and were never read:
    /// settings a user brought that this mapping does not carry over.
    pub fn unread_with_prefix(&self, prefixes: &[&str]) -> Vec<String> {
        self.vars
            .iter()
            .filter(|(k, v)| !v.trim().is_empty() && !self.read.contains(*k))
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, _)| k.clone())
            .collect()
    }
}
