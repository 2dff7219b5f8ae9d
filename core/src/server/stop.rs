//! [`StopSignal`]: how a running server learns that its [`ServerSet`](super::ServerSet) is
//! stopping.
//!
//! A `watch` channel rather than a oneshot, because one signal reaches many listeners: the
//! accept loop, every open connection (to start its graceful close) and a UDP reader. A
//! listener that subscribes after the signal was sent still sees it.

use tokio::sync::watch;

/// Resolves [`stopped`](Self::stopped) once the server set is told to stop (or is dropped).
#[derive(Clone, Debug)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// A signal and the sender that fires it.
    pub(crate) fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Waits until stop is asked; returns at once when it already was. A dropped sender
    /// counts as a stop, so a server never outlives its set.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once stop was asked.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}
