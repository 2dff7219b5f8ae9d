//! nop exporter: accepts and discards (for benchmarks)
