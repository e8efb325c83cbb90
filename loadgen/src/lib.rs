//! emdr-loadgen: an open-loop load generator for emdr gateways and relays.
//!
//! It drives the real binaries over the network, as the uploaders and consumers of the wire
//! contract do, and uses `engine` only to build realistic payloads before the clock starts
//! (house rule: never `gateway` or `shards`).
//!
//! ```text
//!  payload: synth JSON ──► gzip / zlib / form / raw bodies, each with a patchable id ─┐
//!                                                                                     │
//!  http_load (glommio executors)                                                      ▼
//!    pacer: one intended send time per upload (open loop) ──► per-connection writer ──► TCP ──► gateway
//!    reader: responses in order ──► HTTP latency from the INTENDED time, ledger: accepted        │
//!                                                                                        ZMQ PUB
//!  feed (threads, zmq SUB) ◄─────────────────────────────────────────────────────────────────┘
//!    key in the frame ──► ledger slot ──► e2e latency, published / duplicated per subscriber
//!
//!  report: ledger + histograms ──► summary (stdout), --json FILE, thresholds ──► exit status
//! ```
//!
//! Module map:
//! - [`cli`]: every flag, its parsing and validation into the plans below.
//! - [`payload`]: bodies and frames, built up front; per-send id patching.
//! - [`ledger`]: one slot per upload id, shared lock-free by senders and subscribers.
//! - [`http_load`]: the HTTP side: pinned glommio executors, pacer, writers, readers.
//! - [`relay_load`]: `--relay` mode: frames straight into a relay's upstream side.
//! - [`feed`]: the ZeroMQ subscribers and the matching of messages to uploads.
//! - [`probe`]: the slow-joiner handshake before the clock starts.
//! - [`report`]: histograms, the summary, the JSON file, the thresholds.
//! - [`sink`]: `emdr-loadgen sink`: an HTTP server that only answers `200 1`.
//! - [`run`]: the sequence of one run, from the plans to the report.

#![forbid(unsafe_code)]

pub mod cli;
pub mod feed;
pub mod http_load;
pub mod ledger;
pub mod payload;
pub mod probe;
pub mod relay_load;
pub mod report;
pub mod run;
pub mod sink;

use std::time::Instant;

/// Nanoseconds since the run's origin: the one clock every thread of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Nanoseconds since the origin (a u64 lasts 584 years).
    pub fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// The instant `ns` nanoseconds after the origin.
    pub fn instant(&self, ns: u64) -> Instant {
        self.origin + std::time::Duration::from_nanos(ns)
    }
}

/// The phases of a run, in nanoseconds of its [`Clock`]: uploads whose intended send time
/// falls in `measure_ns..end_ns` are measured; earlier ones are warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub start_ns: u64,
    pub measure_ns: u64,
    pub end_ns: u64,
    /// After `end_ns`, how long answers and feed messages are waited for.
    pub grace_ns: u64,
}

impl Phases {
    pub fn measured(&self, intended_ns: u64) -> bool {
        (self.measure_ns..self.end_ns).contains(&intended_ns)
    }

    pub fn measured_seconds(&self) -> f64 {
        (self.end_ns - self.measure_ns) as f64 / 1e9
    }
}
