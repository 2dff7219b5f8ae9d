//! `cors:` next to an HTTP endpoint: the Collector's `confighttp.CORSConfig`, so a Collector
//! config that lets a browser app post OTLP/HTTP carries over unchanged.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       http:
//!         endpoint: 0.0.0.0:4318
//!         cors: { allowed_origins: [https://app.example.com, "https://*.example.org"], allowed_headers: [Authorization], max_age: 7200 }
//! ```
//!
//! CORS is off when `cors` is absent or lists no origin (as in the Collector, which then only
//! warns about `allowed_headers`: so do we). An origin may hold one `*` standing for any run of
//! characters (`https://*.example.com`), and `*` alone allows every origin, as the Collector's
//! `rs/cors` reads them; an origin with two `*` is refused here, since `rs/cors` would quietly
//! read it differently. How the listener answers is in `crate::server::headers`.

use serde::{Deserialize, Serialize};

use super::ConfigProblem;

/// Cross-origin requests a listener lets browsers make.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Values of `Origin` allowed; one `*` per origin matches any run of characters.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides the always-allowed `Accept`, `Accept-Language`,
    /// `Content-Type` and `Content-Language` (`X-Requested-With` too when none is listed);
    /// `*` allows any.
    pub allowed_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer; 0 sends no `Access-Control-Max-Age`.
    pub max_age: u64,
}

impl CorsConfig {
    /// True when this config turns CORS on (it lists at least one origin).
    pub fn is_enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    /// Whether `origin` (the request's `Origin` header) is allowed. Compared without regard
    /// to ASCII case, as `rs/cors` does.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.allowed_origins.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.split_once('*') {
                None => allowed == origin,
                Some((prefix, suffix)) => {
                    origin.len() >= prefix.len() + suffix.len()
                        && origin.starts_with(prefix)
                        && origin.ends_with(suffix)
                }
            }
        })
    }

    /// Problems of this section, relative to the `cors` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !self.is_enabled() && !self.allowed_headers.is_empty() {
            problems.push(ConfigProblem::warning(
                "allowed_origins",
                "is empty, so CORS stays off and allowed_headers is ignored; list the origins browsers may call from",
            ));
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            let why = if origin.trim().is_empty() {
                Some("is empty; write an origin such as https://app.example.com, or * for any")
            } else if origin.matches('*').count() > 1 {
                Some("has more than one *; one * may stand for any run of characters (e.g. https://*.example.com)")
            } else if origin.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
                Some("holds a space, comma or control character; list each origin as its own item")
            } else {
                None
            };
            if let Some(why) = why {
                problems.push(ConfigProblem::new(format!("allowed_origins::{i}"), format!("\"{origin}\" {why}")));
            }
        }
        for (i, name) in self.allowed_headers.iter().enumerate() {
            if name != "*" && axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(ConfigProblem::new(
                    format!("allowed_headers::{i}"),
                    format!("\"{name}\" is not a valid header name"),
                ));
            }
        }
        problems
    }
}

/// Validates an optional `cors` section found at `path` (e.g. `protocols::http::cors`).
pub fn validate_cors(cors: Option<&CorsConfig>, path: &str) -> Vec<ConfigProblem> {
    cors.map(|c| c.validate().into_iter().map(|p| p.under(path)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> CorsConfig {
        CorsConfig { allowed_origins: origins.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn origins_match_exactly_or_through_one_wildcard_ignoring_case() {
        let c = cors(&["https://app.example.com", "https://*.example.org"]);
        assert!(c.allows_origin("https://app.example.com"));
        assert!(c.allows_origin("HTTPS://APP.example.com"));
        assert!(!c.allows_origin("https://app.example.com.evil.net"));
        assert!(!c.allows_origin("http://app.example.com"));
        assert!(c.allows_origin("https://ui.example.org"));
        assert!(c.allows_origin("https://a.b.example.org"));
        assert!(!c.allows_origin("https://example.org"), "the wildcard's dot is not optional");
        assert!(!c.allows_origin("https://evil.net/.example.org.x"));
        assert!(cors(&["*"]).allows_origin("http://anything:8080"));
        assert!(!CorsConfig::default().allows_origin("https://app.example.com"));
    }

    #[test]
    fn bad_origins_and_headers_are_named_with_their_paths() {
        let mut c = cors(&["https://*.*.example.com", "", "a, b"]);
        c.allowed_headers = vec!["Authorization".into(), "bad header".into(), "*".into()];
        let problems = validate_cors(Some(&c), "http::cors");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["http::cors::allowed_origins::0", "http::cors::allowed_origins::1", "http::cors::allowed_origins::2", "http::cors::allowed_headers::1"]
        );
        assert!(problems.iter().all(ConfigProblem::is_error));
    }

    #[test]
    fn headers_without_origins_are_a_warning_as_in_the_collector() {
        let c = CorsConfig { allowed_headers: vec!["Authorization".into()], ..Default::default() };
        let problems = validate_cors(Some(&c), "cors");
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].is_error());
        assert!(validate_cors(Some(&cors(&["https://a.example"])), "cors").is_empty());
    }
}
