//! The `tracegate` binary. The CLI lives in the library target (src/lib.rs), so a custom
//! build that links extra plugin crates is this same file plus its `use my_plugin as _;`.

use std::process::ExitCode;

/// See the workspace Cargo.toml for why: cross-thread frees of decoded batches.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracegate::main()
}
