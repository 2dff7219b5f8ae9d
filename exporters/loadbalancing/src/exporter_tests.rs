//! The exporter against real OTLP receivers on 127.0.0.1: tracegate's own `otlp` receiver per
//! backend, each feeding a recorder, so what a backend got is what crossed a real socket.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::testing::{parse_config, validated_config, ExtensionsHost, RecordingConsumer, TestHost};
use tracegate_core::{ComponentId, ConsumeError, CreateContext, Exporter, ExporterFactory, ExtensionFactory, Host, Lifecycle, Traces};
use tracegate_receiver_otlp::OtlpReceiver;

use crate::{LoadBalancingConfig, LoadBalancingExporter, LoadBalancingExporterFactory};

/// Bounds a wait for something that happens promptly; never a measure of speed.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(60);

/// One backend: tracegate's OTLP receiver on 127.0.0.1 recording what it takes.
pub(crate) struct Sampler {
    pub(crate) receiver: OtlpReceiver,
    pub(crate) got: Arc<RecordingConsumer>,
    pub(crate) addr: SocketAddr,
}

impl Sampler {
    pub(crate) async fn start_on(port: u16, got: Arc<RecordingConsumer>) -> Self {
        let config = parse_config::<tracegate_receiver_otlp::Config>(&format!("protocols: {{ grpc: {{ endpoint: 127.0.0.1:{port} }} }}")).unwrap();
        let receiver = OtlpReceiver::new(ComponentId::new("otlp", None), config, got.clone(), &Telemetry::new());
        receiver.start(TestHost::new()).await.unwrap();
        let addr = receiver.grpc_addr().unwrap();
        Self { receiver, got, addr }
    }

    pub(crate) async fn start() -> Self {
        Self::start_on(0, RecordingConsumer::ok()).await
    }

    pub(crate) fn name(&self) -> String {
        self.addr.to_string()
    }

    /// Trace id -> span names this backend took.
    fn traces(&self) -> BTreeMap<Vec<u8>, BTreeSet<String>> {
        let mut out: BTreeMap<Vec<u8>, BTreeSet<String>> = BTreeMap::new();
        for (_, span) in self.got.spans() {
            out.entry(span.trace_id).or_default().insert(span.name);
        }
        out
    }
}

pub(crate) fn exporter(yaml: &str) -> (Arc<dyn Exporter>, Arc<Telemetry>) {
    let config = validated_config::<LoadBalancingConfig>(yaml).unwrap();
    let telemetry = Telemetry::new();
    let ctx = CreateContext::new(ComponentId::parse("loadbalancing/tier1").unwrap(), telemetry.clone());
    (LoadBalancingExporterFactory.create(ctx, config).unwrap(), telemetry)
}

/// Short retries, so a backend that comes back is reached again soon.
pub(crate) const QUICK_RETRY: &str = "retry_on_failure: { initial_interval: 20ms, max_interval: 200ms, max_elapsed_time: 0s }";

fn static_lb(samplers: &[&Sampler]) -> (Arc<dyn Exporter>, Arc<Telemetry>) {
    let hosts: Vec<String> = samplers.iter().map(|s| s.name()).collect();
    exporter(&format!(
        "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY} }} }}\nresolver: {{ static: {{ hostnames: [{}] }} }}",
        hosts.join(", ")
    ))
}

/// Trace `t`'s span `n`, with a trace id from `t`.
pub(crate) fn span(t: u32, n: u32) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[..4].copy_from_slice(&t.to_be_bytes());
    trace_id[15] = 1;
    Span { trace_id: trace_id.to_vec(), span_id: vec![1, 2, 3, 4, 5, 6, 7, n as u8 + 1], name: format!("t{t}-s{n}"), ..Default::default() }
}

/// Span `n` of each of `traces`, as one request's bytes (as the OTLP receiver hands them on).
pub(crate) fn request(traces: impl Iterator<Item = u32>, n: u32) -> Traces {
    let rs = ResourceSpans { scope_spans: vec![ScopeSpans { spans: traces.map(|t| span(t, n)).collect(), ..Default::default() }], ..Default::default() };
    Traces::from_protobuf(Traces::new(vec![rs]).encode_request()).unwrap()
}

pub(crate) async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG_GUARD, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn total_spans(samplers: &[&Sampler]) -> usize {
    samplers.iter().map(|s| s.got.spans().len()).sum()
}

/// A sample's value in the rendered metrics (0 when absent).
pub(crate) fn metric(telemetry: &Telemetry, series: &str) -> u64 {
    let text = telemetry.metrics.render();
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

pub(crate) fn lb(e: &Arc<dyn Exporter>) -> &LoadBalancingExporter {
    e.as_any().downcast_ref::<LoadBalancingExporter>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_a_trace_reaches_the_one_backend_that_owns_it() {
    let (a, b, c) = (Sampler::start().await, Sampler::start().await, Sampler::start().await);
    let (lb_exporter, _) = static_lb(&[&a, &b, &c]);
    let host: Arc<dyn Host> = TestHost::new();
    lb_exporter.start(host).await.unwrap();
    // 60 traces of 3 spans; each request holds one span of every trace.
    for n in 0..3 {
        lb_exporter.export(request(0..60, n)).await.unwrap();
    }
    wait_for("180 spans", || total_spans(&[&a, &b, &c]) == 180).await;
    let ring = lb(&lb_exporter).backends();
    assert_eq!(ring.len(), 3);
    let mut seen = BTreeSet::new();
    for sampler in [&a, &b, &c] {
        let traces = sampler.traces();
        assert!(!traces.is_empty(), "{} got no trace", sampler.name());
        for (id, spans) in traces {
            assert_eq!(spans.len(), 3, "a trace arrived in part at {}", sampler.name());
            assert!(seen.insert(id), "a trace reached two backends");
        }
    }
    assert_eq!(seen.len(), 60);
    lb_exporter.shutdown().await.unwrap();
    lb_exporter.shutdown().await.unwrap();
    for s in [&a, &b, &c] {
        s.receiver.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_is_down_gets_what_was_accepted_for_it_once_it_is_back() {
    let a = Sampler::start().await;
    let b = Sampler::start().await;
    let (lb_exporter, telemetry) = static_lb(&[&a, &b]);
    lb_exporter.start(TestHost::new()).await.unwrap();
    let b_port = b.addr.port();
    b.receiver.shutdown().await.unwrap();
    // Accepted while b is down: b's share waits in b's queue, retried.
    for n in 0..3 {
        lb_exporter.export(request(0..40, n)).await.unwrap();
    }
    wait_for("a's share", || !a.got.spans().is_empty()).await;
    assert!(b.got.spans().is_empty());
    let back = Sampler::start_on(b_port, b.got.clone()).await;
    wait_for("all 120 spans", || total_spans(&[&a, &back]) == 120).await;
    for sampler in [&a, &back] {
        assert!(sampler.traces().values().all(|spans| spans.len() == 3));
    }
    let metrics = telemetry.metrics.render();
    let b_id = format!("loadbalancing/tier1_{}", back.addr);
    assert!(metrics.contains(&format!("tracegate_exporter_sent_spans{{exporter=\"{b_id}\"}}")), "per-backend series:\n{metrics}");
    assert!(metrics.contains("tracegate_loadbalancer_backends{exporter=\"loadbalancing/tier1\",resolver=\"static\"} 2"), "{metrics}");
    lb_exporter.shutdown().await.unwrap();
    a.receiver.shutdown().await.unwrap();
    back.receiver.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_backend_takes_over_only_the_traces_of_its_arcs_and_a_removed_ones_spans_go_to_their_new_owners() {
    let samplers = [Sampler::start().await, Sampler::start().await, Sampler::start().await, Sampler::start().await];
    let all: Vec<&Sampler> = samplers.iter().collect();
    let (lb_exporter, telemetry) = static_lb(&all[..3]);
    let host: Arc<dyn Host> = TestHost::new();
    lb_exporter.start(host.clone()).await.unwrap();
    let backends = &lb(&lb_exporter).backends;
    let owner = |t: u32| -> String {
        let routing = backends.routing();
        routing.ring.owner_name(&span(t, 0).trace_id).unwrap().to_string()
    };
    let before: Vec<String> = (0..400).map(owner).collect();
    let names: Vec<Arc<str>> = all.iter().map(|s| Arc::from(s.name())).collect();
    backends.update(&names, &host).await.unwrap();
    let after: Vec<String> = (0..400).map(owner).collect();
    let moved: Vec<usize> = (0..400).filter(|&t| before[t] != after[t]).collect();
    assert!(moved.iter().all(|&t| after[t] == samplers[3].name()), "keys moved between backends that stayed");
    assert!((40..=160).contains(&moved.len()), "{} of 400 keys moved, expected about 100", moved.len());

    // Spans follow the new ring, through real sockets.
    lb_exporter.export(request(0..400, 0)).await.unwrap();
    wait_for("400 spans", || total_spans(&all) == 400).await;
    let fourth: BTreeSet<Vec<u8>> = samplers[3].traces().into_keys().collect();
    let expected: BTreeSet<Vec<u8>> = moved.iter().map(|&t| span(t as u32, 0).trace_id).collect();
    assert_eq!(fourth, expected);

    // The first backend leaves while it is down: what it holds goes to the traces' new
    // owners at once (not retried until it comes back, if it ever does), with what is routed
    // after it left.
    samplers[0].receiver.shutdown().await.unwrap();
    let first_got_before = samplers[0].got.spans().len();
    let held_for_first = (400..800u32).filter(|&t| owner(t) == samplers[0].name()).count();
    assert!(held_for_first > 0);
    lb_exporter.export(request(400..800, 0)).await.unwrap();
    backends.update(&names[1..], &host).await.unwrap();
    lb_exporter.export(request(800..1200, 0)).await.unwrap();
    wait_for("1200 spans", || total_spans(&all) == 1200).await;
    assert_eq!(samplers[0].got.spans().len(), first_got_before, "the removed backend got nothing more");
    let got: Vec<_> = samplers[1..].iter().map(|s| (s.name(), s.traces())).collect();
    for t in 400..1200u32 {
        let at: Vec<&String> = got.iter().filter(|(_, traces)| traces.contains_key(&span(t, 0).trace_id)).map(|(name, _)| name).collect();
        assert_eq!(at.len(), 1, "trace {t} arrived {} times", at.len());
        assert_eq!(*at[0], owner(t), "trace {t} is not at its owner in the new ring");
    }
    assert_eq!(metric(&telemetry, "tracegate_loadbalancer_rerouted_spans{exporter=\"loadbalancing/tier1\"}"), held_for_first as u64);
    lb_exporter.shutdown().await.unwrap();
    for s in &samplers[1..] {
        s.receiver.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_backends_persistent_queue_is_rerouted_and_its_files_go() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    let dir = tempfile::tempdir().unwrap();
    let storage = tracegate_extension_file_storage::Config { directory: dir.path().to_path_buf(), ..Default::default() };
    let storage = tracegate_extension_file_storage::FileStorageFactory
        .create(CreateContext::new(ComponentId::parse("file_storage").unwrap(), Telemetry::new()), storage)
        .unwrap();
    let host: Arc<dyn Host> = Arc::new(ExtensionsHost::default().with("file_storage", storage.clone()));
    storage.start(host.clone()).await.unwrap();
    let (lb_exporter, _) = exporter(&format!(
        "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY}, sending_queue: {{ storage: file_storage, sizer: requests }} }} }}\nresolver: {{ static: {{ hostnames: [{}, {}] }} }}",
        a.name(),
        b.name()
    ));
    lb_exporter.start(host.clone()).await.unwrap();
    let b_dir = dir.path().join(format!("exporter_loadbalancing_tier1_{}_traces", b.name()));
    b.receiver.shutdown().await.unwrap();
    lb_exporter.export(request(0..100, 0)).await.unwrap();
    let ring = lb(&lb_exporter).backends.routing();
    let b_share = (0..100u32).filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| n.to_string()) == Some(b.name())).count();
    assert!(b_share > 0 && b_dir.is_dir(), "b's queue holds its share on disk: {}", b_dir.display());
    // b is gone (as from a DNS answer): its share reaches a, and its files go.
    lb(&lb_exporter).backends.update(&[Arc::from(a.name())], &host).await.unwrap();
    wait_for("all 100 spans at a", || a.got.spans().len() == 100).await;
    wait_for("b's queue files to go", || !b_dir.exists()).await;
    assert!(b.got.spans().is_empty());
    lb_exporter.shutdown().await.unwrap();
    a.receiver.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_shares_the_metrics_and_hands_a_dropped_backends_spans_to_the_new_ring() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    let telemetry = Telemetry::new();
    let id = ComponentId::parse("loadbalancing/tier1").unwrap();
    let build = |hosts: String| {
        let config = validated_config::<LoadBalancingConfig>(&format!(
            "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY} }} }}\nresolver: {{ static: {{ hostnames: [{hosts}] }} }}"
        ))
        .unwrap();
        LoadBalancingExporterFactory.create(CreateContext::new(id.clone(), telemetry.clone()), config).unwrap()
    };
    let old = build(format!("{}, {}", a.name(), b.name()));
    old.start(TestHost::new()).await.unwrap();
    b.receiver.shutdown().await.unwrap();
    old.export(request(0..100, 0)).await.unwrap();
    let b_share = {
        let ring = lb(&old).backends.routing();
        (0..100u32).filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| n.to_string()) == Some(b.name())).count()
    };
    assert!(b_share > 0);
    // The reload: the new instance (without b) starts, then the old one stops.
    let new = build(a.name());
    new.start(TestHost::new()).await.unwrap();
    old.shutdown().await.unwrap();
    wait_for("b's share at a", || a.got.spans().len() == 100).await;
    assert!(b.got.spans().is_empty());
    let series = |name: &str| format!("{name}{{exporter=\"loadbalancing/tier1\",resolver=\"static\"}}");
    assert_eq!(metric(&telemetry, &series("tracegate_loadbalancer_backends")), 1, "the new instance's backends:\n{}", telemetry.metrics.render());
    assert_eq!(
        metric(&telemetry, "tracegate_loadbalancer_resolutions{exporter=\"loadbalancing/tier1\",resolver=\"static\",success=\"true\"}"),
        2,
        "each instance's resolution counted once"
    );
    assert_eq!(metric(&telemetry, &series("tracegate_loadbalancer_backend_updates")), 2);
    assert_eq!(metric(&telemetry, "tracegate_loadbalancer_rerouted_spans{exporter=\"loadbalancing/tier1\"}"), b_share as u64);
    new.shutdown().await.unwrap();
    assert_eq!(metric(&telemetry, &series("tracegate_loadbalancer_backends")), 0, "no backend once the last instance stopped");
    a.receiver.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_resolver_routes_to_what_localhost_resolves_to() {
    let sampler = Sampler::start().await;
    let port = sampler.addr.port();
    let (lb_exporter, telemetry) = exporter(&format!(
        "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY} }} }}\nresolver: {{ dns: {{ hostname: localhost, port: {port}, interval: 50ms }} }}"
    ));
    lb_exporter.start(TestHost::new()).await.unwrap();
    let mine = format!("127.0.0.1:{port}");
    let names = lb(&lb_exporter).backends();
    assert!(names.iter().any(|n| **n == *mine), "{names:?}");
    // Only traces the loopback address owns: `localhost` may also resolve to ::1 elsewhere.
    let ring = lb(&lb_exporter).backends.routing();
    let ours: Vec<u32> = (0..200).filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| &**n) == Some(mine.as_str())).collect();
    lb_exporter.export(request(ours.iter().copied(), 0)).await.unwrap();
    wait_for("the spans", || sampler.got.spans().len() == ours.len()).await;
    // The lookup repeats; an unchanged answer changes nothing.
    let lookups = || metric(&telemetry, "tracegate_loadbalancer_resolutions{exporter=\"loadbalancing/tier1\",resolver=\"dns\",success=\"true\"}");
    wait_for("two more lookups", || lookups() >= 3).await;
    assert!(telemetry.metrics.render().contains("tracegate_loadbalancer_backend_updates{exporter=\"loadbalancing/tier1\",resolver=\"dns\"} 1"));
    lb_exporter.shutdown().await.unwrap();
    sampler.receiver.shutdown().await.unwrap();
}

#[tokio::test]
async fn before_start_and_after_shutdown_batches_are_refused_for_the_sender_to_retry() {
    let (lb_exporter, _) = exporter("protocol: { otlp: { tls: { insecure: true } } }\nresolver: { static: { hostnames: [127.0.0.1:9] } }");
    lb_exporter.shutdown().await.unwrap();
    let (lb_exporter, _) = exporter("protocol: { otlp: { tls: { insecure: true } } }\nresolver: { static: { hostnames: [127.0.0.1:9] } }");
    let refused = lb_exporter.export(request(0..3, 0)).await.unwrap_err();
    assert!(matches!(refused, ConsumeError::Retryable(ref m) if m.contains("no backend")), "{refused:?}");
    lb_exporter.start(TestHost::new()).await.unwrap();
    lb_exporter.shutdown().await.unwrap();
    assert!(lb_exporter.export(request(0..3, 0)).await.is_err());
    assert!(lb_exporter.queues_per_destination(), "the engine must not queue in front");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backend_queue_refuses_the_whole_batch_so_the_retry_sends_nothing_twice() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    // One batch per backend queue, one worker: the batch being retried fills it; FIFO delivery.
    let (lb_exporter, _) = exporter(&format!(
        "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY}, sending_queue: {{ sizer: requests, queue_size: 1, num_consumers: 1 }} }} }}\nresolver: {{ static: {{ hostnames: [{}, {}] }} }}",
        a.name(),
        b.name()
    ));
    lb_exporter.start(TestHost::new()).await.unwrap();
    let ring = lb(&lb_exporter).backends.routing();
    let owned_by = |s: &Sampler, range: std::ops::Range<u32>| -> Vec<u32> {
        range.filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| n.to_string()) == Some(s.name())).collect()
    };
    let b_port = b.addr.port();
    b.receiver.shutdown().await.unwrap();
    // Batch 1 fits both queues; b's piece stays there, retried.
    lb_exporter.export(request(0..40, 0)).await.unwrap();
    let a_first = owned_by(&a, 0..40).len();
    wait_for("a's piece of batch 1", || a.got.spans().len() == a_first).await;
    // Batch 2: b's queue is full, so the batch is refused whole and a is offered nothing.
    let refused = lb_exporter.export(request(40..80, 0)).await.unwrap_err();
    assert!(matches!(refused, ConsumeError::Retryable(ref m) if m.contains(&b.name()) && m.contains("full")), "{refused:?}");
    // Batch 3, only a's traces: a's queue is FIFO with one worker, so once batch 3 arrived any
    // piece of batch 2 would have arrived before it.
    let a_only = owned_by(&a, 80..160);
    // a's one slot frees when its worker has a's answer, a moment after a has the spans: a
    // refusal until then is the whole batch, retried as a sender would.
    for attempt in 0.. {
        match lb_exporter.export(request(a_only.iter().copied(), 0)).await {
            Ok(()) => break,
            Err(ConsumeError::Retryable(m)) if m.contains(&a.name()) && m.contains("full") && attempt < 250 => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("batch 3 refused: {e:?}"),
        }
    }
    wait_for("batch 3 at a", || a.got.spans().len() == a_first + a_only.len()).await;
    let batch_2_at_a = a.traces().keys().filter(|id| (40..80u32).any(|t| span(t, 0).trace_id == **id)).count();
    assert_eq!(batch_2_at_a, 0, "a took pieces of a refused batch");
    let back = Sampler::start_on(b_port, b.got.clone()).await;
    wait_for("b's piece of batch 1", || !back.got.spans().is_empty()).await;
    lb_exporter.shutdown().await.unwrap();
    a.receiver.shutdown().await.unwrap();
    back.receiver.shutdown().await.unwrap();
}
