//! `pipeline`: the engine pipeline benchmark's command line (see `perf::pipeline`).
//!
//! Runs on the calling thread only, so the figures are one core's. Prints readable tables,
//! or with `--json` exactly one JSON object. All the work is in the library, which
//! `cargo test -p perf` also runs with tiny parameters.

use std::process::ExitCode;
use std::time::Duration;

use engine::synth::Shape;
use perf::pipeline::{self, Params};

const USAGE: &str = "\
usage: pipeline [--seconds S] [--repeats N] [--messages N] [--seed N]
                [--shapes LIST] [--levels LIST] [--skip-extras] [--json]
  --seconds S   minimum timed seconds per run of each cell (default 0.5)
  --repeats N   timed runs per cell; the median is reported (default 5)
  --messages N  distinct messages per size, at most (default 64)
  --seed N      seed of the generated messages (default 1)
  --shapes LIST comma-separated KIND:ROWSETSxROWS, KIND orders or history
                (default orders:1x10,orders:1x100,orders:10x100,orders:1000x30,history:1x365)
  --levels LIST comma-separated output zlib levels (default 1, 6 and DEFAULT_ZLIB_LEVEL)
  --skip-extras skip the zlib-only comparison and the per-phase split
  --json        print one JSON object instead of tables";

/// `orders:1x100` as a shape.
fn parse_shape(s: &str) -> Option<Shape> {
    let (kind, dims) = s.split_once(':')?;
    let (rowsets, rows) = dims.split_once('x')?;
    let (rowsets, rows) = (rowsets.parse().ok()?, rows.parse().ok()?);
    match kind {
        "orders" => Some(Shape::orders(rowsets, rows)),
        "history" => Some(Shape::history(rowsets, rows)),
        _ => None,
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<(Params, bool), String> {
    let mut params = Params::default();
    let mut json = false;
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--json" => json = true,
            "--seconds" => {
                let v = value("--seconds")?;
                let s: f64 = v
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {v}"))?;
                if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
                    return Err("--seconds must be in (0, 3600]".into());
                }
                params.cell_time = Duration::from_secs_f64(s);
            }
            "--repeats" => {
                let v = value("--repeats")?;
                params.repeats = v
                    .parse()
                    .map_err(|_| format!("--repeats: not a count: {v}"))?;
            }
            "--messages" => {
                let v = value("--messages")?;
                params.messages_per_shape = v
                    .parse()
                    .map_err(|_| format!("--messages: not a count: {v}"))?;
            }
            "--seed" => {
                let v = value("--seed")?;
                params.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--shapes" => {
                let v = value("--shapes")?;
                params.shapes = v
                    .split(',')
                    .map(|s| parse_shape(s).ok_or_else(|| format!("--shapes: bad shape {s:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--levels" => {
                let v = value("--levels")?;
                params.levels = v
                    .split(',')
                    .map(|l| l.parse().map_err(|_| format!("--levels: bad level {l:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--skip-extras" => {
                params.zlib_only_levels.clear();
                params.phase_level = None;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    params.validate().map_err(|e| e.to_string())?;
    Ok((params, json))
}

fn main() -> ExitCode {
    let (params, json) = match parse_args(std::env::args().skip(1)) {
        Ok(p) => p,
        // `--help` asked for the usage; anything else is a mistake, reported on stderr.
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("pipeline: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match pipeline::run(&params) {
        Ok(report) if json => println!("{}", report.to_json()),
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            eprintln!("pipeline: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
