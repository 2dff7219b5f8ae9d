//! Builds running pipelines from a validated config.
