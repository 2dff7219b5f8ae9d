//! Runs the fake Elasticsearch as a process for end-to-end tests:
//! `fake-elasticsearch [--port N] [--version 8.11.1] [--distribution opensearch] [--auth "Basic ..."]`. Prints
//! `listening on http://127.0.0.1:PORT` once it accepts connections; stops on SIGINT/SIGTERM.

use tracegate_fake_elasticsearch::{FakeElasticsearch, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut options = Options::default();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| std::io::Error::other(format!("{arg} needs a value")))?;
        match arg.as_str() {
            "--port" => port = value.parse().map_err(|e| std::io::Error::other(format!("--port: {e}")))?,
            "--version" => options.version = value,
            "--distribution" => options.distribution = Some(value),
            "--auth" => options.authorization.push(value),
            other => return Err(std::io::Error::other(format!("unknown argument {other}"))),
        }
    }
    let fake = FakeElasticsearch::start_on(port, options).await?;
    println!("listening on {}", fake.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    fake.stop().await;
    Ok(())
}
