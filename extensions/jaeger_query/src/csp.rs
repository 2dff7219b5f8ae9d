//! The Content-Security-Policy of the query listener: the UI may run only its own scripts and
//! styles, talk only to its own origin, and be framed only by `frame_ancestors`.
//!
//! Why: the UI shows data that anyone who can send a span controls (service names, tags, logs).
//! It renders them as text, never as markup, but should a bug ever let one through, this policy
//! stops an injected `<script>`, inline handler, inline `<style>` or off-site fetch from
//! running. The UI is written to live under it: no inline script or style in `index.html`
//! (the theme is set by `static/theme.js`), styles set from code through the CSSOM (which the
//! policy allows), and every request goes to its own origin (`connect-src 'self'` covers the
//! API, the live tail's event stream and the login check).
//!
//! `frame-ancestors` defaults to `'none'` rather than `'self'`: the UI never frames itself, so
//! `'self'` would only open a door nothing uses, and clickjacking protection is then complete
//! by default. Who embeds the UI (a portal, a Grafana panel) lists its origins, e.g.
//! `frame_ancestors: ["'self'", "https://grafana.example.com"]`.

use tracegate_core::config::ConfigProblem;

/// `frame_ancestors` unless configured.
pub fn default_frame_ancestors() -> Vec<String> {
    vec!["'none'".to_string()]
}

/// The whole policy, with `frame_ancestors` as its frame-ancestors sources.
pub fn policy(frame_ancestors: &[String]) -> String {
    let ancestors: Vec<String> = if frame_ancestors.is_empty() {
        default_frame_ancestors()
    } else {
        frame_ancestors.iter().map(|s| quote_keyword(s)).collect()
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {}",
        ancestors.join(" ")
    )
}

/// `self` and `none` written without their quotes (an easy slip in YAML) get them.
fn quote_keyword(source: &str) -> String {
    match source {
        "self" | "none" => format!("'{source}'"),
        other => other.to_string(),
    }
}

/// Problems of the `frame_ancestors` list found at `path`.
pub fn validate_frame_ancestors(sources: &[String], path: &str) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let quoted: Vec<String> = sources.iter().map(|s| quote_keyword(s)).collect();
    if quoted.len() > 1 && quoted.iter().any(|s| s == "'none'") {
        problems.push(ConfigProblem::new(path, "'none' cannot be combined with other sources; list either 'none' or the allowed sources"));
    }
    for (i, source) in quoted.iter().enumerate() {
        let bad = source.is_empty()
            || source.contains(|c: char| c.is_whitespace() || c.is_control() || c == ';' || c == ',')
            || (source.starts_with('\'') && source != "'self'" && source != "'none'");
        if bad {
            problems.push(ConfigProblem::new(
                format!("{path}::{i}"),
                format!("\"{source}\" is not a frame-ancestors source: use 'none', 'self', or an origin such as https://grafana.example.com (one per item)"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_policy_allows_only_the_uis_own_resources_and_no_framing() {
        let p = policy(&default_frame_ancestors());
        for directive in ["script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"] {
            assert!(p.contains(directive), "{directive} not in {p}");
        }
        assert!(!p.contains("unsafe"), "{p}");
        assert!(axum::http::HeaderValue::try_from(p).is_ok());
    }

    #[test]
    fn configured_ancestors_are_quoted_where_needed_and_checked() {
        assert!(policy(&list(&["self", "https://grafana.example.com"])).ends_with("frame-ancestors 'self' https://grafana.example.com"));
        assert!(validate_frame_ancestors(&list(&["'self'", "https://*.example.com"]), "http::frame_ancestors").is_empty());
        let problems = validate_frame_ancestors(&list(&["none", "'self'", "a; script-src *", "'unsafe-inline'"]), "http::frame_ancestors");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["http::frame_ancestors", "http::frame_ancestors::2", "http::frame_ancestors::3"]);
    }
}
