//! Tenancy on the Zipkin port, over a real socket.

use tracegate_core::tenancy::TenancyConfig;
use tracegate_core::Lifecycle;

use crate::testutil::{local_config, start, RecordingConsumer};

const SPANS: &str = r#"[{"traceId":"0102030405060708090a0b0c0d0e0f10","id":"0102030405060708","name":"z","timestamp":1700000000000000,"duration":10,"localEndpoint":{"serviceName":"svc"}}]"#;

#[tokio::test]
async fn a_request_is_stored_as_its_tenant_s_and_others_are_refused() {
    let mut config = local_config();
    config.tenancy = Some(TenancyConfig { enabled: true, tenants: vec!["acme".into()], ..Default::default() });
    let run = start(config, RecordingConsumer::ok()).await;
    let json = ("content-type", "application/json");
    let (status, _, _) = run.post("/api/v2/spans", &[json, ("x-tenant", "acme")], SPANS.into()).await;
    assert_eq!(status, 202);
    let (status, _, text) = run.post("/api/v2/spans", &[json], SPANS.into()).await;
    assert_eq!((status.as_u16(), text.as_str()), (401, "missing tenant header"));
    let (status, _, text) = run.post("/api/v2/spans", &[json, ("x-tenant", "globex")], SPANS.into()).await;
    assert_eq!((status.as_u16(), text.as_str()), (401, "unknown tenant"));
    let tenants: Vec<Option<String>> = run.next.batches().iter().map(|b| b.tenant().map(|t| t.to_string())).collect();
    assert_eq!(tenants, [Some("acme".to_string())]);
    assert_eq!(run.telemetry.metrics.tenancy_refusals("zipkin", "unknown").get(), 1);
    run.receiver.shutdown().await.unwrap();
}
