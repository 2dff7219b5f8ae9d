//! Compiles `proto/sampling.proto` with protox (a pure-Rust protobuf compiler, so the build
//! needs no `protoc`) and generates prost messages and the tonic server and client.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/sampling.proto");
    let descriptors = protox::compile(["proto/sampling.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
