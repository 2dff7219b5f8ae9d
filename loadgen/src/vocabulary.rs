//! The words the realistic shape is made of: service names, routes, methods, database
//! systems, SDK languages, user agents and error texts, and how to draw one. Kept apart (and
//! unformatted, one table to a few lines) so `topology` and `realistic` read as logic and the
//! vocabulary is easy to extend.

use rand::Rng;

/// Service names; the first five are entry points and front ends. Past the end, names repeat
/// with a suffix (`orders-2`).
#[rustfmt::skip]
pub const NAMES: &[&str] = &[
    "frontend", "api-gateway", "mobile-bff", "web-bff", "partner-api", "auth", "users",
    "orders", "checkout", "cart", "catalog", "inventory", "pricing", "payment", "shipping",
    "search", "recommendation", "reviews", "notification", "email", "currency", "fraud",
    "ledger", "accounting", "media", "geo", "session", "config", "feature-flags", "ads",
    "loyalty", "coupons", "tax", "invoices", "warehouse", "fulfillment", "returns",
    "analytics", "audit", "identity", "billing", "subscriptions", "quotes", "wishlist",
];

/// Route templates: `{n}` is the service's noun, `{s}` one of [`SUBS`].
#[rustfmt::skip]
pub const ROUTES: &[&str] = &[
    "/api/{n}", "/api/{n}/{id}", "/api/{n}/{id}/{s}", "/api/v2/{n}/{s}", "/internal/{n}/{s}",
    "/api/{n}/{s}", "/api/{n}/{id}/{s}/{item_id}",
];

#[rustfmt::skip]
pub const SUBS: &[&str] = &[
    "items", "status", "history", "summary", "events", "settings", "search", "batch", "export",
    "preview", "refresh", "validate",
];

/// HTTP methods with their weights.
pub const METHODS: &[(&str, u32)] = &[("GET", 55), ("POST", 25), ("PUT", 12), ("DELETE", 8)];

/// Names of INTERNAL spans.
#[rustfmt::skip]
pub const INTERNAL: &[&str] = &[
    "validate", "serialize", "render", "compute-price", "check-permissions", "parse-request",
    "encode-response", "cache-lookup", "apply-rules", "build-response", "load-config",
    "enrich", "deduplicate", "compress",
];

/// (db.system, port, operations).
#[rustfmt::skip]
pub const DATABASES: &[(&str, i64, &[&str])] = &[
    ("postgresql", 5432, &["SELECT", "INSERT", "UPDATE", "DELETE"]),
    ("mysql", 3306, &["SELECT", "INSERT", "UPDATE"]),
    ("redis", 6379, &["GET", "SET", "MGET", "HGETALL", "DEL", "EXPIRE"]),
    ("mongodb", 27017, &["find", "insert", "update", "aggregate"]),
];

/// (telemetry.sdk.language, SDK version, instrumentation scope).
#[rustfmt::skip]
pub const LANGUAGES: &[(&str, &str, &str)] = &[
    ("go", "1.28.0", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"),
    ("java", "1.40.0", "io.opentelemetry.spring-webmvc-6.0"),
    ("python", "1.27.0", "opentelemetry.instrumentation.flask"),
    ("nodejs", "1.26.0", "@opentelemetry/instrumentation-http"),
    ("dotnet", "1.9.0", "OpenTelemetry.Instrumentation.AspNetCore"),
    ("rust", "0.26.0", "tracing-opentelemetry"),
];

pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "okhttp/4.12.0",
    "shop-ios/5.12.1 CFNetwork/1494.0.7 Darwin/23.4.0",
];

/// (exception.type, exception.message) per kind of work.
#[rustfmt::skip]
pub const ENDPOINT_ERRORS: &[(&str, &str)] = &[
    ("RuntimeError", "unhandled error while processing the request"),
    ("IllegalStateException", "order is already CANCELLED"),
    ("NullPointerException", "Cannot invoke \"Cart.getItems()\" because \"cart\" is null"),
];

pub const CALL_ERRORS: &[(&str, &str)] = &[
    ("HTTPError", "upstream answered with a server error"),
    ("TimeoutError", "request timed out after 5s"),
];

pub const QUERY_ERRORS: &[(&str, &str)] = &[
    ("DatabaseError", "deadlock detected"),
    ("TimeoutError", "query cancelled after 2s"),
    ("ConnectionError", "connection reset by peer"),
];

pub const INTERNAL_ERRORS: &[(&str, &str)] = &[
    ("ValidationError", "field 'quantity' must be positive"),
    ("KeyError", "'currency'"),
];

/// One of `options`, uniformly.
pub fn pick<T: Copy>(options: &[T], rng: &mut impl Rng) -> T {
    options[rng.random_range(0..options.len())]
}

/// An HTTP method, by the weights of [`METHODS`].
pub fn method(rng: &mut impl Rng) -> &'static str {
    let mut roll = rng.random_range(0..METHODS.iter().map(|m| m.1).sum::<u32>());
    for &(m, weight) in METHODS {
        if roll < weight {
            return m;
        }
        roll -= weight;
    }
    "GET"
}
