//! The `probabilistic_sampler` processor. (Being built; see issue 6.)
