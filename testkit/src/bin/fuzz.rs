//! `webrtc-gateway-fuzz`: the live fuzzer ([`gateway_testkit::fuzz`])
//! against a running gateway. Prints a summary and the figures as JSON;
//! exits 1 if any reply was malformed, any message went unanswered, or the
//! gateway stopped answering.
//!
//! `webrtc-gateway-fuzz --ws ws://127.0.0.1:8188 --http http://127.0.0.1:8088/janus --pid $(pgrep -f webrtc-gateway) --messages 1000000`

use clap::Parser;

/// Fuzz a running gateway over WebSocket and HTTP.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8188")]
    ws: String,
    /// HTTP API URL.
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    http: String,
    /// The gateway's pid, to read its RSS, fds and threads before and after.
    #[arg(long)]
    pid: Option<u32>,
    /// Messages to send.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// WebSocket connections in parallel.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = gateway_testkit::fuzz::run(gateway_testkit::fuzz::Options {
        ws: cli.ws,
        http: cli.http,
        pid: cli.pid,
        messages: cli.messages,
        seed: cli.seed,
        connections: cli.connections,
    })
    .await?;
    println!("{}", report.summary());
    println!("{}", report.to_json());
    let ok = report.malformed == 0 && report.unanswered == 0 && report.alive;
    std::process::exit(if ok { 0 } else { 1 });
}
