//! One run, start to end: build the payloads, connect the subscribers and the load, probe
//! until the feed flows, start the clock, report progress each second, wait out the grace,
//! compute the figures, and turn the thresholds into an exit status.
//!
//! Runs on the main thread; the load runs on its executors (HTTP) or a publishing thread
//! (relay), the subscribers on theirs. Everything expensive (payloads, ledger, sockets)
//! exists before the clock's start is set.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::Rate;
use crate::feed::{Feed, FeedPlan};
use crate::http_load::{HttpPlan, Load};
use crate::ledger::Ledger;
use crate::payload::{self, Frame, Kind, PayloadPlan, Payloads};
use crate::relay_load::{Publisher, RelayPlan};
use crate::report::{new_histogram, Figures, Inputs, PayloadInfo, Thresholds};
use crate::{probe, Clock, Phases};

/// Exit status when a threshold was missed.
pub const EXIT_THRESHOLD: u8 = 2;
/// Between the go signal and the first send: time for every executor to see it.
const START_DELAY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub enum Mode {
    Http(HttpPlan),
    Relay(RelayPlan),
}

/// Everything a run is configured with (built by [`crate::cli::LoadArgs::into_plan`]).
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub mode: Mode,
    pub rate: Rate,
    pub warmup: Duration,
    pub duration: Duration,
    pub grace: Duration,
    pub payload: PayloadPlan,
    pub uploads_max: usize,
    pub feed: FeedPlan,
    pub sub_settle: Duration,
    pub sub_timeout: Duration,
    pub zmq_io_threads: i32,
    pub seed: u64,
    pub json: Option<PathBuf>,
    pub quiet: bool,
    pub thresholds: Thresholds,
    pub argv: Vec<String>,
}

/// The once-a-second line on stderr.
struct Progress {
    quiet: bool,
    last: Instant,
    prev: [u64; 4],
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            last: Instant::now(),
            prev: [0; 4],
        }
    }

    fn tick(&mut self, ledger: &Ledger, clock: Clock, phases: &Phases) {
        if self.quiet || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        let dt = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let l = &ledger.live;
        let now = [
            l.sent.load(Relaxed),
            l.accepted.load(Relaxed),
            l.seen_unique.load(Relaxed),
            l.bytes_sent.load(Relaxed),
        ];
        let rate = |i: usize| (now[i] - self.prev[i]) as f64 / dt;
        let t = clock.now_ns();
        let phase = if t < phases.measure_ns {
            "warm-up"
        } else if t < phases.end_ns {
            "measure"
        } else {
            "drain"
        };
        let answered = l.accepted.load(Relaxed) + l.rejected.load(Relaxed) + l.errors.load(Relaxed);
        eprintln!(
            "[{phase} {:>6.1}s] sent {:>8.0}/s ({:.1} MB/s)  accepted {:>8.0}/s  rejected {}  errors {}  unsent {}  in flight {}  seen {:>8.0}/s",
            t.saturating_sub(phases.start_ns) as f64 / 1e9,
            rate(0),
            rate(3) / 1e6,
            rate(1),
            l.rejected.load(Relaxed),
            l.errors.load(Relaxed),
            l.unsent.load(Relaxed),
            l.sent.load(Relaxed).saturating_sub(answered),
            rate(2),
        );
        self.prev = now;
    }
}

fn phases_from_now(clock: Clock, plan: &RunPlan) -> Phases {
    let start_ns = clock.now_ns() + START_DELAY.as_nanos() as u64;
    let measure_ns = start_ns + plan.warmup.as_nanos() as u64;
    Phases {
        start_ns,
        measure_ns,
        end_ns: measure_ns + plan.duration.as_nanos() as u64,
        grace_ns: plan.grace.as_nanos() as u64,
    }
}

/// After the load: wait up to the grace for the feed to show every accepted upload.
fn await_feed(
    feed: &Feed,
    ledger: &Ledger,
    clock: Clock,
    phases: &Phases,
    plan: &RunPlan,
    progress: &mut Progress,
) {
    if feed.subscribers() == 0 {
        return;
    }
    let deadline = Instant::now() + plan.grace;
    while Instant::now() < deadline {
        if feed.all_seen(ledger.live.accepted_measured.load(Relaxed)) {
            return;
        }
        progress.tick(ledger, clock, phases);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Run `plan`; returns the exit status (0, or [`EXIT_THRESHOLD`]).
pub fn run(plan: RunPlan) -> anyhow::Result<u8> {
    let clock = Clock::start();
    let built = Instant::now();
    let (payloads, frames): (Payloads, Option<Vec<Frame>>) = match &plan.mode {
        Mode::Http(_) => (Payloads::build(&plan.payload)?, None),
        Mode::Relay(r) => {
            let (p, f) = payload::relay_frames(&plan.payload, r.frame_level)?;
            (p, Some(f))
        }
    };
    let payloads = Arc::new(payloads);
    if !plan.quiet {
        eprintln!(
            "emdr-loadgen: {} payloads ({} bodies, {:.1} MB) built in {:.2} s; {} ids",
            payloads.contents.len(),
            payloads.bodies.len(),
            payloads.bodies.iter().map(|b| b.body.len()).sum::<usize>() as f64 / 1e6,
            built.elapsed().as_secs_f64(),
            plan.uploads_max
        );
    }
    let ledger = Arc::new(Ledger::new(plan.uploads_max, Ledger::fresh_nonce()));
    let ctx = zmq::Context::new();
    ctx.set_io_threads(plan.zmq_io_threads)
        .context("ZMQ_IO_THREADS")?;
    let feed = Feed::start(&plan.feed, &ctx, ledger.clone(), clock)?;
    let mut progress = Progress::new(plan.quiet);
    let (figures, phases) = match (&plan.mode, frames) {
        (Mode::Http(h), _) => {
            let h = Arc::new(h.clone());
            let load = Load::start(
                h.clone(),
                plan.rate,
                payloads.clone(),
                ledger.clone(),
                clock,
                plan.seed,
                feed.subscribers() == 0,
            )?;
            if feed.subscribers() > 0 {
                std::thread::sleep(plan.sub_settle);
                if let Err(e) = probe::http(
                    &feed,
                    &h.targets,
                    &payloads,
                    &ledger,
                    clock,
                    plan.sub_timeout,
                ) {
                    load.abort();
                    let _ = load.join();
                    return Err(e);
                }
            } else if let Some(t) = h.targets.first() {
                // No feed: one upload still checks that the target answers `200 1`.
                let seq = ledger
                    .issue(
                        clock.now_ns(),
                        payloads.smallest(),
                        crate::ledger::PROBE | crate::ledger::SENT,
                    )
                    .context("no id for the probe")?;
                let (code, body) = probe::post(t, &payloads, payloads.smallest(), ledger.key(seq))
                    .inspect_err(|_| load.abort())?;
                if code != 200 || body != b"1" {
                    load.abort();
                    anyhow::bail!(
                        "{} refused a probe upload: {code} {}",
                        t.url,
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            let phases = phases_from_now(clock, &plan);
            load.go(phases);
            while load.finished() < load.threads() {
                progress.tick(&ledger, clock, &phases);
                std::thread::sleep(Duration::from_millis(10));
            }
            await_feed(&feed, &ledger, clock, &phases, &plan, &mut progress);
            let results = load.join()?;
            let (subs, e2e) = feed.stop()?;
            let (mut http_us, mut lag_us) = (new_histogram(), new_histogram());
            let mut statuses = std::collections::BTreeMap::new();
            let (mut first_rejection, mut failed) = (None, 0);
            for r in results {
                http_us.add(&r.http_us).context("same bounds")?;
                lag_us.add(&r.lag_us).context("same bounds")?;
                for (k, v) in r.statuses {
                    *statuses.entry(k).or_insert(0) += v;
                }
                first_rejection = first_rejection.or(r.first_rejection);
                failed += r.connections_failed;
            }
            let prefix_len = h.targets[0].prefix.len() as u32;
            let info: Vec<PayloadInfo> = payloads
                .bodies
                .iter()
                .map(|b| PayloadInfo {
                    rows: b.rows,
                    orders: b.kind == Kind::Orders,
                    bytes: prefix_len + (b.head.len() + b.body.len()) as u32,
                })
                .collect();
            let f = Figures::compute(
                &ledger,
                Inputs {
                    mode: "http",
                    rate: plan.rate.to_string(),
                    phases,
                    connections: h.connections,
                    threads: h.threads,
                    targets: h.targets.iter().map(|t| t.url.clone()).collect(),
                    info: &info,
                    http_us: &http_us,
                    lag_us: &lag_us,
                    e2e_us: &e2e,
                    statuses,
                    first_rejection,
                    connections_failed: failed,
                    subs: &subs,
                    warmup_s: plan.warmup.as_secs_f64(),
                },
            );
            (f, phases)
        }
        (Mode::Relay(r), Some(frames)) => {
            let publisher = Publisher::new(r, &ctx)?;
            if !publisher.bound.is_empty() {
                println!("emdr-loadgen publishing: pub={}", publisher.bound.join(","));
                std::io::stdout().flush()?;
            }
            std::thread::sleep(plan.sub_settle);
            probe::until_seen(&feed, plan.sub_timeout, || {
                publisher.probe(&frames, &ledger, clock)
            })?;
            let phases = phases_from_now(clock, &plan);
            let frames = Arc::new(frames);
            let thread = {
                let (frames, payloads, ledger) = (frames.clone(), payloads.clone(), ledger.clone());
                let (rate, seed) = (plan.rate, plan.seed);
                std::thread::Builder::new()
                    .name("loadgen-pub".into())
                    .spawn(move || {
                        let r =
                            publisher.run(&frames, &payloads, rate, phases, &ledger, clock, seed);
                        (publisher, r)
                    })
                    .context("cannot start the publishing thread")?
            };
            while !thread.is_finished() {
                progress.tick(&ledger, clock, &phases);
                std::thread::sleep(Duration::from_millis(10));
            }
            let (publisher, result) = thread
                .join()
                .map_err(|_| anyhow::anyhow!("the publishing thread panicked"))?;
            result?;
            await_feed(&feed, &ledger, clock, &phases, &plan, &mut progress);
            let (subs, e2e) = feed.stop()?;
            let targets = publisher
                .bound
                .iter()
                .cloned()
                .chain(r.pub_connect.iter().cloned())
                .collect();
            drop(publisher);
            let info: Vec<PayloadInfo> = frames
                .iter()
                .zip(&payloads.bodies)
                .map(|(f, b)| PayloadInfo {
                    rows: f.rows,
                    orders: b.kind == Kind::Orders,
                    bytes: f.frame.len() as u32,
                })
                .collect();
            let empty = new_histogram();
            let f = Figures::compute(
                &ledger,
                Inputs {
                    mode: "relay",
                    rate: plan.rate.to_string().replace("uploads/s", "frames/s"),
                    phases,
                    connections: 0,
                    threads: 1,
                    targets,
                    info: &info,
                    http_us: &empty,
                    lag_us: &empty,
                    e2e_us: &e2e,
                    statuses: Default::default(),
                    first_rejection: None,
                    connections_failed: 0,
                    subs: &subs,
                    warmup_s: plan.warmup.as_secs_f64(),
                },
            );
            (f, phases)
        }
        (Mode::Relay(_), None) => unreachable!("relay mode builds frames"),
    };
    let _ = phases;
    let failures = plan.thresholds.check(&figures);
    print!("{}", figures.text());
    std::io::stdout().flush()?;
    if let Some(path) = &plan.json {
        std::fs::write(path, figures.json(&plan.argv, &failures))
            .with_context(|| format!("cannot write --json {}", path.display()))?;
    }
    for f in &failures {
        eprintln!("emdr-loadgen: threshold missed: {f}");
    }
    Ok(if failures.is_empty() {
        0
    } else {
        EXIT_THRESHOLD
    })
}
