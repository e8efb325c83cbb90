//! Relays and announcers: subscribe upstream, drop duplicates, fan out to any number of
//! subscribers (wire contract §6).
//!
//! ```text
//!  upstreams ──ZMQ──► ingest shard (libzmq SUB: connect and/or bind; dedup; --decompress)
//!                        │  one Arc'd frame per fan-out shard ring
//!                        ▼
//!              fan-out shards 0..N (ZMTP PUB served on the shards, same port via SO_REUSEPORT;
//!                                   a bounded queue and a drop counter per subscriber)
//! ```
//! Why this split: the input is one stream of ~10k frames/s at most, which one core
//! de-duplicates with room to spare, while the output is that stream times the number of
//! subscribers: framing, copying and writing for every subscriber is the work that grows, so
//! it is the work spread over the shards. A frame crosses to each fan-out shard once (an
//! `Arc`), never once per subscriber.
//!
//! Upstream faults are libzmq's to repair: the SUB socket reconnects by itself with back-off
//! (`reconnect_ivl_ms` up to `reconnect_ivl_max_ms`), and ZMTP heartbeats detect a silent
//! upstream within `heartbeat_timeout_ms`; no periodic restarts. An announcer is a relay with
//! a SUB bind for gateways to connect to and no de-duplication.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use engine::body::{BodyDecoder, Encoding};
use engine::dedup::{Dedup, DedupConfig};
use engine::Limits;
use glommio::ExecutorJoinHandle;
use shards::cores::core_for;
use shards::fanout::{self, FanoutConfig, FanoutStats, SharedFrame};
use shards::{executor, ZmqOptions};

/// How long one blocking receive waits before looking at the stop flag, in ms.
const RECV_POLL_MS: i32 = 50;

/// A validated relay configuration.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Upstreams to connect the SUB socket to.
    pub upstream: Vec<String>,
    /// Endpoints to bind the SUB socket to (announcers: gateways connect here).
    pub sub_bind: Vec<String>,
    /// Addresses the fan-out shards serve subscribers on.
    pub bind: Vec<SocketAddr>,
    pub shards: usize,
    pub dedup: DedupConfig,
    /// Forward the decompressed JSON instead of the zlib frame.
    pub decompress: bool,
    /// With `decompress`: the largest frame after inflation, in bytes.
    pub inflated_bytes_max: usize,
    pub zmq: ZmqOptions,
    pub fanout: FanoutConfig,
    /// Frames each fan-out shard's ring holds before the ingest waits.
    pub ring_frames: usize,
}

/// Parse a `tcp://host:port` endpoint into a socket address (`*` is any address / port 0).
pub fn tcp_endpoint(ep: &str) -> Result<SocketAddr, String> {
    let rest = ep
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("{ep:?}: the relay serves subscribers over tcp:// only"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{ep:?}: expected tcp://HOST:PORT"))?;
    let host = if host == "*" { "0.0.0.0" } else { host };
    let port = if port == "*" { "0" } else { port };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (
        host,
        port.parse::<u16>()
            .map_err(|_| format!("{ep:?}: bad port"))?,
    )
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{ep:?}: cannot resolve the host"))
}

/// Counters of the ingest shard.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub frames_received: AtomicU64,
    pub frames_forwarded: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    /// Multi-part messages, which are not EMDR frames.
    pub multipart_dropped: AtomicU64,
    /// With --decompress: frames that did not inflate.
    pub undecodable_dropped: AtomicU64,
}

/// A running relay.
pub struct Relay {
    /// Where subscribers connect, ports resolved.
    pub bound: Vec<SocketAddr>,
    /// The SUB socket's bound endpoints, ports resolved.
    pub sub_bound: Vec<String>,
    pub ingest_stats: Arc<IngestStats>,
    pub fanout_stats: Vec<Arc<FanoutStats>>,
    fanouts: Vec<ExecutorJoinHandle<()>>,
    ingest: ExecutorJoinHandle<()>,
    _ctx: zmq::Context,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("bound", &self.bound)
            .field("sub_bound", &self.sub_bound)
            .finish_non_exhaustive()
    }
}

fn open_sub(ctx: &zmq::Context, cfg: &RelayConfig) -> Result<(zmq::Socket, Vec<String>), String> {
    cfg.zmq.validate()?;
    let sub = ctx
        .socket(zmq::SUB)
        .map_err(|e| format!("cannot create a SUB socket: {e}"))?;
    cfg.zmq
        .apply(&sub)
        .map_err(|e| format!("cannot set SUB socket options: {e}"))?;
    // A SUB socket has nothing worth lingering for (only subscriptions to unreachable peers).
    sub.set_rcvtimeo(RECV_POLL_MS)
        .and_then(|()| sub.set_linger(0))
        .and_then(|()| sub.set_subscribe(b""))
        .map_err(|e| format!("cannot set SUB socket options: {e}"))?;
    let mut bound = Vec::new();
    for ep in &cfg.sub_bind {
        sub.bind(ep)
            .map_err(|e| format!("cannot bind SUB to {ep}: {e}"))?;
        bound.push(
            sub.get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| ep.clone()),
        );
    }
    for ep in &cfg.upstream {
        sub.connect(ep)
            .map_err(|e| format!("cannot connect SUB to {ep}: {e}"))?;
    }
    Ok((sub, bound))
}

/// Start the fan-out shards and the ingest; returns once everything is bound.
pub fn start(cfg: RelayConfig, cores: &[usize], stop: Arc<AtomicBool>) -> Result<Relay, String> {
    if cfg.upstream.is_empty() && cfg.sub_bind.is_empty() {
        return Err("nothing to relay: give --upstream and/or --sub-bind".into());
    }
    for a in &cfg.bind {
        shards::cores::check_port_free(*a)?;
    }
    let ctx = zmq::Context::new();
    let (sub, sub_bound) = open_sub(&ctx, &cfg)?;
    let mut bound = cfg.bind.clone();
    let mut senders = Vec::with_capacity(cfg.shards);
    let mut fanouts = Vec::with_capacity(cfg.shards);
    let mut fanout_stats = Vec::with_capacity(cfg.shards);
    for i in 0..cfg.shards {
        let (tx, rx) =
            glommio::channels::shared_channel::new_bounded::<SharedFrame>(cfg.ring_frames);
        senders.push(tx);
        let stats = Arc::new(FanoutStats::default());
        fanout_stats.push(Arc::clone(&stats));
        let (addrs, fcfg, stop) = (bound.clone(), cfg.fanout, Arc::clone(&stop));
        let (bound_tx, bound_rx) = mpsc::channel::<Result<Vec<SocketAddr>, String>>();
        let handle = executor(&format!("emdr-fanout-{i}"), core_for(cores, i))
            .spawn(move || async move {
                let mut listeners = Vec::new();
                let mut local = Vec::new();
                for a in &addrs {
                    match glommio::net::TcpListener::bind(a) {
                        Ok(l) => {
                            local.push(l.local_addr().unwrap_or(*a));
                            listeners.push(l);
                        }
                        Err(e) => {
                            let _ =
                                bound_tx.send(Err(format!("shard {i} cannot listen on {a}: {e}")));
                            return;
                        }
                    }
                }
                let _ = bound_tx.send(Ok(local));
                fanout::run(listeners, rx, fcfg, stats, stop).await;
            })
            .map_err(|e| format!("cannot start fan-out shard {i}: {e}"))?;
        fanouts.push(handle);
        // Shard 0 resolves wildcard ports; the others bind the same ones.
        bound = bound_rx
            .recv()
            .map_err(|_| format!("fan-out shard {i} died while starting"))??;
    }
    let ingest_stats = Arc::new(IngestStats::default());
    let st = Arc::clone(&ingest_stats);
    let (dedup, decompress, inflated_max) = (cfg.dedup, cfg.decompress, cfg.inflated_bytes_max);
    let seed = dedup_seed();
    let ingest = executor("emdr-ingest", core_for(cores, cfg.shards))
        .spawn(move || async move {
            let mut rings = Vec::with_capacity(senders.len());
            for s in senders {
                rings.push(s.connect().await);
            }
            let limits = Limits {
                inflated_bytes_max: inflated_max,
                body_bytes_max: inflated_max,
                ..Limits::default()
            };
            let mut ingest = Ingest {
                sub,
                dedup: Dedup::new(dedup, seed),
                decoder: decompress.then(BodyDecoder::new),
                limits,
                stats: st,
                started: Instant::now(),
            };
            ingest.run(&rings, &stop).await;
            for r in &rings {
                r.close();
            }
        })
        .map_err(|e| format!("cannot start the ingest: {e}"))?;
    Ok(Relay {
        bound,
        sub_bound,
        ingest_stats,
        fanout_stats,
        fanouts,
        ingest,
        _ctx: ctx,
    })
}

/// A per-process secret for the dedup hash: not predictable from outside.
fn dedup_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

struct Ingest {
    sub: zmq::Socket,
    dedup: Dedup,
    decoder: Option<BodyDecoder>,
    limits: Limits,
    stats: Arc<IngestStats>,
    started: Instant,
}

impl Ingest {
    async fn run(
        &mut self,
        rings: &[glommio::channels::shared_channel::ConnectedSender<SharedFrame>],
        stop: &AtomicBool,
    ) {
        // One reused message: a frame is copied once, into its shared `Arc`, and only if it
        // is forwarded (half of all frames are the other announcer's duplicates).
        let mut msg = zmq::Message::new();
        while !stop.load(Relaxed) {
            // Blocks this executor for at most RECV_POLL_MS; it has nothing else to do.
            if self.sub.recv(&mut msg, 0).is_err() {
                glommio::yield_if_needed().await;
                continue;
            }
            self.stats.frames_received.fetch_add(1, Relaxed);
            if msg.get_more() {
                // Not an EMDR frame: drop every part of it.
                while msg.get_more() && self.sub.recv(&mut msg, 0).is_ok() {}
                self.stats.multipart_dropped.fetch_add(1, Relaxed);
                continue;
            }
            let frame: &[u8] = &msg;
            if self
                .dedup
                .is_duplicate(frame, self.started.elapsed().as_millis() as u64)
            {
                self.stats.duplicates_dropped.fetch_add(1, Relaxed);
                continue;
            }
            let out: SharedFrame = match &mut self.decoder {
                None => frame.into(),
                Some(d) => match d.decode(frame, Encoding::Deflate, None, &self.limits) {
                    Ok(json) => json.into(),
                    Err(_) => {
                        self.stats.undecodable_dropped.fetch_add(1, Relaxed);
                        continue;
                    }
                },
            };
            for r in rings {
                // Waits while a shard's ring is full: back-pressure to the SUB socket, whose
                // high-water mark then holds the upstream.
                let _ = r.send(Arc::clone(&out)).await;
            }
            self.stats.frames_forwarded.fetch_add(1, Relaxed);
        }
    }
}

/// Sum of a fan-out counter over shards.
pub fn fanout_sum(stats: &[Arc<FanoutStats>], f: impl Fn(&FanoutStats) -> &AtomicU64) -> u64 {
    stats.iter().map(|s| f(s).load(Relaxed)).sum()
}

/// A one-line summary of a relay's counters.
pub fn summary(ingest: &IngestStats, fanout: &[Arc<FanoutStats>]) -> String {
    format!(
        "received={} forwarded={} duplicates={} multipart={} undecodable={} subscribers={} sent={} dropped_slow={} evicted={}",
        ingest.frames_received.load(Relaxed),
        ingest.frames_forwarded.load(Relaxed),
        ingest.duplicates_dropped.load(Relaxed),
        ingest.multipart_dropped.load(Relaxed),
        ingest.undecodable_dropped.load(Relaxed),
        fanout_sum(fanout, |s| &s.subscribers),
        fanout_sum(fanout, |s| &s.frames_sent),
        fanout_sum(fanout, |s| &s.frames_dropped),
        fanout_sum(fanout, |s| &s.subscribers_evicted),
    )
}

impl Relay {
    /// A one-line summary of the counters now.
    pub fn summary(&self) -> String {
        summary(&self.ingest_stats, &self.fanout_stats)
    }

    /// Wait for the ingest and every fan-out shard to finish (after the stop flag rose);
    /// returns the final summary.
    pub fn wait(self) -> Result<String, String> {
        self.ingest
            .join()
            .map_err(|e| format!("the ingest failed: {e}"))?;
        for (i, h) in self.fanouts.into_iter().enumerate() {
            h.join()
                .map_err(|e| format!("fan-out shard {i} failed: {e}"))?;
        }
        Ok(summary(&self.ingest_stats, &self.fanout_stats))
    }
}

/// Seconds between periodic summaries, unless configured.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(60);
