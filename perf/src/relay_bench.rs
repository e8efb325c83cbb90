//! The relay side by side with the conventional relay: emdr's relay (de-duplication on, the
//! default window) against a plain libzmq XSUB/XPUB proxy, on the same machine and load, in
//! one run (wire contract §6).
//!
//! - **emdr relay**: `gateway::relay::start` as `emdr relay` builds it (`Cli::try_parse_from`),
//!   with `--shards 1` or `2`: one libzmq SUB on the ingest shard, de-duplication, and the
//!   fan-out shards serving ZMTP subscribers themselves.
//! - **libzmq proxy**: `zmq::proxy_steerable(xsub, xpub, control)` in a thread; the XSUB
//!   connects to the same upstreams, the XPUB binds. Its context has libzmq's default of one
//!   I/O thread (and, labelled, a second row with two, for fairness on a two-core box). It
//!   stops on `TERMINATE` over its control socket, so a `cargo test` run leaks no thread.
//!
//! The load: `upstreams` publisher threads (libzmq PUB, bound on an ephemeral port) send the
//! same frames, as two announcers do, so the relay de-duplicates every frame once and the proxy
//! forwards both copies (its subscribers receive duplicates; counted). Frames are real EMDR
//! frames: zlib streams of the canonical JSON that `engine::Pipeline::process` produces for a
//! 100-order `engine::synth` message carrying an `emdr-loadgen` upload key with a 13-digit id.
//! Each frame must be unique (or the relay rightly drops it), at any rate and duration, so they
//! are not a finite pool: before timing, [`FrameSet::build`] runs the pipeline on `bases`
//! messages and splits each canonical JSON around the id; frame `id` is then
//! `zlib header | stored block (JSON up to the id, the 13 digits) | libdeflate raw deflate of
//! the rest (final block) | adler32`, assembled with one copy into the `zmq::Message` that is
//! sent, which is what sending a pre-built frame costs anyway. It inflates to exactly the
//! pipeline's canonical JSON for that id (tested), is about as large as the pipeline's own
//! frame (printed), and a subscriber reads its id from the first block in O(1) and checks the
//! rest byte for byte (a memcmp), so counting does not bottleneck the subscriber.
//!
//! Pacing: by default the publishers run closed-loop, as fast as the *fastest* subscriber
//! takes frames: a publisher stays at most `window_frames` ahead of it, so slow subscribers
//! still fall behind and drop (real drops), but no publisher burns a core sending frames its
//! own PUB would drop at its high-water mark (libzmq's PUB cannot push back, and this crate's
//! binding has no `ZMQ_XPUB_NODROP`). `rate_per_s` instead paces each publisher open-loop.
//!
//! Timeline of one run: publishers bind, the server connects to them, subscribers (SUB,
//! subscribe "", one context each, like separate consumer processes) connect to it; each
//! publisher sends a probe every 10 ms until every subscriber has seen a probe from every
//! upstream; then `warmup`, the measured interval `duration` (frames, bytes and unique ids
//! received in it), the end of sending, and a drain until every subscriber has been idle for
//! `drain_idle` (at most `drain_max`). Drops per subscriber = unique ids published − unique
//! ids it received by the end of the drain; duplicates = frames received − unique ids.
//! High-water marks are `hwm` on every socket of the test and of the proxy, and the relay gets
//! the same depth (`--sub-hwm`, `--queue-frames-max`), so a drop is a drop of the server, not
//! of a small default queue.
//!
//! Everything shares the machine's cores (publishers, server, subscribers), so a row also says
//! where the CPU went in the measured interval, from /proc: the server's threads (those born
//! while it started, each by name), the whole benchmark, and everything else on the machine,
//! which on a shared box says how far to trust the row; and server CPU per delivered message,
//! which is steadier than a rate. `repeats` runs every row several times, in rounds over the
//! servers, and reports the median run beside the rate of each.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::synth::{self, Rng, Shape};
use engine::{Pipeline, PipelineConfig, Upload};
use libdeflater::{CompressionLvl, Compressor};

/// What the emdr rows must reach: delivered unique messages/s per subscriber (average),
/// emdr / libzmq proxy with its default context, de-duplication on.
pub const TARGET_RATIO: f64 = 0.90;

/// The first id of the measured frames; ids have 13 digits, so every frame of a base has the
/// same length.
pub const ID_FIRST: u64 = 1_000_000_000_000;
/// Probe ids: `PROBE_FIRST + upstream * PROBE_STRIDE + k`.
pub const PROBE_FIRST: u64 = 9_000_000_000_000;
const PROBE_STRIDE: u64 = 1_000_000_000;
/// Digits of every id.
const ID_DIGITS: usize = 13;
/// Measured ids a subscriber accepts, at most (its bitset grows to this / 8 bytes).
const SEQ_MAX: u64 = 1 << 36;
/// zlib header of level-1 streams (CMF 0x78, FLG 0x01: FCHECK makes 0x7801 % 31 == 0).
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];
/// Header bytes before the stored block's data: zlib header, block header byte, LEN, NLEN.
const STORED_AT: usize = 7;
/// libzmq receive timeout of the test's SUB sockets: how often they look at the stop flag.
const RECV_TIMEOUT_MS: i32 = 20;
/// Interval between probes while waiting for the subscribers.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const ADLER_MOD: u64 = 65_521;

/// Parameters of one run of the whole benchmark.
#[derive(Debug, Clone)]
pub struct Params {
    /// Subscriber counts, one set of rows each.
    pub subscribers: Vec<usize>,
    /// emdr fan-out shards, one row each.
    pub shards: Vec<usize>,
    /// libzmq proxy contexts' I/O threads, one row each (1 is libzmq's default).
    pub proxy_io_threads: Vec<i32>,
    /// Publishers sending the same frames (2: two announcers, exercising de-duplication).
    pub upstreams: usize,
    /// Distinct messages the frames are made from.
    pub bases: usize,
    pub orders_per_message: usize,
    /// Frames/s per publisher, open loop; `None`: closed loop (module docs).
    pub rate_per_s: Option<f64>,
    /// Closed loop: frames a publisher may be ahead of the fastest subscriber.
    pub window_frames: u64,
    /// High-water mark of every test and proxy socket, and the relay's queue depth, in frames.
    pub hwm: i32,
    pub warmup: Duration,
    pub duration: Duration,
    /// The drain ends once every subscriber has received nothing for this long...
    pub drain_idle: Duration,
    /// ...or after this long.
    pub drain_max: Duration,
    /// Every subscriber must have seen a probe from every upstream within this.
    pub ready_timeout: Duration,
    pub seed: u64,
    /// Runs of every row, in rounds over all the servers (so that drift in the machine's
    /// other load hits every server alike); the run with the median delivered rate is
    /// reported, with the range over the runs.
    pub repeats: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            subscribers: vec![1, 10],
            shards: vec![1, 2],
            proxy_io_threads: vec![1, 2],
            upstreams: 2,
            bases: 256,
            orders_per_message: 100,
            rate_per_s: None,
            window_frames: 4096,
            hwm: 100_000,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            drain_idle: Duration::from_millis(300),
            drain_max: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(10),
            seed: 0x5eed_0e1a,
            repeats: 1,
        }
    }
}

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Emdr { shards: usize },
    Proxy { io_threads: i32 },
}

impl Server {
    pub fn label(&self) -> String {
        match *self {
            Server::Emdr { shards } => format!("emdr relay shards={shards}"),
            Server::Proxy { io_threads: 1 } => "libzmq proxy".into(),
            Server::Proxy { io_threads } => format!("libzmq proxy io_threads={io_threads}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Frames.

/// One base message split around its id (module docs).
#[derive(Debug)]
struct Base {
    /// zlib header, stored-block header, canonical JSON up to the id.
    head: Vec<u8>,
    /// Raw deflate (final block) of the canonical JSON after the id.
    tail: Vec<u8>,
    /// adler32 of the JSON up to the id.
    adler_head: u32,
    /// adler32 of the JSON after the id, and its length.
    adler_tail: u32,
    tail_json_len: usize,
}

/// The frames of a run: frame `id` for any 13-digit id, built on demand (module docs).
#[derive(Debug)]
pub struct FrameSet {
    bases: Vec<Base>,
    /// What the messages were generated with, so a test can rebuild any of them.
    pub seed: u64,
    pub now: i64,
    pub orders_per_message: usize,
    /// Average bytes of a frame here, of `Pipeline::process`'s frame for the same message, and
    /// of its canonical JSON.
    pub frame_bytes_avg: f64,
    pub pipeline_frame_bytes_avg: f64,
    pub json_bytes_avg: f64,
}

fn adler_update(adler: u32, data: &[u8]) -> u32 {
    let (mut a, mut b) = (u64::from(adler & 0xffff), u64::from(adler >> 16));
    for &x in data {
        a = (a + u64::from(x)) % ADLER_MOD;
        b = (b + a) % ADLER_MOD;
    }
    ((b << 16) | a) as u32
}

/// adler32 of `x ++ y` from adler32(x), adler32(y) and y's length (as zlib's adler32_combine).
fn adler_combine(first: u32, second: u32, second_len: usize) -> u32 {
    let m = ADLER_MOD;
    let rem = second_len as u64 % m;
    let (a1, b1) = (u64::from(first & 0xffff), u64::from(first >> 16));
    let (a2, b2) = (u64::from(second & 0xffff), u64::from(second >> 16));
    let a = (a1 + a2 + m - 1) % m;
    let b = (rem * a1 % m + b1 + b2 + m - rem) % m;
    ((b << 16) | a) as u32
}

fn push_digits(out: &mut [u8], id: u64) {
    let mut v = id;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl FrameSet {
    /// Generate `bases` messages of one rowset of `orders` orders, run each through the
    /// pipeline, and split its canonical JSON around the id.
    pub fn build(bases: usize, orders: usize, seed: u64, now: i64) -> Result<FrameSet, String> {
        if bases == 0 {
            return Err("at least one base message is needed".into());
        }
        let mut pipeline = Pipeline::new(PipelineConfig::default()).map_err(|e| e.to_string())?;
        let mut deflate =
            Compressor::new(CompressionLvl::new(1).map_err(|_| "libdeflate level 1 exists")?);
        const KEY: &[u8] = b"{\"name\":\"emdr-loadgen\",\"key\":\"";
        let mut out = Vec::with_capacity(bases);
        let (mut frame_bytes, mut pipeline_bytes, mut json_bytes) = (0usize, 0usize, 0usize);
        let mut frame = Vec::new();
        for b in 0..bases {
            let json = synth::message_json(
                &mut Rng::new(seed.wrapping_add(b as u64)),
                Shape::orders(1, orders),
                now,
                Some(ID_FIRST),
            );
            pipeline
                .process(&Upload::body(&json), now, &mut frame)
                .map_err(|e| format!("the pipeline refused a generated message: {e}"))?;
            let canonical = pipeline.json();
            pipeline_bytes += frame.len();
            json_bytes += canonical.len();
            let at = canonical
                .windows(KEY.len())
                .position(|w| w == KEY)
                .ok_or("the canonical JSON lost the emdr-loadgen key")?
                + KEY.len();
            let (prefix, rest) = canonical.split_at(at);
            let suffix = &rest[ID_DIGITS..];
            let stored_len = u16::try_from(prefix.len() + ID_DIGITS)
                .map_err(|_| "the JSON before the id does not fit a stored block")?;
            let mut head = Vec::with_capacity(STORED_AT + prefix.len());
            head.extend_from_slice(&ZLIB_HEADER);
            // BFINAL 0, BTYPE 00 (stored), padded to the byte: 0x00; then LEN and NLEN.
            head.push(0);
            head.extend_from_slice(&stored_len.to_le_bytes());
            head.extend_from_slice(&(!stored_len).to_le_bytes());
            head.extend_from_slice(prefix);
            let mut tail = vec![0; deflate.deflate_compress_bound(suffix.len())];
            let n = deflate
                .deflate_compress(suffix, &mut tail)
                .map_err(|e| format!("libdeflate: {e:?}"))?;
            tail.truncate(n);
            frame_bytes += head.len() + ID_DIGITS + tail.len() + 4;
            out.push(Base {
                adler_head: libdeflater::adler32(prefix),
                adler_tail: libdeflater::adler32(suffix),
                tail_json_len: suffix.len(),
                head,
                tail,
            });
        }
        let n = bases as f64;
        Ok(FrameSet {
            bases: out,
            seed,
            now,
            orders_per_message: orders,
            frame_bytes_avg: frame_bytes as f64 / n,
            pipeline_frame_bytes_avg: pipeline_bytes as f64 / n,
            json_bytes_avg: json_bytes as f64 / n,
        })
    }

    /// Which base message frame `id` is made from (its `Rng` seed is `seed + base`).
    pub fn base_of(&self, id: u64) -> usize {
        (id % self.bases.len() as u64) as usize
    }

    fn frame_len(&self, id: u64) -> usize {
        let b = &self.bases[self.base_of(id)];
        b.head.len() + ID_DIGITS + b.tail.len() + 4
    }

    fn adler_of(b: &Base, digits: &[u8]) -> u32 {
        adler_combine(
            adler_update(b.adler_head, digits),
            b.adler_tail,
            b.tail_json_len,
        )
    }

    /// Write frame `id` into `out`, which is [`FrameSet::frame_len`] long.
    fn write(&self, id: u64, out: &mut [u8]) {
        let b = &self.bases[self.base_of(id)];
        let (head, rest) = out.split_at_mut(b.head.len());
        head.copy_from_slice(&b.head);
        let (digits, rest) = rest.split_at_mut(ID_DIGITS);
        push_digits(digits, id);
        let (tail, adler) = rest.split_at_mut(b.tail.len());
        tail.copy_from_slice(&b.tail);
        adler.copy_from_slice(&Self::adler_of(b, digits).to_be_bytes());
    }

    /// Frame `id` (13 digits) as a new vector.
    pub fn frame(&self, id: u64) -> Vec<u8> {
        assert!(
            (ID_FIRST..10 * ID_FIRST).contains(&id),
            "frame ids have 13 digits"
        );
        let mut v = vec![0; self.frame_len(id)];
        self.write(id, &mut v);
        v
    }

    fn message(&self, id: u64) -> zmq::Message {
        let mut m = zmq::Message::with_size(self.frame_len(id));
        self.write(id, &mut m);
        m
    }

    /// The id of a frame of this set, checked byte for byte; `None` if it is not one.
    pub fn identify(&self, frame: &[u8]) -> Option<u64> {
        let len = usize::from(u16::from_le_bytes([*frame.get(3)?, *frame.get(4)?]));
        let digits_at = (STORED_AT + len).checked_sub(ID_DIGITS)?;
        let digits = frame.get(digits_at..digits_at + ID_DIGITS)?;
        let mut id = 0u64;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            id = id * 10 + u64::from(d - b'0');
        }
        if id < ID_FIRST {
            return None;
        }
        let b = &self.bases[self.base_of(id)];
        let tail_at = b.head.len() + ID_DIGITS;
        let ok = digits_at == b.head.len()
            && frame.len() == tail_at + b.tail.len() + 4
            && frame[..digits_at] == b.head[..]
            && frame[tail_at..tail_at + b.tail.len()] == b.tail[..]
            && frame[frame.len() - 4..] == Self::adler_of(b, digits).to_be_bytes();
        ok.then_some(id)
    }
}

// ---------------------------------------------------------------------------------------
// Figures.

/// Minimum, average and maximum over the subscribers of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Spread {
        let n = values.clone().count();
        if n == 0 {
            return Spread::default();
        }
        Spread {
            min: values.clone().fold(f64::INFINITY, f64::min),
            avg: values.clone().sum::<f64>() / n as f64,
            max: values.fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// What one subscriber received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberFigures {
    /// Over the whole run (probes excepted), drain included.
    pub frames: u64,
    pub unique: u64,
    pub bytes: u64,
    /// In the measured interval.
    pub measured_frames: u64,
    pub measured_unique: u64,
    pub measured_bytes: u64,
    pub probes: u64,
    /// Frames that are not frames of the set (not forwarded byte for byte).
    pub corrupt: u64,
}

/// The emdr relay's own counters at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayCounters {
    pub received: u64,
    pub forwarded: u64,
    pub duplicates_dropped: u64,
    pub multipart_dropped: u64,
    pub undecodable_dropped: u64,
    pub frames_sent: u64,
    /// Frame copies dropped because a subscriber's queue was full.
    pub frames_dropped_slow: u64,
}

/// One server with one subscriber count.
#[derive(Debug, Clone)]
pub struct Row {
    pub server: Server,
    pub subscribers: usize,
    /// Distinct ids published over the whole run, and per second of the measured interval.
    pub published_unique: u64,
    pub offered_per_s: f64,
    /// Delivered unique messages/s per subscriber, measured interval.
    pub msgs_per_s: Spread,
    /// Received MB/s per subscriber (every frame, duplicates included), measured interval.
    pub mb_per_s: Spread,
    /// Sum over subscribers of published unique − received unique.
    pub drops: u64,
    /// Sum over subscribers of frames received − unique received.
    pub duplicates: u64,
    pub corrupt: u64,
    pub per_subscriber: Vec<SubscriberFigures>,
    /// emdr only.
    pub relay: Option<RelayCounters>,
    /// How long the drain took.
    pub drain: Duration,
    /// Where the CPU went in the measured interval.
    pub cpu: CpuUse,
    /// `msgs_per_s.avg` of every repeat of this row, in run order (this row is the median).
    pub repeat_avgs: Vec<f64>,
}

/// Every row of a run, and what the frames were.
#[derive(Debug, Clone)]
pub struct Report {
    pub rows: Vec<Row>,
    pub upstreams: usize,
    pub duration: Duration,
    pub rate_per_s: Option<f64>,
    pub hwm: i32,
    pub frame_bytes_avg: f64,
    pub pipeline_frame_bytes_avg: f64,
    pub json_bytes_avg: f64,
}

// ---------------------------------------------------------------------------------------
// Where the CPU goes.

/// CPU time from /proc (Linux; elsewhere every figure reads 0), in USER_HZ ticks, which the
/// kernel ABI fixes at 100 per second. Read at the start and at the end of the measured
/// interval, so that a row says how busy the server's threads, the whole benchmark and the
/// rest of the machine (other processes, and steal time on a VM) were: on a shared box the
/// last one says how far to trust the row.
mod cpu {
    pub const TICKS_PER_S: f64 = 100.0;

    /// Threads of this process.
    pub fn tasks() -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// utime + stime of thread `tid`.
    pub fn task_ticks(tid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut f = rest.split_whitespace().skip(11);
        let utime: u64 = f.next()?.parse().ok()?;
        let stime: u64 = f.next()?.parse().ok()?;
        Some(utime + stime)
    }

    /// The thread's name; libzmq's background threads are unnamed and carry the process's.
    pub fn task_name(tid: u32) -> String {
        let name = |path: String| std::fs::read_to_string(path).map(|s| s.trim().to_string());
        let own = name(format!("/proc/self/task/{tid}/comm")).unwrap_or_default();
        if name("/proc/self/comm".into()).is_ok_and(|p| p == own) {
            "libzmq-bg".into()
        } else {
            own
        }
    }

    /// Busy ticks of the whole machine (user, nice, system, irq, softirq, steal).
    pub fn machine_busy() -> u64 {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return 0;
        };
        let Some(line) = stat.lines().next() else {
            return 0;
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
    }

    /// One reading: every thread's ticks, and the machine's; with the names of `named`.
    #[derive(Debug, Clone, Default)]
    pub struct Snap {
        pub tasks: Vec<(u32, u64)>,
        pub names: Vec<(u32, String)>,
        pub machine: u64,
    }

    pub fn snap(named: &[u32]) -> Snap {
        Snap {
            tasks: tasks()
                .into_iter()
                .filter_map(|t| Some((t, task_ticks(t)?)))
                .collect(),
            names: named.iter().map(|&t| (t, task_name(t))).collect(),
            machine: machine_busy(),
        }
    }

    /// Ticks of `tid` between two readings (0 if it is missing from either).
    pub fn delta(a: &Snap, b: &Snap, tid: u32) -> u64 {
        let at = |s: &Snap| s.tasks.iter().find(|(t, _)| *t == tid).map(|&(_, v)| v);
        match (at(a), at(b)) {
            (Some(x), Some(y)) => y.saturating_sub(x),
            _ => 0,
        }
    }
}

/// CPU use over the measured interval, in % of one core.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuUse {
    /// The server's threads (those started by the server), and each of them, busiest first.
    pub server_pct: f64,
    pub server_threads: Vec<(String, f64)>,
    /// Every thread of the benchmark: publishers, server, subscribers.
    pub bench_pct: f64,
    /// The rest of the machine: other processes, steal, and interrupts not charged to us.
    pub others_pct: f64,
    /// Server CPU per unique message delivered to a subscriber, in microseconds.
    pub server_us_per_msg: f64,
}

fn cpu_use(a: &cpu::Snap, b: &cpu::Snap, server_tids: &[u32], secs: f64, delivered: u64) -> CpuUse {
    let pct = |ticks: u64| ticks as f64 / cpu::TICKS_PER_S / secs * 100.0;
    let mut server_threads: Vec<(String, f64)> = server_tids
        .iter()
        .map(|&t| {
            let name = b
                .names
                .iter()
                .find(|(n, _)| *n == t)
                .map(|(_, s)| s.clone());
            (name.unwrap_or_default(), pct(cpu::delta(a, b, t)))
        })
        .filter(|(_, p)| *p > 0.0)
        .collect();
    server_threads.sort_by(|x, y| y.1.total_cmp(&x.1));
    let server: u64 = server_tids.iter().map(|&t| cpu::delta(a, b, t)).sum();
    let bench: u64 = a.tasks.iter().map(|&(t, _)| cpu::delta(a, b, t)).sum();
    let machine = b.machine.saturating_sub(a.machine);
    CpuUse {
        server_pct: pct(server),
        server_threads,
        bench_pct: pct(bench),
        others_pct: pct(machine.saturating_sub(bench)),
        server_us_per_msg: if delivered == 0 {
            0.0
        } else {
            server as f64 / cpu::TICKS_PER_S * 1e6 / delivered as f64
        },
    }
}

// ---------------------------------------------------------------------------------------
// The run.

/// A cache line per subscriber for what the publishers read.
#[repr(align(64))]
#[derive(Default)]
struct Progress {
    /// Unique measured ids received.
    unique: AtomicU64,
    /// When the last frame arrived, ns since `Shared::base`.
    last_rx_ns: AtomicU64,
}

struct Shared {
    base: Instant,
    /// The measured interval, ns since `base` (u64::MAX until known).
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    /// Publishers: stop probing, start the measured frames.
    go: AtomicBool,
    /// Publishers: close the sockets. Subscribers: return.
    stop_publishers: AtomicBool,
    stop_subscribers: AtomicBool,
    /// Subscribers that saw a probe from every upstream.
    ready: AtomicUsize,
    progress: Vec<Progress>,
    upstreams: usize,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
    fn fastest(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.unique.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

/// What a publisher thread did: measured frames sent in all, and in the measured interval.
struct Sent {
    total: u64,
    measured: u64,
}

fn start_publisher(
    i: usize,
    frames: &Arc<FrameSet>,
    shared: &Arc<Shared>,
    p: &Params,
) -> Result<(String, JoinHandle<Sent>), String> {
    let ctx = zmq::Context::new();
    let sock = ctx.socket(zmq::PUB).map_err(|e| e.to_string())?;
    sock.set_sndhwm(p.hwm)
        .and_then(|()| sock.set_linger(0))
        .map_err(|e| e.to_string())?;
    sock.bind("tcp://127.0.0.1:*")
        .map_err(|e| format!("publisher {i} cannot bind: {e}"))?;
    let ep = sock
        .get_last_endpoint()
        .map_err(|e| e.to_string())?
        .map_err(|_| "a non-UTF-8 endpoint")?;
    let (frames, shared) = (Arc::clone(frames), Arc::clone(shared));
    let (rate, window) = (p.rate_per_s, p.window_frames.max(1));
    let h = std::thread::Builder::new()
        .name(format!("pub-{i}"))
        .spawn(move || {
            let _ctx = ctx;
            let mut k = 0u64;
            while !shared.go.load(Ordering::Acquire)
                && !shared.stop_publishers.load(Ordering::Relaxed)
            {
                let probe = PROBE_FIRST + i as u64 * PROBE_STRIDE + k;
                let _ = sock.send(frames.message(probe), 0);
                k += 1;
                std::thread::sleep(PROBE_INTERVAL);
            }
            let (start, end) = (
                shared.start_ns.load(Ordering::Acquire),
                shared.end_ns.load(Ordering::Acquire),
            );
            let began = shared.now_ns();
            let (mut seq, mut at_start, mut ahead_ok) = (0u64, None, 0u64);
            loop {
                if shared.stop_publishers.load(Ordering::Relaxed) {
                    break;
                }
                let now = shared.now_ns();
                if now >= end {
                    break;
                }
                if at_start.is_none() && now >= start {
                    at_start = Some(seq);
                }
                match rate {
                    Some(r) => {
                        let due = began + (seq as f64 * 1e9 / r) as u64;
                        if due > now {
                            let wait = (due - now).min(end - now);
                            std::thread::sleep(Duration::from_nanos(wait));
                            continue;
                        }
                    }
                    None => {
                        if seq >= ahead_ok {
                            ahead_ok = shared.fastest() + window;
                            if seq >= ahead_ok {
                                std::thread::sleep(Duration::from_micros(50));
                                continue;
                            }
                        }
                    }
                }
                if sock.send(frames.message(ID_FIRST + seq), 0).is_ok() {
                    seq += 1;
                }
            }
            let measured = seq - at_start.unwrap_or(seq);
            // Keep the socket open through the drain: closing it would drop what it holds.
            while !shared.stop_publishers.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Sent {
                total: seq,
                measured,
            }
        })
        .map_err(|e| e.to_string())?;
    Ok((ep, h))
}

fn start_subscriber(
    i: usize,
    endpoint: &str,
    frames: &Arc<FrameSet>,
    shared: &Arc<Shared>,
    hwm: i32,
) -> Result<JoinHandle<Result<SubscriberFigures, String>>, String> {
    let ctx = zmq::Context::new();
    let sock = ctx.socket(zmq::SUB).map_err(|e| e.to_string())?;
    sock.set_rcvhwm(hwm)
        .and_then(|()| sock.set_linger(0))
        .and_then(|()| sock.set_rcvtimeo(RECV_TIMEOUT_MS))
        .and_then(|()| sock.set_subscribe(b""))
        .map_err(|e| e.to_string())?;
    sock.connect(endpoint)
        .map_err(|e| format!("subscriber {i} cannot connect to {endpoint}: {e}"))?;
    let (frames, shared) = (Arc::clone(frames), Arc::clone(shared));
    std::thread::Builder::new()
        .name(format!("sub-{i}"))
        .spawn(move || {
            let _ctx = ctx;
            let mut f = SubscriberFigures::default();
            let mut seen: Vec<u64> = Vec::new();
            let mut probes_from = 0u64;
            let all = (1u64 << shared.upstreams) - 1;
            let mut msg = zmq::Message::new();
            let me = &shared.progress[i];
            while !shared.stop_subscribers.load(Ordering::Relaxed) {
                match sock.recv(&mut msg, 0) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
                    Err(e) => return Err(format!("subscriber {i}: {e}")),
                }
                let now = shared.now_ns();
                me.last_rx_ns.store(now, Ordering::Relaxed);
                let Some(id) = frames.identify(&msg) else {
                    f.corrupt += 1;
                    continue;
                };
                if id >= PROBE_FIRST {
                    f.probes += 1;
                    let from = (id - PROBE_FIRST) / PROBE_STRIDE;
                    if probes_from != all && from < shared.upstreams as u64 {
                        probes_from |= 1 << from;
                        if probes_from == all {
                            shared.ready.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    continue;
                }
                let seq = id - ID_FIRST;
                if seq >= SEQ_MAX {
                    f.corrupt += 1;
                    continue;
                }
                let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
                if word >= seen.len() {
                    seen.resize((word + 1).next_power_of_two(), 0);
                }
                let new = seen[word] & bit == 0;
                seen[word] |= bit;
                let len = msg.len() as u64;
                f.frames += 1;
                f.bytes += len;
                if new {
                    f.unique += 1;
                    me.unique.store(f.unique, Ordering::Relaxed);
                }
                let (start, end) = (
                    shared.start_ns.load(Ordering::Relaxed),
                    shared.end_ns.load(Ordering::Relaxed),
                );
                if (start..end).contains(&now) {
                    f.measured_frames += 1;
                    f.measured_bytes += len;
                    f.measured_unique += u64::from(new);
                }
            }
            Ok(f)
        })
        .map_err(|e| e.to_string())
}

/// A server started for one run.
enum Running {
    Emdr {
        relay: gateway::relay::Relay,
        stop: Arc<AtomicBool>,
    },
    Proxy {
        control: zmq::Socket,
        thread: JoinHandle<Result<(), String>>,
        _ctx: zmq::Context,
    },
}

fn start_emdr(
    shards: usize,
    upstreams: &[String],
    p: &Params,
    cores: &[usize],
    frame_bytes_max: usize,
) -> Result<(String, Running), String> {
    use clap::Parser as _;
    let (shards, hwm) = (shards.to_string(), p.hwm.to_string());
    let queue_bytes = (p.hwm.max(1) as usize * frame_bytes_max).to_string();
    let mut args = vec![
        "emdr",
        "relay",
        "--bind",
        "tcp://127.0.0.1:0",
        "--shards",
        &shards,
        "--sub-hwm",
        &hwm,
        "--queue-frames-max",
        &hwm,
        "--queue-bytes-max",
        &queue_bytes,
        "--stats-interval-s",
        "0",
    ];
    for u in upstreams {
        args.extend(["--upstream", u.as_str()]);
    }
    let cli = gateway::config::Cli::try_parse_from(args).map_err(|e| e.to_string())?;
    let Some(gateway::config::Command::Relay(relay_args)) = cli.command else {
        return Err("the relay command line did not parse as `emdr relay`".into());
    };
    let config = relay_args.into_config(gateway::config::Preset::Relay, cores.len())?;
    if !config.dedup.enabled() {
        return Err("de-duplication must be on (is EMDR_DEDUP_* set?)".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let relay = gateway::relay::start(config, cores, Arc::clone(&stop))?;
    let ep = format!(
        "tcp://{}",
        relay.bound.first().ok_or("the relay bound nothing")?
    );
    Ok((ep, Running::Emdr { relay, stop }))
}

fn start_proxy(
    io_threads: i32,
    upstreams: &[String],
    hwm: i32,
) -> Result<(String, Running), String> {
    let err = |e: zmq::Error| e.to_string();
    let ctx = zmq::Context::new();
    ctx.set_io_threads(io_threads).map_err(err)?;
    let mut xsub = ctx.socket(zmq::XSUB).map_err(err)?;
    let mut xpub = ctx.socket(zmq::XPUB).map_err(err)?;
    for s in [&xsub, &xpub] {
        s.set_rcvhwm(hwm)
            .and_then(|()| s.set_sndhwm(hwm))
            .and_then(|()| s.set_linger(0))
            .map_err(err)?;
    }
    for u in upstreams {
        xsub.connect(u).map_err(err)?;
    }
    xpub.bind("tcp://127.0.0.1:*").map_err(err)?;
    let ep = xpub
        .get_last_endpoint()
        .map_err(err)?
        .map_err(|_| "a non-UTF-8 endpoint")?;
    const CONTROL: &str = "inproc://perf-relay-bench-proxy-control";
    let mut control_in = ctx.socket(zmq::PAIR).map_err(err)?;
    control_in.set_linger(0).map_err(err)?;
    control_in.bind(CONTROL).map_err(err)?;
    let control = ctx.socket(zmq::PAIR).map_err(err)?;
    control.set_linger(0).map_err(err)?;
    control.connect(CONTROL).map_err(err)?;
    let thread = std::thread::Builder::new()
        .name("proxy".into())
        .spawn(move || {
            zmq::proxy_steerable(&mut xsub, &mut xpub, &mut control_in)
                .map_err(|e| format!("zmq_proxy_steerable: {e}"))
        })
        .map_err(|e| e.to_string())?;
    Ok((
        ep,
        Running::Proxy {
            control,
            thread,
            _ctx: ctx,
        },
    ))
}

impl Running {
    fn stop(self) -> Result<Option<RelayCounters>, String> {
        match self {
            Running::Emdr { relay, stop } => {
                use std::sync::atomic::Ordering::Relaxed;
                stop.store(true, Relaxed);
                let (ingest, fanout) =
                    (Arc::clone(&relay.ingest_stats), relay.fanout_stats.clone());
                relay.wait()?;
                let sum = |f: fn(&shards::fanout::FanoutStats) -> &AtomicU64| {
                    gateway::relay::fanout_sum(&fanout, f)
                };
                Ok(Some(RelayCounters {
                    received: ingest.frames_received.load(Relaxed),
                    forwarded: ingest.frames_forwarded.load(Relaxed),
                    duplicates_dropped: ingest.duplicates_dropped.load(Relaxed),
                    multipart_dropped: ingest.multipart_dropped.load(Relaxed),
                    undecodable_dropped: ingest.undecodable_dropped.load(Relaxed),
                    frames_sent: sum(|s| &s.frames_sent),
                    frames_dropped_slow: sum(|s| &s.frames_dropped),
                }))
            }
            Running::Proxy {
                control, thread, ..
            } => {
                control
                    .send("TERMINATE", 0)
                    .map_err(|e| format!("cannot stop the proxy: {e}"))?;
                thread.join().map_err(|_| "the proxy thread panicked")??;
                Ok(None)
            }
        }
    }
}

/// What [`drive`] saw: CPU readings at both ends of the measured interval, and the drain.
struct Driven {
    cpu_start: cpu::Snap,
    cpu_end: cpu::Snap,
    drain: Duration,
}

/// Probe until ready, time the run, drain.
fn drive(
    shared: &Shared,
    p: &Params,
    subscribers: usize,
    server_tids: &[u32],
) -> Result<Driven, String> {
    let deadline = Instant::now() + p.ready_timeout;
    while shared.ready.load(Ordering::Acquire) < subscribers {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {subscribers} subscribers heard every upstream within {:?}",
                shared.ready.load(Ordering::Acquire),
                p.ready_timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = shared.now_ns() + p.warmup.as_nanos() as u64;
    let end = start + p.duration.as_nanos() as u64;
    shared.start_ns.store(start, Ordering::Release);
    shared.end_ns.store(end, Ordering::Release);
    shared.go.store(true, Ordering::Release);
    let at = |ns: u64| shared.base + Duration::from_nanos(ns);
    std::thread::sleep(at(start).saturating_duration_since(Instant::now()));
    let cpu_start = cpu::snap(&[]);
    std::thread::sleep(at(end).saturating_duration_since(Instant::now()));
    let cpu_end = cpu::snap(server_tids);
    let drain_from = Instant::now();
    let idle_ns = p.drain_idle.as_nanos() as u64;
    while drain_from.elapsed() < p.drain_max {
        std::thread::sleep(Duration::from_millis(10));
        let now = shared.now_ns();
        let idle = shared
            .progress
            .iter()
            .all(|s| now.saturating_sub(s.last_rx_ns.load(Ordering::Relaxed)) >= idle_ns);
        if idle {
            break;
        }
    }
    Ok(Driven {
        cpu_start,
        cpu_end,
        drain: drain_from.elapsed(),
    })
}

/// Run one server with `subscribers` subscribers under the load; returns its row.
pub fn run_one(
    server: Server,
    subscribers: usize,
    frames: &Arc<FrameSet>,
    p: &Params,
    cores: &[usize],
) -> Result<Row, String> {
    if subscribers == 0 || p.upstreams == 0 || p.upstreams > 8 {
        return Err("give 1 or more subscribers and 1 to 8 upstreams".into());
    }
    let shared = Arc::new(Shared {
        base: Instant::now(),
        start_ns: AtomicU64::new(u64::MAX),
        end_ns: AtomicU64::new(u64::MAX),
        go: AtomicBool::new(false),
        stop_publishers: AtomicBool::new(false),
        stop_subscribers: AtomicBool::new(false),
        ready: AtomicUsize::new(0),
        progress: (0..subscribers).map(|_| Progress::default()).collect(),
        upstreams: p.upstreams,
    });
    let mut publishers = Vec::new();
    let mut endpoints = Vec::new();
    let mut subs = Vec::new();
    let mut running = None;
    let mut server_tids = Vec::new();
    let started = (|| -> Result<(), String> {
        for i in 0..p.upstreams {
            let (ep, h) = start_publisher(i, frames, &shared, p)?;
            endpoints.push(ep);
            publishers.push(h);
        }
        let frame_bytes_max = frames
            .bases
            .iter()
            .map(|b| b.head.len() + b.tail.len() + 17);
        let frame_bytes_max = frame_bytes_max.max().unwrap_or(0);
        let before = cpu::tasks();
        let (ep, r) = match server {
            Server::Emdr { shards } => start_emdr(shards, &endpoints, p, cores, frame_bytes_max)?,
            Server::Proxy { io_threads } => start_proxy(io_threads, &endpoints, p.hwm)?,
        };
        running = Some(r);
        server_tids = cpu::tasks();
        server_tids.retain(|t| !before.contains(t));
        for i in 0..subscribers {
            subs.push(start_subscriber(i, &ep, frames, &shared, p.hwm)?);
        }
        Ok(())
    })();
    let drained = started.and_then(|()| drive(&shared, p, subscribers, &server_tids));
    // Whatever happened, stop everything that started, subscribers first.
    shared.stop_subscribers.store(true, Ordering::Relaxed);
    let mut per_subscriber = Vec::new();
    let mut failure = drained.as_ref().err().cloned();
    for h in subs {
        match h.join() {
            Ok(Ok(f)) => per_subscriber.push(f),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a subscriber panicked".into())),
        }
    }
    shared.stop_publishers.store(true, Ordering::Relaxed);
    shared.go.store(true, Ordering::Release);
    let mut sent = Vec::new();
    for h in publishers {
        match h.join() {
            Ok(s) => sent.push(s),
            Err(_) => failure = failure.or(Some("a publisher panicked".into())),
        }
    }
    let relay = match running.map(Running::stop) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            failure = failure.or(Some(e));
            None
        }
        None => None,
    };
    if let Some(e) = failure {
        return Err(format!("{}: {e}", server.label()));
    }
    let driven = drained?;
    let published_unique = sent.iter().map(|s| s.total).max().unwrap_or(0);
    let offered = sent.iter().map(|s| s.measured).max().unwrap_or(0);
    let secs = p.duration.as_secs_f64();
    let spread = |f: fn(&SubscriberFigures) -> u64, scale: f64| {
        Spread::of(
            per_subscriber
                .iter()
                .map(move |s| f(s) as f64 / secs / scale),
        )
    };
    Ok(Row {
        server,
        subscribers,
        published_unique,
        offered_per_s: offered as f64 / secs,
        msgs_per_s: spread(|s| s.measured_unique, 1.0),
        mb_per_s: spread(|s| s.measured_bytes, 1e6),
        drops: per_subscriber
            .iter()
            .map(|s| published_unique.saturating_sub(s.unique))
            .sum(),
        duplicates: per_subscriber.iter().map(|s| s.frames - s.unique).sum(),
        corrupt: per_subscriber.iter().map(|s| s.corrupt).sum(),
        cpu: cpu_use(
            &driven.cpu_start,
            &driven.cpu_end,
            &server_tids,
            secs,
            per_subscriber.iter().map(|s| s.measured_unique).sum(),
        ),
        per_subscriber,
        relay,
        drain: driven.drain,
        repeat_avgs: Vec::new(),
    })
}

/// The whole benchmark: for each subscriber count, every emdr shard count and every proxy.
pub fn run(p: &Params) -> Result<Report, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let frames = Arc::new(FrameSet::build(p.bases, p.orders_per_message, p.seed, now)?);
    // Read once, before anything is pinned (shards::cores).
    let cores = shards::available_cores();
    let mut cells: Vec<(usize, Server)> = Vec::new();
    for &n in &p.subscribers {
        for &shards in &p.shards {
            cells.push((n, Server::Emdr { shards }));
        }
        for &io_threads in &p.proxy_io_threads {
            cells.push((n, Server::Proxy { io_threads }));
        }
    }
    let mut runs: Vec<Vec<Row>> = cells.iter().map(|_| Vec::new()).collect();
    for _ in 0..p.repeats.max(1) {
        for (cell, &(n, server)) in cells.iter().enumerate() {
            runs[cell].push(run_one(server, n, &frames, p, &cores)?);
        }
    }
    let rows = runs
        .into_iter()
        .filter_map(|mut repeats| {
            let avgs: Vec<f64> = repeats.iter().map(|r| r.msgs_per_s.avg).collect();
            repeats.sort_by(|a, b| a.msgs_per_s.avg.total_cmp(&b.msgs_per_s.avg));
            let mut median = repeats.swap_remove(repeats.len().checked_sub(1)? / 2);
            median.repeat_avgs = avgs;
            Some(median)
        })
        .collect();
    Ok(Report {
        rows,
        upstreams: p.upstreams,
        duration: p.duration,
        rate_per_s: p.rate_per_s,
        hwm: p.hwm,
        frame_bytes_avg: frames.frame_bytes_avg,
        pipeline_frame_bytes_avg: frames.pipeline_frame_bytes_avg,
        json_bytes_avg: frames.json_bytes_avg,
    })
}

// ---------------------------------------------------------------------------------------
// Presentation.

impl Report {
    /// The row of the proxy with `io_threads` for `subscribers`, if run.
    fn proxy(&self, subscribers: usize, io_threads: i32) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.subscribers == subscribers && r.server == Server::Proxy { io_threads })
    }

    /// Delivered unique msgs/s per subscriber (avg), this row / the proxy with `io_threads`.
    pub fn ratio(&self, row: &Row, io_threads: i32) -> Option<f64> {
        let base = self.proxy(row.subscribers, io_threads)?;
        (base.msgs_per_s.avg > 0.0).then(|| row.msgs_per_s.avg / base.msgs_per_s.avg)
    }

    /// Whether every emdr row reaches [`TARGET_RATIO`] of the default proxy; `None` if there
    /// is nothing to compare.
    pub fn target_met(&self) -> Option<bool> {
        let ratios: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| matches!(r.server, Server::Emdr { .. }))
            .filter_map(|r| self.ratio(r, 1))
            .collect();
        (!ratios.is_empty()).then(|| ratios.iter().all(|&r| r >= TARGET_RATIO))
    }

    /// The table, with the ratios and the target, then where the CPU went in each row.
    pub fn table(&self) -> String {
        let io2 = self
            .rows
            .iter()
            .any(|r| r.server == Server::Proxy { io_threads: 2 });
        let repeats = self.rows.iter().any(|r| r.repeat_avgs.len() > 1);
        let mut out = format!(
            "{:<26} {:>4} {:>9} {:>24} {:>20} {:>7} {:>8} {:>6}{} {:>5} {:>6} {:>5}{}\n",
            "server",
            "subs",
            "offered/s",
            "uniq msg/s/sub min/avg/max",
            "MB/s/sub min/avg/max",
            "drops",
            "dups",
            "ratio",
            if io2 { " ratio-io2" } else { "" },
            "srv%",
            "us/msg",
            "other%",
            if repeats {
                "  avg msg/s/sub of each run"
            } else {
                ""
            },
        );
        for r in &self.rows {
            let ratio = |io| match (r.server, self.ratio(r, io)) {
                (Server::Emdr { .. }, Some(x)) => format!("{x:.2}"),
                _ => "-".into(),
            };
            let runs: Vec<String> = r.repeat_avgs.iter().map(|a| format!("{a:.0}")).collect();
            out.push_str(&format!(
                "{:<26} {:>4} {:>9.0} {:>24} {:>20} {:>7} {:>8} {:>6}{} {:>5.0} {:>6.1} {:>5.0}{}\n",
                r.server.label(),
                r.subscribers,
                r.offered_per_s,
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    r.msgs_per_s.min, r.msgs_per_s.avg, r.msgs_per_s.max
                ),
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    r.mb_per_s.min, r.mb_per_s.avg, r.mb_per_s.max
                ),
                r.drops,
                r.duplicates,
                ratio(1),
                if io2 { format!(" {:>9}", ratio(2)) } else { String::new() },
                r.cpu.server_pct,
                r.cpu.server_us_per_msg,
                r.cpu.others_pct,
                if repeats { format!("  {}", runs.join(" ")) } else { String::new() },
            ));
        }
        out.push_str(
            "srv% / other%: CPU of the server's threads / of everything outside this benchmark \
             (100 = one core); us/msg: server CPU per unique message delivered to a subscriber\n",
        );
        for r in &self.rows {
            let threads: Vec<String> = r
                .cpu
                .server_threads
                .iter()
                .map(|(name, pct)| format!("{name} {pct:.0}%"))
                .collect();
            out.push_str(&format!(
                "  {} subs={}: bench {:.0}%, server threads: {}\n",
                r.server.label(),
                r.subscribers,
                r.cpu.bench_pct,
                threads.join(", ")
            ));
            if let Some(c) = &r.relay {
                out.push_str(&format!(
                    "    relay counters: received={} forwarded={} duplicates_dropped={} sent={} dropped_slow={}\n",
                    c.received,
                    c.forwarded,
                    c.duplicates_dropped,
                    c.frames_sent,
                    c.frames_dropped_slow
                ));
            }
        }
        let corrupt: u64 = self.rows.iter().map(|r| r.corrupt).sum();
        if corrupt > 0 {
            out.push_str(&format!("CORRUPT frames received: {corrupt}\n"));
        }
        out.push_str(&match self.target_met() {
            Some(met) => format!(
                "target: emdr >= {TARGET_RATIO:.2} x libzmq proxy (delivered unique msg/s per subscriber, avg, de-duplication on, {} upstream(s)): {}\n",
                self.upstreams,
                if met { "met" } else { "NOT met" }
            ),
            None => "target: not evaluated (no emdr row with a default-proxy row beside it)\n".into(),
        });
        out
    }

    /// One JSON object with every row.
    pub fn json(&self) -> String {
        let spread = |s: &Spread| {
            format!(
                "{{\"min\":{:.1},\"avg\":{:.1},\"max\":{:.1}}}",
                s.min, s.avg, s.max
            )
        };
        let num = |x: Option<f64>| x.map_or("null".into(), |v| format!("{v:.4}"));
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let relay = r.relay.as_ref().map_or("null".into(), |c| {
                    format!(
                        "{{\"received\":{},\"forwarded\":{},\"duplicates_dropped\":{},\"multipart_dropped\":{},\"undecodable_dropped\":{},\"frames_sent\":{},\"frames_dropped_slow\":{}}}",
                        c.received, c.forwarded, c.duplicates_dropped, c.multipart_dropped,
                        c.undecodable_dropped, c.frames_sent, c.frames_dropped_slow
                    )
                });
                let is_emdr = matches!(r.server, Server::Emdr { .. });
                let threads: Vec<String> = r
                    .cpu
                    .server_threads
                    .iter()
                    .map(|(n, p)| format!("{{\"name\":\"{n}\",\"pct\":{p:.1}}}"))
                    .collect();
                let cpu = format!(
                    "{{\"server_pct\":{:.1},\"server_us_per_msg\":{:.2},\"bench_pct\":{:.1},\"others_pct\":{:.1},\"server_threads\":[{}]}}",
                    r.cpu.server_pct,
                    r.cpu.server_us_per_msg,
                    r.cpu.bench_pct,
                    r.cpu.others_pct,
                    threads.join(",")
                );
                format!(
                    "{{\"server\":\"{}\",\"subscribers\":{},\"published_unique\":{},\"offered_per_s\":{:.1},\"unique_msgs_per_s\":{},\"mb_per_s\":{},\"drops\":{},\"duplicates\":{},\"corrupt\":{},\"drain_ms\":{},\"repeat_avgs\":[{}],\"cpu\":{},\"ratio_vs_proxy\":{},\"ratio_vs_proxy_io2\":{},\"relay\":{}}}",
                    r.server.label(),
                    r.subscribers,
                    r.published_unique,
                    r.offered_per_s,
                    spread(&r.msgs_per_s),
                    spread(&r.mb_per_s),
                    r.drops,
                    r.duplicates,
                    r.corrupt,
                    r.drain.as_millis(),
                    r.repeat_avgs
                        .iter()
                        .map(|a| format!("{a:.1}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    cpu,
                    num(is_emdr.then(|| self.ratio(r, 1)).flatten()),
                    num(is_emdr.then(|| self.ratio(r, 2)).flatten()),
                    relay
                )
            })
            .collect();
        format!(
            "{{\"upstreams\":{},\"seconds\":{},\"rate_per_s\":{},\"hwm\":{},\"frame_bytes_avg\":{:.1},\"pipeline_frame_bytes_avg\":{:.1},\"json_bytes_avg\":{:.1},\"target_ratio\":{TARGET_RATIO},\"target_met\":{},\"rows\":[{}]}}",
            self.upstreams,
            self.duration.as_secs_f64(),
            num(self.rate_per_s),
            self.hwm,
            self.frame_bytes_avg,
            self.pipeline_frame_bytes_avg,
            self.json_bytes_avg,
            self.target_met().map_or("null".into(), |m| m.to_string()),
            rows.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler_combine_matches_libdeflate() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| i.wrapping_mul(2_654_435_761) as u8)
            .collect();
        for cut in [0, 1, 13, 5_552, 65_521, 69_999] {
            let (x, y) = data.split_at(cut);
            let combined = adler_combine(libdeflater::adler32(x), libdeflater::adler32(y), y.len());
            assert_eq!(combined, libdeflater::adler32(&data), "cut at {cut}");
            assert_eq!(
                adler_update(libdeflater::adler32(x), y),
                libdeflater::adler32(&data)
            );
        }
    }
}
