//! The rings that carry finished frames from pipeline shards to the publisher shard.
//!
//! A ring is glommio's shared channel: a bounded, lock-free single-producer single-consumer
//! queue between two executors, with cross-executor wake-ups (an eventfd), so an idle
//! publisher sleeps instead of spinning and a producer facing a full ring waits instead of
//! dropping. Each pipeline shard has its own ring, so frames from one shard reach the
//! publisher in the order the shard accepted them.
//!
//! A frame is one ZeroMQ message body: the zlib bytes of one canonical UUDIF message.

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};

/// One published message: the zlib-compressed canonical JSON.
pub type Frame = Vec<u8>;

/// Producer end, for a pipeline shard (call `.connect().await` on its executor).
pub type RingSender = SharedSender<Frame>;
/// Consumer end, for the publisher shard (call `.connect().await` on its executor).
pub type RingReceiver = SharedReceiver<Frame>;

/// Frames a ring holds before its producer must wait, unless configured.
pub const DEFAULT_RING_FRAMES: usize = 4096;

/// A ring of `capacity` frames.
pub fn ring(capacity: usize) -> (RingSender, RingReceiver) {
    assert!(capacity > 0, "a ring holds at least one frame");
    shared_channel::new_bounded(capacity)
}
