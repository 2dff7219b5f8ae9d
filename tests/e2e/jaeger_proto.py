"""Jaeger's `api_v2` protobuf messages (jaeger-idl `model.proto`, `collector.proto`,
`sampling.proto`) for the tests, built at import from descriptors in a private pool.

No Python package on PyPI ships these generated for today's protobuf runtime, and the tests may
not run protoc; a descriptor is the same schema, written as data. Field numbers and types are
jaeger-idl's (only what the tests use of sampling.proto).
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory, timestamp_pb2

T = descriptor_pb2.FieldDescriptorProto
PACKAGE = "jaeger.api_v2"

# message -> [(number, name, type, type name or None, repeated)]
MESSAGES = {
    "KeyValue": [(1, "key", T.TYPE_STRING, None, False), (2, "v_type", T.TYPE_ENUM, "ValueType", False),
                 (3, "v_str", T.TYPE_STRING, None, False), (4, "v_bool", T.TYPE_BOOL, None, False),
                 (5, "v_int64", T.TYPE_INT64, None, False), (6, "v_float64", T.TYPE_DOUBLE, None, False),
                 (7, "v_binary", T.TYPE_BYTES, None, False)],
    "Log": [(1, "timestamp", T.TYPE_MESSAGE, ".google.protobuf.Timestamp", False),
            (2, "fields", T.TYPE_MESSAGE, "KeyValue", True)],
    "SpanRef": [(1, "trace_id", T.TYPE_BYTES, None, False), (2, "span_id", T.TYPE_BYTES, None, False),
                (3, "ref_type", T.TYPE_ENUM, "SpanRefType", False)],
    "Process": [(1, "service_name", T.TYPE_STRING, None, False), (2, "tags", T.TYPE_MESSAGE, "KeyValue", True)],
    "Span": [(1, "trace_id", T.TYPE_BYTES, None, False), (2, "span_id", T.TYPE_BYTES, None, False),
             (3, "operation_name", T.TYPE_STRING, None, False), (4, "references", T.TYPE_MESSAGE, "SpanRef", True),
             (5, "flags", T.TYPE_UINT32, None, False),
             (6, "start_time", T.TYPE_MESSAGE, ".google.protobuf.Timestamp", False),
             (7, "duration", T.TYPE_MESSAGE, ".google.protobuf.Duration", False),
             (8, "tags", T.TYPE_MESSAGE, "KeyValue", True), (9, "logs", T.TYPE_MESSAGE, "Log", True),
             (10, "process", T.TYPE_MESSAGE, "Process", False), (11, "process_id", T.TYPE_STRING, None, False),
             (12, "warnings", T.TYPE_STRING, None, True)],
    "Batch": [(1, "spans", T.TYPE_MESSAGE, "Span", True), (2, "process", T.TYPE_MESSAGE, "Process", False)],
    "PostSpansRequest": [(1, "batch", T.TYPE_MESSAGE, "Batch", False)],
    "PostSpansResponse": [],
    "ProbabilisticSamplingStrategy": [(1, "samplingRate", T.TYPE_DOUBLE, None, False)],
    "RateLimitingSamplingStrategy": [(1, "maxTracesPerSecond", T.TYPE_INT32, None, False)],
    "SamplingStrategyParameters": [(1, "serviceName", T.TYPE_STRING, None, False)],
    "SamplingStrategyResponse": [
        (1, "strategyType", T.TYPE_ENUM, "SamplingStrategyType", False),
        (2, "probabilisticSampling", T.TYPE_MESSAGE, "ProbabilisticSamplingStrategy", False),
        (3, "rateLimitingSampling", T.TYPE_MESSAGE, "RateLimitingSamplingStrategy", False)],
}
ENUMS = {
    "ValueType": ["STRING", "BOOL", "INT64", "FLOAT64", "BINARY"],
    "SpanRefType": ["CHILD_OF", "FOLLOWS_FROM"],
    "SamplingStrategyType": ["PROBABILISTIC", "RATE_LIMITING"],
}

POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"
GET_SAMPLING_STRATEGY = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"


def _build() -> dict:
    f = descriptor_pb2.FileDescriptorProto(
        name="e2e/jaeger_api_v2.proto", package=PACKAGE, syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"],
    )
    for name, values in ENUMS.items():
        enum = f.enum_type.add(name=name)
        for number, value in enumerate(values):
            enum.value.add(name=value, number=number)
    for name, fields in MESSAGES.items():
        message = f.message_type.add(name=name)
        for number, field_name, field_type, type_name, repeated in fields:
            field = message.field.add(
                name=field_name, number=number, type=field_type,
                label=T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = type_name if type_name.startswith(".") else f".{PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    for well_known in (timestamp_pb2, duration_pb2):
        pool.AddSerializedFile(well_known.DESCRIPTOR.serialized_pb)
    pool.Add(f)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in MESSAGES}


M = _build()
