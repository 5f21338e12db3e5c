//! `webrtc-gateway-churn`: the churn run ([`gateway_testkit::churn`])
//! against a running gateway: prints the samples as a table and JSON, and
//! the largest drift after the first sample past warm-up. Exits 1 when a
//! cycle failed or a figure drifted more than `--max-drift`.
//!
//! `webrtc-gateway-churn --ws ws://127.0.0.1:8188 --pid $(pgrep -f webrtc-gateway) --cycles 1000 --parallel 3`

use clap::Parser;

/// Session/publish/subscribe/leave cycles against a running gateway.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8188")]
    ws: String,
    /// The gateway's pid.
    #[arg(long)]
    pid: u32,
    /// Cycles in all.
    #[arg(long, default_value_t = 1000)]
    cycles: u64,
    /// Cycles at once.
    #[arg(long, default_value_t = 3)]
    parallel: usize,
    /// Cycles between samples.
    #[arg(long, default_value_t = 100)]
    sample_every: u64,
    /// Samples counted as warm-up.
    #[arg(long, default_value_t = 1)]
    warm_up: usize,
    /// Largest relative drift allowed after warm-up (0.05 = 5 %).
    #[arg(long, default_value_t = 0.05)]
    max_drift: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    gst::init()?;
    let report = gateway_testkit::churn::run(gateway_testkit::churn::Options {
        ws: cli.ws,
        pid: cli.pid,
        cycles: cli.cycles,
        parallel: cli.parallel,
        sample_every: cli.sample_every,
    })
    .await?;
    print!("{}", report.table());
    let (rss, fds, threads) = report.drift(cli.warm_up);
    println!(
        "{} cycles in {:.0} s; drift after warm-up: rss {:.1} %, fds {:.1} %, threads {:.1} %; failures {}",
        report.cycles,
        report.elapsed.as_secs_f64(),
        rss * 100.0,
        fds * 100.0,
        threads * 100.0,
        report.failures.len()
    );
    for f in &report.failures {
        println!("  {f}");
    }
    println!("{}", report.to_json());
    let ok = report.failures.is_empty() && rss.max(fds).max(threads) <= cli.max_drift;
    std::process::exit(if ok { 0 } else { 1 });
}
