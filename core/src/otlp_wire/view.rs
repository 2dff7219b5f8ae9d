//! Zero-copy views of OTLP spans over request bytes (being written).
