//! The committed inputs of the targets whose checks live in this crate, replayed; and the
//! writer of their seeds.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue, KeyValueList};
use prost::Message;

use super::*;
use crate::factory::Registry;
use crate::queue::disk::log::encode_record;

#[test]
fn otlp_proto_inputs_replay() {
    // The check lives with the reader it checks (`tracegate_pdata::fuzzing`); the committed
    // inputs and the replay live here, with every other target's.
    replay("otlp_proto", tracegate_pdata::fuzzing::otlp_request);
}

#[test]
fn config_inputs_replay() {
    // This test links no component crate, so validation finds none of their types: the
    // parsing, expansion and override steps are what runs here (the fuzz target links all).
    let registry = Registry::builtin();
    replay("config", |data| config(data, &registry));
}

#[test]
fn disk_queue_inputs_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    replay("disk_queue", |data| disk_queue(dir.path(), data));
}

/// An attribute whose value nests `levels` key-value lists: prost reads up to 100 levels,
/// the in-place check follows [`tracegate_pdata::validate::MAX_DEPTH`].
fn nested(levels: usize) -> ExportTraceServiceRequest {
    let mut value = Value::StringValue("bottom".into());
    for _ in 0..levels {
        value = Value::KvlistValue(KeyValueList {
            values: vec![KeyValue { key: "k".into(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }],
        });
    }
    let mut request = sample_request();
    request.resource_spans[0].scope_spans[0].spans[0].attributes =
        vec![KeyValue { key: "deep".into(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }];
    request
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand when a format changes"]
fn write_fuzz_seeds() {
    let sample = sample_request().encode_to_vec();
    write_seed("otlp_proto", "sample", &sample);
    let mut bad_ids = sample_request();
    bad_ids.resource_spans[1].scope_spans[0].spans[0].trace_id = vec![0; 16];
    write_seed("otlp_proto", "invalid-trace-id", &bad_ids.encode_to_vec());
    write_seed("otlp_proto", "nested-30", &nested(30).encode_to_vec());
    write_seed("otlp_proto", "nested-40", &nested(40).encode_to_vec());
    // An unknown field 9 holding a group (start 9/3, a varint field 1, end 9/4): prost skips
    // it, the check declines it.
    let mut grouped = vec![0x4b, 0x08, 0x01, 0x4c];
    grouped.extend_from_slice(&sample);
    write_seed("otlp_proto", "unknown-group", &grouped);

    for example in ["all-in-one.yaml", "tail-sampling.yaml", "fanout.yaml", "attributes.yaml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples").join(example);
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        write_seed("config", example, &text);
    }
    let with_sets = b"receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:HOST_4317}\n\
processors:\n  batch:\n    timeout: ${env:UNSET_TIMEOUT:-200ms}\nexporters:\n  debug: {}\n\
service:\n  pipelines:\n    traces: { receivers: [otlp], processors: [batch], exporters: [debug] }\n\
\0processors.batch.send_batch_size=512\nservice::telemetry::logs::level=debug\nexporters.debug.verbosity=[1, {a: 2}]\n";
    write_seed("config", "env-and-sets", with_sets);
    write_seed("config", "duration", b"1h2m3.5s");

    let one = encode_record(7, &sample);
    let two = encode_record(8, &ExportTraceServiceRequest::default().encode_to_vec());
    let mut plain = vec![0];
    plain.extend_from_slice(&one);
    plain.extend_from_slice(&two);
    write_seed("disk_queue", "two-records", &plain);
    let mut acked = vec![1];
    acked.extend_from_slice(&8u64.to_le_bytes());
    acked.extend_from_slice(&crc32fast::hash(&8u64.to_le_bytes()).to_le_bytes());
    acked.extend_from_slice(&one);
    acked.extend_from_slice(&two);
    write_seed("disk_queue", "ack-then-records", &acked);
    let mut damaged = plain.clone();
    damaged[30] ^= 0xff;
    damaged.truncate(damaged.len() - 3);
    write_seed("disk_queue", "damaged-and-torn", &damaged);
    let mut split = vec![2];
    split.extend_from_slice(&u16::try_from(one.len()).expect("small record").to_le_bytes());
    split.extend_from_slice(&one);
    split.extend_from_slice(&two);
    write_seed("disk_queue", "two-segments", &split);
}
