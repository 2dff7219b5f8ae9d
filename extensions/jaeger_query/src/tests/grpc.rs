//! The gRPC query port over a real socket: tonic clients generated from the same protos call
//! every api_v2 and api_v3 RPC against the fixture's store, and the answers and errors are
//! those of Jaeger's gRPC handlers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracegate_core::config::Endpoint;
use tracegate_core::{Exporter, Lifecycle};
use tracegate_exporter_memory::MemoryStore;
use tracegate_translator_jaeger::proto as v2;
use v2::query_service_client::QueryServiceClient as V2Client;

use super::fixture::{resource, span, store, frontend, TRACE_A, TRACE_A_HEX, TRACE_B};
use super::lifecycle::ExportersHost;
use crate::grpc::proto_v3 as v3;
use crate::{ByteSize, Config, GrpcConfig, HttpConfig, JaegerQueryExtension};
use v3::query_service_client::QueryServiceClient as V3Client;

struct Running {
    ext: JaegerQueryExtension,
    channel: Channel,
}

impl Running {
    fn v2(&self) -> V2Client<Channel> {
        V2Client::new(self.channel.clone())
    }
    fn v3(&self) -> V3Client<Channel> {
        V3Client::new(self.channel.clone())
    }
    async fn stop(self) {
        self.ext.shutdown().await.expect("shutdown");
    }
}

async fn start(memory: MemoryStore, tune: impl FnOnce(&mut Config)) -> Running {
    let mut host = ExportersHost::default();
    host.exporters.insert("memory/q".into(), Arc::new(memory));
    let mut config = Config {
        storage: "memory/q".into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        grpc: Some(GrpcConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() }),
        ..Default::default()
    };
    tune(&mut config);
    let ext = JaegerQueryExtension::new("jaeger_query".into(), config);
    ext.start(Arc::new(host)).await.expect("start");
    let addr = ext.grpc_addr().await.expect("gRPC port bound");
    let channel = Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect");
    Running { ext, channel }
}

async fn fixture() -> Running {
    let (memory, _) = store().await;
    start(memory, |_| {}).await
}

fn ts(t: SystemTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(t))
}

fn hour_window() -> (Option<prost_types::Timestamp>, Option<prost_types::Timestamp>) {
    let now = SystemTime::now();
    (ts(now - Duration::from_secs(3 * 3600)), ts(now + Duration::from_secs(60)))
}

async fn collect<T>(result: Result<tonic::Response<tonic::Streaming<T>>, Status>) -> Result<Vec<T>, Status> {
    let mut stream = result?.into_inner();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push(item?);
    }
    Ok(out)
}

fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, message: &str) {
    let status = result.expect_err("an error status");
    assert_eq!((status.code(), status.message()), (code, message));
}

#[tokio::test]
async fn api_v2_lists_services_operations_and_dependencies() {
    let q = fixture().await;
    let services = q.v2().get_services(v2::GetServicesRequest {}).await.expect("services").into_inner();
    assert_eq!(services.services, ["backend", "frontend"]);

    let ops = q.v2().get_operations(v2::GetOperationsRequest { service: "frontend".into(), span_kind: String::new() }).await;
    let ops = ops.expect("operations").into_inner();
    assert_eq!(ops.operation_names, ["GET /", "query", "render"]);
    let names: Vec<_> = ops.operations.iter().map(|o| (o.name.as_str(), o.span_kind.as_str())).collect();
    assert_eq!(names, [("GET /", "server"), ("query", "client"), ("render", "internal")]);

    let (start, end) = hour_window();
    let deps = q.v2().get_dependencies(v2::GetDependenciesRequest { start_time: start, end_time: end }).await;
    let links: Vec<_> = deps.expect("deps").into_inner().dependencies.into_iter().map(|d| (d.parent, d.child, d.call_count)).collect();
    assert_eq!(links, [("frontend".to_string(), "backend".to_string(), 1)]);
    let missing = q.v2().get_dependencies(v2::GetDependenciesRequest { start_time: None, end_time: end }).await;
    assert_status(missing, Code::InvalidArgument, "StartTime and EndTime must be initialized.");
    q.stop().await;
}

#[tokio::test]
async fn api_v2_streams_traces_with_processes_and_answers_jaegers_errors() {
    let q = fixture().await;
    let chunks = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: TRACE_A.to_vec(), ..Default::default() }).await).await;
    let chunks = chunks.expect("trace");
    assert_eq!(chunks.len(), 1);
    let spans = &chunks[0].spans;
    let mut ops: Vec<_> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    ops.sort_unstable();
    assert_eq!(ops, ["GET /", "SELECT", "query", "render"]);
    for s in spans {
        let process = s.process.as_ref().expect("every span carries its process");
        let expected = if s.operation_name == "SELECT" { "backend" } else { "frontend" };
        assert_eq!(process.service_name, expected, "{}", s.operation_name);
        assert_eq!(s.trace_id, TRACE_A.to_vec());
    }

    let unknown = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: vec![9; 16], ..Default::default() }).await).await;
    assert_status(unknown, Code::NotFound, "trace not found");
    let zero = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: vec![0; 16], ..Default::default() }).await).await;
    assert_status(zero, Code::InvalidArgument, "uninitialized TraceID is not allowed");
    let short = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: vec![1; 3], ..Default::default() }).await).await;
    assert_status(short, Code::InvalidArgument, "trace_id must be 16 bytes, got 3");

    let archive = q.v2().archive_trace(v2::ArchiveTraceRequest { trace_id: TRACE_A.to_vec(), ..Default::default() }).await;
    assert_status(archive, Code::Internal, "failed to archive trace: archive span storage was not configured");

    let missing = collect(q.v2().find_traces(v2::FindTracesRequest { query: None }).await).await;
    assert_status(missing, Code::InvalidArgument, "missing query");
    let (start, end) = hour_window();
    let query = v2::TraceQueryParameters {
        service_name: "backend".into(),
        start_time_min: start,
        start_time_max: end,
        ..Default::default()
    };
    let found = collect(q.v2().find_traces(v2::FindTracesRequest { query: Some(query.clone()) }).await).await.expect("search");
    let mut traces: Vec<_> = found.iter().flat_map(|c| &c.spans).map(|s| s.trace_id.clone()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces, [TRACE_A.to_vec(), TRACE_B.to_vec()]);
    let none = v2::TraceQueryParameters { service_name: "nobody".into(), ..query };
    let none = collect(q.v2().find_traces(v2::FindTracesRequest { query: Some(none) }).await).await;
    assert!(none.expect("an empty search is an empty stream").is_empty());
    q.stop().await;
}

#[tokio::test]
async fn api_v2_sends_ten_spans_per_chunk() {
    let memory = MemoryStore::new(1000);
    let t = super::fixture::base_nanos();
    let spans = (1..=25u8).map(|i| span(TRACE_A, i, if i == 1 { 0 } else { 1 }, "op", 1, t, 10)).collect();
    memory.export(tracegate_core::Traces::new(vec![resource(frontend(), spans)])).await.expect("export");
    let q = start(memory, |_| {}).await;
    let chunks = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: TRACE_A.to_vec(), ..Default::default() }).await).await;
    let sizes: Vec<_> = chunks.expect("trace").iter().map(|c| c.spans.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    q.stop().await;
}

#[tokio::test]
async fn api_v3_answers_reads_searches_and_summaries() {
    let q = fixture().await;
    let services = q.v3().get_services(v3::GetServicesRequest {}).await.expect("services").into_inner();
    assert_eq!(services.services, ["backend", "frontend"]);
    let ops = q.v3().get_operations(v3::GetOperationsRequest { service: "backend".into(), span_kind: "server".into() }).await;
    let ops: Vec<_> = ops.expect("ops").into_inner().operations.into_iter().map(|o| (o.name, o.span_kind)).collect();
    assert_eq!(ops, [("SELECT".to_string(), "server".to_string())]);

    let trace = collect(q.v3().get_trace(v3::GetTraceRequest { trace_id: TRACE_A_HEX.into(), ..Default::default() }).await).await;
    let trace = trace.expect("trace");
    assert_eq!(trace.len(), 1, "one TracesData per trace");
    let span_count: usize = trace[0].resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    assert_eq!(span_count, 4);
    let unknown = collect(q.v3().get_trace(v3::GetTraceRequest { trace_id: "abc".into(), ..Default::default() }).await).await;
    assert_status(unknown, Code::NotFound, "trace not found");
    let bad = collect(q.v3().get_trace(v3::GetTraceRequest { trace_id: "xyz".into(), ..Default::default() }).await).await;
    assert_status(bad, Code::InvalidArgument, "malform trace ID: strconv.ParseUint: parsing \"xyz\": invalid syntax");

    let missing = collect(q.v3().find_traces(v3::FindTracesRequest { query: None }).await).await;
    assert_status(missing, Code::InvalidArgument, "missing query");
    let no_times = v3::TraceQueryParameters { service_name: "frontend".into(), ..Default::default() };
    let no_times = collect(q.v3().find_traces(v3::FindTracesRequest { query: Some(no_times) }).await).await;
    assert_status(no_times, Code::InvalidArgument, "start time min and max are required parameters");

    let (start, end) = hour_window();
    let query = v3::TraceQueryParameters { service_name: "frontend".into(), start_time_min: start, start_time_max: end, ..Default::default() };
    let found = collect(q.v3().find_traces(v3::FindTracesRequest { query: Some(query.clone()) }).await).await.expect("search");
    assert_eq!(found.len(), 1);
    let filtered = v3::TraceQueryParameters { filter: Some(vec![]), ..query.clone() };
    let filtered = collect(q.v3().find_traces(v3::FindTracesRequest { query: Some(filtered) }).await).await;
    assert_status(filtered, Code::InvalidArgument, "the structured query filter is disabled");

    let summaries = q.v3().find_trace_summaries(v3::FindTraceSummariesRequest { query: Some(query) }).await;
    let summaries = collect(summaries).await.expect("summaries");
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0].summaries[0];
    // A summary's id is pcommon's String(): all 32 hex characters.
    assert_eq!((s.trace_id.as_str(), s.root_service_name.as_str(), s.root_operation_name.as_str()), ("000000000000000000000000000000a1", "frontend", "GET /"));
    assert_eq!((s.span_count, s.error_span_count, s.orphan_span_count), (4, 0, 0));
    let services: Vec<_> = s.services.iter().map(|v| (v.name.as_str(), v.span_count)).collect();
    assert_eq!(services, [("backend", 1), ("frontend", 3)]);
    assert_eq!(s.max_end_time_unix_nano - s.min_start_time_unix_nano, 10_000_000);

    let deps = q.v3().get_dependencies(v3::GetDependenciesRequest { start_time: end, end_time: start }).await;
    assert_status(deps, Code::InvalidArgument, "end_time must be after start_time");
    let deps = q.v3().get_dependencies(v3::GetDependenciesRequest { start_time: start, end_time: None }).await;
    assert_status(deps, Code::InvalidArgument, "end_time is required");
    let deps = q.v3().get_dependencies(v3::GetDependenciesRequest { start_time: start, end_time: end }).await.expect("deps");
    assert_eq!(deps.into_inner().dependencies.len(), 1);
    q.stop().await;
}

#[tokio::test]
async fn the_byte_budget_refuses_a_trace_too_large_to_send() {
    let (memory, _) = store().await;
    let q = start(memory, |c| c.max_response_bytes = ByteSize(100)).await;
    let v2 = collect(q.v2().get_trace(v2::GetTraceRequest { trace_id: TRACE_A.to_vec(), ..Default::default() }).await).await;
    let status = v2.expect_err("over the budget");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("does not fit in this server's max_response_bytes of 100B"), "{}", status.message());
    let v3 = collect(q.v3().get_trace(v3::GetTraceRequest { trace_id: TRACE_A_HEX.into(), ..Default::default() }).await).await;
    assert_eq!(v3.expect_err("over the budget").code(), Code::ResourceExhausted);
    q.stop().await;
}
