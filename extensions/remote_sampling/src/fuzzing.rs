//! What the fuzz target `sampling_strategies` calls (see `tracegate_core::fuzzing` and
//! docs/fuzzing.md), public so the tests replay the committed inputs through it.
//!
//! The input is a strategies file (Jaeger's format). What parses is resolved for every
//! service it names and for an unknown one, and each answer is written in both HTTP forms
//! (`/sampling` and the legacy `/`): each must be valid JSON, or a clear encoding error.

use crate::json::{encode, Form};
use crate::strategies::Strategies;

/// The fuzz target `sampling_strategies`.
pub fn sampling_strategies(data: &[u8]) {
    let Ok(parsed) = Strategies::parse(data, 0.001) else { return };
    let strategies = &parsed.strategies;
    let services = strategies.services.keys().map(String::as_str).chain(["a service the file does not name"]);
    for service in services {
        let answer = strategies.strategy_for(service);
        for form in [Form::Proto, Form::Legacy] {
            if let Ok(json) = encode(answer, form) {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
                    panic!("the {form:?} answer for {service:?} is not JSON ({e}): {json}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tracegate_core::fuzzing::{replay, write_seed};

    use super::*;

    #[test]
    fn committed_inputs_replay() {
        replay("sampling_strategies", sampling_strategies);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples/sampling-strategies.json");
        write_seed("sampling_strategies", "example", &std::fs::read(&example).expect("the example file"));
        write_seed(
            "sampling_strategies",
            "every-shape",
            br#"{"service_strategies":[{"service":"a","type":"probabilistic","param":0.5,"operation_strategies":[{"operation":"op","type":"probabilistic","param":1}]},{"service":"b","type":"ratelimiting","param":70000}],"default_strategy":{"type":"probabilistic","param":0.001,"operation_strategies":[{"operation":"/health","type":"probabilistic","param":0}]}}"#,
        );
    }
}
