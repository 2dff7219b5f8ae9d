//! The running backends: one `otlp` exporter per backend, each behind the engine's own
//! [`QueuedExporter`], so every backend has the sending queue, retries and timeout of any
//! exporter (`protocol.otlp.sending_queue` / `retry_on_failure` / `timeout`) and its own
//! `tracegate_exporter_*` metrics, labelled `loadbalancing[/name]/<backend>`.
//!
//! A backend that appears is created and started before the ring that routes to it is put in
//! place. An export that raced with a change and reached a backend already closing is refused
//! there, and its sender retries against the new ring.
//!
//! # A backend that leaves
//!
//! What its queue holds was acknowledged to senders, and the backend may be gone for good (a
//! DNS answer without it: the sampler was stopped or moved; a static list without it after a
//! reload). So it is taken out of the ring first, then its queue is retired
//! ([`QueuedExporter::retire`]): each batch being sent to it finishes its attempt (delivered
//! if the backend still answers, within `timeout`), without a second try, and everything else
//! is routed again through the new ring, to the traces' new owners, where the spans that
//! arrive after the change go too. A persistent queue's files go once it is empty. Only a
//! batch the other backends keep refusing (their queues full) for as long as the retries
//! would have lasted (`max_elapsed_time`, 5 minutes when that is 0) is given up, counted in
//! the backend's `tracegate_exporter_send_failed_spans` (or, in a persistent queue, left on
//! disk). The Collector shuts the removed exporter down instead, which delivers what the
//! backend still takes and drops the rest (its persistent queue stays on disk, never read).
//!
//! On a reload, the old instance does the same when it stops, for the backends the new
//! instance no longer routes to (the crate's `lineage` module finds it); the backends both
//! route to drain into their backends as at any shutdown.
//!
//! A shutdown that comes while a removed backend's queue is still being retired brings that
//! retire's deadline forward to its own ([`QueuedExporter::cut_retire_short`]): what it
//! could not hand over by then is counted in the removed backend's
//! `tracegate_exporter_send_failed_spans` (or kept on disk), not cut off uncounted.
//!
//! # Persistent backend queues and reloads
//!
//! With `sending_queue.storage`, each backend's queue is a directory under the storage
//! extension, and a directory serves one instance at a time (`tracegate_core::queue::disk::lock`).
//! Two instances of this exporter would meet there at a reload, but only on the backends both
//! route to, and only once the resolver answered: a new instance's backend whose directory
//! the old one holds would be left out of its ring. So the whole set takes one lock first, on
//! the exporter's own queue directory, before any backend queue opens
//! ([`BackendSet::lock_queue_root`]): the new instance's start fails at once while the old
//! one runs, whatever the resolver, and the reload replaces the exporter behind its closed
//! gate instead, old instance first (its queues handed over on disk, see
//! `tracegate_core::queue::QueuedExporter::hand_over`). The queues of backends the new
//! instance does not route to are then on disk with no one to read them; the `orphans`
//! module finds them at start, as it does after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracegate_core::queue::disk::lock::DirLock;
use tracegate_core::queue::{QueueStorage, QueuedExporter};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentError, ComponentId, ConsumeError, Consumer, CreateContext, ExporterFactory, Host, Traces};
use tracegate_exporter_otlp::OtlpGrpcExporterFactory;

use crate::config::{endpoint_with_port, OtlpTemplate, RoutingKey};
use crate::lineage;
use crate::metrics::LoadBalancerMetrics;
use crate::ring::Ring;
use crate::route;

/// What an export routes with: a ring and, at the same indexes as `ring.backends()`, the
/// backends' exporters. Swapped whole, so an export never sees a ring without its exporters.
#[derive(Default)]
pub struct Routing {
    pub ring: Ring,
    pub backends: Vec<Arc<QueuedExporter>>,
}

pub struct BackendSet {
    id: ComponentId,
    key: RoutingKey,
    template: OtlpTemplate,
    telemetry: Arc<Telemetry>,
    metrics: LoadBalancerMetrics,
    current: RwLock<Arc<Routing>>,
    /// The running backends by ring name.
    live: Mutex<BTreeMap<Arc<str>, Arc<QueuedExporter>>>,
    /// Backends that left, by ring name, while their queues are retired.
    leaving: Mutex<Vec<Leaving>>,
    /// With persistent backend queues: the lock on this exporter's queue directory, and where
    /// the queues are (see `orphans`).
    persistent: Mutex<Option<Persistent>>,
    /// One change at a time (the resolver's task, start and shutdown may overlap).
    changing: tokio::sync::Mutex<()>,
    me: Weak<BackendSet>,
}

/// Persistent backend queues: the exporter's own queue directory, locked, and the storage.
struct Persistent {
    _lock: DirLock,
    root: std::path::PathBuf,
    files: Arc<dyn QueueStorage>,
}

/// A backend that left, while its queue is retired.
struct Leaving {
    name: Arc<str>,
    backend: Arc<QueuedExporter>,
    retire: JoinHandle<()>,
}

/// How long a shutdown waits, past its deadline, for a retire it cut short to count what it
/// could not hand over (it stops at the deadline; this only bounds a hang).
const RETIRE_GRACE: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `err` with the backend named, keeping what kind of error it is.
fn from_backend(backend: &str, err: ConsumeError) -> ConsumeError {
    match err {
        ConsumeError::Retryable(m) => ConsumeError::Retryable(format!("backend {backend}: {m}")),
        ConsumeError::Permanent(m) => ConsumeError::Permanent(format!("backend {backend}: {m}")),
        ConsumeError::Throttled { retry_after, message } => {
            ConsumeError::Throttled { retry_after, message: format!("backend {backend}: {message}") }
        }
    }
}

impl BackendSet {
    pub fn new(id: ComponentId, key: RoutingKey, template: OtlpTemplate, telemetry: Arc<Telemetry>, metrics: LoadBalancerMetrics) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            id,
            key,
            template,
            telemetry,
            metrics,
            current: RwLock::new(Arc::default()),
            live: Mutex::new(BTreeMap::new()),
            leaving: Mutex::new(Vec::new()),
            persistent: Mutex::new(None),
            changing: tokio::sync::Mutex::new(()),
            me: me.clone(),
        })
    }

    /// The ring and exporters to route one batch with.
    pub fn routing(&self) -> Arc<Routing> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Cuts `traces` by routing key and hands each piece to its backend's queue (see
    /// [`crate::exporter`] for why a backend that would refuse is offered its piece first).
    pub async fn offer(&self, traces: Traces) -> Result<(), ConsumeError> {
        let routing = self.routing();
        if routing.ring.is_empty() {
            return Err(ConsumeError::retryable(format!(
                "exporter {}: no backend to send to (the resolver has found none yet)",
                self.id
            )));
        }
        let pieces = route::split(traces, &routing.ring, self.key);
        let pieces = pieces.into_iter().filter_map(|(i, piece)| {
            Some((routing.backends.get(i)?.clone(), routing.ring.backends().get(i)?.clone(), piece))
        });
        let (tight, roomy): (Vec<_>, Vec<_>) = pieces.partition(|(backend, _, piece)| !backend.has_room_for(piece));
        for (backend, name, piece) in tight {
            backend.consume(piece).await.map_err(|e| from_backend(&name, e))?;
        }
        let sends = roomy
            .into_iter()
            .map(|(backend, name, piece)| async move { backend.consume(piece).await.map_err(|e| from_backend(&name, e)) });
        let outcomes = futures::future::join_all(sends).await;
        // Every piece was offered; the first refusal is the answer (the sender retries it all).
        outcomes.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// With persistent backend queues, takes the lock on this exporter's own queue directory
    /// (see the module docs); fails, naming the directory, while another instance holds it.
    /// Called at start, before any backend queue opens.
    pub fn lock_queue_root(&self, host: &Arc<dyn Host>) -> Result<(), ComponentError> {
        let q = &self.template.settings.sending_queue;
        let Some(storage) = q.storage.as_deref().filter(|_| q.enabled) else {
            return Ok(());
        };
        let files = host.capability::<dyn QueueStorage>(storage).map_err(|e| {
            ComponentError::other(format!("sending_queue.storage: {e}; name a file_storage extension"))
        })?;
        let root = files.queue_directory(&self.id);
        let held = DirLock::acquire(&root).map_err(|e| ComponentError::other(format!("the backends' queues: {e}")))?;
        *lock(&self.persistent) = Some(Persistent { _lock: held, root, files });
        Ok(())
    }

    /// Notes this instance as its id's newest (see the `lineage` module); called at start.
    pub fn started(&self) {
        if let Some(me) = self.me.upgrade() {
            lineage::started(&self.telemetry, &self.id, &me);
        }
    }

    /// Sets the backends gauge, if this is the newest instance of the id.
    fn show_backends(&self, n: usize) {
        if lineage::is_newest(&self.telemetry, &self.id, self) {
            self.metrics.backends.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The id a backend's exporter is known by in metrics, logs and a disk queue's directory:
    /// `loadbalancing/<backend>` or `loadbalancing/<name>_<backend>`.
    fn backend_id(&self, name: &str) -> ComponentId {
        let label = match self.id.name() {
            Some(lb) => format!("{lb}_{name}"),
            None => name.to_string(),
        };
        ComponentId::new(self.id.type_name(), Some(label))
    }

    fn create(&self, name: &str) -> Result<Arc<QueuedExporter>, ComponentError> {
        let id = self.backend_id(name);
        let mut problems = Vec::new();
        let settings = self.template.settings_for(&endpoint_with_port(name), &mut problems);
        let settings = settings.ok_or_else(|| {
            let text: Vec<String> = problems.iter().filter(|p| p.is_error()).map(ToString::to_string).collect();
            ComponentError::Config(format!("backend \"{name}\": {}", text.join("; ")))
        })?;
        let exporter = OtlpGrpcExporterFactory.create(CreateContext::new(id.clone(), self.telemetry.clone()), settings)?;
        Ok(QueuedExporter::new(id, exporter, self.template.settings.clone(), &self.telemetry))
    }

    /// Waits for the retirement of `name`'s old queue, if it is being retired: a persistent
    /// queue's directory must be let go before a new queue opens it.
    async fn retired(&self, name: &Arc<str>) {
        let same: Vec<JoinHandle<()>> = {
            let mut leaving = lock(&self.leaving);
            let (same, others): (Vec<_>, Vec<_>) = std::mem::take(&mut *leaving).into_iter().partition(|l| &l.name == name);
            *leaving = others;
            same.into_iter().map(|l| l.retire).collect()
        };
        for handle in same {
            let _ = handle.await;
        }
    }

    /// Makes `names` the backends: starts the new ones, routes to exactly `names`, and retires
    /// the ones that left (see the module docs). A new backend that cannot be built or started
    /// is left out of the ring (its keys go to the others) and its error returned, after the
    /// rest took effect.
    pub async fn update(&self, names: &[Arc<str>], host: &Arc<dyn Host>) -> Result<(), ComponentError> {
        let _one_at_a_time = self.changing.lock().await;
        let mut failed = Vec::new();
        let existing: BTreeMap<Arc<str>, Arc<QueuedExporter>> = lock(&self.live).clone();
        let mut next: BTreeMap<Arc<str>, Arc<QueuedExporter>> = BTreeMap::new();
        for name in names {
            if let Some(running) = existing.get(name) {
                next.insert(name.clone(), running.clone());
                continue;
            }
            self.retired(name).await;
            let started = match self.create(name) {
                Ok(backend) => backend.start(host.clone()).await.map(|()| backend),
                Err(e) => Err(e),
            };
            match started {
                Ok(backend) => {
                    tracing::info!(exporter = %self.id, backend = %name, "backend added");
                    next.insert(name.clone(), backend);
                }
                Err(e) => {
                    tracing::error!(exporter = %self.id, backend = %name, error = %e, "backend left out: it could not start");
                    failed.push(format!("backend {name}: {e}"));
                }
            }
        }
        let leaving: Vec<(Arc<str>, Arc<QueuedExporter>)> =
            existing.into_iter().filter(|(name, _)| !next.contains_key(name)).collect();
        let routing = Routing {
            ring: Ring::new(next.keys().cloned()),
            backends: next.values().cloned().collect(),
        };
        self.show_backends(routing.backends.len());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
        let queues: Vec<Arc<str>> = next.keys().chain(leaving.iter().map(|(name, _)| name)).cloned().collect();
        *lock(&self.live) = next;
        self.note_queues(&queues);
        if let Some(me) = self.me.upgrade() {
            for (name, backend) in leaving {
                tracing::info!(exporter = %self.id, backend = %name, "backend removed; what it holds goes to the traces' new owners");
                let retire = me.clone().retire(name.clone(), backend.clone(), me.clone(), Instant::now() + self.drain_time());
                lock(&self.leaving).push(Leaving { name, backend, retire: tokio::spawn(retire) });
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ComponentError::other(failed.join("; ")))
        }
    }

    /// Retires `backend`'s queue into `into`'s routing (this set's, or a newer instance's).
    async fn retire(self: Arc<Self>, name: Arc<str>, backend: Arc<QueuedExporter>, into: Arc<BackendSet>, deadline: Instant) {
        match backend.retire(into.as_ref(), deadline).await {
            Ok(out) => {
                self.metrics.rerouted.inc_by(out.rerouted_spans);
                tracing::info!(
                    exporter = %self.id, backend = %name, rerouted_spans = out.rerouted_spans, lost_spans = out.lost_spans,
                    kept_on_disk = out.kept_batches, files_removed = out.files_removed, "removed backend retired"
                );
            }
            Err(e) => tracing::warn!(exporter = %self.id, backend = %name, error = %e, "removed backend: shutdown: {e}"),
        }
    }

    /// How long a backend that left may take to hand what it holds over: as long as its
    /// retries would have lasted (`max_elapsed_time`), at least one `timeout`.
    fn drain_time(&self) -> Duration {
        let s = &self.template.settings;
        let retries = if s.retry_on_failure.enabled { s.retry_on_failure.max_elapsed_time.get() } else { Duration::ZERO };
        // 0 means "retry forever"; a backend that is gone would hold its batches forever.
        let retries = if retries.is_zero() && s.retry_on_failure.enabled { Duration::from_secs(300) } else { retries };
        retries.max(s.timeout.get())
    }

    /// Stops every backend until `deadline`; safe to call again. Backends still being retired
    /// finish first, into the running ones, by `deadline` at the latest (what they could not
    /// hand over by then is counted, see the module docs). Then, if a reload started a newer
    /// instance of this exporter, each backend it does not route to is retired into its ring;
    /// the others drain into their backends. Last, the queue directory's lock goes.
    pub async fn shutdown(&self, deadline: Instant) {
        let _one_at_a_time = self.changing.lock().await;
        let leaving: Vec<Leaving> = std::mem::take(&mut *lock(&self.leaving));
        for l in &leaving {
            l.backend.cut_retire_short(deadline);
        }
        for Leaving { name, retire, .. } in leaving {
            let abort = retire.abort_handle();
            if tokio::time::timeout_at((deadline + RETIRE_GRACE).into(), retire).await.is_err() {
                tracing::error!(exporter = %self.id, backend = %name, "a removed backend was still handing its spans over well past the shutdown deadline; stopped, what it held is lost uncounted");
                abort.abort();
            }
        }
        let successor = lineage::successor(&self.telemetry, &self.id, self).filter(|s| !s.routing().ring.is_empty());
        match &successor {
            None => self.metrics.backends.set(0),
            Some(newer) if newer.metrics.resolver() != self.metrics.resolver() => self.metrics.remove_backends_series(),
            Some(_) => {}
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        let live: Vec<(Arc<str>, Arc<QueuedExporter>)> = std::mem::take(&mut *lock(&self.live)).into_iter().collect();
        let me = self.me.upgrade();
        let stops = live.into_iter().map(|(name, backend)| {
            let (successor, me) = (successor.clone(), me.clone());
            async move {
                match (successor, me) {
                    (Some(newer), Some(me)) if !newer.routing().ring.backends().contains(&name) => {
                        tracing::info!(exporter = %self.id, backend = %name, "reloaded without this backend; what it holds goes to the new ring");
                        me.retire(name, backend, newer, deadline).await;
                    }
                    _ => {
                        if let Err(e) = backend.shutdown(deadline).await {
                            tracing::warn!(exporter = %self.id, backend = %name, "shutdown: {e}");
                        }
                    }
                }
            }
        });
        futures::future::join_all(stops).await;
        lock(&self.persistent).take();
    }
}

#[path = "orphans.rs"]
mod orphans;

/// A backend that left hands its queue over through this: routed as any export.
#[async_trait]
impl Consumer for BackendSet {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.offer(traces).await
    }
}
