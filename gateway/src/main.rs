//! The `emdr` binary: parse the command line, read the core mask once, run the chosen daemon
//! until SIGINT or SIGTERM, print the final counters.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use gateway::config::{Cli, Command, GatewayArgs, Preset, RelayArgs};
use gateway::{daemon, relay, snoop};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Read the affinity mask before anything is pinned (pinning narrows it).
    let cores = shards::available_cores();
    let result = match cli.command {
        Some(Command::Gateway(args)) => run_gateway(args, &cores),
        None => run_gateway(cli.gateway, &cores),
        Some(Command::Relay(args)) => run_relay(args, Preset::Relay, &cores),
        Some(Command::Announcer(args)) => run_relay(args, Preset::Announcer, &cores),
        Some(Command::Snoop(args)) => snoop::run(&args).map_err(anyhow::Error::msg),
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

fn ready(line: String) -> anyhow::Result<()> {
    println!("{line}");
    std::io::stdout().flush()?;
    Ok(())
}

fn run_gateway(args: GatewayArgs, cores: &[usize]) -> anyhow::Result<()> {
    let config = args.into_config(cores.len()).map_err(anyhow::Error::msg)?;
    let shards = config.shards;
    let stop = stop_flag()?;
    let gw = daemon::start(config, cores, stop).map_err(anyhow::Error::msg)?;
    ready(format!(
        "emdr gateway listening: http={} pub={} shards={}",
        gw.http,
        gw.pub_endpoints.join(","),
        shards
    ))?;
    let registry = gw.wait().map_err(anyhow::Error::msg)?;
    eprintln!(
        "emdr gateway stopped: {} uploads accepted ({} orders), {} rejected, {} frames published, {} dropped",
        registry.sum(|s| &s.uploads_accepted),
        registry.sum(|s| &s.orders_accepted),
        registry.rejected_total(),
        registry.publisher.frames_published.load(Relaxed),
        registry.sum(|s| &s.frames_dropped),
    );
    Ok(())
}

fn run_relay(args: RelayArgs, preset: Preset, cores: &[usize]) -> anyhow::Result<()> {
    let interval = Duration::from_secs(args.stats_interval_s);
    let config = args
        .into_config(preset, cores.len())
        .map_err(anyhow::Error::msg)?;
    let shards = config.shards;
    let name = match preset {
        Preset::Relay => "relay",
        Preset::Announcer => "announcer",
    };
    let stop = stop_flag()?;
    let r = relay::start(config, cores, Arc::clone(&stop)).map_err(anyhow::Error::msg)?;
    let bound: Vec<String> = r.bound.iter().map(|a| format!("tcp://{a}")).collect();
    ready(format!(
        "emdr {name} listening: pub={} sub={} shards={shards}",
        bound.join(","),
        r.sub_bound.join(","),
    ))?;
    let mut last = Instant::now();
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if !interval.is_zero() && last.elapsed() >= interval {
            eprintln!("emdr {name}: {}", r.summary());
            last = Instant::now();
        }
    }
    let summary = r.wait().map_err(anyhow::Error::msg)?;
    eprintln!("emdr {name} stopped: {summary}");
    Ok(())
}
