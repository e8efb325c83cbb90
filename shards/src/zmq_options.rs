//! ZeroMQ socket options, set deliberately on every socket rather than left to defaults.
//!
//! - High-water marks: libzmq's default of 1000 messages silently drops most of a burst (a
//!   region-wide dump arrives as hundreds of uploads at once), so the default here is larger.
//!   They bound memory: a stalled peer holds at most `hwm` frames.
//! - Heartbeats (ZMTP PING/PONG): a peer that vanished without a FIN (a dead site, a cut
//!   link) is detected within `heartbeat_timeout_ms` and the connection is torn down, so the
//!   reconnect logic starts at once instead of after TCP's hours-long timeouts.
//! - Reconnect interval with back-off: an upstream that restarts is picked up again within
//!   `reconnect_ivl_max_ms` at worst, with no process restarts needed.
//! - Linger: on shutdown, queued frames get `linger_ms` to leave before the socket closes.

/// Options applied to each socket; see the module docs for why each is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZmqOptions {
    /// Outgoing messages queued per peer before libzmq drops (PUB) for that peer.
    pub sndhwm: i32,
    /// Incoming messages queued per peer before libzmq stops reading from it.
    pub rcvhwm: i32,
    /// How long close waits for queued messages to leave, in ms.
    pub linger_ms: i32,
    /// ZMTP heartbeat interval, in ms (0: off).
    pub heartbeat_ivl_ms: i32,
    /// A peer silent this long after a heartbeat is disconnected, in ms.
    pub heartbeat_timeout_ms: i32,
    /// First reconnect delay, in ms.
    pub reconnect_ivl_ms: i32,
    /// Largest reconnect delay after back-off, in ms.
    pub reconnect_ivl_max_ms: i32,
}

impl Default for ZmqOptions {
    fn default() -> Self {
        ZmqOptions {
            sndhwm: 20_000,
            rcvhwm: 20_000,
            linger_ms: 2_000,
            heartbeat_ivl_ms: 1_000,
            heartbeat_timeout_ms: 5_000,
            reconnect_ivl_ms: 100,
            reconnect_ivl_max_ms: 2_000,
        }
    }
}

impl ZmqOptions {
    /// Apply every option to `socket`.
    pub fn apply(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_sndhwm(self.sndhwm)?;
        socket.set_rcvhwm(self.rcvhwm)?;
        socket.set_linger(self.linger_ms)?;
        socket.set_heartbeat_ivl(self.heartbeat_ivl_ms)?;
        socket.set_heartbeat_timeout(self.heartbeat_timeout_ms)?;
        socket.set_heartbeat_ttl(self.heartbeat_timeout_ms)?;
        socket.set_reconnect_ivl(self.reconnect_ivl_ms)?;
        socket.set_reconnect_ivl_max(self.reconnect_ivl_max_ms)?;
        socket.set_tcp_keepalive(1)?;
        Ok(())
    }

    /// Check the values are usable; say which is not.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("sndhwm", self.sndhwm),
            ("rcvhwm", self.rcvhwm),
            ("linger_ms", self.linger_ms),
            ("heartbeat_ivl_ms", self.heartbeat_ivl_ms),
            ("heartbeat_timeout_ms", self.heartbeat_timeout_ms),
            ("reconnect_ivl_ms", self.reconnect_ivl_ms),
            ("reconnect_ivl_max_ms", self.reconnect_ivl_max_ms),
        ] {
            if v < 0 {
                return Err(format!("{name} must not be negative"));
            }
        }
        if self.sndhwm == 0 || self.rcvhwm == 0 {
            return Err("a high-water mark of 0 means unbounded memory: give a limit".into());
        }
        Ok(())
    }
}
