//! A fan-out shard: serves ZeroMQ subscribers itself (ZMTP, see [`crate::zmtp`]) and copies
//! every frame from its ring to each of them.
//!
//! Runs on one pinned glommio executor. Every fan-out shard binds the same PUB port with
//! SO_REUSEPORT, so the kernel spreads subscribers over the shards, and fan-out capacity (how
//! many subscribers get the full feed) grows with the number of shards: the per-subscriber
//! work (filtering, framing, copying, the write syscalls) is all done by the shard that owns
//! the subscriber, and a frame crosses to a shard once, as a shared `Arc`, whatever the number
//! of subscribers there.
//!
//! Each subscriber has a bounded queue (`queue_frames_max` frames and `queue_bytes_max`
//! bytes). The dispatcher never waits for a subscriber: a frame that does not fit a
//! subscriber's queue is dropped for that subscriber alone and counted, so a slow or stalled
//! consumer never slows the others, and memory stays bounded however many are stalled. A
//! subscriber that accepts no bytes for `stall_timeout` is disconnected (and counted).
//!
//! On shutdown (the ring closes when the ingest stops), queued frames are flushed, bounded by
//! `stall_timeout`, and the connections are closed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_lite::future;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::net::{TcpListener, TcpStream};

use crate::zmtp::{self, Frame, Subscriptions, ZmtpError};

/// A frame shared by every subscriber that receives it.
pub type SharedFrame = Arc<[u8]>;
/// Producer end of a fan-out shard's ring (the ingest holds one per shard).
pub type FanoutSender = SharedSender<SharedFrame>;
/// Consumer end of a fan-out shard's ring.
pub type FanoutReceiver = SharedReceiver<SharedFrame>;

/// Largest frame a subscriber may send us (subscriptions, PINGs), in bytes.
const PEER_FRAME_MAX_BYTES: usize = 4096;
/// Bytes gathered into one write to a subscriber, at most.
const WRITE_BATCH_BYTES: usize = 256 << 10;
/// How often the accept loop looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// What a fan-out shard is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// Frames queued per subscriber before its new frames are dropped.
    pub queue_frames_max: usize,
    /// Bytes queued per subscriber before its new frames are dropped.
    pub queue_bytes_max: usize,
    /// Subscribers per shard; more are refused.
    pub subscribers_max: usize,
    /// The ZMTP handshake must finish within this.
    pub handshake_timeout: Duration,
    /// A subscriber that takes no bytes for this long is disconnected.
    pub stall_timeout: Duration,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            queue_frames_max: 20_000,
            queue_bytes_max: 64 << 20,
            subscribers_max: 1024,
            handshake_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of one fan-out shard (single writer: the shard).
#[derive(Debug, Default)]
pub struct FanoutStats {
    pub subscribers: AtomicU64,
    pub subscribers_accepted: AtomicU64,
    pub subscribers_refused: AtomicU64,
    pub subscribers_evicted: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Frame copies dropped because a subscriber's queue was full.
    pub frames_dropped: AtomicU64,
}

/// Wakes one waiting task; a wake with nobody waiting is remembered.
#[derive(Default)]
struct Notify {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
    async fn wait(&self) {
        future::poll_fn(|cx| {
            if self.flag.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

struct Subscriber {
    queue: RefCell<VecDeque<SharedFrame>>,
    queued_bytes: Cell<usize>,
    /// PONGs and other control bytes to send before the next frames.
    control: RefCell<Vec<u8>>,
    subscriptions: RefCell<Subscriptions>,
    notify: Notify,
    closing: Cell<bool>,
}

struct Shard {
    config: FanoutConfig,
    stats: Arc<FanoutStats>,
    subscribers: RefCell<Vec<Rc<Subscriber>>>,
    stopping: Cell<bool>,
}

/// Serve subscribers on `listeners` and fan out frames from `ring` until the ring closes.
pub async fn run(
    listeners: Vec<TcpListener>,
    ring: FanoutReceiver,
    config: FanoutConfig,
    stats: Arc<FanoutStats>,
    stop: Arc<AtomicBool>,
) {
    let shard = Rc::new(Shard {
        config,
        stats,
        subscribers: RefCell::new(Vec::new()),
        stopping: Cell::new(false),
    });
    let accept_tasks: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            glommio::spawn_local(accept(listener, Rc::clone(&shard), Arc::clone(&stop)))
        })
        .collect();

    let ring = ring.connect().await;
    while let Some(frame) = ring.recv().await {
        shard.stats.frames_in.fetch_add(1, Relaxed);
        dispatch(&shard, &frame);
    }
    // The ingest has stopped: flush and close every subscriber.
    shard.stopping.set(true);
    for s in shard.subscribers.borrow().iter() {
        s.closing.set(true);
        s.notify.notify();
    }
    for t in accept_tasks {
        t.await;
    }
    let deadline = std::time::Instant::now() + shard.config.stall_timeout;
    while !shard.subscribers.borrow().is_empty() && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

async fn accept(listener: TcpListener, acceptor: Rc<Shard>, stop: Arc<AtomicBool>) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            while !stop.load(Relaxed) {
                glommio::timer::sleep(STOP_POLL).await;
            }
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                acceptor.stats.subscribers_accepted.fetch_add(1, Relaxed);
                if acceptor.subscribers.borrow().len() >= acceptor.config.subscribers_max {
                    acceptor.stats.subscribers_refused.fetch_add(1, Relaxed);
                    continue;
                }
                glommio::spawn_local(serve(stream, Rc::clone(&acceptor))).detach();
            }
            Some(Err(_)) => glommio::timer::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn dispatch(shard: &Shard, frame: &SharedFrame) {
    let cfg = &shard.config;
    for s in shard.subscribers.borrow().iter() {
        if !s.subscriptions.borrow().matches(frame) {
            continue;
        }
        let mut q = s.queue.borrow_mut();
        if q.len() >= cfg.queue_frames_max
            || s.queued_bytes.get() + frame.len() > cfg.queue_bytes_max
        {
            shard.stats.frames_dropped.fetch_add(1, Relaxed);
            continue;
        }
        q.push_back(Arc::clone(frame));
        s.queued_bytes.set(s.queued_bytes.get() + frame.len());
        drop(q);
        s.notify.notify();
    }
}

async fn with_timeout<T>(
    d: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    future::or(f, async {
        glommio::timer::sleep(d).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    })
    .await
}

/// Greeting and READY both ways; returns bytes read past the peer's READY.
async fn handshake(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let bad = |e: ZmtpError| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut hello = Vec::with_capacity(zmtp::GREETING_LEN + 64);
    hello.extend_from_slice(&zmtp::greeting());
    zmtp::push_ready(&mut hello, "PUB");
    stream.write_all(&hello).await?;
    let mut peer = [0u8; zmtp::GREETING_LEN];
    stream.read_exact(&mut peer).await?;
    zmtp::check_greeting(&peer).map_err(bad)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        if let Some((frame, used)) = zmtp::decode_frame(&buf, PEER_FRAME_MAX_BYTES).map_err(bad)? {
            let Frame::Command { name, data } = frame else {
                return Err(bad(ZmtpError::BadCommand));
            };
            if name != b"READY" {
                return Err(bad(ZmtpError::BadCommand));
            }
            let kind = zmtp::ready_socket_type(data).map_err(bad)?;
            if kind != b"SUB" && kind != b"XSUB" {
                return Err(bad(ZmtpError::WrongSocketType));
            }
            buf.drain(..used);
            return Ok(buf);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(mut stream: TcpStream, shard: Rc<Shard>) {
    let leftover = match with_timeout(shard.config.handshake_timeout, handshake(&mut stream)).await
    {
        Ok(b) => b,
        Err(_) => {
            shard.stats.handshake_failures.fetch_add(1, Relaxed);
            return;
        }
    };
    let _ = stream.set_write_timeout(Some(shard.config.stall_timeout));
    // Frames are written as soon as they arrive: Nagle's algorithm would hold a small write
    // back until the previous one is acknowledged (with delayed ACKs, tens of milliseconds).
    let _ = stream.set_nodelay(true);
    let sub = Rc::new(Subscriber {
        queue: RefCell::new(VecDeque::new()),
        queued_bytes: Cell::new(0),
        control: RefCell::new(Vec::new()),
        subscriptions: RefCell::new(Subscriptions::default()),
        notify: Notify::default(),
        closing: Cell::new(shard.stopping.get()),
    });
    shard.subscribers.borrow_mut().push(Rc::clone(&sub));
    shard.stats.subscribers.fetch_add(1, Relaxed);

    let (reader, writer) = futures_lite::io::split(stream);
    let ended = future::or(
        read_peer(reader, leftover, &sub),
        write_peer(writer, &sub, &shard),
    )
    .await;
    if let Err(e) = ended {
        if e.kind() == io::ErrorKind::TimedOut {
            shard.stats.subscribers_evicted.fetch_add(1, Relaxed);
        }
    }
    shard
        .subscribers
        .borrow_mut()
        .retain(|s| !Rc::ptr_eq(s, &sub));
    shard.stats.subscribers.fetch_sub(1, Relaxed);
}

/// Read subscriptions and PINGs until the peer hangs up.
async fn read_peer(
    mut reader: impl futures_lite::AsyncRead + Unpin,
    mut buf: Vec<u8>,
    sub: &Subscriber,
) -> io::Result<()> {
    let mut chunk = vec![0u8; 4096];
    loop {
        while let Some((frame, used)) = zmtp::decode_frame(&buf, PEER_FRAME_MAX_BYTES)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            if let Some((on, topic)) = Subscriptions::change(&frame) {
                if !sub.subscriptions.borrow_mut().apply(on, topic) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "too many subscriptions",
                    ));
                }
            } else if let Frame::Command {
                name: b"PING",
                data,
            } = frame
            {
                // PING: 2 bytes of TTL, then the context to echo.
                zmtp::push_pong(
                    &mut sub.control.borrow_mut(),
                    data.get(2..).unwrap_or_default(),
                );
                sub.notify.notify();
            }
            buf.drain(..used);
        }
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Write queued frames until closing and drained, or the peer stalls past the timeout.
async fn write_peer(
    mut writer: impl futures_lite::AsyncWrite + Unpin,
    sub: &Subscriber,
    shard: &Shard,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(WRITE_BATCH_BYTES);
    loop {
        out.clear();
        out.append(&mut sub.control.borrow_mut());
        let mut frames = 0u64;
        {
            let mut q = sub.queue.borrow_mut();
            while out.len() < WRITE_BATCH_BYTES {
                let Some(f) = q.pop_front() else { break };
                sub.queued_bytes.set(sub.queued_bytes.get() - f.len());
                zmtp::push_message_header(&mut out, f.len());
                out.extend_from_slice(&f);
                frames += 1;
            }
        }
        if out.is_empty() {
            if sub.closing.get() {
                writer.flush().await?;
                return Ok(());
            }
            sub.notify.wait().await;
            continue;
        }
        writer.write_all(&out).await?;
        shard.stats.frames_sent.fetch_add(frames, Relaxed);
        shard.stats.bytes_sent.fetch_add(out.len() as u64, Relaxed);
    }
}
