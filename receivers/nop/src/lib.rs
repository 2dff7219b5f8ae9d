//! nop receiver: receives nothing (for benchmarks and tests)
