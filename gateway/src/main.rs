//! The `emdr` binary: parse the command line, read the core mask once, run the daemon until
//! SIGINT or SIGTERM, print the final counters.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use gateway::config::{Cli, Command};
use gateway::daemon;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Read the affinity mask before anything is pinned (pinning narrows it).
    let cores = shards::available_cores();
    let result = match cli.command {
        Some(Command::Gateway(args)) => run_gateway(args, &cores),
        None => run_gateway(cli.gateway, &cores),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emdr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

fn run_gateway(args: gateway::config::GatewayArgs, cores: &[usize]) -> anyhow::Result<()> {
    let config = args.into_config(cores.len()).map_err(anyhow::Error::msg)?;
    let shards = config.shards;
    let stop = stop_flag()?;
    let gw = daemon::start(config, cores, stop).map_err(anyhow::Error::msg)?;
    println!(
        "emdr gateway listening: http={} pub={} shards={}",
        gw.http,
        gw.pub_endpoints.join(","),
        shards
    );
    std::io::stdout().flush()?;
    let registry = gw.wait().map_err(anyhow::Error::msg)?;
    eprintln!(
        "emdr gateway stopped: {} uploads accepted ({} orders), {} rejected, {} frames published, {} dropped",
        registry.sum(|s| &s.uploads_accepted),
        registry.sum(|s| &s.orders_accepted),
        registry.rejected_total(),
        registry
            .publisher
            .frames_published
            .load(std::sync::atomic::Ordering::Relaxed),
        registry.sum(|s| &s.frames_dropped),
    );
    Ok(())
}
