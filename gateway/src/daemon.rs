//! Starting and stopping a gateway: shards, rings and the publisher, wired together.
//!
//! Start-up order matters for tests and operators alike: the PUB socket is opened and bound
//! first (on this thread, so errors surface before anything runs), then shard 0 binds the
//! HTTP address (resolving port 0), then the other shards bind that same port. Only when all
//! are bound does [`start`] return the resolved addresses.
//!
//! Stopping: raise the stop flag (a signal handler does, in `main`); the shards finish and
//! close their rings, the publisher drains them and closes the socket with its linger, and
//! [`Gateway::wait`] returns the final counters.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Arc;

use glommio::ExecutorJoinHandle;
use shards::cores::{core_for, pin_current_thread};
use shards::publisher::Publisher;
use shards::ring::{ring, Doorbell};
use shards::{executor, PublisherStats};

use crate::config::GatewayConfig;
use crate::metrics::{Registry, ShardStats};
use crate::server;

/// A running gateway.
pub struct Gateway {
    pub http: SocketAddr,
    pub pub_endpoints: Vec<String>,
    pub registry: Arc<Registry>,
    shards: Vec<ExecutorJoinHandle<Result<(), String>>>,
    publisher: std::thread::JoinHandle<()>,
    _ctx: zmq::Context,
}

/// Start every shard and the publisher; returns once all are bound.
pub fn start(
    config: GatewayConfig,
    cores: &[usize],
    stop: Arc<AtomicBool>,
) -> Result<Gateway, String> {
    shards::cores::check_port_free(config.http)?;
    let ctx = zmq::Context::new();
    let publisher = Publisher::open(&ctx, &config.publisher)?;
    let pub_endpoints = publisher.bound_endpoints().to_vec();

    let n = config.shards;
    let shard_stats: Vec<Arc<ShardStats>> = (0..n).map(|_| Arc::default()).collect();
    let publisher_stats = Arc::new(PublisherStats::default());
    let registry = Arc::new(Registry {
        shards: shard_stats.clone(),
        publisher: Arc::clone(&publisher_stats),
    });
    let server_config = Arc::new(config.server);

    let doorbell = Doorbell::new();
    let mut receivers = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    let mut http = config.http;
    for (i, stats) in shard_stats.into_iter().enumerate() {
        let (tx, rx) = ring(config.ring_frames, &doorbell);
        receivers.push(rx);
        let (bound_tx, bound_rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let (cfg, reg, stop) = (
            Arc::clone(&server_config),
            Arc::clone(&registry),
            Arc::clone(&stop),
        );
        let addr = http;
        let handle = executor(&format!("emdr-shard-{i}"), core_for(cores, i))
            .spawn(move || async move {
                let listener = match server::bind(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        let msg = format!("shard {i} cannot listen on {addr}: {e}");
                        let _ = bound_tx.send(Err(msg.clone()));
                        return Err(msg);
                    }
                };
                let local = listener.local_addr().map_err(|e| e.to_string());
                let _ = bound_tx.send(local);
                server::run(listener, cfg, tx, stats, reg, stop).await
            })
            .map_err(|e| format!("cannot start shard {i}: {e}"))?;
        handles.push(handle);
        http = bound_rx
            .recv()
            .map_err(|_| format!("shard {i} died while starting"))??;
    }
    let publisher_core = core_for(cores, n);
    let publisher_handle = std::thread::Builder::new()
        .name("emdr-publisher".into())
        .spawn(move || {
            pin_current_thread(publisher_core);
            publisher.run(receivers, doorbell, publisher_stats);
        })
        .map_err(|e| format!("cannot start the publisher: {e}"))?;
    Ok(Gateway {
        http,
        pub_endpoints,
        registry,
        shards: handles,
        publisher: publisher_handle,
        _ctx: ctx,
    })
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("http", &self.http)
            .field("pub_endpoints", &self.pub_endpoints)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Wait for every shard and the publisher to finish (after the stop flag rose).
    pub fn wait(self) -> Result<Arc<Registry>, String> {
        let mut first_error = None;
        for (i, h) in self.shards.into_iter().enumerate() {
            let r = match h.join() {
                Ok(r) => r,
                Err(e) => Err(format!("shard {i} failed: {e}")),
            };
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        if self.publisher.join().is_err() {
            first_error.get_or_insert("the publisher thread panicked".to_string());
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.registry),
        }
    }
}
