//! The processor with a recording next component: decisions on time, tenants, back-pressure,
//! and the memory budget with and without a spill.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use std::sync::atomic::AtomicUsize;
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Status;
use prost::Message;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::testing::{validated_config, TestHost};
use crate::TailSamplingConfig;

/// Records batches; refuses the first `refuse` calls with a retryable error.
#[derive(Default)]
struct Sink {
    got: Mutex<Vec<Traces>>,
    refuse: AtomicUsize,
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
        if self.refuse.load(Ordering::SeqCst) > 0 {
            self.refuse.fetch_sub(1, Ordering::SeqCst);
            return Err(ConsumeError::retryable("busy"));
        }
        lock(&self.got).push(t);
        Ok(())
    }
}

impl Sink {
    fn trace_ids(&self) -> Vec<u8> {
        let mut ids: Vec<u8> = lock(&self.got)
            .iter()
            .flat_map(|t| t.resource_spans().to_vec())
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .map(|s| s.trace_id[0])
            .collect();
        ids.sort_unstable();
        ids
    }
}

fn make(yaml: &str) -> (Arc<TailSamplingProcessor>, Arc<Sink>, ProcessorMetrics) {
    let validated = validated_config::<TailSamplingConfig>(yaml).unwrap();
    let ctx = CreateContext::new(ComponentId::new("tail_sampling", None), Telemetry::new());
    let sink = Arc::new(Sink::default());
    let p = TailSamplingProcessor::new(&ctx, validated, sink.clone());
    (p, sink, ctx.processor_metrics())
}

fn spans(ids: &[(u8, bool)]) -> Traces {
    let spans = ids
        .iter()
        .map(|(id, error)| Span {
            trace_id: vec![*id; 16],
            span_id: vec![1; 8],
            status: error.then(|| Status { code: 2, message: String::new() }),
            ..Default::default()
        })
        .collect();
    Traces::new(vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

const ERRORS: &str = "{decision_wait: 1s, policies: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]}";

#[tokio::test(start_paused = true)]
async fn decides_whole_traces_after_the_wait() {
    let (p, sink, m) = make(ERRORS);
    p.start(TestHost::new()).await.unwrap();
    p.consume(spans(&[(1, false), (2, false)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.consume(spans(&[(1, true), (2, false)])).await.unwrap();
    assert!(sink.trace_ids().is_empty(), "nothing before decision_wait");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sink.trace_ids(), vec![1, 1], "the error trace, both spans, in one batch");
    assert_eq!(lock(&sink.got).len(), 1);
    assert_eq!(m.dropped.get(), 2);
    // A late span follows its trace's decision.
    p.consume(spans(&[(1, false), (2, true)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.trace_ids(), vec![1, 1, 1]);
    assert_eq!(m.dropped.get(), 3);
    p.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sampled_spans_leave_in_batches_of_the_tenant_they_arrived_as() {
    let (p, sink, _) = make("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}");
    p.start(TestHost::new()).await.unwrap();
    p.consume(spans(&[(1, false)]).with_tenant(Some(Arc::from("acme")))).await.unwrap();
    p.consume(spans(&[(2, false)]).with_tenant(Some(Arc::from("globex")))).await.unwrap();
    p.consume(spans(&[(3, false)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut got: Vec<(Option<String>, u8)> = lock(&sink.got)
        .iter()
        .map(|t| (t.tenant().map(|t| t.to_string()), t.resource_spans()[0].scope_spans[0].spans[0].trace_id[0]))
        .collect();
    got.sort();
    assert_eq!(got, [(None, 3), (Some("acme".into()), 1), (Some("globex".into()), 2)]);
    p.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn refused_batches_are_kept_and_sent_again() {
    let (p, sink, m) = make("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}");
    sink.refuse.store(3, Ordering::SeqCst);
    p.start(TestHost::new()).await.unwrap();
    p.consume(spans(&[(1, false), (2, false)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1150)).await;
    // The first send was refused: the processor now pushes back on new data.
    let refused = p.consume(spans(&[(3, false)])).await;
    assert!(matches!(refused, Err(ConsumeError::Retryable(_))), "{refused:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.trace_ids(), vec![1, 2]);
    p.consume(spans(&[(3, false)])).await.unwrap();
    p.shutdown().await.unwrap();
    assert_eq!(sink.trace_ids(), vec![1, 2, 3], "shutdown decides and sends what is pending");
    assert_eq!(m.dropped.get(), 0);
}

#[tokio::test]
async fn shutdown_without_start_flushes() {
    let (p, sink, _) = make(ERRORS);
    p.consume(spans(&[(1, true), (2, false)])).await.unwrap();
    p.consume(Traces::default()).await.unwrap();
    p.shutdown().await.unwrap();
    assert_eq!(sink.trace_ids(), vec![1]);
}

#[tokio::test]
async fn a_full_table_drops_the_oldest_and_counts_it() {
    let (p, sink, m) = make("{num_traces: 2, policies: [{name: all, type: always_sample}]}");
    p.consume(spans(&[(1, false), (1, false), (2, false), (3, false)])).await.unwrap();
    assert_eq!(m.dropped.get(), 2, "trace 1 (two spans) evicted undecided");
    assert_eq!(p.tail_metrics.dropped_too_early.as_ref().unwrap().get(), 1);
    p.shutdown().await.unwrap();
    assert_eq!(sink.trace_ids(), vec![2, 3]);
}

/// `traces` traces of `per_trace` spans (ids from `first`), padded to about `pad` bytes per
/// span, as the OTLP receiver hands them on: request bytes, checked, not decoded.
fn request(first: u32, traces: u32, per_trace: u32, pad: usize) -> Traces {
    let spans = (first..first + traces)
        .flat_map(|t| {
            (0..per_trace).map(move |s| Span {
                trace_id: [t.to_be_bytes(), [1; 4], [2; 4], [3; 4]].concat(),
                span_id: [(s + 1).to_be_bytes(), [9; 4]].concat(),
                name: "GET /items".into(),
                attributes: vec![KeyValue { key: "pad".into(), value: Some(AnyValue { value: Some(Value::StringValue("x".repeat(pad))) }), ..Default::default() }],
                ..Default::default()
            })
        })
        .collect();
    let rs = vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }];
    let bytes = Bytes::from(opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest { resource_spans: rs }.encode_to_vec());
    let t = Traces::from_protobuf(bytes).unwrap();
    assert!(t.is_encoded());
    t
}

/// Spans per trace id (its first four bytes) in everything the sink got.
fn spans_per_trace(sink: &Sink) -> std::collections::BTreeMap<u32, usize> {
    let mut out = std::collections::BTreeMap::new();
    for t in lock(&sink.got).iter() {
        for r in t.resource_spans() {
            for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
                *out.entry(u32::from_be_bytes(s.trace_id[..4].try_into().unwrap())).or_default() += 1;
            }
        }
    }
    out
}

fn counter(p: &TailSamplingProcessor, name: &str) -> u64 {
    let m = &p.tail_metrics;
    let c = match name {
        "budget_dropped" => &m.budget_dropped_traces,
        _ => &m.dropped_too_early,
    };
    c.as_ref().map_or(0, |c| c.get())
}

#[tokio::test]
async fn bytes_in_bytes_out() {
    let (p, sink, _) = make("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}");
    p.consume(request(1, 3, 2, 10)).await.unwrap();
    p.shutdown().await.unwrap();
    let got = lock(&sink.got).clone();
    assert!(got.iter().all(Traces::is_encoded), "sampled traces leave as request bytes");
    assert_eq!(spans_per_trace(&sink).values().copied().collect::<Vec<_>>(), [2, 2, 2]);
}

#[tokio::test]
async fn past_the_memory_budget_traces_spill_and_every_one_is_decided_whole() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{{decision_wait: 30s, num_traces: 1000000, max_memory_mib: 1, spill: {{directory: {:?}}}, policies: [{{name: all, type: always_sample}}]}}",
        dir.path().join("spill")
    );
    let (p, sink, m) = make(&yaml);
    p.start(TestHost::new()).await.unwrap();
    // 4000 traces of 4 spans of ~500 B: ~8 MiB, eight times the budget; each trace's spans
    // arrive in two requests, the second after most of the first ones were spilled.
    for half in 0..2 {
        for first in (0..4000).step_by(200) {
            p.consume(request(first, 200, 2, 450 + half)).await.unwrap();
            let st = lock(&p.state);
            let held = st.buffer.held_bytes();
            assert!(held <= 1 << 20, "{held} bytes held with a 1 MiB budget: {}", st.buffer.debug_sizes());
        }
    }
    let (spilled, on_disk) = {
        let st = lock(&p.state);
        (st.buffer.spill_totals().spilled_traces, st.buffer.spill_bytes())
    };
    assert!(spilled > 3000, "{spilled} traces spilled");
    assert!(on_disk > 6 << 20, "{on_disk} bytes on disk");
    p.shutdown().await.unwrap();
    let got = spans_per_trace(&sink);
    assert_eq!(got.len(), 4000, "every trace decided and sent");
    assert!(got.values().all(|n| *n == 4), "every trace whole");
    assert_eq!(m.dropped.get(), 0);
    let st = lock(&p.state);
    assert!(st.buffer.spill_totals().read_back_traces >= 3000);
    assert_eq!(st.buffer.spill_bytes(), 0, "read back and freed");
}

#[tokio::test]
async fn without_a_spill_the_budget_drops_the_oldest_and_counts_them() {
    let (p, sink, m) = make("{num_traces: 1000000, max_memory_mib: 1, policies: [{name: all, type: always_sample}]}");
    for first in (0..3000).step_by(300) {
        p.consume(request(first, 300, 2, 500)).await.unwrap();
    }
    let dropped = counter(&p, "budget_dropped");
    assert!(dropped > 1000, "{dropped} traces dropped");
    p.shutdown().await.unwrap();
    let got = spans_per_trace(&sink);
    assert_eq!(got.len() as u64 + dropped, 3000);
    assert_eq!(m.dropped.get(), dropped * 2);
    assert!(got.keys().all(|t| *t as u64 >= dropped), "the oldest went first");
}

#[tokio::test]
async fn a_spill_that_cannot_be_written_drops_and_counts_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let yaml = format!("{{num_traces: 1000000, max_memory_mib: 1, spill: {{directory: {spill:?}}}, policies: [{{name: all, type: always_sample}}]}}");
    let (p, sink, m) = make(&yaml);
    p.start(TestHost::new()).await.unwrap();
    // The directory goes away: the next segment cannot be created (as on a full or failing
    // disk, the write fails).
    std::fs::remove_dir(&spill).unwrap();
    for first in (0..3000).step_by(300) {
        p.consume(request(first, 300, 2, 500)).await.unwrap();
    }
    let dropped = counter(&p, "budget_dropped");
    assert!(dropped > 0);
    p.shutdown().await.unwrap();
    assert_eq!(spans_per_trace(&sink).len() as u64 + dropped, 3000, "what was not dropped is decided");
    assert_eq!(m.dropped.get(), dropped * 2);
}

#[tokio::test]
async fn an_unusable_spill_directory_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let yaml = format!("{{max_memory_mib: 1, spill: {{directory: {file:?}}}, policies: [{{name: all, type: always_sample}}]}}");
    let (p, _, _) = make(&yaml);
    let e = p.start(TestHost::new()).await.unwrap_err().to_string();
    assert!(e.contains("spill"), "{e}");
    p.shutdown().await.unwrap();
}

/// A next component that refuses everything.
struct Refuser;

#[async_trait]
impl Consumer for Refuser {
    async fn consume(&self, _: Traces) -> Result<(), ConsumeError> {
        Err(ConsumeError::retryable("down"))
    }
}

#[tokio::test]
async fn a_shutdown_against_a_refusing_next_component_counts_what_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{{num_traces: 1000000, max_memory_mib: 1, spill: {{directory: {:?}}}, policies: [{{name: all, type: always_sample}}]}}", dir.path());
    let validated = validated_config::<TailSamplingConfig>(&yaml).unwrap();
    let ctx = CreateContext::new(ComponentId::new("tail_sampling", None), Telemetry::new());
    let p = TailSamplingProcessor::new(&ctx, validated, Arc::new(Refuser));
    p.start(TestHost::new()).await.unwrap();
    // ~6 MiB: more than a slice of releases, most of it spilled.
    for first in (0..6000).step_by(500) {
        p.consume(request(first, 500, 2, 500)).await.unwrap();
    }
    p.shutdown().await.unwrap();
    let m = ctx.processor_metrics();
    assert_eq!(m.dropped.get(), 12_000, "every span decided and, refused, counted as lost");
    assert!(lock(&p.release).is_empty());
}

#[tokio::test]
async fn shutdown_lets_a_send_in_progress_finish_instead_of_dropping_its_batch() {
    let validated = validated_config::<TailSamplingConfig>("{decision_wait: 100ms, policies: [{name: all, type: always_sample}]}").unwrap();
    let ctx = CreateContext::new(ComponentId::new("tail_sampling", None), Telemetry::new());
    let next = tracegate_core::testing::RecordingConsumer::gated();
    let p = TailSamplingProcessor::new(&ctx, validated, next.clone());
    p.start(TestHost::new()).await.unwrap();
    p.consume(spans(&[(1, false), (2, false)])).await.unwrap();
    // The timer's tick decided both traces and is handing them over when shutdown comes.
    next.wait_entered().await;
    let stopping = {
        let p = p.clone();
        tokio::spawn(async move { p.shutdown().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    next.open();
    stopping.await.unwrap().unwrap();
    assert_eq!(next.spans().len(), 2, "the batch being sent at shutdown was dropped");
}

#[tokio::test]
async fn the_instance_a_reload_builds_reports_in_the_series_of_the_one_it_replaces() {
    let telemetry = Telemetry::new();
    let validated = validated_config::<TailSamplingConfig>(ERRORS).unwrap();
    let make = || {
        let ctx = CreateContext::new(ComponentId::new("tail_sampling", None), telemetry.clone());
        TailSamplingProcessor::new(&ctx, validated.clone(), Arc::new(Sink::default()))
    };
    let old = make();
    old.consume(spans(&[(1, false)])).await.unwrap();
    old.shutdown().await.unwrap();
    // A reload that rebuilds the pipeline: the old series are still registered.
    let new = make();
    new.consume(spans(&[(2, false), (3, false), (4, false)])).await.unwrap();
    let text = telemetry.metrics.render();
    assert!(
        text.contains("tracegate_processor_tail_sampling_traces_held{pipeline=\"\",processor=\"tail_sampling\"} 3"),
        "the new instance's traces are not shown:\n{text}"
    );
}
