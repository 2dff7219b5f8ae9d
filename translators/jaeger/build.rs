//! Compiles Jaeger's api_v2 protos with protox (pure Rust: the machine has no protoc) and
//! generates prost messages plus the tonic `CollectorService` and `QueryService` servers and clients
//! (the query service lives here so it shares the model types with the collector, compiled once).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/model.proto", "proto/collector.proto", "proto/query.proto"];
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
