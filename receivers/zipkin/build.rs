//! Compiles `proto/zipkin.proto` with protox (pure Rust: the machine has no protoc) into prost
//! messages. Tags become a `BTreeMap`, so the attribute order of a translated span does not
//! depend on a hasher's seed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/zipkin.proto");
    let fds = protox::compile(["proto/zipkin.proto"], ["proto"])?;
    prost_build::Config::new().btree_map(["."]).compile_fds(fds)?;
    Ok(())
}
