//! Example plugin. (Being built; see issue 8.)
