//! Persistent backend queues across a reload (one instance at a time on them, the old one's
//! backlog delivered by the new), and a shutdown that comes while a removed backend's queue
//! is still being handed over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracegate_core::queue::{ExporterSettings, QueuedExporter};
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{ComponentId, CreateContext, ExtensionFactory, Host, Lifecycle};

use crate::exporter_tests::{exporter, lb, metric, request, span, wait_for, Sampler, HANG_GUARD, QUICK_RETRY};

/// A started `file_storage` extension in `dir`, offered by the host the exporters start with.
async fn storage_host(dir: &std::path::Path) -> Arc<dyn Host> {
    let config = tracegate_extension_file_storage::Config { directory: dir.to_path_buf(), ..Default::default() };
    let storage = tracegate_extension_file_storage::FileStorageFactory
        .create(CreateContext::new(ComponentId::parse("file_storage").unwrap(), tracegate_core::telemetry::Telemetry::new()), config)
        .unwrap();
    let host: Arc<dyn Host> = Arc::new(ExtensionsHost::default().with("file_storage", storage.clone()));
    storage.start(host.clone()).await.unwrap();
    host
}

fn on_disk(resolver: &str) -> String {
    format!("protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY}, sending_queue: {{ storage: file_storage, sizer: requests }} }} }}\nresolver: {resolver}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_persistent_queues_fails_at_start_whatever_the_resolver() {
    let a = Sampler::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = storage_host(dir.path()).await;
    let resolvers = [
        format!("{{ dns: {{ hostname: localhost, port: {}, interval: 50ms }} }}", a.addr.port()),
        format!("{{ static: {{ hostnames: [{}] }} }}", a.name()),
    ];
    for resolver in &resolvers {
        let (old, _) = exporter(&on_disk(resolver));
        old.start(host.clone()).await.unwrap();
        // A DNS-resolved backend whose queue the old instance holds must not be silently left
        // out of the new ring: the new instance does not start at all while the old one runs.
        let (new, _) = exporter(&on_disk(resolver));
        let e = new.start(host.clone()).await.expect_err("two instances on one set of queues").to_string();
        let root = dir.path().join("exporter_loadbalancing_tier1_traces");
        assert!(e.contains(&root.display().to_string()) && e.contains("another running instance holds it"), "{resolver}: {e}");
        new.shutdown().await.unwrap();
        old.shutdown().await.unwrap();
        let (new, _) = exporter(&on_disk(resolver));
        new.start(host.clone()).await.expect("the old instance let go of its queues");
        assert!(lb(&new).backends().iter().any(|n| **n == *a.name()), "{resolver}: {:?}", lb(&new).backends());
        new.shutdown().await.unwrap();
    }
    a.receiver.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_hands_the_backends_persistent_queues_over_and_the_new_instance_delivers_them() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    let dir = tempfile::tempdir().unwrap();
    let host = storage_host(dir.path()).await;
    let config = on_disk(&format!("{{ static: {{ hostnames: [{}, {}] }} }}", a.name(), b.name()));
    let id = ComponentId::parse("loadbalancing/tier1").unwrap();
    // As the engine runs it: behind its QueuedExporter (which adds no queue of its own).
    let (old_lb, telemetry) = exporter(&config);
    let old = QueuedExporter::new(id.clone(), old_lb.clone(), ExporterSettings::default(), &telemetry);
    old.start(host.clone()).await.unwrap();
    let b_port = b.addr.port();
    b.receiver.shutdown().await.unwrap();
    old_lb.export(request(0..100, 0)).await.unwrap();
    let b_share = {
        let ring = lb(&old_lb).backends.routing();
        (0..100u32).filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| n.to_string()) == Some(b.name())).count()
    };
    assert!(b_share > 0);
    wait_for("a's share", || a.got.spans().len() == 100 - b_share).await;

    // The reload: the new instance cannot start beside the old one, so the old one is handed
    // over behind the gate (a deadline far away: it must not wait for b to come back).
    let (new_lb, telemetry) = exporter(&config);
    let new = QueuedExporter::new(id.clone(), new_lb, ExporterSettings::default(), &telemetry);
    assert!(new.start(host.clone()).await.is_err());
    new.shutdown(Instant::now()).await.unwrap();
    let (new_lb, telemetry) = exporter(&config);
    let new = QueuedExporter::new(id, new_lb, ExporterSettings::default(), &telemetry);
    tokio::time::timeout(HANG_GUARD, old.hand_over(Instant::now() + Duration::from_secs(600)))
        .await
        .expect("the hand-over waited for the dead backend")
        .unwrap();
    new.start(host.clone()).await.expect("the old instance let go of the queues");
    let back = Sampler::start_on(b_port, b.got.clone()).await;
    wait_for("b's share, from the queue the old instance left", || back.got.spans().len() == b_share).await;
    new.shutdown(Instant::now() + HANG_GUARD).await.unwrap();
    assert_eq!(a.got.spans().len() + back.got.spans().len(), 100);
    assert_eq!(metric(&telemetry, "tracegate_exporter_send_failed_spans"), 0);
    a.receiver.shutdown().await.unwrap();
    back.receiver.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_a_removed_backends_handover_counts_what_it_could_not_hand_over() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    // One batch per backend queue: a's is full with its own piece while a is down.
    let (lb_exporter, telemetry) = exporter(&format!(
        "protocol: {{ otlp: {{ tls: {{ insecure: true }}, {QUICK_RETRY}, sending_queue: {{ sizer: requests, queue_size: 1, num_consumers: 1 }} }} }}\nresolver: {{ static: {{ hostnames: [{}, {}] }} }}",
        a.name(),
        b.name()
    ));
    let host: Arc<dyn Host> = tracegate_core::testing::TestHost::new();
    lb_exporter.start(host.clone()).await.unwrap();
    let (a_name, b_name) = (a.name(), b.name());
    a.receiver.shutdown().await.unwrap();
    b.receiver.shutdown().await.unwrap();
    lb_exporter.export(request(0..100, 0)).await.unwrap();
    // b leaves: its piece is offered to a, whose queue is full; the retire keeps trying (for
    // as long as the retries would last, five minutes here) ...
    let set = &lb(&lb_exporter).backends;
    set.update(&[Arc::from(a_name.as_str())], &host).await.unwrap();
    // ... when the exporter shuts down.
    set.shutdown(Instant::now() + Duration::from_millis(300)).await;
    let failed = |name: &str| metric(&telemetry, &format!("tracegate_exporter_send_failed_spans{{exporter=\"loadbalancing/tier1_{name}\"}}"));
    assert!(failed(&b_name) > 0, "b's spans were cut off uncounted:\n{}", telemetry.metrics.render());
    assert_eq!(failed(&a_name) + failed(&b_name), 100, "every span not delivered is counted once:\n{}", telemetry.metrics.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_without_a_backend_the_queue_it_left_on_disk_goes_to_the_others() {
    let (a, b) = (Sampler::start().await, Sampler::start().await);
    let dir = tempfile::tempdir().unwrap();
    let host = storage_host(dir.path()).await;
    let id = ComponentId::parse("loadbalancing/tier1").unwrap();
    let (first, telemetry) = exporter(&on_disk(&format!("{{ static: {{ hostnames: [{}, {}] }} }}", a.name(), b.name())));
    let first = QueuedExporter::new(id, first, ExporterSettings::default(), &telemetry);
    first.start(host.clone()).await.unwrap();
    b.receiver.shutdown().await.unwrap();
    first.exporter().export(request(0..100, 0)).await.unwrap();
    let b_dir = dir.path().join(format!("exporter_loadbalancing_tier1_{}_traces", b.name()));
    let b_share = {
        let ring = lb(first.exporter()).backends.routing();
        (0..100u32).filter(|&t| ring.ring.owner_name(&span(t, 0).trace_id).map(|n| n.to_string()) == Some(b.name())).count()
    };
    wait_for("a's share", || a.got.spans().len() == 100 - b_share).await;
    // The process stops with b's share still queued on disk for b ...
    first.shutdown(Instant::now() + Duration::from_millis(200)).await.unwrap();
    assert!(b_share > 0 && b_dir.is_dir());
    // ... and starts again with a list without b.
    let (second, _) = exporter(&on_disk(&format!("{{ static: {{ hostnames: [{}] }} }}", a.name())));
    second.start(host.clone()).await.unwrap();
    wait_for("b's share at a", || a.got.spans().len() == 100).await;
    wait_for("b's queue files to go", || !b_dir.exists()).await;
    second.shutdown().await.unwrap();
    a.receiver.shutdown().await.unwrap();
}
