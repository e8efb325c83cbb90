//! The rings that carry finished frames from pipeline shards to the publisher shard.
//!
//! A ring is a bounded lock-free queue (crossbeam's `ArrayQueue`, used with one producer and
//! one consumer) from one pipeline shard to the publisher. Each shard has its own ring, so
//! frames from one shard reach the publisher in the order the shard accepted them.
//!
//! Waking the publisher: it is a plain pinned thread that parks on a futex when every ring
//! is empty, and a producer unparks it only if it is parked (one atomic load otherwise). This
//! is cheaper than a glommio cross-executor channel, whose consumer issues a
//! `membarrier(PRIVATE_EXPEDITED)` (an IPI to every core of the process) each time it goes to
//! sleep; on a VM, at tens of thousands of frames a second, those IPIs cost more than the
//! publishing itself (measured: docs/performance.md).
//!
//! A full ring makes the producer wait (it retries after [`RING_FULL_BACKOFF`]), so a shard
//! whose publisher falls behind stops reading its connections: back-pressure, not drops.
//!
//! A frame is one ZeroMQ message body: the zlib bytes of one canonical UUDIF message.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;

/// One published message: the zlib-compressed canonical JSON.
pub type Frame = Vec<u8>;

/// Frames a ring holds before its producer must wait, unless configured.
pub const DEFAULT_RING_FRAMES: usize = 4096;

/// How long a producer facing a full ring waits before trying again.
pub const RING_FULL_BACKOFF: Duration = Duration::from_micros(200);

/// Wakes the consumer thread of a set of rings.
#[derive(Debug, Default)]
pub struct Doorbell {
    thread: OnceLock<Thread>,
    parked: AtomicBool,
    /// The consumer is gone: producers give up instead of waiting for room.
    gone: AtomicBool,
}

impl Doorbell {
    /// A doorbell for one consumer thread.
    pub fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell::default())
    }

    /// Called by the consumer thread once, before it first parks.
    pub fn register_current_thread(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Wake the consumer if it is parked.
    pub fn ring(&self) {
        // Pairs with the fence in `park`: either the consumer sees our frame when it checks
        // the rings after raising `parked`, or we see `parked` here.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Park the consumer until rung, unless `still_empty` says work arrived meanwhile; at most
    /// `timeout` (a bound on any lost wake-up).
    pub fn park(&self, still_empty: impl Fn() -> bool, timeout: Duration) {
        self.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if still_empty() {
            std::thread::park_timeout(timeout);
        }
        self.parked.store(false, Ordering::Relaxed);
    }

    /// The consumer says it has stopped for good.
    pub fn hang_up(&self) {
        self.gone.store(true, Ordering::Release);
    }
}

/// The shared state of one ring.
#[derive(Debug)]
pub struct Ring {
    queue: ArrayQueue<Frame>,
    closed: AtomicBool,
}

impl Ring {
    /// The next frame, if any.
    pub fn pop(&self) -> Option<Frame> {
        self.queue.pop()
    }

    /// No frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The producer has hung up (frames it pushed before may still be waiting).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Producer end, owned by one pipeline shard.
#[derive(Debug)]
pub struct RingSender {
    ring: Arc<Ring>,
    doorbell: Arc<Doorbell>,
}

impl RingSender {
    /// Queue a frame, waiting (on the calling glommio executor) while the ring is full.
    /// Gives the frame back if the consumer is gone.
    pub async fn send(&self, frame: Frame) -> Result<(), Frame> {
        let mut frame = frame;
        loop {
            match self.ring.queue.push(frame) {
                Ok(()) => {
                    self.doorbell.ring();
                    return Ok(());
                }
                Err(back) if self.doorbell.gone.load(Ordering::Acquire) => return Err(back),
                Err(back) => {
                    frame = back;
                    glommio::timer::sleep(RING_FULL_BACKOFF).await;
                }
            }
        }
    }

    /// Hang up: the consumer drains what is queued and stops waiting for more.
    pub fn close(&self) {
        self.ring.closed.store(true, Ordering::Release);
        self.doorbell.ring();
    }
}

impl Drop for RingSender {
    fn drop(&mut self) {
        self.close();
    }
}

/// A ring of `capacity` frames whose consumer is woken through `doorbell`.
pub fn ring(capacity: usize, doorbell: &Arc<Doorbell>) -> (RingSender, Arc<Ring>) {
    assert!(capacity > 0, "a ring holds at least one frame");
    let ring = Arc::new(Ring {
        queue: ArrayQueue::new(capacity),
        closed: AtomicBool::new(false),
    });
    let sender = RingSender {
        ring: Arc::clone(&ring),
        doorbell: Arc::clone(doorbell),
    };
    (sender, ring)
}
