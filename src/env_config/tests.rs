//! The mapping from Jaeger's variables to a config, checked against the real registry: every
//! tree produced here must pass the same validation a file does.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;
use tracegate_core::config::validate;
use tracegate_core::factory::Registry;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The tree for `pairs`, after checking that it validates without errors.
fn valid_tree(pairs: &[(&str, &str)]) -> (Value, Vec<ConfigProblem>) {
    crate::components::link();
    let made = from_env(env(pairs)).unwrap_or_else(|p| panic!("env refused: {p:?}"));
    if let Err(problems) = validate(&made.root, &Registry::builtin()) {
        panic!("the config made from {pairs:?} does not validate: {problems:?}\n{}", serde_yaml_ng::to_string(&made.root).unwrap_or_default());
    }
    (made.root, made.warnings)
}

fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
    match from_env(env(pairs)) {
        Ok(_) => panic!("{pairs:?} was accepted"),
        Err(problems) => problems.iter().filter(|p| p.is_error()).map(ToString::to_string).collect(),
    }
}

#[test]
fn no_variables_is_jaegers_all_in_one_on_memory() {
    let (root, warnings) = valid_tree(&[]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let pipeline = &root["service"]["pipelines"]["traces"];
    assert_eq!(pipeline["receivers"], serde_yaml_ng::from_str::<Value>("[otlp, jaeger]").unwrap());
    assert_eq!(pipeline["exporters"], serde_yaml_ng::from_str::<Value>("[memory]").unwrap());
    assert_eq!(root["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], Value::from(":4317"));
    assert_eq!(root["receivers"]["jaeger"]["protocols"]["thrift_compact"]["endpoint"], Value::from(":6831"));
    assert_eq!(root["extensions"]["jaeger_query"]["storage"], Value::from("memory"));
    assert_eq!(root["extensions"]["jaeger_query"]["http"]["endpoint"], Value::from(":16686"));
    // Zipkin and the sampling port stay off unless asked for, as in Jaeger.
    assert!(root["receivers"].get("zipkin").is_none());
    assert!(root["extensions"].get("remote_sampling").is_none());
    assert_eq!(root["extensions"]["health_check/admin"]["endpoint"], Value::from(":14269"));
}

#[test]
fn badger_becomes_sled_with_its_directory_and_ttl() {
    let (root, _) = valid_tree(&[
        ("SPAN_STORAGE_TYPE", "badger"),
        ("BADGER_EPHEMERAL", "false"),
        ("BADGER_DIRECTORY_VALUE", "/badger/data"),
        ("BADGER_SPAN_STORE_TTL", "168h"),
    ]);
    assert_eq!(root["exporters"]["sled"]["path"], Value::from("/badger/data"));
    assert_eq!(root["exporters"]["sled"]["retention"], Value::from("168h"));
    assert_eq!(root["extensions"]["jaeger_query"]["storage"], Value::from("sled"));
}

#[test]
fn badger_is_ephemeral_by_default_as_in_jaeger() {
    let made = from_env(env(&[("SPAN_STORAGE_TYPE", "badger"), ("BADGER_DIRECTORY_VALUE", "/x")])).expect("valid");
    let dir = made.ephemeral_dir.expect("an ephemeral directory");
    assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());
    assert_eq!(made.root["exporters"]["sled"]["path"], Value::from(dir.to_string_lossy().as_ref()));
    assert!(made.warnings.iter().any(|w| w.to_string().starts_with("BADGER_DIRECTORY_VALUE: not used")), "{:?}", made.warnings);
}

#[test]
fn elasticsearch_takes_jaegers_es_variables() {
    let (root, _) = valid_tree(&[
        ("SPAN_STORAGE_TYPE", "elasticsearch"),
        ("ES_SERVER_URLS", "http://es-1:9200, http://es-2:9200"),
        ("ES_INDEX_PREFIX", "prod"),
        ("ES_NUM_SHARDS", "3"),
        ("ES_NUM_REPLICAS", "0"),
        ("ES_USERNAME", "elastic"),
        ("ES_PASSWORD", "changeme"),
    ]);
    let es = &root["exporters"]["elasticsearch"];
    assert_eq!(es["endpoints"], serde_yaml_ng::from_str::<Value>("[http://es-1:9200, http://es-2:9200]").unwrap());
    assert_eq!((&es["index_prefix"], &es["shards"], &es["replicas"]), (&Value::from("prod"), &Value::from(3), &Value::from(0)));
    assert_eq!(es["auth"]["password"], Value::from("changeme"));
    assert_eq!(es["version"], Value::from("auto"));
    assert_eq!(root["extensions"]["jaeger_query"]["storage"], Value::from("elasticsearch"));
}

#[test]
fn opensearch_is_the_elasticsearch_exporter_on_version_7() {
    let (root, _) = valid_tree(&[("SPAN_STORAGE_TYPE", "opensearch"), ("ES_SERVER_URLS", "http://os:9200")]);
    assert_eq!(root["exporters"]["elasticsearch/opensearch"]["version"], Value::from(7));
    assert_eq!(root["extensions"]["jaeger_query"]["storage"], Value::from("elasticsearch/opensearch"));
}

#[test]
fn kafka_is_a_collector_without_the_query_api() {
    let (root, warnings) = valid_tree(&[("SPAN_STORAGE_TYPE", "kafka"), ("KAFKA_PRODUCER_BROKERS", "k1:9092,k2:9092"), ("KAFKA_PRODUCER_TOPIC", "spans")]);
    let kafka = &root["exporters"]["kafka"];
    assert_eq!(kafka["brokers"], serde_yaml_ng::from_str::<Value>("[k1:9092, k2:9092]").unwrap());
    assert_eq!((&kafka["topic"], &kafka["encoding"]), (&Value::from("spans"), &Value::from("jaeger_proto")));
    assert!(root["extensions"].get("jaeger_query").is_none());
    assert!(warnings.iter().any(|w| w.to_string().contains("collector only")), "{warnings:?}");
}

#[test]
fn several_storage_types_write_to_each_and_read_the_first() {
    let (root, _) = valid_tree(&[("SPAN_STORAGE_TYPE", "elasticsearch,kafka")]);
    assert_eq!(root["service"]["pipelines"]["traces"]["exporters"], serde_yaml_ng::from_str::<Value>("[elasticsearch, kafka]").unwrap());
    assert_eq!(root["extensions"]["jaeger_query"]["storage"], Value::from("elasticsearch"));
}

#[test]
fn ports_base_path_sampling_and_zipkin_follow_jaegers_variables() {
    let (root, _) = valid_tree(&[
        ("COLLECTOR_ZIPKIN_HOST_PORT", "9412"),
        ("COLLECTOR_OTLP_GRPC_HOST_PORT", "127.0.0.1:5317"),
        ("QUERY_BASE_PATH", "/jaeger"),
        ("SAMPLING_STRATEGIES_FILE", "/etc/jaeger/sampling_strategies.json"),
        ("MEMORY_MAX_TRACES", "5000"),
    ]);
    assert_eq!(root["receivers"]["zipkin"]["endpoint"], Value::from(":9412"));
    assert_eq!(root["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], Value::from("127.0.0.1:5317"));
    assert_eq!(root["extensions"]["jaeger_query"]["base_path"], Value::from("/jaeger"));
    assert_eq!(root["extensions"]["remote_sampling"]["file"]["path"], Value::from("/etc/jaeger/sampling_strategies.json"));
    assert_eq!(root["extensions"]["remote_sampling"]["http"]["endpoint"], Value::from(":5778"));
    assert_eq!(root["exporters"]["memory"]["max_traces"], Value::from(5000));
    let (older, _) = valid_tree(&[("COLLECTOR_ZIPKIN_HTTP_PORT", "9411")]);
    assert_eq!(older["receivers"]["zipkin"]["endpoint"], Value::from(":9411"));
}

#[test]
fn otlp_can_be_turned_off() {
    let (root, _) = valid_tree(&[("COLLECTOR_OTLP_ENABLED", "false")]);
    assert!(root["receivers"].get("otlp").is_none());
    assert_eq!(root["service"]["pipelines"]["traces"]["receivers"], serde_yaml_ng::from_str::<Value>("[jaeger]").unwrap());
}

#[test]
fn an_unknown_storage_type_names_the_accepted_ones() {
    let errs = errors(&[("SPAN_STORAGE_TYPE", "mongodb")]);
    assert_eq!(errs, ["SPAN_STORAGE_TYPE: unknown span storage type \"mongodb\"; accepted values: memory, badger, elasticsearch, opensearch, kafka, blackhole"]);
    let errs = errors(&[("SPAN_STORAGE_TYPE", "cassandra")]);
    assert!(errs[0].contains("Cassandra is not available") && errs[0].contains("accepted values: memory,"), "{errs:?}");
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let errs = errors(&[
        ("COLLECTOR_OTLP_ENABLED", "yes"),
        ("BADGER_SPAN_STORE_TTL", "3 days"),
        ("SPAN_STORAGE_TYPE", "badger"),
        ("ES_NUM_SHARDS", "many"),
        ("KAFKA_PRODUCER_ENCODING", "avro"),
    ]);
    // ES_ and KAFKA_ values are only read for those storage types; the rest are all here.
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("COLLECTOR_OTLP_ENABLED: \"yes\" is not a boolean")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("BADGER_SPAN_STORE_TTL:")), "{errs:?}");
}

#[test]
fn jaeger_settings_not_carried_over_are_warned_about() {
    let (_, warnings) = valid_tree(&[("CASSANDRA_SERVERS", "c1"), ("ES_SERVER_URLS", "http://es:9200")]);
    let named: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert!(named.iter().any(|w| w.starts_with("CASSANDRA_SERVERS: a Jaeger setting")), "{named:?}");
    // ES_ variables are only read when SPAN_STORAGE_TYPE names Elasticsearch.
    assert!(named.iter().any(|w| w.starts_with("ES_SERVER_URLS: a Jaeger setting")), "{named:?}");
}
