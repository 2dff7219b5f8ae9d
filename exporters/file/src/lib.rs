//! file exporter: writes spans as OTLP JSON or protobuf, one batch per line/frame
