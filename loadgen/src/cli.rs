//! The command line: every flag, its default, its parsing, and validation into a [`RunPlan`].
//!
//! Config flows one way: clap parses the flags into [`Cli`]; [`LoadArgs::into_plan`] checks
//! them and builds the plans each component receives ([`crate::http_load::HttpPlan`],
//! [`crate::feed::FeedPlan`], …). Nothing below `main` reads the environment.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::feed::{FeedPlan, Inflate};
use crate::http_load::{HttpPlan, Target};
use crate::payload::{Encoding, Kind, PayloadPlan, SizeClass, PAYLOADS_MAX};
use crate::relay_load::RelayPlan;
use crate::report::Thresholds;
use crate::run::{Mode, RunPlan};

const LONG_ABOUT: &str = "\
emdr-loadgen: an open-loop load generator for emdr gateways and relays.

HTTP mode (the default) POSTs realistic UUDIF uploads (engine::synth: per-type uploads of tens \
to hundreds of orders, region-wide ones of thousands, history) to --target URLs at a fixed \
offered rate, whatever the server does: each upload has an intended send time, and its latency \
is measured from that time, so a stalled server cannot hide its stall (no coordinated \
omission). Every body is built before the clock starts; each send patches a unique id into it. \
With --sub, it reads the feed, matches each message to its upload by that id, and reports \
end-to-end latency, published, duplicated and lost uploads.

--relay mode publishes pre-built canonical zlib frames into a relay's upstream side and \
measures the fan-out to --subscribers K subscribers of each --sub endpoint.

`emdr-loadgen sink` is an HTTP server that answers every request `200 1` and does nothing \
else: aim the generator at it to see how much load the generator itself can offer.

Exit status: 0 when the run completed and every threshold given was met; 2 when a threshold \
(--max-p99-ms, --max-lost, --min-orders-per-s) was missed; 1 on an error.";

const EXAMPLES: &str = "\
Examples:
  emdr-loadgen sink --listen 127.0.0.1:0
  emdr-loadgen --target http://127.0.0.1:8080/upload/ --sub tcp://127.0.0.1:8050 \\
      --rate 500k --duration 30s --json run.json --max-lost 0
  emdr-loadgen --target http://127.0.0.1:8080/upload/ --rate max --connections 32
  emdr-loadgen --target http://127.0.0.1:8080/upload/ --mix orders:90,history:10 \\
      --sizes 10:30,100:60,1000:9,30000:1 --encodings gzip:60,deflate:30,form:5,raw:5
  emdr-loadgen --relay --pub-connect tcp://127.0.0.1:8049 --sub tcp://127.0.0.1:8050 \\
      --subscribers 8 --rate 5000u
See docs/loadgen.md.";

/// emdr-loadgen: open-loop load for emdr gateways and relays (see --help).
#[derive(Debug, Parser)]
#[command(
    name = "emdr-loadgen",
    version,
    about,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// An HTTP server that reads each request and answers `200 1`, doing no other work: put it
    /// where the gateway would be, to measure how much the generator can offer. Prints
    /// `emdr-loadgen sink listening: http=ADDR threads=N` once it accepts connections, and a
    /// count of requests on stderr when it gets SIGINT or SIGTERM.
    Sink(SinkArgs),
}

/// Flags of `emdr-loadgen sink`.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Address to listen on; port 0 picks a free port (the ready line tells which).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Executors (threads), each accepting on the same port (SO_REUSEPORT).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin executor i to the i-th CPU of this comma-separated list (default: not pinned).
    #[arg(long, value_delimiter = ',', value_name = "CPUS")]
    pub pin: Vec<usize>,
}

/// An offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Rows per second: orders, or days of history.
    Rows(f64),
    /// Uploads per second (frames per second in --relay mode).
    Uploads(f64),
    /// As fast as the target answers, with a fixed number of requests in flight.
    Max,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Rows(r) => write!(f, "{r:.0} rows/s"),
            Rate::Uploads(u) => write!(f, "{u:.0} uploads/s"),
            Rate::Max => write!(f, "max"),
        }
    }
}

/// `500000`, `500k`, `1.5M` (rows/s); `2000u`, `2ku` (uploads/s); `max`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let (t, uploads) = match t.strip_suffix('u') {
        Some(rest) => (rest, true),
        None => (t, false),
    };
    let (t, mult) = match t.as_bytes().last() {
        Some(b'k') | Some(b'K') => (&t[..t.len() - 1], 1e3),
        Some(b'M') => (&t[..t.len() - 1], 1e6),
        _ => (t, 1.0),
    };
    let v: f64 = t
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like 500000, 500k, 2000u or max"))?;
    let v = v * mult;
    if !(v.is_finite() && v > 0.0 && v <= 1e10) {
        return Err(format!(
            "{s:?}: the rate must be positive (and at most 1e10)"
        ));
    }
    Ok(if uploads {
        Rate::Uploads(v)
    } else {
        Rate::Rows(v)
    })
}

/// `10` or `10s`, `500ms`, `1.5s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s, 500ms or 2m"))?;
    let secs = v * scale;
    if !(secs.is_finite() && (0.0..=86_400.0).contains(&secs)) {
        return Err(format!("{s:?}: durations must be 0 to 24 hours"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A weighted list `NAME:WEIGHT,NAME:WEIGHT` (a bare `NAME` weighs 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights<T>(pub Vec<(T, u64)>);

fn parse_weights<T>(
    s: &str,
    item: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<Weights<T>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = match part.split_once(':') {
            Some((n, w)) => (
                n.trim(),
                w.trim().parse::<u64>().map_err(|_| {
                    format!("{part:?}: the weight after ':' must be a whole number")
                })?,
            ),
            None => (part, 1),
        };
        let v = item(name).ok_or_else(|| format!("{name:?} is not {what}"))?;
        out.push((v, weight));
    }
    if out.iter().all(|(_, w)| *w == 0) {
        return Err(format!("{s:?}: at least one weight must be positive"));
    }
    Ok(Weights(out))
}

impl FromStr for Weights<Kind> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_weights(
            s,
            |n| match n {
                "orders" => Some(Kind::Orders),
                "history" => Some(Kind::History),
                _ => None,
            },
            "orders or history",
        )
    }
}

impl FromStr for Weights<Encoding> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_weights(s, Encoding::parse, "one of gzip, deflate, form, raw")
    }
}

impl FromStr for Weights<usize> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_weights(
            s,
            |n| n.parse().ok().filter(|&v| v > 0),
            "a positive number of orders",
        )
    }
}

/// How the subscriber finds the id in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InflateArg {
    /// Inflate only the first KiBs (the id is in `uploadKeys`, near the start); the whole
    /// frame only when the id is not there.
    Prefix,
    /// Inflate every frame whole, as a real consumer does (costs CPU the gateway may need).
    Full,
}

/// Flags of the load run (HTTP mode, or --relay mode).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Gateway upload URL, e.g. http://127.0.0.1:8080/upload/ (repeatable; connections are
    /// spread over the targets in turn).
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
    /// ZeroMQ endpoint of the feed to read, e.g. tcp://127.0.0.1:8050: the gateway's PUB, an
    /// announcer or a relay (repeatable). Without it there are no feed figures.
    #[arg(long = "sub", value_name = "ENDPOINT")]
    pub subs: Vec<String>,
    /// SUB sockets per --sub endpoint (each one a subscriber with its own figures).
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub subscribers: usize,
    /// Offered rate. N: rows per second (orders, or days of history); Nu: uploads per second
    /// (frames per second in --relay mode); max: as fast as answers come, with --pipeline
    /// requests in flight per connection (closed loop; latency then counts from the actual
    /// send). N takes a k or M suffix: 500k, 1.5M, 2ku.
    #[arg(long, default_value = "1000u", value_parser = parse_rate, value_name = "RATE")]
    pub rate: Rate,
    /// Measured interval, after the warm-up (10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measured interval, excluded from every figure.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// After the measured interval, how long answers, and then feed messages, are awaited
    /// before the missing ones count as errors and lost.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Keep-alive HTTP/1.1 connections, spread over the threads and targets.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Generator threads: each a glommio executor with its share of connections and rate.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin generator thread i to the i-th CPU of this comma-separated list (default: not
    /// pinned, so the scheduler can share the cores with the gateway under test).
    #[arg(long, value_delimiter = ',', value_name = "CPUS")]
    pub pin: Vec<usize>,
    /// With --rate max: requests in flight per connection.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub pipeline: usize,
    /// Requests in flight per connection at most (pipelined); more wait in the connection's
    /// queue, their latency still counted from their intended time.
    #[arg(long, default_value_t = 1024)]
    pub in_flight_max: usize,
    /// Uploads waiting in one connection's queue at most; past it they are not sent and are
    /// counted as `unsent` (the rate was not offered).
    #[arg(long, default_value_t = 65_536)]
    pub queue_max: usize,
    /// Result types by share of uploads, e.g. orders:90,history:10.
    #[arg(long, default_value = "orders:100", value_name = "WEIGHTS")]
    pub mix: Weights<Kind>,
    /// Orders per orders upload (the same as --sizes N:1).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub orders_per_upload: usize,
    /// Orders per upload as a distribution by share of uploads, e.g. 10:30,100:60,1000:9,30000:1.
    /// Up to 1000 orders are one type's market (one rowset); more are a region-wide upload of
    /// 30 orders per type. Overrides --orders-per-upload.
    #[arg(long, value_name = "SIZE:WEIGHT,...")]
    pub sizes: Option<Weights<usize>>,
    /// Days of history per history upload (one type).
    #[arg(long, default_value_t = 365, value_name = "N")]
    pub history_days: usize,
    /// Body encodings by share of uploads: gzip (Content-Encoding: gzip, as EVEMon), deflate
    /// (zlib bytes under Content-Encoding: deflate, as EMDU), form (urlencoded data= field),
    /// raw (plain JSON).
    #[arg(long, default_value = "gzip:100", value_name = "WEIGHTS")]
    pub encodings: Weights<Encoding>,
    /// Distinct messages built before the run, spread over the size classes by weight (each
    /// gets at least one, in every encoding). Every send still carries its own id.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub payloads: usize,
    /// Seed of the generated messages.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compression level of gzip and deflate bodies (1-12; 6 is what zlib and .NET use).
    #[arg(long, default_value_t = 6)]
    pub upload_level: u8,
    /// Ids available to the run (one ledger slot of 24 bytes each, allocated up front);
    /// default: enough for the rate and durations, or 4,000,000 with --rate max.
    #[arg(long, value_name = "N")]
    pub uploads_max: Option<usize>,
    /// Write every figure of the run to this file as one JSON object.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Fail (exit 2) if the HTTP p99 latency, or with --sub the end-to-end p99, is above MS.
    #[arg(long, value_name = "MS")]
    pub max_p99_ms: Option<f64>,
    /// Fail (exit 2) if more than N accepted uploads were never seen on the feed (needs --sub).
    #[arg(long, value_name = "N")]
    pub max_lost: Option<u64>,
    /// Fail (exit 2) if fewer orders per second were accepted and seen on the feed (accepted,
    /// without --sub).
    #[arg(long, value_name = "N")]
    pub min_orders_per_s: Option<f64>,
    /// After connecting the SUB sockets, wait this long before the first probe.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub sub_settle: Duration,
    /// Give up if a subscriber has seen no probe upload after this long (ZeroMQ's slow
    /// joiner: probes are sent until every subscriber has seen one, before the clock starts).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub sub_timeout: Duration,
    /// How subscribers find the id in a frame.
    #[arg(long, value_enum, default_value_t = InflateArg::Prefix)]
    pub sub_inflate: InflateArg,
    /// Subscriber threads (subscribers are spread over them).
    #[arg(long, default_value_t = 1)]
    pub sub_threads: usize,
    /// ZMQ_RCVHWM of each SUB socket, in messages (libzmq's default of 1000 drops bursts).
    #[arg(long, default_value_t = 1_000_000)]
    pub sub_hwm: i32,
    /// libzmq I/O threads of the process.
    #[arg(long, default_value_t = 1)]
    pub zmq_io_threads: i32,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Relay mode: publish frames on a ZeroMQ PUB (--pub-bind and/or --pub-connect) instead of
    /// uploading over HTTP, and measure the fan-out to the --sub endpoints.
    #[arg(long)]
    pub relay: bool,
    /// --relay: bind the PUB here, for a relay's --upstream (repeatable); tcp://127.0.0.1:* picks
    /// a port, printed on stdout as `emdr-loadgen publishing: pub=ENDPOINT`.
    #[arg(long, value_name = "ENDPOINT")]
    pub pub_bind: Vec<String>,
    /// --relay: connect the PUB to an announcer's or relay's --sub-bind (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub pub_connect: Vec<String>,
    /// --relay: ZMQ_SNDHWM of the PUB socket, in messages.
    #[arg(long, default_value_t = 1_000_000)]
    pub pub_hwm: i32,
    /// --relay: zlib level of the frames (the gateway's default is 1).
    #[arg(long, default_value_t = engine::pipeline::DEFAULT_ZLIB_LEVEL)]
    pub frame_level: u8,
}

/// A whole number of slots for `rate` over `secs`, with a margin for the random sizes.
fn ids_for(rate_uploads: f64, secs: f64) -> usize {
    let n = rate_uploads * secs * 1.25 + 10_000.0;
    n.min(crate::ledger::SEQ_SPAN as f64 / 2.0) as usize
}

/// Most slots the ledger may have (24 bytes each: 3 GiB).
pub const UPLOADS_MAX_LIMIT: usize = 1 << 27;
/// The default id space with `--rate max`.
pub const UPLOADS_MAX_DEFAULT_FOR_MAX: usize = 4_000_000;

impl LoadArgs {
    /// Check the flags and build the run's plan.
    pub fn into_plan(self, argv: Vec<String>) -> anyhow::Result<RunPlan> {
        if self.relay {
            if !self.targets.is_empty() {
                bail!("--relay publishes on ZeroMQ: --target is for HTTP mode");
            }
            if self.pub_bind.is_empty() && self.pub_connect.is_empty() {
                bail!("--relay needs --pub-bind ENDPOINT and/or --pub-connect ENDPOINT");
            }
            if self.subs.is_empty() {
                bail!(
                    "--relay needs --sub ENDPOINT: the relay's PUB, where the fan-out is measured"
                );
            }
        } else {
            if self.targets.is_empty() {
                bail!("give --target URL (e.g. http://127.0.0.1:8080/upload/), or --relay");
            }
            if !self.pub_bind.is_empty() || !self.pub_connect.is_empty() {
                bail!("--pub-bind and --pub-connect are for --relay mode");
            }
        }
        if self.max_lost.is_some() && self.subs.is_empty() {
            bail!("--max-lost needs --sub: lost uploads are those never seen on the feed");
        }
        let positive = [
            ("connections", self.connections),
            ("threads", self.threads),
            ("pipeline", self.pipeline),
            ("in-flight-max", self.in_flight_max),
            ("queue-max", self.queue_max),
            ("subscribers", self.subscribers),
            ("sub-threads", self.sub_threads),
            ("payloads", self.payloads),
        ];
        for (name, v) in positive {
            if v == 0 {
                bail!("--{name} must be at least 1");
            }
        }
        if self.payloads > PAYLOADS_MAX {
            bail!("--payloads must be at most {PAYLOADS_MAX}");
        }
        if self.threads > self.connections && !self.relay {
            bail!("--threads must not exceed --connections (each thread needs a connection)");
        }
        if self.connections > 100_000 || self.subscribers * self.subs.len() > 10_000 {
            bail!("at most 100000 connections and 10000 subscribers");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        if self.sub_hwm < 0 || self.pub_hwm < 0 || !(1..=64).contains(&self.zmq_io_threads) {
            bail!("--sub-hwm and --pub-hwm must be 0 or more, --zmq-io-threads 1 to 64");
        }
        let sizes = match &self.sizes {
            Some(w) => w.0.clone(),
            None => vec![(self.orders_per_upload, 1)],
        };
        let size_total: u64 = sizes.iter().map(|s| s.1).sum();
        let mut classes = Vec::new();
        for &(kind, kw) in &self.mix.0 {
            match kind {
                Kind::Orders => {
                    for &(rows, sw) in &sizes {
                        // Weight of the class: share of uploads, scaled to stay integral.
                        let w = u128::from(kw) * u128::from(sw) * 1_000_000
                            / u128::from(size_total.max(1));
                        classes.push(SizeClass {
                            kind,
                            rows,
                            weight: w as u64,
                        });
                    }
                }
                Kind::History => classes.push(SizeClass {
                    kind,
                    rows: self.history_days,
                    weight: kw * 1_000_000,
                }),
            }
        }
        let base_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let payload = PayloadPlan {
            classes,
            encodings: self.encodings.0.clone(),
            distinct: self.payloads,
            seed: self.seed,
            upload_level: self.upload_level,
            base_time,
        };
        let secs = (self.warmup + self.duration).as_secs_f64();
        let uploads_max = match (self.uploads_max, self.rate) {
            (Some(n), _) => n,
            (None, Rate::Max) => UPLOADS_MAX_DEFAULT_FOR_MAX,
            // Sized from the smallest class, which gives the most uploads per row.
            (None, Rate::Rows(r)) => {
                let smallest = payload
                    .classes
                    .iter()
                    .filter(|c| c.weight > 0)
                    .map(|c| c.shape().rows().max(1))
                    .min()
                    .unwrap_or(1);
                ids_for(r / smallest as f64, secs)
            }
            (None, Rate::Uploads(u)) => ids_for(u, secs),
        };
        if uploads_max == 0 || uploads_max > UPLOADS_MAX_LIMIT {
            bail!(
                "the run needs {uploads_max} ids; at most {UPLOADS_MAX_LIMIT}: lower --rate or --duration, or set --uploads-max"
            );
        }
        let feed = FeedPlan {
            endpoints: self.subs.clone(),
            per_endpoint: self.subscribers,
            threads: self.sub_threads,
            rcvhwm: self.sub_hwm,
            inflate: match self.sub_inflate {
                InflateArg::Prefix => Inflate::Prefix,
                InflateArg::Full => Inflate::Full,
            },
        };
        let mode = if self.relay {
            Mode::Relay(RelayPlan {
                pub_bind: self.pub_bind.clone(),
                pub_connect: self.pub_connect.clone(),
                sndhwm: self.pub_hwm,
                frame_level: self.frame_level,
            })
        } else {
            let targets = self
                .targets
                .iter()
                .map(|u| Target::parse(u).with_context(|| format!("--target {u}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Mode::Http(HttpPlan {
                targets,
                connections: self.connections,
                threads: self.threads,
                pin: self.pin.clone(),
                depth: self.pipeline,
                in_flight_max: self.in_flight_max,
                queue_max: self.queue_max,
            })
        };
        Ok(RunPlan {
            mode,
            rate: self.rate,
            warmup: self.warmup,
            duration: self.duration,
            grace: self.grace,
            payload,
            uploads_max,
            feed,
            sub_settle: self.sub_settle,
            sub_timeout: self.sub_timeout,
            zmq_io_threads: self.zmq_io_threads,
            seed: self.seed,
            json: self.json.clone(),
            quiet: self.quiet,
            thresholds: Thresholds {
                max_p99_ms: self.max_p99_ms,
                max_lost: self.max_lost,
                min_orders_per_s: self.min_orders_per_s,
            },
            argv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn rates_parse_with_their_units() {
        assert_eq!(parse_rate("500000"), Ok(Rate::Rows(500_000.0)));
        assert_eq!(parse_rate("500k"), Ok(Rate::Rows(500_000.0)));
        assert_eq!(parse_rate("1.5M"), Ok(Rate::Rows(1_500_000.0)));
        assert_eq!(parse_rate("2000u"), Ok(Rate::Uploads(2000.0)));
        assert_eq!(parse_rate("2ku"), Ok(Rate::Uploads(2000.0)));
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        for bad in ["", "0", "-5", "fast", "1e400", "5x"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn weights_parse() {
        let w: Weights<usize> = "10:30,100:60,1000:9,30000:1".parse().unwrap();
        assert_eq!(w.0, vec![(10, 30), (100, 60), (1000, 9), (30000, 1)]);
        let e: Weights<Encoding> = "gzip:60,deflate:30,form:5,raw".parse().unwrap();
        assert_eq!(e.0[3], (Encoding::Raw, 1));
        let m: Weights<Kind> = "orders:90,history:10".parse().unwrap();
        assert_eq!(m.0, vec![(Kind::Orders, 90), (Kind::History, 10)]);
        assert!("zip:1".parse::<Weights<Encoding>>().is_err());
        assert!("orders:0".parse::<Weights<Kind>>().is_err());
        assert!("0:5".parse::<Weights<usize>>().is_err());
        assert!("orders:x".parse::<Weights<Kind>>().is_err());
    }

    fn plan(args: &[&str]) -> anyhow::Result<RunPlan> {
        let mut argv = vec!["emdr-loadgen"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(&argv)?;
        cli.load.into_plan(vec![])
    }

    #[test]
    fn plans_are_validated() {
        let p = plan(&["--target", "http://127.0.0.1:9/upload/", "--rate", "2000u"]).unwrap();
        assert!(p.uploads_max >= 2000 * 12);
        assert!(plan(&[]).is_err(), "no target");
        assert!(plan(&["--target", "ftp://x/"]).is_err());
        assert!(plan(&["--target", "http://127.0.0.1:9/", "--connections", "0"]).is_err());
        assert!(plan(&["--target", "http://127.0.0.1:9/", "--max-lost", "0"]).is_err());
        assert!(
            plan(&["--relay", "--sub", "tcp://127.0.0.1:9"]).is_err(),
            "no pub"
        );
        assert!(plan(&[
            "--relay",
            "--pub-bind",
            "tcp://127.0.0.1:*",
            "--sub",
            "tcp://127.0.0.1:9"
        ])
        .is_ok());
        let mixed = plan(&[
            "--target",
            "http://127.0.0.1:9/",
            "--mix",
            "orders:90,history:10",
            "--sizes",
            "10:50,100:50",
        ])
        .unwrap();
        let w: Vec<u64> = mixed.payload.classes.iter().map(|c| c.weight).collect();
        assert_eq!(w, vec![45_000_000, 45_000_000, 10_000_000]);
    }

    #[test]
    fn the_help_explains_every_flag() {
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(arg.get_help().is_some(), "--{id} has no help");
        }
        cmd.debug_assert();
    }
}
