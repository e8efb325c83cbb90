//! The feed side: ZeroMQ SUB sockets that read what the gateway (or relay) published and
//! match each message to its upload.
//!
//! Every `--sub` endpoint gets `--subscribers` SUB sockets (subscribing to `""`, as real
//! consumers do); each socket is one *subscriber* with its own figures. They are spread over
//! `--sub-threads` threads, each polling its sockets with `zmq::poll` and draining them.
//!
//! Matching: the unique key is in the message's `uploadKeys`, which the canonical encoding
//! writes before `rowsets`, so the subscriber looks for it cheaply first:
//! 1. a plain JSON frame (a relay's `--decompress` mode): search it;
//! 2. a zlib frame that starts with a stored block (this tool's own relay frames): search the
//!    stored bytes, no inflation at all;
//! 3. inflate the first [`PREFIX_BYTES`] only (flate2, streaming) and search them;
//! 4. inflate the whole frame (libdeflate), as any consumer would.
//!
//! With `--sub-inflate full` every frame is inflated whole (a real consumer's cost; on a
//! 2-core machine that CPU comes out of the gateway's share). A key found maps to a ledger
//! slot; the subscriber's bitset says whether this subscriber saw it before; the slot's seen
//! count (atomic add) says whether any did. The first sighting by each subscriber of a
//! measured upload records its end-to-end latency: from the upload's *intended* send time to
//! the receipt of the message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use anyhow::{bail, Context as _};
use engine::synth::upload_key_of;
use hdrhistogram::Histogram;

use crate::ledger::{self, Ledger};
use crate::report::new_histogram;
use crate::Clock;

/// Bytes inflated before the whole frame is.
pub const PREFIX_BYTES: usize = 4096;
/// A frame inflating to more than this is counted as bad (the gateway's default limit).
pub const INFLATED_BYTES_MAX: usize = 64 << 20;
/// Messages taken from one socket before looking at the others.
const DRAIN_BATCH: usize = 1024;
/// Poll timeout: how often a subscriber thread looks at the stop flag, in ms.
const POLL_MS: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflate {
    Prefix,
    Full,
}

#[derive(Debug, Clone)]
pub struct FeedPlan {
    pub endpoints: Vec<String>,
    pub per_endpoint: usize,
    pub threads: usize,
    pub rcvhwm: i32,
    pub inflate: Inflate,
}

/// Live per-subscriber counts, for the probes and the early end of the grace.
#[derive(Debug, Default)]
pub struct SubLive {
    /// Messages with this run's keys (probes included).
    pub keyed: AtomicU64,
    /// Distinct measured uploads seen.
    pub unique_measured: AtomicU64,
}

/// One subscriber's figures at the end.
#[derive(Debug, Clone, Default)]
pub struct SubStats {
    pub endpoint: String,
    pub received: u64,
    /// Distinct uploads of this run (measured or not).
    pub unique: u64,
    pub unique_measured: u64,
    /// Copies of an upload this subscriber had already seen.
    pub duplicates: u64,
    pub bytes: u64,
}

/// One subscriber thread's figures.
#[derive(Debug)]
pub struct ThreadResult {
    pub subs: Vec<SubStats>,
    /// µs from the intended send time to receipt, each subscriber's first sighting.
    pub e2e_us: Histogram<u64>,
}

/// The running subscribers.
pub struct Feed {
    handles: Vec<JoinHandle<anyhow::Result<ThreadResult>>>,
    pub live: Arc<Vec<SubLive>>,
    stop: Arc<AtomicBool>,
}

/// Finds a run's key in a frame, as cheaply as the frame allows (module docs).
pub struct Matcher {
    inflate: Inflate,
    prefix: flate2::Decompress,
    prefix_buf: Vec<u8>,
    full: libdeflater::Decompressor,
    full_buf: Vec<u8>,
}

impl Matcher {
    pub fn new(inflate: Inflate) -> Matcher {
        Matcher {
            inflate,
            prefix: flate2::Decompress::new(true),
            prefix_buf: vec![0; PREFIX_BYTES],
            full: libdeflater::Decompressor::new(),
            full_buf: vec![0; 1 << 20],
        }
    }

    /// The key in `frame`.
    pub fn key_of(&mut self, frame: &[u8]) -> FrameKey {
        if frame.first() == Some(&b'{') {
            return FrameKey::from(upload_key_of(frame));
        }
        let zlib = frame.len() >= 6
            && frame[0] & 0x0f == 8
            && (u16::from(frame[0]) << 8 | u16::from(frame[1])) % 31 == 0;
        if !zlib {
            return FrameKey::Unreadable;
        }
        if self.inflate == Inflate::Prefix {
            // A stored first block (BTYPE 00): LEN, NLEN, then the bytes as they are.
            if frame.len() >= 7 && frame[2] & 0x06 == 0 {
                let len = u16::from_le_bytes([frame[3], frame[4]]);
                let nlen = u16::from_le_bytes([frame[5], frame[6]]);
                if len == !nlen {
                    let data = &frame[7..frame.len().min(7 + usize::from(len))];
                    if let Some(k) = upload_key_of(data) {
                        return FrameKey::Key(k);
                    }
                }
            }
            self.prefix.reset(true);
            let before = self.prefix.total_out();
            if self
                .prefix
                .decompress(frame, &mut self.prefix_buf, flate2::FlushDecompress::None)
                .is_err()
            {
                return FrameKey::Unreadable;
            }
            let n = (self.prefix.total_out() - before) as usize;
            if let Some(k) = upload_key_of(&self.prefix_buf[..n]) {
                return FrameKey::Key(k);
            }
        }
        loop {
            match self.full.zlib_decompress(frame, &mut self.full_buf) {
                Ok(n) => return FrameKey::from(upload_key_of(&self.full_buf[..n])),
                Err(libdeflater::DecompressionError::InsufficientSpace)
                    if self.full_buf.len() < INFLATED_BYTES_MAX =>
                {
                    let n = (self.full_buf.len() * 2).min(INFLATED_BYTES_MAX);
                    self.full_buf.resize(n, 0);
                }
                Err(_) => return FrameKey::Unreadable,
            }
        }
    }
}

/// What a frame holds, for the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKey {
    Key(u64),
    /// A readable message without a loadgen key (other traffic on the feed).
    NoKey,
    /// Neither zlib nor JSON, or a zlib stream that does not inflate.
    Unreadable,
}

impl From<Option<u64>> for FrameKey {
    fn from(k: Option<u64>) -> FrameKey {
        k.map_or(FrameKey::NoKey, FrameKey::Key)
    }
}

struct Sub {
    sock: zmq::Socket,
    index: usize,
    stats: SubStats,
    /// One bit per ledger slot: seen by this subscriber.
    seen: Vec<u64>,
}

impl Feed {
    /// Create, configure and connect every SUB socket; returns once all are connected
    /// (ZeroMQ connects in the background: the probes show when messages flow).
    pub fn start(
        plan: &FeedPlan,
        ctx: &zmq::Context,
        ledger: Arc<Ledger>,
        clock: Clock,
    ) -> anyhow::Result<Feed> {
        let total = plan.endpoints.len() * plan.per_endpoint;
        let live: Arc<Vec<SubLive>> = Arc::new((0..total).map(|_| SubLive::default()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = plan.threads.min(total).max(1);
        let mut handles = Vec::new();
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
        if total == 0 {
            return Ok(Feed {
                handles,
                live,
                stop,
            });
        }
        for t in 0..threads {
            let mine: Vec<(usize, String)> = (0..total)
                .filter(|i| i % threads == t)
                .map(|i| (i, plan.endpoints[i / plan.per_endpoint].clone()))
                .collect();
            let (ctx, ledger, live, stop) =
                (ctx.clone(), ledger.clone(), live.clone(), stop.clone());
            let (rcvhwm, inflate, ready) = (plan.rcvhwm, plan.inflate, ready_tx.clone());
            let h = std::thread::Builder::new()
                .name(format!("loadgen-sub-{t}"))
                .spawn(move || {
                    let subs = match connect(&ctx, &mine, rcvhwm, ledger.capacity()) {
                        Ok(s) => {
                            let _ = ready.send(Ok(()));
                            s
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            bail!("subscriber setup failed");
                        }
                    };
                    drop(ready);
                    receive(subs, &ledger, &live, &stop, clock, inflate)
                })
                .context("cannot start a subscriber thread")?;
            handles.push(h);
        }
        drop(ready_tx);
        let feed = Feed {
            handles,
            live,
            stop,
        };
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    feed.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => bail!("a subscriber thread ended during set-up"),
            }
        }
        Ok(feed)
    }

    pub fn subscribers(&self) -> usize {
        self.live.len()
    }

    /// True when every subscriber has seen at least one message with this run's keys.
    pub fn all_keyed(&self) -> bool {
        self.live
            .iter()
            .all(|s| s.keyed.load(Ordering::Relaxed) > 0)
    }

    /// The subscribers that have seen nothing of this run yet.
    pub fn silent(&self) -> Vec<usize> {
        (0..self.live.len())
            .filter(|&i| self.live[i].keyed.load(Ordering::Relaxed) == 0)
            .collect()
    }

    /// True when every subscriber has seen `n` distinct measured uploads.
    pub fn all_seen(&self, n: u64) -> bool {
        self.live
            .iter()
            .all(|s| s.unique_measured.load(Ordering::Relaxed) >= n)
    }

    /// Stop the threads and collect their figures (subscribers in their original order).
    pub fn stop(self) -> anyhow::Result<(Vec<SubStats>, Histogram<u64>)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut subs: Vec<(usize, SubStats)> = Vec::new();
        let mut e2e = new_histogram();
        let threads = self.handles.len();
        for (t, h) in self.handles.into_iter().enumerate() {
            let r = h
                .join()
                .map_err(|_| anyhow::anyhow!("a subscriber thread panicked"))??;
            e2e.add(&r.e2e_us)
                .context("histograms have the same bounds")?;
            for (k, s) in r.subs.into_iter().enumerate() {
                subs.push((t + k * threads, s));
            }
        }
        subs.sort_by_key(|(i, _)| *i);
        Ok((subs.into_iter().map(|(_, s)| s).collect(), e2e))
    }
}

fn connect(
    ctx: &zmq::Context,
    mine: &[(usize, String)],
    rcvhwm: i32,
    capacity: usize,
) -> anyhow::Result<Vec<Sub>> {
    mine.iter()
        .map(|(index, ep)| {
            let sock = ctx.socket(zmq::SUB).context("SUB socket")?;
            sock.set_rcvhwm(rcvhwm).context("ZMQ_RCVHWM")?;
            sock.set_linger(0).context("ZMQ_LINGER")?;
            sock.set_subscribe(b"").context("ZMQ_SUBSCRIBE")?;
            sock.connect(ep)
                .with_context(|| format!("--sub {ep}: cannot connect"))?;
            Ok(Sub {
                sock,
                index: *index,
                stats: SubStats {
                    endpoint: ep.clone(),
                    ..SubStats::default()
                },
                seen: vec![0; capacity.div_ceil(64)],
            })
        })
        .collect()
}

fn receive(
    mut subs: Vec<Sub>,
    ledger: &Ledger,
    live: &[SubLive],
    stop: &AtomicBool,
    clock: Clock,
    inflate: Inflate,
) -> anyhow::Result<ThreadResult> {
    let mut matcher = Matcher::new(inflate);
    let mut e2e = new_histogram();
    let mut msg = zmq::Message::new();
    let mut readable = vec![false; subs.len()];
    while !stop.load(Ordering::Relaxed) {
        {
            let mut items: Vec<zmq::PollItem> = subs
                .iter()
                .map(|s| s.sock.as_poll_item(zmq::POLLIN))
                .collect();
            zmq::poll(&mut items, POLL_MS).context("zmq_poll")?;
            for (r, item) in readable.iter_mut().zip(&items) {
                *r = item.is_readable();
            }
        }
        for (i, sub) in subs.iter_mut().enumerate() {
            if !readable[i] {
                continue;
            }
            for _ in 0..DRAIN_BATCH {
                match sub.sock.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(anyhow::anyhow!("SUB receive: {e}")),
                }
                let now = clock.now_ns();
                on_message(
                    &msg,
                    now,
                    sub,
                    ledger,
                    &live[sub.index],
                    &mut matcher,
                    &mut e2e,
                );
            }
        }
    }
    Ok(ThreadResult {
        subs: subs.into_iter().map(|s| s.stats).collect(),
        e2e_us: e2e,
    })
}

fn on_message(
    frame: &[u8],
    now_ns: u64,
    sub: &mut Sub,
    ledger: &Ledger,
    live: &SubLive,
    matcher: &mut Matcher,
    e2e: &mut Histogram<u64>,
) {
    let counts = &ledger.live;
    sub.stats.received += 1;
    sub.stats.bytes += frame.len() as u64;
    let key = match matcher.key_of(frame) {
        FrameKey::Key(k) => Some(k),
        FrameKey::NoKey => None,
        FrameKey::Unreadable => {
            counts.bad_frames.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let Some(seq) = key.and_then(|k| ledger.seq_of(k)) else {
        counts.foreign.fetch_add(1, Ordering::Relaxed);
        return;
    };
    live.keyed.fetch_add(1, Ordering::Relaxed);
    let slot = ledger.slot(seq);
    let prev = slot.flags.fetch_add(ledger::SEEN_ONE, Ordering::AcqRel);
    counts.seen_total.fetch_add(1, Ordering::Relaxed);
    let measured = prev & ledger::MEASURED != 0;
    if prev >> ledger::SEEN_SHIFT == 0 {
        slot.done_ns.store(now_ns.max(1), Ordering::Relaxed);
        counts.seen_unique.fetch_add(1, Ordering::Relaxed);
        if measured {
            counts.seen_measured.fetch_add(1, Ordering::Relaxed);
        }
    }
    let (word, bit) = (seq as usize / 64, 1u64 << (seq % 64));
    if sub.seen[word] & bit != 0 {
        sub.stats.duplicates += 1;
        return;
    }
    sub.seen[word] |= bit;
    sub.stats.unique += 1;
    if measured {
        sub.stats.unique_measured += 1;
        live.unique_measured.fetch_add(1, Ordering::Relaxed);
        let intended = slot.intended_ns.load(Ordering::Relaxed);
        let _ = e2e.record((now_ns.saturating_sub(intended) / 1000).max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{self, Encoding};
    use engine::synth::{Rng, Shape};
    use engine::{Pipeline, PipelineConfig, Upload};

    #[test]
    fn keys_are_found_in_every_kind_of_frame() {
        let (json, at) =
            payload::placeholder_message(&mut Rng::new(1), Shape::orders(3, 300), 1_700_000_000);
        let key = ledger::PLACEHOLDER_KEY;
        let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
        let mut gateway_frame = Vec::new();
        p.process(&Upload::body(&json), 1_700_000_000, &mut gateway_frame)
            .unwrap();
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(1).unwrap());
        let (stored_frame, _, _) = payload::encode(&mut c, &json, at, Encoding::Deflate);
        for inflate in [Inflate::Prefix, Inflate::Full] {
            let mut m = Matcher::new(inflate);
            assert_eq!(m.key_of(&gateway_frame), FrameKey::Key(key));
            assert_eq!(m.key_of(&stored_frame), FrameKey::Key(key));
            assert_eq!(
                m.key_of(p.json()),
                FrameKey::Key(key),
                "decompressed relays"
            );
            assert_eq!(m.key_of(b"not a frame"), FrameKey::Unreadable);
            let mut broken = gateway_frame.clone();
            broken.truncate(20);
            assert!(matches!(
                m.key_of(&broken),
                FrameKey::Unreadable | FrameKey::NoKey
            ));
        }
        // A message whose key sits past the prefix is still found, by the whole inflate.
        let mut long = b"{\"resultType\":\"orders\",\"pad\":\"".to_vec();
        long.extend(std::iter::repeat_n(b'x', PREFIX_BYTES * 2));
        long.extend_from_slice(
            format!("\",\"uploadKeys\":[{{\"name\":\"emdr-loadgen\",\"key\":\"{key}\"}}]}}")
                .as_bytes(),
        );
        let mut z = vec![0; c.zlib_compress_bound(long.len())];
        let n = c.zlib_compress(&long, &mut z).unwrap();
        assert_eq!(
            Matcher::new(Inflate::Prefix).key_of(&z[..n]),
            FrameKey::Key(key)
        );
    }
}
