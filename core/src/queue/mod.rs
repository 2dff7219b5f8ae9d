//! The engine-owned sending queue, retry and timeout wrapped around every exporter.
