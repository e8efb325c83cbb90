//! `cargo run --release -p perf --bin relay [-- --seconds S --subscribers 1,10 --shards 1,2
//! --proxy-io 1,2|none --upstreams 2 --rate R --hwm N --window W --repeat N --json]`:
//! emdr's relay (de-duplication on) against a plain libzmq XSUB/XPUB proxy under the same
//! load (see `perf::relay_bench`).

use std::time::Duration;

use perf::relay_bench::{self, Params};

fn list<T: std::str::FromStr>(name: &str, v: Option<String>) -> anyhow::Result<Vec<T>> {
    let v = v.ok_or_else(|| anyhow::anyhow!("{name} takes a comma-separated list"))?;
    if v == "none" {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name}: {x:?} is not a number"))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut p = Params::default();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> anyhow::Result<f64> {
            args.next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| anyhow::anyhow!("{name} takes a number"))
        };
        match a.as_str() {
            "--seconds" => p.duration = Duration::from_secs_f64(number("--seconds")?),
            "--warmup" => p.warmup = Duration::from_secs_f64(number("--warmup")?),
            "--upstreams" => p.upstreams = number("--upstreams")? as usize,
            "--rate" => p.rate_per_s = Some(number("--rate")?).filter(|r| *r > 0.0),
            "--hwm" => p.hwm = number("--hwm")? as i32,
            "--window" => p.window_frames = number("--window")? as u64,
            "--orders" => p.orders_per_message = number("--orders")? as usize,
            "--repeat" => p.repeats = (number("--repeat")? as usize).max(1),
            "--subscribers" => p.subscribers = list("--subscribers", args.next())?,
            "--shards" => p.shards = list("--shards", args.next())?,
            "--proxy-io" => p.proxy_io_threads = list("--proxy-io", args.next())?,
            "--json" => json = true,
            other => anyhow::bail!(
                "unknown argument {other:?}; flags: --seconds S --warmup S --subscribers 1,10 \
                 --shards 1,2 --proxy-io 1,2 --upstreams N --rate FRAMES_PER_S --hwm N \
                 --window FRAMES --orders N --repeat N --json"
            ),
        }
    }
    eprintln!(
        "load: {} publishers sending the same unique zlib frames of {}-order canonical messages \
         ({}); {} s warm-up, {} s measured; subscribers {:?}; emdr shards {:?}; proxy io_threads {:?}; \
         hwm {} frames on every socket and the relay's queues; {} run(s) per row, median shown; \
         cores: {:?}",
        p.upstreams,
        p.orders_per_message,
        match p.rate_per_s {
            Some(r) => format!("{r:.0} frames/s each"),
            None => format!(
                "closed loop, at most {} frames ahead of the fastest subscriber",
                p.window_frames
            ),
        },
        p.warmup.as_secs_f64(),
        p.duration.as_secs_f64(),
        p.subscribers,
        p.shards,
        p.proxy_io_threads,
        p.hwm,
        p.repeats,
        shards::available_cores(),
    );
    let report = relay_bench::run(&p).map_err(anyhow::Error::msg)?;
    eprintln!(
        "frames: {:.0} bytes on average (Pipeline::process makes {:.0} for the same messages; \
         canonical JSON {:.0} bytes)",
        report.frame_bytes_avg, report.pipeline_frame_bytes_avg, report.json_bytes_avg
    );
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
