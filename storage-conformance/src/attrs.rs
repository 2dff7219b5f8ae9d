//! Where a tag condition looks, beyond span, resource and event attributes: the span's
//! instrumentation scope (its attributes, and its name and version as `otel.scope.name` /
//! `otel.scope.version`), its links' attributes, and how typed values compare with the query's
//! text. Jaeger v2's memory store (`internal/storage/v2/memory/tenant.go`, `findKeyValInTrace`)
//! and its integration fixtures `scope_attributes_trace` / `link_attributes_trace` are the model.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::caps::{expect_if, Capabilities};
use crate::data::{batch, Ids, TestScope, TestSpan, Val};
use crate::find::{ago, expect, query, tags};
use crate::Store;

/// Scope attributes match, but only for spans recorded with that scope.
pub async fn find_by_scope_attribute(store: &Store, caps: &Capabilities) {
    let mut ids = Ids::new(30);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let payments = TestScope {
        name: "payments-lib",
        version: "1.0.0",
        attrs: vec![("scope.team", Val::Str("payments")), ("scope.tier", Val::Int(2))],
    };
    let search = TestScope { name: "search-lib", version: "1.0.0", attrs: vec![("scope.team", Val::Str("search"))] };
    let a = TestSpan::new(&mut ids, t1, "api", "charge", ago(3)).scope(payments);
    // Another span of t1, in the default scope.
    let a2 = TestSpan::new(&mut ids, t1, "api", "SELECT", ago(3)).child_of(&a).kind(SpanKind::Client);
    let b = TestSpan::new(&mut ids, t2, "api", "find", ago(2)).scope(search);
    let c = TestSpan::new(&mut ids, t3, "api", "charge", ago(1));
    store.write(batch(&[a, a2, b, c])).await;
    let can = caps.scope_attributes;
    let mut q = query("api");
    q.tags = tags(&[("scope.team", "payments")]);
    expect_if(store, can, &q, &[t1], "string scope attribute").await;
    q.tags = tags(&[("scope.tier", "2")]);
    expect_if(store, can, &q, &[t1], "int scope attribute by its text").await;
    q.tags = tags(&[("scope.team", "search")]);
    expect_if(store, can, &q, &[t2], "the other scope's attribute").await;
    q.tags = tags(&[("scope.team", "payments")]);
    q.operation = Some("SELECT".into());
    expect_if(store, can, &q, &[], "the scope belongs to another span of t1").await;
}

/// The scope's name and version match as the tags Jaeger's model gives them, and under the
/// `scope.name` / `scope.version` keys Jaeger v2's memory store reads.
pub async fn find_by_scope_name_and_version(store: &Store) {
    let mut ids = Ids::new(31);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let scope = |name, version| TestScope { name, version, attrs: Vec::new() };
    let a = TestSpan::new(&mut ids, t1, "api", "SELECT", ago(3)).scope(scope("io.otel.jdbc", "2.1.0"));
    let b = TestSpan::new(&mut ids, t2, "api", "SELECT", ago(2)).scope(scope("io.otel.jdbc", "1.9.0"));
    let c = TestSpan::new(&mut ids, t3, "api", "GET /", ago(1)).scope(scope("io.otel.netty", "2.1.0"));
    store.write(batch(&[a, b, c])).await;
    let mut q = query("api");
    q.tags = tags(&[("otel.scope.name", "io.otel.jdbc")]);
    expect(store, &q, &[t2, t1], "scope name").await;
    q.tags = tags(&[("otel.scope.version", "2.1.0")]);
    expect(store, &q, &[t3, t1], "scope version").await;
    q.tags = tags(&[("otel.scope.name", "io.otel.jdbc"), ("otel.scope.version", "2.1.0")]);
    expect(store, &q, &[t1], "scope name and version").await;
    q.tags = tags(&[("otel.scope.name", "io.otel.grpc")]);
    expect(store, &q, &[], "a scope no span has").await;
    q.tags = tags(&[("scope.name", "io.otel.netty")]);
    expect(store, &q, &[t3], "scope name, Jaeger v2 memory spelling").await;
    q.tags = tags(&[("scope.version", "1.9.0")]);
    expect(store, &q, &[t2], "scope version, Jaeger v2 memory spelling").await;
}

/// Link attributes match, but only for the span that carries the link.
pub async fn find_by_link_attribute(store: &Store, caps: &Capabilities) {
    let mut ids = Ids::new(32);
    let (t1, t2, linked) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let target = ids.span_id();
    let a = TestSpan::new(&mut ids, t1, "api", "retry", ago(3))
        .link(linked, target, vec![("link.reason", Val::Str("retry-of")), ("attempt", Val::Int(3))]);
    let a2 = TestSpan::new(&mut ids, t1, "api", "SELECT", ago(3)).child_of(&a);
    let b = TestSpan::new(&mut ids, t2, "api", "consume", ago(2))
        .link(linked, target, vec![("link.reason", Val::Str("batch"))]);
    store.write(batch(&[a, a2, b])).await;
    let can = caps.link_attributes;
    let mut q = query("api");
    q.tags = tags(&[("link.reason", "retry-of")]);
    expect_if(store, can, &q, &[t1], "string link attribute").await;
    q.tags = tags(&[("attempt", "3")]);
    expect_if(store, can, &q, &[t1], "int link attribute by its text").await;
    q.tags = tags(&[("link.reason", "batch")]);
    expect_if(store, can, &q, &[t2], "the other span's link").await;
    q.tags = tags(&[("link.reason", "retry-of")]);
    q.operation = Some("SELECT".into());
    expect_if(store, can, &q, &[], "the link belongs to another span of t1").await;
}

/// The query's text against typed values, wherever they are: `"123"` finds the integer 123
/// and the string "123", `"true"` the boolean, `"1.5"` the double.
pub async fn find_by_typed_tag_values(store: &Store) {
    let mut ids = Ids::new(33);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(3))
        .attr("retries", Val::Int(123))
        .attr("cached", Val::Bool(true))
        .attr("ratio", Val::Double(1.5))
        .attr("code", Val::Int(123))
        .resource_attr("cpu.count", Val::Int(8));
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(2))
        .attr("retries", Val::Int(124))
        .attr("cached", Val::Bool(false))
        .attr("ratio", Val::Double(2.5))
        .event("read", vec![("bytes", Val::Int(512)), ("partial", Val::Bool(true))]);
    let c = TestSpan::new(&mut ids, t3, "api", "GET /", ago(1)).attr("code", Val::Str("123"));
    store.write(batch(&[a, b, c])).await;
    let mut q = query("api");
    for (key, value, want, why) in [
        ("retries", "123", &[t1][..], "int"),
        ("retries", "124", &[t2], "the other int"),
        ("retries", "12", &[], "a prefix of an int"),
        ("cached", "true", &[t1], "bool true"),
        ("cached", "false", &[t2], "bool false"),
        ("ratio", "1.5", &[t1], "double"),
        ("ratio", "2.5", &[t2], "the other double"),
        ("ratio", "1.6", &[], "a double no span has"),
        ("code", "123", &[t3, t1], "the string and the int"),
        ("cpu.count", "8", &[t1], "int resource attribute"),
        ("bytes", "512", &[t2], "int event attribute"),
        ("partial", "true", &[t2], "bool event attribute"),
    ] {
        q.tags = tags(&[(key, value)]);
        expect(store, &q, want, why).await;
    }
}
