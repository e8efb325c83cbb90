//! Counters: every upload accepted or rejected, every drop, by reason.
//!
//! Each shard owns one [`ShardStats`] and is its only writer (relaxed atomic adds on a
//! cache line no other shard writes), so counting costs the hot path next to nothing; the
//! control plane (`GET /metrics`, the shutdown summary) only reads and sums. Names follow
//! Prometheus conventions and say their unit.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use engine::Reject;
use shards::PublisherStats;

/// Counters of one pipeline shard.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub http_requests: AtomicU64,
    pub http_errors: AtomicU64,
    pub uploads_accepted: AtomicU64,
    pub orders_accepted: AtomicU64,
    pub history_rows_accepted: AtomicU64,
    pub body_bytes_received: AtomicU64,
    pub frames_queued: AtomicU64,
    /// Accepted uploads whose frame could not be queued (the publisher is gone).
    pub frames_dropped: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicU64,
    /// Connections closed at once because the shard was at `connections_max`.
    pub connections_refused: AtomicU64,
    /// Requests cut off by the header or body timeout.
    pub request_timeouts: AtomicU64,
    /// Rejections by reason, indexed like `Reject::CODES`.
    pub rejected: [AtomicU64; Reject::CODES.len()],
}

impl ShardStats {
    /// Count a rejection under its reason code.
    pub fn reject(&self, r: &Reject) {
        if let Some(i) = Reject::CODES.iter().position(|c| *c == r.code()) {
            self.rejected[i].fetch_add(1, Relaxed);
        }
    }
}

/// Everything `/metrics` reports.
#[derive(Debug, Clone)]
pub struct Registry {
    pub shards: Vec<Arc<ShardStats>>,
    pub publisher: Arc<PublisherStats>,
}

impl Registry {
    /// A counter summed over shards.
    pub fn sum(&self, f: impl Fn(&ShardStats) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| f(s).load(Relaxed)).sum()
    }

    /// Rejections summed over shards and reasons.
    pub fn rejected_total(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.rejected.iter())
            .map(|c| c.load(Relaxed))
            .sum()
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "emdr_http_requests_total",
            "HTTP requests read.",
            self.sum(|s| &s.http_requests),
        );
        counter(
            "emdr_http_errors_total",
            "Requests refused before reaching the engine (malformed HTTP, limits, timeouts, 404/405).",
            self.sum(|s| &s.http_errors),
        );
        counter(
            "emdr_uploads_accepted_total",
            "Uploads accepted.",
            self.sum(|s| &s.uploads_accepted),
        );
        counter(
            "emdr_orders_accepted_total",
            "Orders in accepted uploads.",
            self.sum(|s| &s.orders_accepted),
        );
        counter(
            "emdr_history_rows_accepted_total",
            "History rows in accepted uploads.",
            self.sum(|s| &s.history_rows_accepted),
        );
        counter(
            "emdr_body_bytes_received_total",
            "Request body bytes received (as sent, before decompression).",
            self.sum(|s| &s.body_bytes_received),
        );
        counter(
            "emdr_frames_queued_total",
            "Frames handed to the publisher ring.",
            self.sum(|s| &s.frames_queued),
        );
        counter(
            "emdr_frames_dropped_total",
            "Accepted frames lost before the publisher (publisher gone).",
            self.sum(|s| &s.frames_dropped),
        );
        counter(
            "emdr_connections_accepted_total",
            "TCP connections accepted.",
            self.sum(|s| &s.connections_accepted),
        );
        counter(
            "emdr_connections_refused_total",
            "Connections closed at once because a shard was at connections_max.",
            self.sum(|s| &s.connections_refused),
        );
        counter(
            "emdr_request_timeouts_total",
            "Requests cut off by the header or body timeout.",
            self.sum(|s| &s.request_timeouts),
        );
        counter(
            "emdr_frames_published_total",
            "Frames handed to the ZeroMQ PUB socket.",
            self.publisher.frames_published.load(Relaxed),
        );
        counter(
            "emdr_published_bytes_total",
            "Bytes of frames handed to the ZeroMQ PUB socket.",
            self.publisher.bytes_published.load(Relaxed),
        );
        counter(
            "emdr_publish_errors_total",
            "Frames the PUB socket refused.",
            self.publisher.send_errors.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP emdr_connections_open Connections open now.\n# TYPE emdr_connections_open gauge\nemdr_connections_open {}",
            self.sum(|s| &s.connections_open)
        );
        let _ = writeln!(
            out,
            "# HELP emdr_uploads_rejected_total Uploads rejected, by reason.\n# TYPE emdr_uploads_rejected_total counter"
        );
        for (i, code) in Reject::CODES.iter().enumerate() {
            let v: u64 = self
                .shards
                .iter()
                .map(|s| s.rejected[i].load(Relaxed))
                .sum();
            let _ = writeln!(out, "emdr_uploads_rejected_total{{reason=\"{code}\"}} {v}");
        }
        out
    }
}
