//! OTLP exporters: gRPC (otlp) and HTTP/protobuf (otlphttp)
