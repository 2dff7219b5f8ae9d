//! The process's open-file limit: raised to the hard limit at start, and read by the default
//! connection cap of every listener.
//!
//! Why: every connection is a file descriptor. With the usual soft limit (1024, or 512 in
//! some containers) a few hundred idle connections on one port used to leave no descriptor
//! for the others, so OTLP, query and health all stopped answering. Raising the soft limit to
//! the hard limit (what the kernel already allows this process) costs nothing, and the
//! per-listener cap ([`super::ServerLimits::max_connections`]) keeps one port from taking it
//! all. rustix makes the call without unsafe code in this crate.

use std::sync::atomic::{AtomicU64, Ordering};

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The soft limit as last read or raised; 0 until then.
static SOFT_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Raises the soft open-file limit to the hard limit; returns the soft limit now in force.
/// Failure is logged and harmless (the process keeps the limit it had).
pub fn raise_open_file_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    let soft = limit.current;
    if soft != hard {
        let raised = Rlimit {
            current: hard,
            maximum: hard,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = ?soft, to = ?hard, "raised the open-file limit to the hard limit");
            }
            Err(e) => {
                tracing::warn!(error = %e, soft = ?soft, hard = ?hard, "cannot raise the open-file limit; keeping it");
            }
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    SOFT_LIMIT.store(now, Ordering::Relaxed);
    now
}

/// The soft open-file limit (read once if [`raise_open_file_limit`] has not run).
pub fn open_file_limit() -> u64 {
    match SOFT_LIMIT.load(Ordering::Relaxed) {
        0 => {
            let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX); // None: unlimited
            SOFT_LIMIT.store(now, Ordering::Relaxed);
            now
        }
        n => n,
    }
}
