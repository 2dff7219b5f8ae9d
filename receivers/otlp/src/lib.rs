//! OTLP receiver: gRPC (4317) and HTTP (4318)
