//! The exporter and reader against the fake Elasticsearch, in process.
