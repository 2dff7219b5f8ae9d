//! Tenancy on both ports, over real sockets: a request naming an allowed tenant goes on as
//! that tenant's batch; one naming none or another is refused as Jaeger refuses it, and counted.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tracegate_core::Lifecycle;
use tracegate_core::tenancy::TenancyConfig;
use tracegate_core::testing::RecordingConsumer;

use crate::testutil::{http_call, local_config, request, span, start};

fn tenants() -> TenancyConfig {
    TenancyConfig { enabled: true, tenants: vec!["acme".into(), "globex".into()], ..Default::default() }
}

fn grpc_request(name: &str, tenant: Option<&str>) -> tonic::Request<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest> {
    let mut r = tonic::Request::new(request(vec![span(name)]));
    if let Some(t) = tenant {
        r.metadata_mut().insert("x-tenant", t.parse().unwrap());
    }
    r
}

#[tokio::test]
async fn each_request_is_stored_as_its_tenant_s_and_others_are_refused() {
    let mut config = local_config();
    config.tenancy = Some(tenants());
    let run = start(config, RecordingConsumer::ok()).await;

    let mut client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
    client.export(grpc_request("a", Some("acme"))).await.unwrap();
    let missing = client.export(grpc_request("none", None)).await.unwrap_err();
    assert_eq!((missing.code(), missing.message()), (tonic::Code::Unauthenticated, "missing tenant header"));
    let unknown = client.export(grpc_request("x", Some("initech"))).await.unwrap_err();
    assert_eq!((unknown.code(), unknown.message()), (tonic::Code::PermissionDenied, "unknown tenant"));

    let body = request(vec![span("g")]).encode_to_vec();
    let proto = ("content-type", "application/x-protobuf");
    let (status, _, _) = http_call(run.http_addr(), "POST", "/v1/traces", &[proto, ("x-tenant", "globex")], body.clone()).await;
    assert_eq!(status, 200);
    let (status, _, text) = http_call(run.http_addr(), "POST", "/v1/traces", &[proto], body.clone()).await;
    assert_eq!((status.as_u16(), &text[..]), (401, &b"missing tenant header"[..]));
    let (status, _, text) = http_call(run.http_addr(), "POST", "/v1/traces", &[proto, ("x-tenant", "initech")], body).await;
    assert_eq!((status.as_u16(), &text[..]), (401, &b"unknown tenant"[..]));

    let stored: Vec<(Option<String>, String)> = run
        .next
        .batches()
        .iter()
        .map(|b| (b.tenant().map(|t| t.to_string()), b.resource_spans()[0].scope_spans[0].spans[0].name.clone()))
        .collect();
    assert_eq!(stored, [(Some("acme".into()), "a".into()), (Some("globex".into()), "g".into())]);
    let refused = |reason| run.telemetry.metrics.tenancy_refusals("otlp", reason).get();
    assert_eq!((refused("missing"), refused("unknown")), (2, 2));
    run.receiver.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_tenancy_batches_have_no_tenant_and_the_header_is_ignored() {
    let run = start(local_config(), RecordingConsumer::ok()).await;
    let mut client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
    client.export(grpc_request("a", Some("acme"))).await.unwrap();
    client.export(grpc_request("b", None)).await.unwrap();
    assert!(run.next.batches().iter().all(|b| b.tenant().is_none()));
    run.receiver.shutdown().await.unwrap();
}
