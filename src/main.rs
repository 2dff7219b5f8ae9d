//! The `tracegate` binary. The CLI lives in the library target (src/lib.rs), so a custom
//! build that links extra plugin crates is this same file plus its `use my_plugin as _;`.

use std::process::ExitCode;

/// jemalloc with background purging: cheap cross-thread frees of decoded batches, and freed
/// memory handed back to the system while the gateway is idle. See the workspace Cargo.toml
/// and docs/memory.md for the measurements behind the choice.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    tracegate::main()
}
