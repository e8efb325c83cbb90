//! `--relay` mode: publish pre-built canonical frames straight into a relay's upstream side,
//! at a fixed rate, and let [`crate::feed`] measure the fan-out.
//!
//! The frames are what a gateway publishes: synth JSON run through `engine::Pipeline::process`
//! (the gateway's own job), zlib-framed with a patchable key ([`crate::payload`]). One PUB
//! socket, bound (`--pub-bind`, for a relay's `--upstream`) and/or connected (`--pub-connect`,
//! to an announcer's or relay's `--sub-bind`), sends them from one thread, which keeps the
//! schedule like the HTTP pacer: every frame has an intended time from the rate alone, and its
//! latency counts from that time. libzmq's PUB never blocks: past `--pub-hwm` queued messages
//! per peer it drops, silently, so the high-water mark is set far above what a run queues.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::Rate;
use crate::ledger::{self, Ledger};
use crate::payload::{Frame, Payloads, Picker};
use crate::{Clock, Phases};

/// How the publisher is configured.
#[derive(Debug, Clone)]
pub struct RelayPlan {
    pub pub_bind: Vec<String>,
    pub pub_connect: Vec<String>,
    pub sndhwm: i32,
    pub frame_level: u8,
}

/// The PUB socket, set up.
pub struct Publisher {
    sock: zmq::Socket,
    /// The bound endpoints, ports resolved.
    pub bound: Vec<String>,
}

impl Publisher {
    pub fn new(plan: &RelayPlan, ctx: &zmq::Context) -> anyhow::Result<Publisher> {
        let sock = ctx.socket(zmq::PUB).context("PUB socket")?;
        sock.set_sndhwm(plan.sndhwm).context("ZMQ_SNDHWM")?;
        sock.set_linger(1000).context("ZMQ_LINGER")?;
        let mut bound = Vec::new();
        for ep in &plan.pub_bind {
            sock.bind(ep)
                .with_context(|| format!("--pub-bind {ep}: cannot bind"))?;
            let last = sock
                .get_last_endpoint()
                .context("ZMQ_LAST_ENDPOINT")?
                .map_err(|_| anyhow::anyhow!("the bound endpoint is not UTF-8"))?;
            bound.push(last);
        }
        for ep in &plan.pub_connect {
            sock.connect(ep)
                .with_context(|| format!("--pub-connect {ep}: cannot connect"))?;
        }
        Ok(Publisher { sock, bound })
    }

    /// Publish frame `f` with the key of `seq`.
    pub fn send(&self, f: &Frame, ledger: &Ledger, seq: u64) -> anyhow::Result<()> {
        let mut msg = zmq::Message::with_size(f.frame.len());
        f.write(ledger.key(seq), &mut msg);
        let n = msg.len() as u64;
        self.sock.send(msg, 0).context("PUB send")?;
        ledger.live.sent.fetch_add(1, Relaxed);
        ledger.live.bytes_sent.fetch_add(n, Relaxed);
        Ok(())
    }

    /// One probe frame (the smallest), flagged so it never counts.
    pub fn probe(&self, frames: &[Frame], ledger: &Ledger, clock: Clock) -> anyhow::Result<()> {
        let i = (0..frames.len())
            .min_by_key(|&i| frames[i].frame.len())
            .context("no frames")?;
        let seq = ledger
            .issue(
                clock.now_ns(),
                i as u32,
                ledger::PROBE | ledger::SENT | ledger::ACCEPTED,
            )
            .context("the id space is exhausted by probes")?;
        self.send(&frames[i], ledger, seq)
    }

    /// Publish at `rate` over `phases` (call on the publishing thread; returns at the end).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        frames: &[Frame],
        payloads: &Payloads,
        rate: Rate,
        phases: Phases,
        ledger: &Ledger,
        clock: Clock,
        seed: u64,
    ) -> anyhow::Result<()> {
        let mut picker = Picker::new(payloads, seed);
        let (ns_per, per_rows) = match rate {
            Rate::Rows(r) => (1e9 / r, true),
            Rate::Uploads(u) => (1e9 / u, false),
            Rate::Max => (0.0, false),
        };
        let mut next = phases.start_ns as f64;
        let end = phases.end_ns as f64;
        loop {
            let now = clock.now_ns() as f64;
            while next <= now {
                if next >= end {
                    return Ok(());
                }
                // With --rate max every frame is due when the previous one left.
                let intended = if rate == Rate::Max {
                    now as u64
                } else {
                    next as u64
                };
                let b = picker.pick(payloads);
                let flags = ledger::SENT
                    | ledger::ACCEPTED
                    | if phases.measured(intended) {
                        ledger::MEASURED
                    } else {
                        0
                    };
                let Some(seq) = ledger.issue(intended, b, flags) else {
                    return Ok(());
                };
                ledger.live.scheduled.fetch_add(1, Relaxed);
                ledger.live.accepted.fetch_add(1, Relaxed);
                if flags & ledger::MEASURED != 0 {
                    ledger.live.accepted_measured.fetch_add(1, Relaxed);
                }
                self.send(&frames[b as usize], ledger, seq)?;
                next = if rate == Rate::Max {
                    clock.now_ns() as f64
                } else if per_rows {
                    next + ns_per * f64::from(frames[b as usize].rows)
                } else {
                    next + ns_per
                };
                if rate == Rate::Max && next >= end {
                    return Ok(());
                }
            }
            let wait = next - clock.now_ns() as f64;
            if wait > 0.0 {
                // At least a tick: frames due meanwhile go out together (see PACER_TICK).
                let ns = (wait as u64).max(crate::http_load::PACER_TICK.as_nanos() as u64);
                std::thread::sleep(Duration::from_nanos(ns));
            }
        }
    }
}
