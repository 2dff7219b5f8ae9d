//! The `kafka` receiver. (Being built; see issue 7.)
