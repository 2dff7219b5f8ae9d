//! The component crates this binary links. Each registers its factories with `inventory`;
//! naming the crate here is what makes the linker keep it.

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

/// Called once from `main` so this module is never optimised away.
pub fn link() {}
