//! Tenancy on thrift_http and grpc, over real sockets, and refused with UDP ports.

use tracegate_core::factory::ComponentConfig;
use tracegate_core::tenancy::TenancyConfig;
use tracegate_core::Lifecycle;
use tracegate_translator_jaeger::encode_batch_binary;
use tracegate_translator_jaeger::proto::collector_service_client::CollectorServiceClient;
use tracegate_translator_jaeger::proto::{Batch, PostSpansRequest, Process, Span};

use crate::testutil::{batch, http_call, local_config, start, RecordingConsumer};

fn tenanted() -> crate::Config {
    let mut config = local_config();
    config.protocols.thrift_compact = None;
    config.protocols.thrift_binary = None;
    config.tenancy = Some(TenancyConfig { enabled: true, tenants: vec!["acme".into(), "globex".into()], ..Default::default() });
    config
}

fn post(tenant: Option<&str>) -> tonic::Request<PostSpansRequest> {
    let span = Span { trace_id: vec![7; 16], span_id: vec![1; 8], operation_name: "g".into(), ..Default::default() };
    let process = Some(Process { service_name: "svc".into(), tags: vec![] });
    let mut r = tonic::Request::new(PostSpansRequest { batch: Some(Batch { spans: vec![span], process }) });
    if let Some(t) = tenant {
        r.metadata_mut().insert("x-tenant", t.parse().unwrap());
    }
    r
}

#[tokio::test]
async fn thrift_http_and_grpc_keep_the_tenant_and_refuse_requests_without_one() {
    let run = start(tenanted(), RecordingConsumer::ok()).await;
    let thrift = ("content-type", "application/x-thrift");
    let body = encode_batch_binary(&batch("svc", &["h"]));
    let (status, _, _) = http_call(run.http_addr(), "/api/traces", &[thrift, ("x-tenant", "acme")], body.clone()).await;
    assert_eq!(status, 202);
    let (status, _, text) = http_call(run.http_addr(), "/api/traces", &[thrift], body.clone()).await;
    assert_eq!((status.as_u16(), text.as_str()), (401, "missing tenant header"));
    let (status, _, text) = http_call(run.http_addr(), "/api/traces", &[thrift, ("x-tenant", "initech")], body).await;
    assert_eq!((status.as_u16(), text.as_str()), (401, "unknown tenant"));

    let mut client = CollectorServiceClient::connect(run.grpc_url()).await.unwrap();
    client.post_spans(post(Some("globex"))).await.unwrap();
    assert_eq!(client.post_spans(post(None)).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(client.post_spans(post(Some("initech"))).await.unwrap_err().code(), tonic::Code::PermissionDenied);

    let tenants: Vec<Option<String>> = run.next.batches().iter().map(|b| b.tenant().map(|t| t.to_string())).collect();
    assert_eq!(tenants, [Some("acme".to_string()), Some("globex".to_string())]);
    assert_eq!(run.telemetry.metrics.tenancy_refusals("jaeger", "missing").get(), 2);
    run.receiver.shutdown().await.unwrap();
}

#[test]
fn udp_ports_cannot_be_served_with_tenancy() {
    let mut config = tenanted();
    config.protocols.thrift_compact = Some(crate::testutil::local_udp());
    let problems: Vec<String> = config.validate().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("protocols::thrift_compact") && problems[0].contains("tenant"), "{problems:?}");
}
