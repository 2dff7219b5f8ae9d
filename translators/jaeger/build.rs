//! Compiles Jaeger's api_v2 protos with protox (pure Rust: the machine has no protoc) and
//! generates prost messages plus the tonic `CollectorService` server and client.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/model.proto", "proto/collector.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
