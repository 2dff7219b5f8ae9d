//! The `memory_limiter` processor. (Being built; see issue 6.)
