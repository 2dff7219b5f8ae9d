//! `tracegate-loadgen`: pushes traces at a tracegate (or any OTLP, Jaeger or Zipkin endpoint)
//! at a fixed rate or flat out, and reports throughput, errors by kind and request latency.
//!
//! Batches are generated and encoded once before the clock starts (see `pool`), so the
//! generator's own CPU goes into moving bytes, not building protobuf, Thrift or JSON.

mod cli;
mod encoded;
mod gateway;
mod generator;
mod grpc;
mod http;
mod jaeger;
mod otlp;
mod pacer;
mod packer;
mod pool;
mod realistic;
mod restamp;
mod run;
mod sender;
mod stats;
mod topology;
mod trace_tree;
mod udp;
mod vocabulary;
mod zipkin;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let json = args.json_summary;
    let seed_given = args.seed.is_some();
    let cfg = match args.into_config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("tracegate-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tracegate-loadgen: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cfg.shape == cli::Shape::Realistic && !seed_given {
        eprintln!(
            "note: realistic data from --seed {} (pass it to get the same services and traces)",
            cfg.seed
        );
    }
    let batch = run::effective_batch_spans(&cfg);
    if batch != cfg.batch_spans {
        eprintln!(
            "note: --rate {} uses batches of (at most) {batch} spans so requests stay evenly paced",
            cfg.rate.unwrap_or(0)
        );
    }
    match runtime.block_on(run::run(&cfg)) {
        Ok(summary) if json => println!("{}", summary.to_json()),
        Ok(summary) => println!("{summary}"),
        Err(e) => {
            eprintln!("tracegate-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
