//! Compiles Jaeger's api_v2 protos with protox (pure Rust: the machine has no protoc) and
//! generates prost messages plus the tonic `CollectorService`, `QueryService` and `SamplingManager`
//! servers and clients (compiled once here, so the collector, the query service and both
//! sampling servers, `remote_sampling`'s port and the `jaeger` receiver's, share the types).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/model.proto", "proto/collector.proto", "proto/query.proto", "proto/sampling.proto"];
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
