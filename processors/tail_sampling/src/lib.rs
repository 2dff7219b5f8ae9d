//! The `tail_sampling` processor. (Being built; see issue 6.)
