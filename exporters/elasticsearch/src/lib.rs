//! The `elasticsearch` exporter. (Being built; see issue 7.)
