//! What the `config` target does, with every built-in component linked, so validation also
//! reads each component's own config (its serde shape and `validate()`). A separate target
//! so that `config` stays small and fast to build; once its corpus has grown, an execution
//! here costs about as much as one of `config` (3.9k against 4.4k executions per second in
//! the last long run, docs/fuzzing.md).
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

use std::sync::OnceLock;

use tracegate_core::factory::Registry;

// Linked so that their factories register (as src/components.rs does for the binary).
use tracegate_exporter_debug as _;
use tracegate_exporter_elasticsearch as _;
use tracegate_exporter_file as _;
use tracegate_exporter_kafka as _;
use tracegate_exporter_loadbalancing as _;
use tracegate_exporter_memory as _;
use tracegate_exporter_nop as _;
use tracegate_exporter_otlp as _;
use tracegate_exporter_sled as _;
use tracegate_extension_auth as _;
use tracegate_extension_file_storage as _;
use tracegate_extension_health_check as _;
use tracegate_extension_jaeger_query as _;
use tracegate_extension_jaeger_storage as _;
use tracegate_extension_remote_sampling as _;
use tracegate_processor_attributes as _;
use tracegate_processor_filter as _;
use tracegate_processor_resource as _;
use tracegate_processor_span as _;
use tracegate_processor_batch as _;
use tracegate_processor_memory_limiter as _;
use tracegate_processor_probabilistic_sampler as _;
use tracegate_processor_tail_sampling as _;
use tracegate_receiver_jaeger as _;
use tracegate_receiver_kafka as _;
use tracegate_receiver_nop as _;
use tracegate_receiver_otlp as _;
use tracegate_receiver_zipkin as _;

static REGISTRY: OnceLock<Registry> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tracegate_core::fuzzing::config(data, REGISTRY.get_or_init(Registry::builtin));
});
