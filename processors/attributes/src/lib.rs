//! The `attributes`, `resource`, `span` and `filter` processors. (Being built; see issue 6.)
