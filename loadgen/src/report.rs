//! The figures of a run: computed once from the ledger and the histograms, printed as a
//! summary, written as JSON, and checked against the thresholds.
//!
//! Definitions (every count covers the measured interval only: uploads whose *intended* send
//! time falls in it; warm-up uploads and probes are excluded):
//! - `sent`: written to a connection (HTTP) or published (relay). `unsent`: scheduled but
//!   never written (a connection's queue was full, or the upload was still queued when the
//!   grace ended): the offered rate was not offered.
//! - `accepted`: answered `200` with body `1`; `rejected`: any other answer; `errors`: never
//!   answered (connection failed, or no answer within the grace).
//! - `published`: distinct uploads seen on at least one subscriber. `duplicated`: further
//!   sightings (HTTP mode: every copy after the first, over all subscribers, as with two
//!   relays; relay mode: copies a subscriber had already received). `lost`: HTTP mode,
//!   accepted and seen by no subscriber within the grace; relay mode, the sum over
//!   subscribers of the measured frames that subscriber never received.
//! - `uploads_per_s`, `orders_per_s`, `rows_per_s`: uploads accepted AND seen on the feed
//!   (just accepted when there is no --sub) *within* the measured interval (by the time they
//!   were first seen, or answered), per second of it: the rate sustained in the interval, so a
//!   backlog that drains during the grace does not inflate it. `rows` counts history days
//!   too, `orders` only orders.
//! - latencies in ms: HTTP from the intended send time to the answer; e2e from the intended
//!   send time to each subscriber's first receipt; send lag from the intended time to the
//!   write (how far the generator itself fell behind).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::feed::SubStats;
use crate::ledger::{self, Ledger};
use crate::Phases;

/// Latency histograms hold 1 µs to 1 hour at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles of one latency histogram, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
}

impl Latency {
    /// None for an empty histogram (µs in, ms out).
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1e3;
        Some(Latency {
            count: h.len(),
            mean: h.mean() / 1e3,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            p9999: ms(h.value_at_quantile(0.9999)),
            max: ms(h.max()),
        })
    }
}

/// What each payload index stands for.
#[derive(Debug, Clone, Copy)]
pub struct PayloadInfo {
    pub rows: u32,
    pub orders: bool,
    pub bytes: u32,
}

/// One subscriber's figures.
#[derive(Debug, Clone)]
pub struct SubFigures {
    pub endpoint: String,
    pub received: u64,
    /// Distinct measured uploads received.
    pub delivered: u64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    /// Measured uploads (accepted) this subscriber never received.
    pub missing: u64,
    pub duplicates: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub mode: &'static str,
    pub rate: String,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub grace_s: f64,
    pub connections: usize,
    pub threads: usize,
    pub targets: Vec<String>,
    pub feed: bool,
    pub scheduled: u64,
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: u64,
    pub unsent: u64,
    pub published: u64,
    pub duplicated: u64,
    pub lost: u64,
    pub foreign: u64,
    pub bad_frames: u64,
    pub probes: u64,
    pub offered_uploads_per_s: f64,
    pub offered_rows_per_s: f64,
    pub offered_orders_per_s: f64,
    pub offered_mb_per_s: f64,
    pub uploads_per_s: f64,
    pub orders_per_s: f64,
    pub rows_per_s: f64,
    pub mean_rows_per_upload: f64,
    pub http: Option<Latency>,
    pub e2e: Option<Latency>,
    pub send_lag: Option<Latency>,
    pub statuses: BTreeMap<u16, u64>,
    pub first_rejection: Option<String>,
    pub connections_failed: u64,
    pub subs: Vec<SubFigures>,
    /// Over the subscribers: min, mean, max of delivered messages per second.
    pub per_sub_msgs_per_s: Option<(f64, f64, f64)>,
    pub id_space_exhausted: bool,
}

/// What the run knows besides the ledger.
pub struct Inputs<'a> {
    pub mode: &'static str,
    pub rate: String,
    pub phases: Phases,
    pub connections: usize,
    pub threads: usize,
    pub targets: Vec<String>,
    pub info: &'a [PayloadInfo],
    pub http_us: &'a Histogram<u64>,
    pub lag_us: &'a Histogram<u64>,
    pub e2e_us: &'a Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub first_rejection: Option<String>,
    pub connections_failed: u64,
    pub subs: &'a [SubStats],
    pub warmup_s: f64,
}

impl Figures {
    pub fn compute(ledger: &Ledger, x: Inputs<'_>) -> Figures {
        let feed = !x.subs.is_empty();
        let relay = x.mode == "relay";
        let secs = x.phases.measured_seconds();
        let (mut scheduled, mut sent, mut accepted, mut rejected, mut errors, mut unsent) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let (mut published, mut duplicated, mut lost, mut probes) = (0u64, 0u64, 0u64, 0u64);
        let (mut bytes, mut rows_offered, mut orders_offered) = (0u64, 0u64, 0u64);
        let (mut good, mut good_rows, mut good_orders) = (0u64, 0u64, 0u64);
        let window = x.phases.measure_ns..x.phases.end_ns;
        for slot in ledger.slots() {
            let f = slot.flags.load(std::sync::atomic::Ordering::Acquire);
            if f & ledger::PROBE != 0 {
                probes += 1;
                continue;
            }
            let done = slot.done_ns.load(std::sync::atomic::Ordering::Relaxed);
            if f & ledger::ACCEPTED != 0 && window.contains(&done) {
                let p = x.info[slot.payload.load(std::sync::atomic::Ordering::Relaxed) as usize];
                good += 1;
                good_rows += u64::from(p.rows);
                good_orders += if p.orders { u64::from(p.rows) } else { 0 };
            }
            if f & ledger::MEASURED == 0 {
                continue;
            }
            scheduled += 1;
            if f & ledger::UNSENT != 0 || f & ledger::SENT == 0 {
                unsent += 1;
                continue;
            }
            let p = x.info[slot.payload.load(std::sync::atomic::Ordering::Relaxed) as usize];
            let orders = if p.orders { u64::from(p.rows) } else { 0 };
            sent += 1;
            bytes += u64::from(p.bytes);
            rows_offered += u64::from(p.rows);
            orders_offered += orders;
            let ok = f & ledger::ACCEPTED != 0;
            accepted += u64::from(ok);
            rejected += u64::from(f & ledger::REJECTED != 0);
            errors +=
                u64::from(f & ledger::ERROR != 0 && f & (ledger::ACCEPTED | ledger::REJECTED) == 0);
            let seen = u64::from(f >> ledger::SEEN_SHIFT);
            if seen > 0 {
                published += 1;
                if !relay {
                    duplicated += seen - 1;
                }
            } else if ok && feed && !relay {
                lost += 1;
            }
        }
        let subs: Vec<SubFigures> = x
            .subs
            .iter()
            .map(|s| SubFigures {
                endpoint: s.endpoint.clone(),
                received: s.received,
                delivered: s.unique_measured,
                msgs_per_s: s.unique_measured as f64 / secs,
                mb_per_s: s.bytes as f64 / 1e6 / secs,
                missing: accepted.saturating_sub(s.unique_measured),
                duplicates: s.duplicates,
            })
            .collect();
        if relay {
            duplicated = subs.iter().map(|s| s.duplicates).sum();
            lost = subs.iter().map(|s| s.missing).sum();
        }
        let per_sub_msgs_per_s = (!subs.is_empty()).then(|| {
            let rates: Vec<f64> = subs.iter().map(|s| s.msgs_per_s).collect();
            let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = rates.iter().copied().fold(0.0, f64::max);
            (min, rates.iter().sum::<f64>() / rates.len() as f64, max)
        });
        let live = &ledger.live;
        Figures {
            mode: x.mode,
            rate: x.rate,
            warmup_s: x.warmup_s,
            duration_s: secs,
            grace_s: x.phases.grace_ns as f64 / 1e9,
            connections: x.connections,
            threads: x.threads,
            targets: x.targets,
            feed,
            scheduled,
            sent,
            accepted,
            rejected,
            errors,
            unsent,
            published,
            duplicated,
            lost,
            foreign: live.foreign.load(std::sync::atomic::Ordering::Relaxed),
            bad_frames: live.bad_frames.load(std::sync::atomic::Ordering::Relaxed),
            probes,
            offered_uploads_per_s: sent as f64 / secs,
            offered_rows_per_s: rows_offered as f64 / secs,
            offered_orders_per_s: orders_offered as f64 / secs,
            offered_mb_per_s: bytes as f64 / 1e6 / secs,
            uploads_per_s: good as f64 / secs,
            orders_per_s: good_orders as f64 / secs,
            rows_per_s: good_rows as f64 / secs,
            mean_rows_per_upload: if sent > 0 {
                rows_offered as f64 / sent as f64
            } else {
                0.0
            },
            http: Latency::of(x.http_us),
            e2e: Latency::of(x.e2e_us),
            send_lag: Latency::of(x.lag_us),
            statuses: x.statuses,
            first_rejection: x.first_rejection,
            connections_failed: x.connections_failed,
            subs,
            per_sub_msgs_per_s,
            id_space_exhausted: ledger.issued() >= ledger.capacity(),
        }
    }

    /// The human summary (stdout).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let setup = if self.mode == "relay" {
            format!("{} subscribers", self.subs.len())
        } else {
            format!("{} connections, {} threads", self.connections, self.threads)
        };
        let _ = writeln!(
            s,
            "emdr-loadgen {}: rate {}, {:.1} s measured after {:.1} s warm-up; {setup}",
            self.mode, self.rate, self.duration_s, self.warmup_s
        );
        let _ = writeln!(
            s,
            "  offered     {:>10.0} uploads/s {:>11.0} orders/s {:>11.0} rows/s {:>8.1} MB/s  ({:.0} rows/upload)",
            self.offered_uploads_per_s,
            self.offered_orders_per_s,
            self.offered_rows_per_s,
            self.offered_mb_per_s,
            self.mean_rows_per_upload
        );
        let _ = writeln!(
            s,
            "  uploads     sent {}  accepted {}  rejected {}  errors {}  unsent {}",
            self.sent, self.accepted, self.rejected, self.errors, self.unsent
        );
        if self.feed {
            let _ = writeln!(
                s,
                "  feed        published {}  duplicated {}  lost {}  foreign {}  bad frames {}",
                self.published, self.duplicated, self.lost, self.foreign, self.bad_frames
            );
        }
        let basis = if self.feed {
            "accepted and seen on the feed"
        } else {
            "accepted; no --sub"
        };
        let _ = writeln!(
            s,
            "  throughput  {:>10.0} uploads/s {:>11.0} orders/s {:>11.0} rows/s  ({basis})",
            self.uploads_per_s, self.orders_per_s, self.rows_per_s
        );
        let _ = writeln!(
            s,
            "  latency ms        p50      p90      p99    p99.9   p99.99      max    count"
        );
        for (name, l) in [
            ("http", self.http),
            ("e2e", self.e2e),
            ("send lag", self.send_lag),
        ] {
            if let Some(l) = l {
                let _ = writeln!(
                    s,
                    "    {name:<10} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8}",
                    l.p50, l.p90, l.p99, l.p999, l.p9999, l.max, l.count
                );
            }
        }
        if self.subs.len() > 1 || self.mode == "relay" {
            if let Some((min, avg, max)) = self.per_sub_msgs_per_s {
                let _ = writeln!(
                    s,
                    "  per subscriber msgs/s  min {min:.0}  avg {avg:.0}  max {max:.0}  ({} subscribers)",
                    self.subs.len()
                );
            }
            for (i, sub) in self.subs.iter().enumerate().take(16) {
                let _ = writeln!(
                    s,
                    "    sub {i:<3} {}  delivered {}  missing {}  duplicates {}  {:.1} MB/s",
                    sub.endpoint, sub.delivered, sub.missing, sub.duplicates, sub.mb_per_s
                );
            }
        }
        if !self.statuses.is_empty() && self.rejected > 0 {
            let _ = writeln!(s, "  answers by status: {:?}", self.statuses);
        }
        if let Some(r) = &self.first_rejection {
            let _ = writeln!(s, "  first rejection: {r}");
        }
        if self.connections_failed > 0 {
            let _ = writeln!(s, "  connections failed: {}", self.connections_failed);
        }
        if self.id_space_exhausted {
            let _ = writeln!(s, "  warning: the id space ran out (raise --uploads-max)");
        }
        s
    }

    /// Every figure as one JSON object; `argv` is the command line that produced it.
    pub fn json(&self, argv: &[String], failures: &[String]) -> String {
        let mut j = Json::default();
        j.str("mode", self.mode);
        j.raw(
            "command",
            &format!(
                "[{}]",
                argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(",")
            ),
        );
        j.str("rate", &self.rate);
        j.num("warmup_s", self.warmup_s);
        j.num("duration_s", self.duration_s);
        j.num("grace_s", self.grace_s);
        j.int("connections", self.connections as u64);
        j.int("threads", self.threads as u64);
        j.raw(
            "targets",
            &format!(
                "[{}]",
                self.targets
                    .iter()
                    .map(|t| quote(t))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
        j.raw("feed", if self.feed { "true" } else { "false" });
        j.num("orders_per_s", self.orders_per_s);
        j.num("uploads_per_s", self.uploads_per_s);
        j.num("rows_per_s", self.rows_per_s);
        j.num("offered_uploads_per_s", self.offered_uploads_per_s);
        j.num("offered_orders_per_s", self.offered_orders_per_s);
        j.num("offered_rows_per_s", self.offered_rows_per_s);
        j.num("offered_mb_per_s", self.offered_mb_per_s);
        j.num("mean_rows_per_upload", self.mean_rows_per_upload);
        for (k, v) in [
            ("scheduled", self.scheduled),
            ("sent", self.sent),
            ("accepted", self.accepted),
            ("rejected", self.rejected),
            ("errors", self.errors),
            ("unsent", self.unsent),
            ("published", self.published),
            ("duplicated", self.duplicated),
            ("lost", self.lost),
            ("foreign", self.foreign),
            ("bad_frames", self.bad_frames),
            ("probes", self.probes),
            ("connections_failed", self.connections_failed),
        ] {
            j.int(k, v);
        }
        j.raw("http_latency_ms", &latency_json(self.http));
        j.raw("e2e_latency_ms", &latency_json(self.e2e));
        j.raw("send_lag_ms", &latency_json(self.send_lag));
        j.raw(
            "statuses",
            &format!(
                "{{{}}}",
                self.statuses
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
        match &self.first_rejection {
            Some(r) => j.str("first_rejection", r),
            None => j.raw("first_rejection", "null"),
        }
        j.raw(
            "per_subscriber_msgs_per_s",
            &match self.per_sub_msgs_per_s {
                Some((min, avg, max)) => {
                    format!(
                        "{{\"min\":{},\"avg\":{},\"max\":{}}}",
                        n(min),
                        n(avg),
                        n(max)
                    )
                }
                None => "null".into(),
            },
        );
        let subs: Vec<String> = self
            .subs
            .iter()
            .map(|s| {
                format!(
                    "{{\"endpoint\":{},\"received\":{},\"delivered\":{},\"msgs_per_s\":{},\"mb_per_s\":{},\"missing\":{},\"duplicates\":{}}}",
                    quote(&s.endpoint), s.received, s.delivered, n(s.msgs_per_s), n(s.mb_per_s), s.missing, s.duplicates
                )
            })
            .collect();
        j.raw("subscribers", &format!("[{}]", subs.join(",")));
        j.raw(
            "id_space_exhausted",
            if self.id_space_exhausted {
                "true"
            } else {
                "false"
            },
        );
        j.raw(
            "thresholds_failed",
            &format!(
                "[{}]",
                failures
                    .iter()
                    .map(|f| quote(f))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
        j.finish()
    }
}

/// Limits that make the exit status non-zero when missed.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    pub max_p99_ms: Option<f64>,
    pub max_lost: Option<u64>,
    pub min_orders_per_s: Option<f64>,
}

impl Thresholds {
    /// One line per threshold missed.
    pub fn check(&self, f: &Figures) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(max) = self.max_p99_ms {
            let mut any = false;
            for (name, l) in [("HTTP", f.http), ("end-to-end", f.e2e)] {
                if let Some(l) = l {
                    any = true;
                    if l.p99 > max {
                        out.push(format!(
                            "{name} p99 {:.3} ms is above --max-p99-ms {max}",
                            l.p99
                        ));
                    }
                }
            }
            if !any {
                out.push("no latency was measured, so --max-p99-ms cannot be met".into());
            }
        }
        if let Some(max) = self.max_lost {
            if f.lost > max {
                out.push(format!("{} uploads lost, above --max-lost {max}", f.lost));
            }
        }
        if let Some(min) = self.min_orders_per_s {
            if f.orders_per_s < min {
                out.push(format!(
                    "{:.0} orders/s, below --min-orders-per-s {min}",
                    f.orders_per_s
                ));
            }
        }
        out
    }
}

fn n(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

fn latency_json(l: Option<Latency>) -> String {
    match l {
        None => "null".into(),
        Some(l) => format!(
            "{{\"count\":{},\"mean\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"p9999\":{},\"max\":{}}}",
            l.count,
            n(l.mean),
            n(l.p50),
            n(l.p90),
            n(l.p99),
            n(l.p999),
            n(l.p9999),
            n(l.max)
        ),
    }
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A flat JSON object, written key by key.
#[derive(Default)]
struct Json(Vec<String>);

impl Json {
    fn raw(&mut self, k: &str, v: &str) {
        self.0.push(format!("{}:{v}", quote(k)));
    }
    fn str(&mut self, k: &str, v: &str) {
        self.raw(k, &quote(v));
    }
    fn num(&mut self, k: &str, v: f64) {
        self.raw(k, &n(v));
    }
    fn int(&mut self, k: &str, v: u64) {
        self.raw(k, &v.to_string());
    }
    fn finish(self) -> String {
        format!("{{{}}}\n", self.0.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_are_in_ms() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let l = Latency::of(&h).unwrap();
        assert!((l.p50 - 500.0).abs() < 1.0, "{}", l.p50);
        assert!((l.p99 - 990.0).abs() < 2.0, "{}", l.p99);
        assert!((l.max - 1000.0).abs() < 1.0);
        assert_eq!(l.count, 1000);
        assert!(Latency::of(&new_histogram()).is_none());
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn figures_count_from_the_ledger() {
        let ledger = Ledger::new(10, 1);
        let phases = Phases {
            start_ns: 0,
            measure_ns: 1_000_000_000,
            end_ns: 2_000_000_000,
            grace_ns: 0,
        };
        let m = ledger::MEASURED | ledger::SENT;
        // 0: warm-up, done in the interval; 1: accepted, seen twice; 2: accepted, lost;
        // 3: rejected; 4: unsent; 5: probe; 6: accepted, seen once but after the interval.
        let specs = [
            (0, ledger::SENT | ledger::ACCEPTED, 1, 1_100_000_000),
            (1, m | ledger::ACCEPTED, 2, 1_900_000_000),
            (1, m | ledger::ACCEPTED, 0, 0),
            (1, m | ledger::REJECTED, 0, 0),
            (1, ledger::MEASURED | ledger::UNSENT, 0, 0),
            (0, ledger::PROBE | ledger::SENT, 1, 1_000_000_000),
            (1, m | ledger::ACCEPTED, 1, 2_500_000_000),
        ];
        for (payload, flags, seen, done) in specs {
            let seq = ledger.issue(1_500_000_000, payload, flags).unwrap();
            ledger
                .slot(seq)
                .done_ns
                .store(done, std::sync::atomic::Ordering::Relaxed);
            for _ in 0..seen {
                ledger
                    .slot(seq)
                    .flags
                    .fetch_add(ledger::SEEN_ONE, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let info = [
            PayloadInfo {
                rows: 10,
                orders: false,
                bytes: 100,
            },
            PayloadInfo {
                rows: 100,
                orders: true,
                bytes: 1000,
            },
        ];
        let h = new_histogram();
        let subs = [SubStats {
            endpoint: "tcp://x".into(),
            unique_measured: 2,
            ..SubStats::default()
        }];
        let f = Figures::compute(
            &ledger,
            Inputs {
                mode: "http",
                rate: "test".into(),
                phases,
                connections: 1,
                threads: 1,
                targets: vec![],
                info: &info,
                http_us: &h,
                lag_us: &h,
                e2e_us: &h,
                statuses: BTreeMap::new(),
                first_rejection: None,
                connections_failed: 0,
                subs: &subs,
                warmup_s: 1.0,
            },
        );
        assert_eq!((f.scheduled, f.sent, f.unsent), (5, 4, 1));
        assert_eq!((f.accepted, f.rejected, f.errors), (3, 1, 0));
        assert_eq!((f.published, f.duplicated, f.lost, f.probes), (2, 1, 1, 1));
        // Throughput counts completions inside the interval, whatever their intended time.
        assert_eq!(f.orders_per_s, 100.0);
        assert_eq!(f.rows_per_s, 110.0);
        assert_eq!(f.uploads_per_s, 2.0);
        assert_eq!(f.offered_orders_per_s, 400.0);
        assert_eq!(f.subs[0].missing, 1);
        let t = Thresholds {
            max_p99_ms: None,
            max_lost: Some(0),
            min_orders_per_s: Some(1000.0),
        };
        assert_eq!(t.check(&f).len(), 2);
        let json = f.json(&["emdr-loadgen".into()], &t.check(&f));
        for key in [
            "\"orders_per_s\":100.000",
            "\"uploads_per_s\":2.000",
            "\"sent\":4",
            "\"accepted\":3",
            "\"rejected\":1",
            "\"published\":2",
            "\"duplicated\":1",
            "\"lost\":1",
            "\"http_latency_ms\":null",
            "\"e2e_latency_ms\":null",
        ] {
            assert!(json.contains(key), "{key} in {json}");
        }
    }
}
