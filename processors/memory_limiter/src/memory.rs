//! What "memory used" and "total memory" mean here, and the limits derived from them.
//!
//! **Used memory is the span data the pipelines hold** ([`PipelineHeld`]): the engine counts
//! every request from the moment a receiver hands it to the pipelines until they answer it,
//! and every batch in an in-memory sending queue until its export is over
//! (`tracegate_core::telemetry::PipelineMemory`, the `tracegate_pipeline_held_bytes` gauge),
//! in OTLP protobuf bytes. The Collector compares the Go heap with its limits and forces a
//! collection when over; earlier tracegate compared the resident set (VmRSS). Both count what
//! the limiter cannot make the pipeline give back: the allocator keeps freed pages for a
//! while, and caches (sled's page cache, the store's block cache, a large query's answer)
//! hold memory by design. Measured that way, after an overload the process stayed above its
//! soft limit with an empty queue and refused every request for 15 minutes, and one query
//! pushed RSS over the limit and stopped ingest while it ran. What the pipeline holds falls to
//! zero as soon as it has drained, so the limiter refuses exactly while data piles up and
//! accepts again at the next check once it has drained. The rest of the process's memory is
//! bounded by its own settings (docs/memory.md): a limit set in MiB here bounds the data, the
//! caches bound themselves.
//!
//! [`ProcessRss`] (the resident set, from `/proc/self/status`) is kept for tests and tools
//! that want the old figure.
//!
//! **Total memory** (for the percentage limits) is the cgroup's memory limit when one is set
//! and lower than the machine's, else `MemTotal` from `/proc/meminfo`, as the Collector does.

use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// Measures the memory the limiter compares with its limits. A trait so tests can feed
/// chosen figures.
pub trait MemoryProbe: Send + Sync {
    /// Bytes in use right now.
    fn used_bytes(&self) -> std::io::Result<u64>;
}

/// The span data the pipelines hold, as the engine counts it (see the module docs).
#[derive(Clone)]
pub struct PipelineHeld(pub tracegate_core::telemetry::PipelineMemory);

impl MemoryProbe for PipelineHeld {
    fn used_bytes(&self) -> std::io::Result<u64> {
        Ok(self.0.bytes())
    }
}

/// The process's resident set, from `/proc/self/status`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessRss;

impl MemoryProbe for ProcessRss {
    fn used_bytes(&self) -> std::io::Result<u64> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        kib_field(&status, "VmRSS:")
            .map(|kib| kib * 1024)
            .ok_or_else(|| std::io::Error::other("no VmRSS line in /proc/self/status"))
    }
}

/// `Key:   1234 kB` -> 1234.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft and hard limits in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The limit itself. Above it the limiter warns; it cannot free memory on demand (see
    /// the crate docs), so it keeps refusing until the pipeline drains.
    pub hard: u64,
    /// `hard - spike`: from here on, new data is refused.
    pub soft: u64,
}

impl Limits {
    /// The Collector's `newFixedMemUsageChecker`: a spike of 0 means 20% of the limit.
    pub fn fixed(limit: u64, spike: u64) -> Self {
        let spike = if spike == 0 { limit / 5 } else { spike };
        Self { hard: limit, soft: limit.saturating_sub(spike) }
    }

    pub fn from_mib(limit_mib: u32, spike_mib: u32) -> Self {
        Self::fixed(u64::from(limit_mib) * MIB, u64::from(spike_mib) * MIB)
    }

    pub fn from_percentages(total: u64, limit_pct: u32, spike_pct: u32) -> Self {
        Self::fixed(u64::from(limit_pct) * total / 100, u64::from(spike_pct) * total / 100)
    }
}

/// Why the total memory could not be found.
#[derive(Debug, thiserror::Error)]
#[error("failed to get total memory, use fixed memory settings (limit_mib): {0}")]
pub struct TotalMemoryError(String);

/// The memory the percentage limits are taken of.
pub fn total_memory() -> Result<u64, TotalMemoryError> {
    total_memory_under(Path::new("/"))
}

/// [`total_memory`] with `/proc` and `/sys` read under `root` (tests give a fake tree).
pub fn total_memory_under(root: &Path) -> Result<u64, TotalMemoryError> {
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo"))
        .map_err(|e| TotalMemoryError(format!("cannot read /proc/meminfo: {e}")))?;
    let physical = kib_field(&meminfo, "MemTotal:")
        .map(|kib| kib * 1024)
        .ok_or_else(|| TotalMemoryError("no MemTotal line in /proc/meminfo".into()))?;
    Ok(match cgroup_limit(root) {
        Some(limit) if limit < physical => limit,
        _ => physical,
    })
}

/// The memory limit of this process's cgroup (v2 `memory.max`, else v1
/// `memory.limit_in_bytes`); `None` when unlimited or unreadable.
fn cgroup_limit(root: &Path) -> Option<u64> {
    let membership = std::fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    for line in membership.lines() {
        // v2: "0::/some/path"; v1: "N:memory:/some/path" (possibly "memory,other").
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let candidates = if controllers.is_empty() {
            vec![root.join("sys/fs/cgroup").join(rel).join("memory.max"), root.join("sys/fs/cgroup/memory.max")]
        } else if controllers.split(',').any(|c| c == "memory") {
            vec![
                root.join("sys/fs/cgroup/memory").join(rel).join("memory.limit_in_bytes"),
                root.join("sys/fs/cgroup/memory/memory.limit_in_bytes"),
            ]
        } else {
            continue;
        };
        for file in candidates {
            if let Ok(text) = std::fs::read_to_string(&file) {
                // "max" (v2) or a page-rounded i64::MAX (v1) both mean no limit.
                return text.trim().parse::<u64>().ok().filter(|v| *v < (1 << 62));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spike_defaults_to_a_fifth_of_the_limit() {
        assert_eq!(Limits::from_mib(100, 0), Limits { hard: 100 * MIB, soft: 80 * MIB });
        assert_eq!(Limits::from_mib(100, 30), Limits { hard: 100 * MIB, soft: 70 * MIB });
        assert_eq!(Limits::from_percentages(1000, 50, 0), Limits { hard: 500, soft: 400 });
        assert_eq!(Limits::from_percentages(1000, 50, 10), Limits { hard: 500, soft: 400 });
    }

    #[test]
    fn the_process_rss_is_read() {
        let used = ProcessRss.used_bytes().unwrap();
        assert!(used > MIB, "a running test binary has more than 1 MiB resident: {used}");
    }

    fn tree(meminfo: &str, cgroup: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(dir.path().join("proc/meminfo"), meminfo).unwrap();
        std::fs::write(dir.path().join("proc/self/cgroup"), cgroup).unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn total_memory_is_the_cgroup_limit_when_lower_than_memtotal() {
        let meminfo = "MemTotal:        2048 kB\nMemFree: 1 kB\n";
        let t = tree(meminfo, "0::/app\n", &[("sys/fs/cgroup/app/memory.max", "1048576\n")]);
        assert_eq!(total_memory_under(t.path()).unwrap(), 1024 * 1024);
        let t = tree(meminfo, "0::/app\n", &[("sys/fs/cgroup/app/memory.max", "max\n")]);
        assert_eq!(total_memory_under(t.path()).unwrap(), 2048 * 1024, "no cgroup limit: MemTotal");
        let t = tree(meminfo, "0::/app\n", &[("sys/fs/cgroup/app/memory.max", "99999999999\n")]);
        assert_eq!(total_memory_under(t.path()).unwrap(), 2048 * 1024, "a cgroup limit above MemTotal");
        let t = tree(meminfo, "4:cpu:/x\n3:memory:/x\n", &[("sys/fs/cgroup/memory/x/memory.limit_in_bytes", "524288")]);
        assert_eq!(total_memory_under(t.path()).unwrap(), 512 * 1024, "cgroup v1");
        let t = tree(meminfo, "", &[]);
        assert_eq!(total_memory_under(t.path()).unwrap(), 2048 * 1024);
        let t = tree("nothing", "", &[]);
        assert!(total_memory_under(t.path()).unwrap_err().to_string().starts_with("failed to get total memory, use fixed memory settings (limit_mib): "));
    }
}
