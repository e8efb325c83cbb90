//! The process edge of emdr: HTTP/1.1 ingest on pinned shards, the command line, signals,
//! health and metrics; the `emdr` binary.
//!
//! ```text
//!  uploader ─HTTP─► shard (server.rs: http.rs framing ─► engine::Pipeline) ─ring─► publisher ─ZMQ PUB─►
//! ```
//! Module map:
//! - [`http`]: sans-IO HTTP/1.1 request framing on httparse, with limits.
//! - [`server`]: one shard's listener and connections (glommio).
//! - [`client_ip`]: who the client is, behind trusted proxies.
//! - [`metrics`]: per-shard counters and their Prometheus rendering.
//! - [`config`]: flags, environment variables, validation.
//! - [`daemon`]: start-up and shutdown of a whole gateway.
//! - [`relay`]: relays and announcers: ingest, de-duplication, fan-out shards.
//! - [`snoop`]: a feed reader for operators.

pub mod client_ip;
pub mod config;
pub mod daemon;
pub mod http;
pub mod metrics;
pub mod relay;
pub mod server;
pub mod snoop;
