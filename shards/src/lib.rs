//! emdr's thread-per-core runtime: pinned glommio shards, the rings between them, and the
//! publisher shard that owns the ZeroMQ sockets.
//!
//! ```text
//!  core 0: shard 0 ─┐ ring (bounded SPSC)        publisher shard
//!  core 1: shard 1 ─┼──────────────────────────► PUB socket(s) ──► announcers / consumers
//!  core N: shard N ─┘  frames in accept order     bind and/or connect
//! ```
//! Module map:
//! - [`cores`]: which cores there are (read once) and executors pinned to them.
//! - [`ring`]: the bounded single-producer single-consumer rings that carry frames, and the
//!   doorbell that wakes their consumer.
//! - [`publisher`]: the publisher shard (a pinned thread): drains every ring into the ZeroMQ
//!   PUB socket.
//! - [`zmtp`]: the PUB side of ZeroMQ's wire protocol, sans-IO.
//! - [`fanout`]: a fan-out shard serving ZeroMQ subscribers itself, with per-subscriber
//!   bounded queues and counted drops (the relay's outputs).
//! - [`zmq_options`]: the socket options every ZeroMQ socket here is given, set deliberately.
//!
//! Invariants: shards share nothing but rings; no lock is taken on the data path; every ring is
//! bounded, and a full ring makes its producer wait (back-pressure) rather than drop.

pub mod cores;
pub mod fanout;
pub mod publisher;
pub mod ring;
pub mod zmq_options;
pub mod zmtp;

pub use cores::{available_cores, executor};
pub use publisher::{PublisherConfig, PublisherStats};
pub use zmq_options::ZmqOptions;
