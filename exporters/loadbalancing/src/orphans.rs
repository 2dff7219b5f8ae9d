//! Persistent backend queues an earlier run left behind: a backend that was in the ring when
//! the process stopped (or when a reload replaced the exporter) but is not in the resolver's
//! answer now (a static list edited, a sampler gone from DNS) still has its queue on disk,
//! holding acknowledged spans. Nothing would open it until that backend comes back.
//!
//! So the set notes which backends have queues (the file `backends` in the exporter's own,
//! locked, queue directory, rewritten at every change of backends: the backends routed to or
//! being retired, and those noted before whose directory is still there), and at start each noted
//! backend that is not routed to now and still has its directory is started and at once
//! retired into the ring, as a backend that leaves is: its queue's batches go to the traces'
//! owners now, and its files go once it is empty.

use std::sync::Arc;
use std::time::Instant;

use tracegate_core::{ComponentError, Host};

use super::{lock, BackendSet, Leaving};

/// The file, in the exporter's queue directory, that names the backends with queues.
const NOTED: &str = "backends";

impl BackendSet {
    /// Notes `names` as backends with queues, with those noted before whose queue directory
    /// is still there (nothing without persistent queues).
    pub(super) fn note_queues(&self, names: &[Arc<str>]) {
        let Some((root, files)) = lock(&self.persistent).as_ref().map(|p| (p.root.clone(), p.files.clone())) else { return };
        let mut all: std::collections::BTreeSet<Arc<str>> = names.iter().cloned().collect();
        let before = std::fs::read_to_string(root.join(NOTED)).unwrap_or_default();
        for name in before.lines().map(str::trim).filter(|n| !n.is_empty()) {
            if files.queue_directory(&self.backend_id(name)).is_dir() {
                all.insert(Arc::from(name));
            }
        }
        let text: String = all.iter().map(|n| format!("{n}\n")).collect();
        let temp = root.join(format!("{NOTED}.new"));
        let written = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, root.join(NOTED)));
        if let Err(e) = written {
            tracing::warn!(exporter = %self.id, dir = %root.display(), error = %e, "cannot note the backends' queues; after a restart without some of them, their queues would not be read");
        }
    }

    /// Starts and retires into the ring each noted backend's queue that is not routed to now
    /// (see the module docs). Called at start, once the resolver answered.
    pub async fn adopt_left_queues(&self, host: &Arc<dyn Host>) {
        let _one_at_a_time = self.changing.lock().await;
        let Some((root, files)) = lock(&self.persistent).as_ref().map(|p| (p.root.clone(), p.files.clone())) else { return };
        let Ok(text) = std::fs::read_to_string(root.join(NOTED)) else { return };
        let live: Vec<Arc<str>> = lock(&self.live).keys().cloned().collect();
        let Some(me) = self.me.upgrade() else { return };
        let mut noted = live.clone();
        noted.extend(lock(&self.leaving).iter().map(|l| l.name.clone()));
        for name in text.lines().map(str::trim).filter(|n| !n.is_empty()) {
            let name: Arc<str> = Arc::from(name);
            if live.contains(&name) || !files.queue_directory(&self.backend_id(&name)).is_dir() {
                continue;
            }
            let started = match self.create(&name) {
                Ok(backend) => backend.start(host.clone()).await.map(|()| backend),
                Err(e) => Err(e),
            };
            let backend = match started {
                Ok(backend) => backend,
                Err(e) => {
                    let e: ComponentError = e;
                    tracing::error!(exporter = %self.id, backend = %name, error = %e, "the queue an earlier run left for a backend no longer routed to cannot be opened; it stays on disk");
                    noted.push(name);
                    continue;
                }
            };
            tracing::info!(exporter = %self.id, backend = %name, "an earlier run left a queue for a backend no longer routed to; what it holds goes to the traces' owners now");
            let retire = me.clone().retire(name.clone(), backend.clone(), me.clone(), Instant::now() + self.drain_time());
            lock(&self.leaving).push(Leaving { name: name.clone(), backend, retire: tokio::spawn(retire) });
            noted.push(name);
        }
        self.note_queues(&noted);
    }
}
