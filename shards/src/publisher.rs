//! The publisher shard: drains every pipeline shard's ring into one ZeroMQ PUB socket.
//!
//! One socket both binds (for consumers and relays that connect to a single-box site) and
//! connects (to the announcers, which bind SUB). It is PUB, never PUSH: PUSH round-robins,
//! and each announcer must see every message.
//!
//! The socket is opened on the caller's thread ([`Publisher::open`]) so that bind errors and
//! the resolved endpoints (`tcp://127.0.0.1:*` becomes a real port) are known before start-up
//! completes; it then moves, unused, to the publisher thread, the only thread that ever
//! touches it. [`Publisher::run`] takes frames from the rings in turn (a bounded batch from
//! each, so no shard starves the others), each ring in its own order, and parks when all are
//! empty (see [`crate::ring`] for why this is a plain pinned thread rather than a glommio
//! executor). When every producer has hung up and the rings are empty, it returns, and
//! closing the socket gives queued frames `linger_ms` to leave.
//!
//! Counting: a PUB socket never blocks and never reports a drop; past a peer's high-water
//! mark libzmq discards that peer's copy silently. What this shard can see, it counts:
//! frames and bytes handed to the socket, and send errors.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::ring::{Doorbell, Ring};
use crate::ZmqOptions;

/// Frames taken from one ring before looking at the next.
const BATCH_FRAMES: usize = 64;
/// The longest the publisher sleeps without being woken (bounds a missed wake-up).
const PARK_TIMEOUT: Duration = Duration::from_millis(20);

/// Where the publisher sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublisherConfig {
    /// Endpoints to bind (consumers connect here).
    pub bind: Vec<String>,
    /// Endpoints to connect to (announcers' SUB binds).
    pub connect: Vec<String>,
    pub zmq: ZmqOptions,
}

/// Counters of the publisher shard (single writer: the publisher).
#[derive(Debug, Default)]
pub struct PublisherStats {
    pub frames_published: AtomicU64,
    pub bytes_published: AtomicU64,
    pub send_errors: AtomicU64,
}

/// An open PUB socket, ready to be moved to the publisher executor.
pub struct Publisher {
    socket: zmq::Socket,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Open the socket, apply the options, bind and connect. Errors name the endpoint.
    pub fn open(ctx: &zmq::Context, config: &PublisherConfig) -> Result<Publisher, String> {
        config.zmq.validate()?;
        let socket = ctx
            .socket(zmq::PUB)
            .map_err(|e| format!("cannot create a PUB socket: {e}"))?;
        config
            .zmq
            .apply(&socket)
            .map_err(|e| format!("cannot set PUB socket options: {e}"))?;
        let mut endpoints = Vec::new();
        for ep in &config.bind {
            socket
                .bind(ep)
                .map_err(|e| format!("cannot bind PUB to {ep}: {e}"))?;
            let bound = socket
                .get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| ep.clone());
            endpoints.push(bound);
        }
        for ep in &config.connect {
            socket
                .connect(ep)
                .map_err(|e| format!("cannot connect PUB to {ep}: {e}"))?;
        }
        Ok(Publisher { socket, endpoints })
    }

    /// The bound endpoints, with wildcard ports resolved.
    pub fn bound_endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Forward frames from every ring until all producers hang up. Blocks: run it on the
    /// publisher thread, which `doorbell` wakes.
    pub fn run(self, rings: Vec<Arc<Ring>>, doorbell: Arc<Doorbell>, stats: Arc<PublisherStats>) {
        doorbell.register_current_thread();
        loop {
            let mut moved = 0;
            for ring in &rings {
                for _ in 0..BATCH_FRAMES {
                    let Some(frame) = ring.pop() else { break };
                    moved += 1;
                    match self.socket.send(&frame[..], zmq::DONTWAIT) {
                        Ok(()) => {
                            stats.frames_published.fetch_add(1, Relaxed);
                            stats.bytes_published.fetch_add(frame.len() as u64, Relaxed);
                        }
                        Err(_) => {
                            stats.send_errors.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            if moved > 0 {
                continue;
            }
            // Closed is read before emptiness: a frame pushed before the close is then seen.
            if rings.iter().all(|r| r.is_closed() && r.is_empty()) {
                break;
            }
            doorbell.park(|| rings.iter().all(|r| r.is_empty()), PARK_TIMEOUT);
        }
        doorbell.hang_up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{ring, Doorbell};

    #[test]
    fn frames_from_two_rings_reach_a_subscriber_in_ring_order() {
        let ctx = zmq::Context::new();
        let config = PublisherConfig {
            bind: vec!["tcp://127.0.0.1:*".into()],
            ..PublisherConfig::default()
        };
        let publisher = Publisher::open(&ctx, &config).unwrap();
        let endpoint = publisher.bound_endpoints()[0].clone();
        assert!(!endpoint.ends_with(":*"), "{endpoint}");
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.set_rcvtimeo(5000).unwrap();
        sub.connect(&endpoint).unwrap();

        let doorbell = Doorbell::new();
        let (tx_a, rx_a) = ring(4, &doorbell);
        let (tx_b, rx_b) = ring(4, &doorbell);
        let stats = Arc::new(PublisherStats::default());
        let st = Arc::clone(&stats);
        let bell = Arc::clone(&doorbell);
        let pub_shard = std::thread::spawn(move || publisher.run(vec![rx_a, rx_b], bell, st));
        let producer = |tx: crate::ring::RingSender, tag: u8| {
            crate::executor("prod", None)
                .spawn(move || async move {
                    // Let the subscription reach the PUB socket first.
                    glommio::timer::sleep(Duration::from_millis(300)).await;
                    for i in 0..100u8 {
                        tx.send(vec![tag, i]).await.unwrap();
                    }
                })
                .unwrap()
        };
        let (pa, pb) = (producer(tx_a, b'a'), producer(tx_b, b'b'));
        let mut next = [0u8; 2];
        for _ in 0..200 {
            let msg = sub.recv_bytes(0).expect("a frame within 5 s");
            let k = usize::from(msg[0] == b'b');
            assert_eq!(msg[1], next[k], "ring order kept for {}", msg[0] as char);
            next[k] += 1;
        }
        pa.join().unwrap();
        pb.join().unwrap();
        pub_shard.join().unwrap();
        assert_eq!(stats.frames_published.load(Relaxed), 200);
        assert_eq!(stats.bytes_published.load(Relaxed), 400);
    }

    #[test]
    fn a_bad_endpoint_is_named() {
        let ctx = zmq::Context::new();
        let config = PublisherConfig {
            bind: vec!["nonsense://x".into()],
            ..PublisherConfig::default()
        };
        let err = Publisher::open(&ctx, &config).unwrap_err();
        assert!(err.contains("nonsense://x"), "{err}");
    }
}
