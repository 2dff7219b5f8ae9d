//! Replacing the running graph with a new config's without refusing or losing a batch.
//!
//! # What is kept
//!
//! A part whose config is unchanged keeps running as it is: a receiver keeps its listener and
//! connections, an exporter keeps its sending queue (and what is in it), an extension keeps
//! its port. A pipeline whose processors (and their configs) and exporters are unchanged keeps
//! its processor instances and what they hold. Receivers feed pipelines through a [`Switch`],
//! so a kept receiver is pointed at the new pipelines it feeds.
//!
//! # What is replaced, and in which order
//!
//! A part is replaced when its config changed, or when it found a replaced part on its host
//! at its start (see `lookups`: every lookup is noted): `jaeger_query` reading `sled`
//! restarts with a new `sled`, an exporter whose queue is on a replaced `file_storage`
//! restarts with it, the `jaeger` receiver restarts with a replaced `remote_sampling`. A
//! lookup by capability lists the extensions first, so a part that made one is replaced
//! whenever an extension is replaced, added or removed (what it finds may have changed). A
//! pipeline is rebuilt (all its processors, new instances) when any of its processors or
//! exporters is replaced, or its lists changed: processors are created with their `next`.
//!
//! 1. Replaced and removed receivers stop (their requests in flight finish into the old graph).
//! 2. Replaced extensions stop and their new instances start (an extension usually owns a
//!    port, which two instances cannot share), except those of step 6.
//! 3. New exporters are created and started while the old ones still run ("start before
//!    stop"; a `sled` store on the same path is shared by both instances). An exporter that
//!    cannot run beside its old instance is replaced in step 4 instead: its start fails
//!    while the old one runs. That is every exporter with a persistent queue
//!    (`sending_queue.storage`, and `loadbalancing` with persistent backend queues): a queue
//!    directory serves one instance at a time (`queue::disk::lock`), and the second open
//!    fails at `start`.
//! 4. The [`Gate`] closes: batches inside the graph are answered, new ones wait at the door
//!    (they are not refused). Old processors of rebuilt pipelines stop, flushing what they
//!    hold into their exporters. An exporter that could not be opened beside its old instance
//!    now has that instance handed over ([`crate::queue::QueuedExporter::hand_over`]): its
//!    queue takes nothing more, each batch being sent finishes its attempt without a second
//!    try, everything else stays on disk, and the queue lets go of its directory; then the
//!    new instance is started and opens the same directory, and delivers what the old one
//!    left. New pipelines are built and started, every switch is pointed at them, and the
//!    gate opens.
//! 5. Old exporters drain their queues into their backends (up to `service.shutdown_timeout`)
//!    and stop: what they held was accepted, and is delivered by them.
//! 6. Extensions that read exporters (they found a replaced one, or their config names one
//!    that started in step 3) start now, so they find the new instances; removed extensions
//!    stop, after the exporters that may have used them.
//! 7. New and replaced receivers start.
//!
//! # What is not preserved
//!
//! - A replaced receiver's port is closed between its stop (1) and its new start (7):
//!   clients see refused connections for that moment and retry. Change a receiver's port,
//!   or leave its config alone, to keep it listening.
//! - A replaced extension's port is closed between its stop and its new start.
//! - Batches wait at the gate while step 4 runs: milliseconds, unless an exporter with a
//!   persistent queue is replaced. Then they also wait for its old instance's attempts in
//!   flight to end (each within the exporter's `timeout`, all within
//!   `service.shutdown_timeout`; past it they are abandoned and their batches stay on disk),
//!   its exporter's own shutdown, and the new instance's start, whose queue open reads the
//!   segment files of its backlog once; for `loadbalancing`, every backend queue in
//!   parallel, then the resolver's first answer and each backend's start. The backlog itself
//!   is not drained behind the gate: the new instance delivers it after. A batch whose
//!   attempt was abandoned or timed out may have reached the backend and is sent again (at
//!   least once, as after a crash).
//! - A replaced `memory` store starts empty.
//! - `service.telemetry` (logs, the metrics address) applies at start only.
//!
//! # What it costs
//!
//! Measured 2026-12-07 with a release build (otlp -> batch -> sled with `jaeger_query`,
//! `tracegate-loadgen` flat out over OTLP/gRPC, 20 s each, on the shared 2-core machine while
//! `limits` read OTLP decode at 124-196k spans/s): 201k spans/s with no reload, 187k spans/s
//! with a reload every 2 s (10 reloads rebuilding the pipeline, ~28 ms each from SIGHUP to
//! applied), no span failed or refused in either; the difference is within that window's
//! noise. In `tests/e2e/test_reload.py` (debug build, 1000 spans/s) batches were held at the
//! gate for 0.3-6 ms per reload. The switch costs a batch ~40-130 ns (`benches/switch.rs`).
//!
//! If a part fails to be created or started, the reload fails: the service returns to the
//! previous config by the same procedure, and batches meanwhile are refused as retryable
//! rather than lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde_yaml_ng::Value;

use super::build::{self, fail, BuildError, Graph, RunningExporter, RunningReceiver};
use super::lookups::recording;
use super::{Gate, Switch, Unavailable};
use crate::component::Host;
use crate::config::ValidConfig;
use crate::id::{ComponentId, Kind};
use crate::telemetry::Telemetry;

pub(super) struct Context<'a> {
    pub telemetry: &'a Arc<Telemetry>,
    pub gate: &'a Arc<Gate>,
}

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// `kind "id"` of every part started anew (replaced or added).
    pub started: Vec<String>,
    /// `kind "id"` of every part stopped for good (replaced or removed).
    pub stopped: Vec<String>,
    /// Parts that kept running.
    pub kept: usize,
}

impl ReloadOutcome {
    pub fn is_unchanged(&self) -> bool {
        self.started.is_empty() && self.stopped.is_empty()
    }

    /// The `result` label of `tracegate_config_reloads_total`.
    pub fn result_label(&self) -> &'static str {
        if self.is_unchanged() {
            "unchanged"
        } else {
            "applied"
        }
    }
}

/// What differs between the graph and the target config.
#[derive(Default)]
struct Plan {
    receivers_stop: BTreeSet<ComponentId>,
    receivers_start: Vec<ComponentId>,
    pipelines_stop: BTreeSet<String>,
    pipelines_start: BTreeSet<String>,
    exporters_stop: BTreeSet<ComponentId>,
    exporters_start: Vec<ComponentId>,
    extensions_stop: BTreeSet<ComponentId>,
    extensions_start: BTreeSet<ComponentId>,
    /// Extensions that name a replaced exporter or extension: restarted last (step 6).
    extensions_late: BTreeSet<ComponentId>,
}

/// True when a string value anywhere in `value` is one of `ids` (a config naming a component).
fn mentions(value: &Value, ids: &BTreeSet<String>) -> bool {
    match value {
        Value::String(s) => ids.contains(s),
        Value::Sequence(items) => items.iter().any(|v| mentions(v, ids)),
        Value::Mapping(map) => map.values().any(|v| mentions(v, ids)),
        Value::Tagged(t) => mentions(&t.value, ids),
        _ => false,
    }
}

fn plan(graph: &Graph, target: &ValidConfig) -> Result<Plan, BuildError> {
    let fp = |kind: Kind, id: &ComponentId| target.component(kind, id).map(build::fingerprint);
    let mut p = Plan::default();

    let mut new_exporters: Vec<ComponentId> = Vec::new();
    for pipeline in &target.pipelines {
        for id in &pipeline.exporters {
            if !new_exporters.contains(id) {
                new_exporters.push(id.clone());
            }
        }
    }
    let new_extensions = build::extension_ids(target)?;

    // Directly changed or removed.
    for (id, running) in &graph.exporters {
        if !new_exporters.contains(id) || fp(Kind::Exporter, id).as_ref() != Some(&running.fingerprint) {
            p.exporters_stop.insert(id.clone());
        }
    }
    for x in &graph.extensions {
        if !new_extensions.contains(&x.id) || fp(Kind::Extension, &x.id).as_ref() != Some(&x.fingerprint) {
            p.extensions_stop.insert(x.id.clone());
        }
    }
    // Anything that found a replaced part at its start is replaced too, until nothing moves.
    let running_extensions: BTreeSet<&ComponentId> = graph.extensions.iter().map(|x| &x.id).collect();
    let extensions_added = new_extensions.iter().any(|id| !running_extensions.contains(id));
    let (replaced, extensions_changed) = loop {
        let replaced: BTreeSet<ComponentId> = p.exporters_stop.iter().chain(&p.extensions_stop).cloned().collect();
        let extensions_changed = extensions_added || !p.extensions_stop.is_empty();
        let before = p.exporters_stop.len() + p.extensions_stop.len();
        for (id, running) in &graph.exporters {
            if running.lookups.depends_on(&replaced, extensions_changed) {
                p.exporters_stop.insert(id.clone());
            }
        }
        for x in &graph.extensions {
            if x.lookups.depends_on(&replaced, extensions_changed) {
                p.extensions_stop.insert(x.id.clone());
            }
        }
        if p.exporters_stop.len() + p.extensions_stop.len() == before {
            break (replaced, extensions_changed);
        }
    };

    p.exporters_start = new_exporters
        .into_iter()
        .filter(|id| !graph.exporters.contains_key(id) || p.exporters_stop.contains(id))
        .collect();
    // Extensions that read exporters start after them: those that found a replaced one, and
    // those whose config names one that starts now (a new `jaeger_query` on a new store).
    let starting: BTreeSet<String> = p.exporters_start.iter().map(ToString::to_string).collect();
    for x in &graph.extensions {
        if x.lookups.depends_on(&p.exporters_stop, false) {
            p.extensions_late.insert(x.id.clone());
        }
    }
    for id in &new_extensions {
        let running = graph.extensions.iter().any(|x| &x.id == id);
        if !running || p.extensions_stop.contains(id) {
            p.extensions_start.insert(id.clone());
            if fp(Kind::Extension, id).is_some_and(|f| mentions(&f, &starting)) {
                p.extensions_late.insert(id.clone());
            }
        }
    }

    for running in &graph.pipelines {
        let same = target.pipelines.iter().find(|n| n.id == running.id).is_some_and(|n| {
            build::pipeline_fingerprint(target, n) == running.fingerprint
                && !n.exporters.iter().any(|e| p.exporters_stop.contains(e))
                && !running.lookups.depends_on(&replaced, extensions_changed)
        });
        if !same {
            p.pipelines_stop.insert(running.id.clone());
        }
    }
    for pipeline in &target.pipelines {
        if !graph.pipelines.iter().any(|r| r.id == pipeline.id) || p.pipelines_stop.contains(&pipeline.id) {
            p.pipelines_start.insert(pipeline.id.clone());
        }
    }

    let mut new_receivers: Vec<ComponentId> = Vec::new();
    for pipeline in &target.pipelines {
        for id in &pipeline.receivers {
            if !new_receivers.contains(id) {
                new_receivers.push(id.clone());
            }
        }
    }
    for r in &graph.receivers {
        let same = new_receivers.contains(&r.id)
            && fp(Kind::Receiver, &r.id).as_ref() == Some(&r.fingerprint)
            && !r.lookups.depends_on(&replaced, extensions_changed);
        if !same {
            p.receivers_stop.insert(r.id.clone());
        }
    }
    p.receivers_start = new_receivers
        .into_iter()
        .filter(|id| !graph.receivers.iter().any(|r| &r.id == id) || p.receivers_stop.contains(id))
        .collect();
    Ok(p)
}

fn named(kind: Kind, id: impl std::fmt::Display) -> String {
    format!("{kind} \"{id}\"")
}

/// Moves `graph` to `target` (see the module docs). On error the graph is left consistent:
/// every part in it runs, and a receiver whose pipelines are gone answers "retry".
pub(super) async fn transition(ctx: &Context<'_>, graph: &mut Graph, target: &ValidConfig) -> Result<ReloadOutcome, BuildError> {
    let plan = plan(graph, target)?;
    let mut out = ReloadOutcome::default();
    let status = ctx.telemetry.status.clone();
    graph.shutdown_timeout = target.service.shutdown_timeout.0.get();

    // 1. Receivers that go.
    for id in &plan.receivers_stop {
        if let Some(pos) = graph.receivers.iter().position(|r| &r.id == id) {
            let r = graph.receivers.remove(pos);
            if let Err(e) = r.receiver.shutdown().await {
                tracing::warn!(receiver = %id, "reload: shutdown: {e}");
            }
            out.stopped.push(named(Kind::Receiver, id));
        }
    }

    // 2. Replaced extensions that read nothing replaced: old out, new in. (Removed ones stop
    // in step 6, after the old exporters that may use them.)
    let early_stop = |id: &ComponentId| !plan.extensions_late.contains(id) && plan.extensions_start.contains(id);
    stop_extensions(graph, &plan.extensions_stop, early_stop, &mut out).await;
    let early: Vec<ComponentId> = plan.extensions_start.iter().filter(|id| !plan.extensions_late.contains(*id)).cloned().collect();
    start_extensions(ctx, graph, target, &early, &mut out).await?;

    // 3. New exporters beside the old ones, where the backend allows two.
    let mut fresh: BTreeMap<ComponentId, RunningExporter> = BTreeMap::new();
    let mut deferred: Vec<ComponentId> = Vec::new();
    for id in &plan.exporters_start {
        let host: Arc<dyn Host> = graph.host(status.clone());
        let created = build::create_exporter(target, id, ctx.telemetry);
        let started = match created {
            Ok(e) => match e.queued.start(recording(host, &e.lookups)).await {
                Ok(()) => Ok(e),
                Err(err) => {
                    let _ = e.queued.shutdown(Instant::now()).await;
                    Err(fail(Kind::Exporter, id)(err))
                }
            },
            Err(err) => Err(err),
        };
        match started {
            Ok(e) => {
                fresh.insert(id.clone(), e);
            }
            Err(err) if graph.exporters.contains_key(id) => {
                tracing::info!(exporter = %id, "reload: cannot run beside its old instance ({err}); it replaces it while the gate is closed");
                deferred.push(id.clone());
            }
            Err(err) => {
                stop_exporters(fresh.into_values().collect(), graph.shutdown_timeout).await;
                return Err(err);
            }
        }
    }

    // 4. Gate closed: rewire.
    let retired_exporters = {
        let waited = Instant::now();
        let _closed = ctx.gate.close().await;
        let closed = Instant::now();
        let result = rewire(ctx, graph, target, &plan, fresh, &deferred, &mut out).await;
        // How long batches were held at the door: what a reload costs a sender.
        tracing::info!(
            waited_ms = (closed - waited).as_secs_f64() * 1e3,
            held_ms = closed.elapsed().as_secs_f64() * 1e3,
            "reload: rewired the pipelines behind the closed gate"
        );
        match result {
            Ok(retired) => retired,
            Err(e) => {
                // Whatever has no pipeline now answers "retry" until the old graph is back.
                for r in &graph.receivers {
                    r.switch.set(graph.heads_for_or_unavailable(target, &r.id));
                }
                return Err(e);
            }
        }
    };

    // 5. Old exporters drain into their backends.
    for e in &retired_exporters {
        out.stopped.push(named(Kind::Exporter, e.queued.id()));
    }
    stop_exporters(retired_exporters, graph.shutdown_timeout).await;

    // 6. Extensions that read what was replaced.
    stop_extensions(graph, &plan.extensions_stop, |_| true, &mut out).await;
    let late: Vec<ComponentId> = plan.extensions_start.iter().filter(|id| plan.extensions_late.contains(*id)).cloned().collect();
    start_extensions(ctx, graph, target, &late, &mut out).await?;
    let order = build::extension_ids(target)?;
    graph.extensions.sort_by_key(|x| order.iter().position(|id| id == &x.id));

    // 7. Receivers that are new or replaced.
    let host: Arc<dyn Host> = graph.host(status);
    for id in &plan.receivers_start {
        let switch = Switch::new(ctx.gate.clone(), graph.heads_for(target, id));
        let running: RunningReceiver = build::create_receiver(target, id, switch, ctx.telemetry)?;
        if let Err(e) = running.receiver.start(recording(host.clone(), &running.lookups)).await {
            let _ = running.receiver.shutdown().await;
            return Err(fail(Kind::Receiver, id)(e));
        }
        graph.receivers.push(running);
        out.started.push(named(Kind::Receiver, id));
    }
    let order: Vec<&ComponentId> = target.pipelines.iter().flat_map(|p| &p.receivers).collect();
    graph.receivers.sort_by_key(|r| order.iter().position(|id| *id == &r.id));

    let parts = graph.receivers.len() + graph.exporters.len() + graph.extensions.len() + graph.pipelines.iter().map(|p| p.processors.len()).sum::<usize>();
    out.kept = parts.saturating_sub(out.started.len());
    Ok(out)
}

/// Step 4, with the gate closed. Returns the old exporters still to drain.
async fn rewire(
    ctx: &Context<'_>,
    graph: &mut Graph,
    target: &ValidConfig,
    plan: &Plan,
    fresh: BTreeMap<ComponentId, RunningExporter>,
    deferred: &[ComponentId],
    out: &mut ReloadOutcome,
) -> Result<Vec<RunningExporter>, BuildError> {
    let timeout = graph.shutdown_timeout;
    // Old processors flush into their (still running) exporters.
    let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut graph.pipelines).into_iter().partition(|p| plan.pipelines_stop.contains(&p.id));
    graph.pipelines = kept;
    for pipeline in gone {
        for (id, p) in &pipeline.processors {
            if let Err(e) = p.shutdown().await {
                tracing::warn!(processor = %id, "reload: shutdown: {e}");
            }
            out.stopped.push(named(Kind::Processor, id));
        }
    }
    // Exporters that need their old instance gone first.
    let mut retired = Vec::new();
    for id in &plan.exporters_stop {
        if let Some(old) = graph.exporters.remove(id) {
            if deferred.contains(id) {
                // A persistent queue is left to the new instance, not drained here.
                if let Err(e) = old.queued.hand_over(Instant::now() + timeout).await {
                    tracing::warn!(exporter = %id, "reload: shutdown: {e}");
                }
                out.stopped.push(named(Kind::Exporter, id));
            } else {
                retired.push(old);
            }
        }
    }
    let status = ctx.telemetry.status.clone();
    for (id, e) in fresh {
        graph.exporters.insert(id.clone(), e);
        out.started.push(named(Kind::Exporter, &id));
    }
    for id in deferred {
        let e = build::create_exporter(target, id, ctx.telemetry)?;
        let host: Arc<dyn Host> = graph.host(status.clone());
        if let Err(err) = e.queued.start(recording(host, &e.lookups)).await {
            let _ = e.queued.shutdown(Instant::now()).await;
            return Err(fail(Kind::Exporter, id)(err));
        }
        graph.exporters.insert(id.clone(), e);
        out.started.push(named(Kind::Exporter, id));
    }
    // New pipelines, started downstream-first, then every receiver pointed at them.
    let host: Arc<dyn Host> = graph.host(status);
    for pipeline in target.pipelines.iter().filter(|p| plan.pipelines_start.contains(&p.id)) {
        let running = build::build_pipeline(target, pipeline, &graph.exporters, ctx.telemetry)?;
        for (id, p) in running.processors.iter().rev() {
            p.start(recording(host.clone(), &running.lookups)).await.map_err(fail(Kind::Processor, id))?;
            out.started.push(named(Kind::Processor, id));
        }
        graph.pipelines.push(running);
    }
    let order: Vec<&String> = target.pipelines.iter().map(|p| &p.id).collect();
    graph.pipelines.sort_by_key(|p| order.iter().position(|id| *id == &p.id));
    for r in &graph.receivers {
        r.switch.set(graph.heads_for(target, &r.id));
    }
    Ok(retired)
}

async fn stop_exporters(exporters: Vec<RunningExporter>, timeout: std::time::Duration) {
    let deadline = Instant::now() + timeout;
    let drains = exporters.iter().map(|e| async move {
        if let Err(err) = e.queued.shutdown(deadline).await {
            tracing::warn!(exporter = %e.queued.id(), "reload: shutdown: {err}");
        }
        let lost = e.queued.undelivered_at_shutdown();
        if lost > 0 {
            tracing::error!(exporter = %e.queued.id(), spans = lost, "reload: not delivered before the old exporter stopped");
        }
    });
    futures::future::join_all(drains).await;
}

/// Stops the extensions in `ids` that `now` selects, dependents first.
async fn stop_extensions(graph: &mut Graph, ids: &BTreeSet<ComponentId>, now: impl Fn(&ComponentId) -> bool, out: &mut ReloadOutcome) {
    let (going, staying): (Vec<_>, Vec<_>) = std::mem::take(&mut graph.extensions).into_iter().partition(|x| ids.contains(&x.id) && now(&x.id));
    graph.extensions = staying;
    let ordered = build::in_dependency_order(going.iter().map(|x| (x.id.clone(), x.extension.clone())).collect());
    for (id, x) in ordered.iter().rev() {
        if let Err(e) = x.shutdown().await {
            tracing::warn!(extension = %id, "reload: shutdown: {e}");
        }
        out.stopped.push(named(Kind::Extension, id));
    }
}

async fn start_extensions(ctx: &Context<'_>, graph: &mut Graph, target: &ValidConfig, ids: &[ComponentId], out: &mut ReloadOutcome) -> Result<(), BuildError> {
    let mut created = Vec::new();
    for id in ids {
        created.push(build::create_extension(target, id, ctx.telemetry)?);
    }
    let ordered = build::in_dependency_order(created.iter().map(|x| (x.id.clone(), x.extension.clone())).collect());
    // Started ones join the graph at once, so each later one's host shows them.
    for (id, _) in ordered {
        let Some(pos) = created.iter().position(|x| x.id == id) else { continue };
        let x = created.remove(pos);
        let host: Arc<dyn Host> = graph.host(ctx.telemetry.status.clone());
        if let Err(e) = x.extension.start(recording(host, &x.lookups)).await {
            let _ = x.extension.shutdown().await;
            return Err(fail(Kind::Extension, &id)(e));
        }
        graph.extensions.push(x);
        out.started.push(named(Kind::Extension, &id));
    }
    Ok(())
}

impl Graph {
    /// [`Graph::heads_for`], or a consumer that answers "retry" when none of the receiver's
    /// pipelines runs (a failed reload, until the previous graph is restored).
    fn heads_for_or_unavailable(&self, config: &ValidConfig, receiver: &ComponentId) -> Arc<dyn crate::component::Consumer> {
        let all_running = config
            .pipelines
            .iter()
            .filter(|p| p.receivers.contains(receiver))
            .all(|p| self.pipelines.iter().any(|r| r.id == p.id));
        if all_running {
            self.heads_for(config, receiver)
        } else {
            Arc::new(Unavailable)
        }
    }
}
