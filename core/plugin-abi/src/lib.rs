//! The C ABI for dynamically loaded plugins. (Being built; see issue 8.)
