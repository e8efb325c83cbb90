//! The command line: every flag, its environment variable, its default, and validation.
//!
//! Config flows one way: clap parses flags (or `EMDR_*` environment variables) into these
//! structs, [`GatewayArgs::into_config`] validates them into a [`GatewayConfig`], and each
//! component receives its part in its constructor. Nothing below `main` reads the environment.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use engine::dedup::DedupConfig;
use engine::pipeline::DEFAULT_ZLIB_LEVEL;
use engine::{Limits, PipelineConfig};
use shards::fanout::FanoutConfig;
use shards::{PublisherConfig, ZmqOptions};

use crate::client_ip::Cidr;
use crate::http::HttpLimits;
use crate::relay::RelayConfig;
use crate::server::ServerConfig;

/// emdr: the EVE Market Data Relay, thread-per-core.
///
/// With no subcommand, runs `gateway` with its defaults: HTTP uploads on 0.0.0.0:8080, the
/// feed published on tcp://0.0.0.0:8050: a complete single-box site.
#[derive(Debug, Parser)]
#[command(name = "emdr", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Accept uploads over HTTP and publish them over ZeroMQ (the default).
    Gateway(GatewayArgs),
    /// Subscribe to upstreams (announcers or relays), drop duplicates, and fan the feed out
    /// to any number of subscribers.
    Relay(RelayArgs),
    /// A relay preset for announcers: SUB bind tcp://0.0.0.0:8049 (gateways connect there),
    /// PUB bind tcp://0.0.0.0:8050, no de-duplication.
    Announcer(RelayArgs),
    /// Print the messages of a feed, one line each: for operators.
    Snoop(SnoopArgs),
}

/// Flags of `emdr relay` and `emdr announcer`.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Upstream to subscribe to: an announcer or a relay (repeatable).
    #[arg(long, env = "EMDR_UPSTREAM", value_delimiter = ',')]
    pub upstream: Vec<String>,
    /// Endpoint to bind the SUB socket to, for publishers that connect (repeatable).
    /// Announcer default: tcp://0.0.0.0:8049.
    #[arg(long, env = "EMDR_SUB_BIND", value_delimiter = ',')]
    pub sub_bind: Vec<String>,
    /// Endpoint subscribers connect to, tcp://HOST:PORT (repeatable). Default tcp://0.0.0.0:8050.
    #[arg(long, env = "EMDR_BIND", value_delimiter = ',')]
    pub bind: Vec<String>,
    /// Fan-out shards, one pinned executor each (0: one per available core).
    #[arg(long, env = "EMDR_SHARDS", default_value_t = 0)]
    pub shards: usize,
    /// De-duplication window in frames (0: off). Relay default 200000; announcer default 0.
    #[arg(long, env = "EMDR_DEDUP_FRAMES")]
    pub dedup_frames: Option<usize>,
    /// De-duplication window in seconds (0: off). Relay default 300; announcer default 0.
    #[arg(long, env = "EMDR_DEDUP_SECONDS")]
    pub dedup_seconds: Option<u64>,
    /// Forward the decompressed JSON instead of the zlib frame.
    #[arg(long, env = "EMDR_DECOMPRESS")]
    pub decompress: bool,
    /// With --decompress: the largest frame after inflation, in bytes.
    #[arg(long, env = "EMDR_INFLATED_BYTES_MAX", default_value_t = Limits::default().inflated_bytes_max)]
    pub inflated_bytes_max: usize,
    /// Frames queued per subscriber before its new frames are dropped (and counted).
    #[arg(long, env = "EMDR_QUEUE_FRAMES_MAX", default_value_t = FanoutConfig::default().queue_frames_max)]
    pub queue_frames_max: usize,
    /// Bytes queued per subscriber before its new frames are dropped (and counted).
    #[arg(long, env = "EMDR_QUEUE_BYTES_MAX", default_value_t = FanoutConfig::default().queue_bytes_max)]
    pub queue_bytes_max: usize,
    /// Subscribers per shard; more are refused.
    #[arg(long, env = "EMDR_SUBSCRIBERS_MAX", default_value_t = FanoutConfig::default().subscribers_max)]
    pub subscribers_max: usize,
    /// A subscriber that takes no bytes for this long is disconnected, in ms.
    #[arg(long, env = "EMDR_STALL_TIMEOUT_MS", default_value_t = 60_000)]
    pub stall_timeout_ms: u64,
    /// Frames each fan-out shard's ring holds before the ingest waits.
    #[arg(long, env = "EMDR_RING_FRAMES", default_value_t = shards::ring::DEFAULT_RING_FRAMES)]
    pub ring_frames: usize,
    /// Seconds between counter summaries on stderr (0: only at exit).
    #[arg(long, env = "EMDR_STATS_INTERVAL_S", default_value_t = 60)]
    pub stats_interval_s: u64,
    #[command(flatten)]
    pub zmq: ZmqArgs,
}

/// Which defaults a relay starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Relay,
    Announcer,
}

/// The default PUB endpoint of relays and announcers.
pub const DEFAULT_RELAY_BIND: &str = "tcp://0.0.0.0:8050";
/// The default SUB bind of announcers.
pub const DEFAULT_ANNOUNCER_SUB_BIND: &str = "tcp://0.0.0.0:8049";

impl RelayArgs {
    /// Validate into a configuration with the preset's defaults.
    pub fn into_config(self, preset: Preset, cores: usize) -> Result<RelayConfig, String> {
        let mut sub_bind = self.sub_bind;
        if preset == Preset::Announcer && sub_bind.is_empty() {
            sub_bind.push(DEFAULT_ANNOUNCER_SUB_BIND.into());
        }
        if sub_bind.is_empty() && self.upstream.is_empty() {
            return Err(
                "nothing to relay: give --upstream ENDPOINT and/or --sub-bind ENDPOINT".into(),
            );
        }
        let mut bind = self.bind;
        if bind.is_empty() {
            bind.push(DEFAULT_RELAY_BIND.into());
        }
        let bind = bind
            .iter()
            .map(|ep| crate::relay::tcp_endpoint(ep).map_err(|e| format!("--bind {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let off = preset == Preset::Announcer;
        let dedup = DedupConfig {
            frames_max: self.dedup_frames.unwrap_or(if off {
                0
            } else {
                DedupConfig::default().frames_max
            }),
            max_age_s: self.dedup_seconds.unwrap_or(if off {
                0
            } else {
                DedupConfig::default().max_age_s
            }),
        };
        if self.queue_frames_max == 0 || self.queue_bytes_max == 0 || self.subscribers_max == 0 {
            return Err(
                "--queue-frames-max, --queue-bytes-max and --subscribers-max must be at least 1"
                    .into(),
            );
        }
        if self.ring_frames == 0 {
            return Err("--ring-frames must be at least 1".into());
        }
        let zmq = self.zmq.options();
        zmq.validate().map_err(|e| format!("ZeroMQ options: {e}"))?;
        Ok(RelayConfig {
            upstream: self.upstream,
            sub_bind,
            bind,
            shards: if self.shards == 0 {
                cores.max(1)
            } else {
                self.shards
            },
            dedup,
            decompress: self.decompress,
            inflated_bytes_max: self.inflated_bytes_max,
            zmq,
            fanout: FanoutConfig {
                queue_frames_max: self.queue_frames_max,
                queue_bytes_max: self.queue_bytes_max,
                subscribers_max: self.subscribers_max,
                handshake_timeout: Duration::from_secs(10),
                stall_timeout: positive("stall-timeout-ms", self.stall_timeout_ms)?,
            },
            ring_frames: self.ring_frames,
        })
    }
}

/// Flags of `emdr snoop`.
#[derive(Debug, Clone, Args)]
pub struct SnoopArgs {
    /// The feed to read, e.g. tcp://relay:8050.
    pub endpoint: String,
    /// Print each message's decoded JSON instead of a summary line.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many messages (0: never).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Give up if no message arrives for this many seconds (0: wait for ever).
    #[arg(long, default_value_t = 0)]
    pub timeout_s: u64,
}

/// ZeroMQ socket options shared by every daemon.
#[derive(Debug, Clone, Args)]
pub struct ZmqArgs {
    /// Outgoing messages queued per ZeroMQ peer before that peer's copies are dropped.
    #[arg(long, env = "EMDR_PUB_HWM", default_value_t = ZmqOptions::default().sndhwm)]
    pub pub_hwm: i32,
    /// Incoming messages queued per ZeroMQ peer before reading from it pauses.
    #[arg(long, env = "EMDR_SUB_HWM", default_value_t = ZmqOptions::default().rcvhwm)]
    pub sub_hwm: i32,
    /// On shutdown, how long queued messages get to leave, in ms.
    #[arg(long, env = "EMDR_LINGER_MS", default_value_t = ZmqOptions::default().linger_ms)]
    pub linger_ms: i32,
    /// ZMTP heartbeat interval, in ms (0 turns heartbeats off).
    #[arg(long, env = "EMDR_HEARTBEAT_IVL_MS", default_value_t = ZmqOptions::default().heartbeat_ivl_ms)]
    pub heartbeat_ivl_ms: i32,
    /// A ZeroMQ peer silent this long is dropped and reconnected, in ms.
    #[arg(long, env = "EMDR_HEARTBEAT_TIMEOUT_MS", default_value_t = ZmqOptions::default().heartbeat_timeout_ms)]
    pub heartbeat_timeout_ms: i32,
    /// First delay before reconnecting to a lost peer, in ms.
    #[arg(long, env = "EMDR_RECONNECT_IVL_MS", default_value_t = ZmqOptions::default().reconnect_ivl_ms)]
    pub reconnect_ivl_ms: i32,
    /// Largest delay between reconnection attempts, in ms.
    #[arg(long, env = "EMDR_RECONNECT_IVL_MAX_MS", default_value_t = ZmqOptions::default().reconnect_ivl_max_ms)]
    pub reconnect_ivl_max_ms: i32,
}

impl ZmqArgs {
    pub fn options(&self) -> ZmqOptions {
        ZmqOptions {
            sndhwm: self.pub_hwm,
            rcvhwm: self.sub_hwm,
            linger_ms: self.linger_ms,
            heartbeat_ivl_ms: self.heartbeat_ivl_ms,
            heartbeat_timeout_ms: self.heartbeat_timeout_ms,
            reconnect_ivl_ms: self.reconnect_ivl_ms,
            reconnect_ivl_max_ms: self.reconnect_ivl_max_ms,
        }
    }
}

/// Flags of `emdr gateway`.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Address the HTTP ingest listens on (every shard binds it with SO_REUSEPORT).
    #[arg(long, env = "EMDR_HTTP", default_value = "0.0.0.0:8080")]
    pub http: String,
    /// Pipeline shards, one pinned executor each (0: one per available core).
    #[arg(long, env = "EMDR_SHARDS", default_value_t = 0)]
    pub shards: usize,
    /// ZeroMQ endpoint to bind the PUB socket to (repeatable). Default
    /// tcp://0.0.0.0:8050 when no --pub-connect is given.
    #[arg(long, env = "EMDR_PUB_BIND", value_delimiter = ',')]
    pub pub_bind: Vec<String>,
    /// ZeroMQ endpoint to connect the PUB socket to: an announcer's SUB bind (repeatable).
    #[arg(long, env = "EMDR_PUB_CONNECT", value_delimiter = ',')]
    pub pub_connect: Vec<String>,
    /// Salt for the uploader tag: when set, each message gets an upload key
    /// {"name":"EMDR","key":sha1(salt + client IP)}.
    #[arg(long, env = "EMDR_IP_KEY_SALT", hide_env_values = true)]
    pub ip_key_salt: Option<String>,
    /// A proxy (IP or CIDR) whose X-Forwarded-For is believed (repeatable).
    #[arg(long, env = "EMDR_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
    /// zlib level of published frames, 1 (fastest) to 12 (smallest).
    #[arg(long, env = "EMDR_ZLIB_LEVEL", default_value_t = DEFAULT_ZLIB_LEVEL)]
    pub zlib_level: u8,

    /// Largest request body as sent (compressed or not), in bytes.
    #[arg(long, env = "EMDR_BODY_BYTES_MAX", default_value_t = Limits::default().body_bytes_max)]
    pub body_bytes_max: usize,
    /// Largest body after decompression, in bytes (decompression bombs stop here).
    #[arg(long, env = "EMDR_INFLATED_BYTES_MAX", default_value_t = Limits::default().inflated_bytes_max)]
    pub inflated_bytes_max: usize,
    /// Most rowsets in one message.
    #[arg(long, env = "EMDR_ROWSETS_MAX", default_value_t = Limits::default().rowsets_max)]
    pub rowsets_max: usize,
    /// Most rows in one message, over all rowsets.
    #[arg(long, env = "EMDR_ROWS_MAX", default_value_t = Limits::default().rows_max)]
    pub rows_max: usize,
    /// Most values in one row.
    #[arg(long, env = "EMDR_ROW_VALUES_MAX", default_value_t = Limits::default().row_values_max)]
    pub row_values_max: usize,
    /// Deepest nesting of JSON arrays and objects.
    #[arg(long, env = "EMDR_JSON_DEPTH_MAX", default_value_t = Limits::default().json_depth_max)]
    pub json_depth_max: usize,
    /// Largest HTTP request head (request line and headers), in bytes.
    #[arg(long, env = "EMDR_HEADER_BYTES_MAX", default_value_t = HttpLimits::default().header_bytes_max)]
    pub header_bytes_max: usize,
    /// Most HTTP header fields in one request.
    #[arg(long, env = "EMDR_HEADERS_MAX", default_value_t = HttpLimits::default().headers_max)]
    pub headers_max: usize,
    /// A keep-alive connection idle this long is closed, in ms.
    #[arg(long, env = "EMDR_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub idle_timeout_ms: u64,
    /// A request head must arrive within this, from its first byte, in ms.
    #[arg(long, env = "EMDR_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// A request body must arrive within this, from the end of its head, in ms.
    #[arg(long, env = "EMDR_BODY_TIMEOUT_MS", default_value_t = 60_000)]
    pub body_timeout_ms: u64,
    /// A response write may block this long before the connection is dropped, in ms.
    #[arg(long, env = "EMDR_WRITE_TIMEOUT_MS", default_value_t = 30_000)]
    pub write_timeout_ms: u64,
    /// Open connections per shard; more are closed at once.
    #[arg(long, env = "EMDR_CONNECTIONS_MAX", default_value_t = 4096)]
    pub connections_max: usize,
    /// Frames each shard's ring to the publisher holds before the shard waits.
    #[arg(long, env = "EMDR_RING_FRAMES", default_value_t = shards::ring::DEFAULT_RING_FRAMES)]
    pub ring_frames: usize,
    /// On SIGINT/SIGTERM, how long requests in flight get to finish, in ms.
    #[arg(long, env = "EMDR_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
    #[command(flatten)]
    pub zmq: ZmqArgs,
}

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub http: SocketAddr,
    pub shards: usize,
    pub ring_frames: usize,
    pub server: ServerConfig,
    pub publisher: PublisherConfig,
}

/// The default PUB endpoint of a single-box site.
pub const DEFAULT_PUB_BIND: &str = "tcp://0.0.0.0:8050";

fn positive(name: &str, v: u64) -> Result<Duration, String> {
    if v == 0 {
        Err(format!("--{name} must be at least 1"))
    } else {
        Ok(Duration::from_millis(v))
    }
}

impl GatewayArgs {
    /// Validate into a configuration; `cores` is how many cores the process may use.
    pub fn into_config(self, cores: usize) -> Result<GatewayConfig, String> {
        let http = self
            .http
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("--http {:?} is not an address like 0.0.0.0:8080", self.http))?;
        let limits = Limits {
            body_bytes_max: self.body_bytes_max,
            inflated_bytes_max: self.inflated_bytes_max,
            rowsets_max: self.rowsets_max,
            rows_max: self.rows_max,
            row_values_max: self.row_values_max,
            json_depth_max: self.json_depth_max,
        };
        let pipeline = PipelineConfig {
            limits,
            zlib_level: self.zlib_level,
            ip_key_salt: self.ip_key_salt.map(String::into_bytes),
        };
        pipeline.validate().map_err(|e| e.to_string())?;
        let http_limits = HttpLimits {
            header_bytes_max: self.header_bytes_max,
            headers_max: self.headers_max,
            body_bytes_max: self.body_bytes_max,
        };
        if !(1..=crate::http::HEADERS_CAPACITY).contains(&http_limits.headers_max) {
            return Err(format!(
                "--headers-max must be 1 to {}",
                crate::http::HEADERS_CAPACITY
            ));
        }
        if http_limits.header_bytes_max < 256 {
            return Err("--header-bytes-max must be at least 256".into());
        }
        let trusted_proxies = self
            .trusted_proxy
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .map_err(|e| format!("--trusted-proxy {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.connections_max == 0 || self.ring_frames == 0 {
            return Err("--connections-max and --ring-frames must be at least 1".into());
        }
        let server = ServerConfig {
            http: http_limits,
            pipeline,
            trusted_proxies,
            idle_timeout: positive("idle-timeout-ms", self.idle_timeout_ms)?,
            header_timeout: positive("header-timeout-ms", self.header_timeout_ms)?,
            body_timeout: positive("body-timeout-ms", self.body_timeout_ms)?,
            write_timeout: positive("write-timeout-ms", self.write_timeout_ms)?,
            connections_max: self.connections_max,
            shutdown_timeout: positive("shutdown-timeout-ms", self.shutdown_timeout_ms)?,
        };
        let mut bind = self.pub_bind;
        if bind.is_empty() && self.pub_connect.is_empty() {
            bind.push(DEFAULT_PUB_BIND.to_string());
        }
        let zmq = self.zmq.options();
        zmq.validate().map_err(|e| format!("ZeroMQ options: {e}"))?;
        Ok(GatewayConfig {
            http,
            shards: if self.shards == 0 {
                cores.max(1)
            } else {
                self.shards
            },
            ring_frames: self.ring_frames,
            server,
            publisher: PublisherConfig {
                bind,
                connect: self.pub_connect,
                zmq,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<GatewayConfig, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let g = match cli.command {
            Some(Command::Gateway(g)) => g,
            None => cli.gateway,
            Some(other) => panic!("not a gateway: {other:?}"),
        };
        g.into_config(2)
    }

    #[test]
    fn defaults_make_a_single_box_site() {
        let c = parse(&["emdr"]).unwrap();
        assert_eq!(c.http, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.shards, 2);
        assert_eq!(c.publisher.bind, vec![DEFAULT_PUB_BIND]);
        assert!(c.publisher.connect.is_empty());
        assert_eq!(c.server.pipeline.zlib_level, DEFAULT_ZLIB_LEVEL);
    }

    #[test]
    fn connecting_to_announcers_drops_the_default_bind() {
        let c = parse(&[
            "emdr",
            "gateway",
            "--pub-connect",
            "tcp://a:8049",
            "--pub-connect",
            "tcp://b:8049",
        ])
        .unwrap();
        assert!(c.publisher.bind.is_empty());
        assert_eq!(c.publisher.connect, vec!["tcp://a:8049", "tcp://b:8049"]);
    }

    fn relay(args: &[&str]) -> Result<RelayConfig, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        match cli.command {
            Some(Command::Relay(r)) => r.into_config(Preset::Relay, 2),
            Some(Command::Announcer(r)) => r.into_config(Preset::Announcer, 2),
            other => panic!("not a relay: {other:?}"),
        }
    }

    #[test]
    fn relay_and_announcer_presets() {
        let r = relay(&["emdr", "relay", "--upstream", "tcp://a:8050"]).unwrap();
        assert_eq!(r.bind, vec!["0.0.0.0:8050".parse().unwrap()]);
        assert!(r.dedup.enabled());
        assert!(r.sub_bind.is_empty());
        let a = relay(&["emdr", "announcer"]).unwrap();
        assert_eq!(a.sub_bind, vec![DEFAULT_ANNOUNCER_SUB_BIND]);
        assert!(!a.dedup.enabled());
        let a = relay(&[
            "emdr",
            "announcer",
            "--dedup-frames",
            "10",
            "--dedup-seconds",
            "5",
        ])
        .unwrap();
        assert!(a.dedup.enabled());
        assert!(relay(&["emdr", "relay"])
            .unwrap_err()
            .contains("nothing to relay"));
        assert!(
            relay(&["emdr", "relay", "--upstream", "x", "--bind", "ipc://x"])
                .unwrap_err()
                .contains("--bind")
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse(&["emdr", "--zlib-level", "13"])
            .unwrap_err()
            .contains("zlib_level"));
        assert!(parse(&["emdr", "--http", "nowhere"])
            .unwrap_err()
            .contains("--http"));
        assert!(parse(&["emdr", "--trusted-proxy", "x/y"])
            .unwrap_err()
            .contains("--trusted-proxy"));
        assert!(parse(&["emdr", "--idle-timeout-ms", "0"])
            .unwrap_err()
            .contains("idle-timeout-ms"));
        assert!(parse(&["emdr", "--rows-max", "0"])
            .unwrap_err()
            .contains("rows_max"));
    }
}
