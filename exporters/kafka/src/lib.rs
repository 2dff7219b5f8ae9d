//! The `kafka` exporter. (Being built; see issue 7.)
