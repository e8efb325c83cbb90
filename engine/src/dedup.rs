//! The relay's de-duplication window (wire contract §6).
//!
//! A relay hears every message once per upstream (two announcers: twice), and drops a frame
//! whose exact bytes it already forwarded within the window: at most `frames_max` frames, none
//! older than `max_age_s`. **A duplicate does not extend its own window**: the entry keeps
//! the time of the first copy, so a frame re-sent continuously is forwarded again once per
//! window, instead of being suppressed for ever (the original refreshed the entry on every
//! duplicate).
//!
//! Frames are keyed by a 128-bit XXH3 hash with a per-process secret seed given by the
//! caller: the chance that two different frames collide in a window of a million is about
//! 2^-88, and without the seed nobody can craft a frame that collides with another. Memory is
//! bounded by `frames_max` entries of ~40 bytes, whatever the frame size.
//!
//! Sans-IO: the caller passes `now_ms` (milliseconds, any monotonic origin). Milliseconds, not
//! seconds: with whole seconds a copy arriving 300 ms after its original but across a tick of
//! the clock would see a window one second short.

use std::collections::{HashMap, VecDeque};

/// Window size, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    /// Frames remembered; 0 turns de-duplication off.
    pub frames_max: usize,
    /// Seconds a frame is remembered; 0 turns de-duplication off.
    pub max_age_s: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            frames_max: 200_000,
            max_age_s: 300,
        }
    }
}

impl DedupConfig {
    /// Whether de-duplication is on at all.
    pub fn enabled(&self) -> bool {
        self.frames_max > 0 && self.max_age_s > 0
    }
}

/// The window. See the module docs.
#[derive(Debug)]
pub struct Dedup {
    config: DedupConfig,
    seed: u64,
    /// Hash to first-seen time (ms).
    seen: HashMap<u128, u64>,
    /// Insertion order, for eviction by count and by age.
    order: VecDeque<(u128, u64)>,
}

impl Dedup {
    /// A window; `seed` should be random per process (it keys the hash).
    pub fn new(config: DedupConfig, seed: u64) -> Dedup {
        let cap = config.frames_max.min(1 << 20);
        Dedup {
            config,
            seed,
            seen: HashMap::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
        }
    }

    /// True if `frame` is a duplicate to drop; otherwise remembers it and returns false.
    pub fn is_duplicate(&mut self, frame: &[u8], now_ms: u64) -> bool {
        if !self.config.enabled() {
            return false;
        }
        self.expire(now_ms);
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(frame, self.seed);
        if self.seen.contains_key(&h) {
            return true;
        }
        if self.order.len() >= self.config.frames_max {
            if let Some((old, _)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(h, now_ms);
        self.order.push_back((h, now_ms));
        false
    }

    fn expire(&mut self, now_ms: u64) {
        let max_age_ms = self.config.max_age_s.saturating_mul(1000);
        while let Some(&(h, t)) = self.order.front() {
            if now_ms.saturating_sub(t) < max_age_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&h);
        }
    }

    /// Frames remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_copy_is_dropped_other_frames_pass() {
        let mut d = Dedup::new(DedupConfig::default(), 7);
        assert!(!d.is_duplicate(b"a", 0));
        assert!(d.is_duplicate(b"a", 0));
        assert!(!d.is_duplicate(b"b", 0));
        assert!(d.is_duplicate(b"b", 1));
    }

    #[test]
    fn the_window_is_measured_in_milliseconds() {
        let mut d = Dedup::new(
            DedupConfig {
                frames_max: 100,
                max_age_s: 1,
            },
            1,
        );
        // A copy 300 ms later is inside a 1 s window wherever the second ticks fall.
        assert!(!d.is_duplicate(b"y", 800));
        assert!(d.is_duplicate(b"y", 1_100));
        assert!(d.is_duplicate(b"y", 1_799));
        assert!(!d.is_duplicate(b"y", 1_800));
    }

    #[test]
    fn a_duplicate_does_not_extend_its_window() {
        let mut d = Dedup::new(
            DedupConfig {
                frames_max: 100,
                max_age_s: 10,
            },
            1,
        );
        assert!(!d.is_duplicate(b"x", 0));
        for t in (100..10_000).step_by(100) {
            assert!(d.is_duplicate(b"x", t), "t={t} ms");
        }
        // Re-sent continuously, it is forwarded again once the first copy is 10 s old.
        assert!(!d.is_duplicate(b"x", 10_000));
        assert!(d.is_duplicate(b"x", 10_100));
    }

    #[test]
    fn the_window_is_bounded_by_count() {
        let mut d = Dedup::new(
            DedupConfig {
                frames_max: 3,
                max_age_s: 1000,
            },
            1,
        );
        for f in [&b"1"[..], b"2", b"3", b"4"] {
            assert!(!d.is_duplicate(f, 0));
        }
        assert_eq!(d.len(), 3);
        assert!(!d.is_duplicate(b"1", 0), "evicted by count");
        assert!(d.is_duplicate(b"4", 0));
    }

    #[test]
    fn off_forwards_everything() {
        let mut d = Dedup::new(
            DedupConfig {
                frames_max: 0,
                max_age_s: 300,
            },
            1,
        );
        assert!(!d.is_duplicate(b"a", 0));
        assert!(!d.is_duplicate(b"a", 0));
        assert!(d.is_empty());
    }
}
