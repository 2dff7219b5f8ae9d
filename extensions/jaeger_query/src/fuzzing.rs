//! What the fuzz target `query_params` calls (see `tracegate_core::fuzzing` and
//! docs/fuzzing.md), public so the tests replay the committed inputs through it.
//!
//! The input is a query string as it follows `?` in a request to 16686. It is split into
//! parameters by axum's `Query` extractor, as every handler receives them, then read by the
//! v1 search (`/api/traces`), api_v3's `FindTraces` (`/api/v3/traces`), the dependencies'
//! `endTs`, api_v3's GetTrace parameters, and each value as a trace id (the `/api/traces/{id}`
//! path, and `/api/v3/traces/{id}`'s hex or base64), an RFC 3339 time and a Go duration. A
//! trace id that parses prints back as the same.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::Uri;

use crate::api::parse_search;
use crate::apiv3::parse_query;
use crate::apiv3_params::{check_trace_params, trace_id_from_string};
use crate::model::trace_id_string;
use crate::params::{parse_duration, parse_time, parse_trace_id, Params};
use crate::rfc3339::parse_rfc3339;

/// The fuzz target `query_params`.
pub fn query_params(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    // What hyper would refuse never reaches a handler.
    let Ok(uri) = format!("/api/traces?{query}").parse::<Uri>() else { return };
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&uri) else { return };
    let params = Params(pairs);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = parse_search(&params, now);
    let _ = parse_query(&params);
    let _ = parse_time(&params, "endTs", Duration::from_millis(1));
    let _ = check_trace_params(&params);
    for (_, value) in &params.0 {
        if let Ok(id) = parse_trace_id(value) {
            assert_eq!(parse_trace_id(&trace_id_string(&id)), Ok(id), "trace id {value:?} printed back");
        }
        if let Ok(id) = trace_id_from_string(value) {
            // Hex or base64, the id is 16 bytes that print back to themselves.
            assert_eq!(parse_trace_id(&trace_id_string(&id)), Ok(id), "v3 trace id {value:?} printed back");
        }
        let _ = parse_rfc3339(value);
        let _ = parse_duration(value);
    }
}

#[cfg(test)]
mod tests {
    use tracegate_core::fuzzing::{replay, write_seed};

    use super::*;

    #[test]
    fn committed_inputs_replay() {
        replay("query_params", query_params);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let seeds: [(&str, &str); 4] = [
            ("v1-search", "service=frontend&operation=GET%20%2Fapi&tag=http.status_code%3A500&tags=%7B%22error%22%3A%22true%22%7D&start=1700000000000000&end=1700000360000000&minDuration=1.5ms&maxDuration=2s&limit=20&lookback=1h"),
            ("v1-trace-ids", "traceID=5b8efff798038103d269b633813fc60c&traceID=1&raw=true&prettyPrint=true"),
            ("v3-find", "query.service_name=frontend&query.operation_name=op&query.start_time_min=2023-11-14T22:13:20Z&query.start_time_max=2023-11-14T22:13:20.123456789%2B01:00&query.duration_min=1ms&query.search_depth=20&query.attributes=%7B%22k%22%3A%22v%22%7D&query.attributes=a%3Ab"),
            ("dependencies", "endTs=1700000000000&lookback=86400000&service=frontend"),
        ];
        for (name, query) in seeds {
            write_seed("query_params", name, query.as_bytes());
        }
    }
}
