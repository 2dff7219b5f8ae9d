//! A fake Elasticsearch for tests. (Being built; see issue 7.)
