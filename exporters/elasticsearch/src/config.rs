//! Settings, in the shape of Jaeger v2's `elasticsearch` storage where a key exists there:
//! `endpoints` (round-robin with fail-over), `index_prefix`, `use_aliases`,
//! `create_index_templates` + `version` (auto | 7 | 8), `shards`/`replicas` for the templates,
//! `tags_as_fields`, `bulk` limits, `auth`, `tls`, `max_lookback` for reads.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracegate_core::config::{validate_auth, AuthConfig, ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;

use crate::indices_config::Indices;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Jaeger v2 spells it `server_urls`.
    #[serde(alias = "server_urls")]
    pub endpoints: Vec<String>,
    /// Indices are `<prefix>-jaeger-span-YYYY-MM-DD` (no prefix: `jaeger-span-...`).
    pub index_prefix: String,
    /// Write to `jaeger-span-write` / read `jaeger-span-read` (Jaeger's rollover layout).
    pub use_aliases: bool,
    /// Jaeger v2 spells it `create_mappings`.
    #[serde(alias = "create_mappings")]
    pub create_index_templates: bool,
    pub version: EsVersion,
    pub shards: u32,
    pub replicas: u32,
    pub tags_as_fields: TagsAsFields,
    /// Jaeger v2 spells it `bulk_processing`.
    #[serde(alias = "bulk_processing")]
    pub bulk: Bulk,
    pub auth: Auth,
    pub tls: Tls,
    /// How far back services, operations and searches without a start bound look.
    pub max_lookback: GoDuration,
    /// Most spans `dependencies` reads from a window (the computation is a bounded scan).
    pub max_dependency_spans: usize,
    /// Jaeger v2's `indices:` block (prefix, per-index shards/replicas, layout); see
    /// [`crate::indices_config`]. Read through [`Config::prefix`] and the template settings.
    #[serde(skip_serializing_if = "Indices::is_empty")]
    pub indices: Indices,
}

impl Config {
    /// The index prefix: `indices.index_prefix` (Jaeger v2) or `index_prefix`.
    pub fn prefix(&self) -> &str {
        if self.indices.index_prefix.is_empty() {
            &self.index_prefix
        } else {
            &self.indices.index_prefix
        }
    }

    /// Shards of the templates: `indices.spans.shards` or `shards`.
    pub fn template_shards(&self) -> u32 {
        self.indices.spans.shards.unwrap_or(self.shards)
    }

    /// Replicas of the templates: `indices.spans.replicas` or `replicas`.
    pub fn template_replicas(&self) -> u32 {
        self.indices.spans.replicas.unwrap_or(self.replicas)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://localhost:9200".into()],
            index_prefix: String::new(),
            use_aliases: false,
            create_index_templates: true,
            version: EsVersion::Auto,
            shards: 5,
            replicas: 1,
            tags_as_fields: TagsAsFields::default(),
            bulk: Bulk::default(),
            auth: Auth::default(),
            tls: Tls::default(),
            max_lookback: GoDuration::from_secs(72 * 3600),
            max_dependency_spans: 100_000,
            indices: Indices::default(),
        }
    }
}

/// Which template API to use; `auto` reads the version from `GET /` at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EsVersion {
    Auto,
    V7,
    V8,
}

impl Serialize for EsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EsVersion::Auto => s.serialize_str("auto"),
            EsVersion::V7 => s.serialize_u8(7),
            EsVersion::V8 => s.serialize_u8(8),
        }
    }
}

impl<'de> Deserialize<'de> for EsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(7) => Ok(EsVersion::V7),
            Raw::N(8) => Ok(EsVersion::V8),
            Raw::S(s) if s == "auto" => Ok(EsVersion::Auto),
            Raw::S(s) if s == "7" => Ok(EsVersion::V7),
            Raw::S(s) if s == "8" => Ok(EsVersion::V8),
            Raw::N(n) => Err(serde::de::Error::custom(format!("version {n} is not supported: use auto, 7 or 8"))),
            Raw::S(s) => Err(serde::de::Error::custom(format!("version \"{s}\" is not supported: use auto, 7 or 8"))),
        }
    }
}

/// Jaeger's `tags_as_fields`: tags also written as fields of a `tag` / `process.tag` object
/// (key dots replaced), so Kibana can filter on them; `all` or the keys in `include`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagsAsFields {
    pub all: bool,
    pub include: Vec<String>,
    pub dot_replacement: String,
}

impl Default for TagsAsFields {
    fn default() -> Self {
        Self { all: false, include: Vec::new(), dot_replacement: "@".into() }
    }
}

impl TagsAsFields {
    pub fn enabled(&self) -> bool {
        self.all || !self.include.is_empty()
    }

    pub fn covers(&self, key: &str) -> bool {
        self.all || self.include.iter().any(|k| k == key)
    }
}

/// Limits of one `_bulk` request; an export larger than either is sent as several requests.
/// `flush_interval` (default 0: each export is sent at once) lets concurrent exports share
/// requests: an export waits up to that long for others (see `coalesce`). Jaeger's 200ms
/// default is not taken because here an export waits for its outcome, so the interval is
/// added latency, and the `batch` processor already batches by time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bulk {
    pub max_bytes: usize,
    pub max_actions: usize,
    pub flush_interval: GoDuration,
}

impl Default for Bulk {
    fn default() -> Self {
        // Jaeger's size defaults: 5 MB, 1000 actions.
        Self { max_bytes: 5_000_000, max_actions: 1000, flush_interval: GoDuration::from_secs(0) }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAuth")]
pub struct Auth {
    pub username: String,
    pub password: String,
    /// Sent as `Authorization: ApiKey <api_key>` (the base64 `id:key` Elasticsearch issues).
    pub api_key: String,
    /// An authenticator extension's id (the Collector's `auth: { authenticator: <id> }`),
    /// instead of the keys above: its credentials go with every request.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authenticator: String,
}

/// [`Auth`] as written: the flat keys, or Jaeger v2's `basic: { username, password }`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
struct RawAuth {
    username: String,
    password: String,
    api_key: String,
    authenticator: String,
    basic: Option<BasicAuth>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BasicAuth {
    username: String,
    password: String,
}

impl TryFrom<RawAuth> for Auth {
    type Error = String;

    fn try_from(raw: RawAuth) -> Result<Self, String> {
        let (username, password) = match raw.basic {
            Some(_) if !raw.username.is_empty() || !raw.password.is_empty() => {
                return Err("set basic: { username, password } or username/password, not both".into())
            }
            Some(basic) => (basic.username, basic.password),
            None => (raw.username, raw.password),
        };
        Ok(Auth { username, password, api_key: raw.api_key, authenticator: raw.authenticator })
    }
}

impl Auth {
    /// The extension reference, when `authenticator` is set.
    pub fn extension(&self) -> Option<AuthConfig> {
        (!self.authenticator.is_empty()).then(|| AuthConfig { authenticator: self.authenticator.clone() })
    }
}

/// `tls:` for `https://` endpoints: the Collector's client shape, shared with every exporter.
pub use tracegate_core::config::TlsClientConfig as Tls;

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.endpoints.is_empty() {
            problems.push(ConfigProblem::new("endpoints", "needs at least one URL, e.g. http://localhost:9200"));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                problems.push(ConfigProblem::new(format!("endpoints::{i}"), format!("\"{e}\" must start with http:// or https://")));
            }
        }
        problems.extend(self.indices.validate(&self.index_prefix));
        if self.prefix().chars().any(|c| c.is_uppercase() || "\\/*?\"<>| ,#:".contains(c)) {
            problems.push(ConfigProblem::new("index_prefix", "must be lowercase without \\ / * ? \" < > | , # : or spaces (Elasticsearch index name rules)"));
        }
        if self.bulk.max_actions == 0 {
            problems.push(ConfigProblem::new("bulk::max_actions", "must be at least 1"));
        }
        if self.bulk.max_bytes < 1024 {
            problems.push(ConfigProblem::new("bulk::max_bytes", "must be at least 1024"));
        }
        if !self.auth.api_key.is_empty() && !self.auth.username.is_empty() {
            problems.push(ConfigProblem::new("auth", "set either username/password or api_key, not both"));
        }
        if !self.auth.authenticator.is_empty() {
            if !self.auth.api_key.is_empty() || !self.auth.username.is_empty() {
                problems.push(ConfigProblem::new("auth", "set either authenticator or username/password/api_key, not both"));
            }
            problems.extend(validate_auth(self.auth.extension().as_ref(), "auth"));
        }
        if self.auth.username.is_empty() != self.auth.password.is_empty() {
            problems.push(ConfigProblem::new("auth", "username and password go together"));
        }
        if self.tags_as_fields.dot_replacement.contains('.') {
            problems.push(ConfigProblem::new("tags_as_fields::dot_replacement", "must not contain '.'"));
        }
        if self.max_lookback.is_zero() {
            problems.push(ConfigProblem::new("max_lookback", "must be more than 0"));
        }
        if self.shards == 0 {
            problems.push(ConfigProblem::new("shards", "must be at least 1"));
        }
        if self.endpoints.iter().any(|e| e.trim().starts_with("https://")) {
            if self.tls.insecure {
                // Until the Collector's shape was adopted, `insecure` here skipped the check.
                problems.push(ConfigProblem::warning(
                    "tls::insecure",
                    "has no effect on https:// endpoints (the URL scheme decides TLS); to accept any certificate set insecure_skip_verify",
                ));
            } else {
                problems.extend(self.tls.validate().into_iter().map(|p| p.under("tls")));
            }
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
    fn jaegers_basic_auth_block_is_read() {
        let c = parse("auth: {basic: {username: elastic, password: s3cret}}").expect("valid");
        assert_eq!((c.auth.username.as_str(), c.auth.password.as_str()), ("elastic", "s3cret"));
        assert!(parse("auth: {username: a, basic: {username: b, password: c}}").is_err());
    }

    #[test]
    fn jaegers_indices_block_is_read() {
        let c = parse("{server_urls: [http://es:9200], create_mappings: false, indices: {index_prefix: jaeger-main, spans: {date_layout: '2006-01-02', rollover_frequency: day, shards: 3, replicas: 0}, services: {shards: 3, replicas: 0}}}")
            .expect("valid");
        assert_eq!((c.prefix(), c.template_shards(), c.template_replicas()), ("jaeger-main", 3, 0));
        assert_eq!((c.endpoints.as_slice(), c.create_index_templates), (&["http://es:9200".to_string()][..], false));
        let err = parse("indices: {spans: {rollover_frequency: hour}, services: {date_layout: '2006-01-02-15'}}").expect_err("hourly");
        assert!(err[0].starts_with("indices::spans::rollover_frequency: \"hour\" is not available"), "{err:?}");
        assert!(err[1].starts_with("indices::services::date_layout: \"2006-01-02-15\" is not available"), "{err:?}");
        let err = parse("{index_prefix: a, indices: {index_prefix: b}}").expect_err("two prefixes");
        assert!(err[0].contains("disagree"), "{err:?}");
    }

    #[test]
    fn defaults_and_problems() {
        let c = parse("{}").expect("defaults");
        assert_eq!(c.endpoints, ["http://localhost:9200"]);
        assert_eq!(c.version, EsVersion::Auto);
        assert_eq!(c.bulk.max_actions, 1000);
        assert_eq!(parse("version: 7").expect("7").version, EsVersion::V7);
        assert_eq!(parse("version: '8'").expect("8").version, EsVersion::V8);
        assert!(parse("version: 6").is_err());
        let err = parse("{endpoints: [localhost:9200], auth: {username: u}}").expect_err("bad");
        assert_eq!(err, ["endpoints::0: \"localhost:9200\" must start with http:// or https://", "auth: username and password go together"]);
        assert!(parse("index: x").expect_err("unknown")[0].contains("unknown field `index`"));
        assert!(parse("tags_as_fields: {all: true, dot_replacement: '.'}").is_err());
    }
}
