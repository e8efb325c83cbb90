//! `cargo run --release -p perf --bin http [-- --shards N --connections C --seconds S --json]`:
//! emdr's shards against may_minihttp serving the same engine (see `perf::http_bench`).

use std::time::Duration;

use perf::http_bench::{self, Params};

fn main() -> anyhow::Result<()> {
    let mut p = Params::default();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("{name} takes a whole number"))
        };
        match a.as_str() {
            "--shards" => p.shards = value("--shards")? as usize,
            "--connections" => p.connections = value("--connections")? as usize,
            "--seconds" => p.duration = Duration::from_secs(value("--seconds")?),
            "--orders" => p.orders_per_upload = value("--orders")? as usize,
            "--json" => json = true,
            other => anyhow::bail!(
                "unknown argument {other:?}; flags: --shards N --connections C --seconds S --orders N --json"
            ),
        }
    }
    let requests = http_bench::build_requests(&p);
    eprintln!(
        "load: {} connections, closed loop, {} distinct gzip uploads of {} orders; {} s warm-up, {} s measured; server cores: {}",
        p.connections,
        p.bodies,
        p.orders_per_upload,
        p.warmup.as_secs(),
        p.duration.as_secs(),
        p.shards
    );
    let emdr = http_bench::run_emdr(&requests, &p).map_err(anyhow::Error::msg)?;
    let may = http_bench::run_may_minihttp(&requests, &p).map_err(anyhow::Error::msg)?;
    let rows = [emdr, may];
    if json {
        let results: Vec<String> = rows
            .iter()
            .map(|f| {
                format!(
                    "{{\"server\":\"{}\",\"uploads_per_s\":{:.1},\"orders_per_s\":{:.1},\"errors\":{},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
                    f.server, f.uploads_per_s, f.orders_per_s, f.errors,
                    f.p50_us as f64 / 1e3, f.p90_us as f64 / 1e3, f.p99_us as f64 / 1e3,
                    f.p999_us as f64 / 1e3, f.max_us as f64 / 1e3
                )
            })
            .collect();
        println!(
            "{{\"shards\":{},\"connections\":{},\"results\":[{}]}}",
            p.shards,
            p.connections,
            results.join(",")
        );
    } else {
        print!("{}", http_bench::table(&rows));
    }
    Ok(())
}
