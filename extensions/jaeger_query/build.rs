//! Embeds the web UI (`ui/`) in the binary without a JavaScript toolchain: the files are plain
//! ES modules, CSS and SVG, so the build only lists them and `include_bytes!`s each one. The
//! generated table is what `static_files.rs` serves; a file added under `ui/` is picked up by
//! the next build with no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Editor droppings and notes for developers are not served.
        if name.starts_with('.') || name.ends_with('~') || name.ends_with(".md") {
            continue;
        }
        if path.is_dir() {
            collect(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((rel, path.clone()));
        }
    }
}

fn compile_api_v3() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/api_v3/query_service.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .extern_path(".opentelemetry.proto", "::opentelemetry_proto::tonic")
        .compile_fds(fds)?;
    Ok(())
}

fn main() {
    if let Err(e) = compile_api_v3() {
        panic!("compiling proto/api_v3/query_service.proto: {e}");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let ui = manifest.join("ui");
    // A directory here makes cargo rerun this script when anything under it changes.
    println!("cargo:rerun-if-changed=ui");
    let mut files = Vec::new();
    collect(&ui, &ui, &mut files);
    let mut code = String::from("/// Every file under `ui/`: (path relative to `ui/`, contents).\npub static UI_FILES: &[(&str, &[u8])] = &[\n");
    for (rel, path) in &files {
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({:?})),", path.display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ui_files.rs");
    fs::write(&out, code).expect("OUT_DIR is writable");
}
