//! The ledger: one slot per upload id, shared by every sender and subscriber thread.
//!
//! Every upload (and every relay frame) gets the next sequence number; its unique key, the one
//! written into its `uploadKeys` (engine::synth's `emdr-loadgen` key), is
//! `KEY_BASE + nonce * SEQ_SPAN + seq`: always [`KEY_DIGITS`] decimal digits, so it can be
//! patched into a pre-built body in place, and different from every earlier run's keys (the
//! nonce), so a relay's de-duplication window never mistakes this run's frames for old ones.
//!
//! A slot holds the intended send time, the completion time, the payload, and flags updated
//! with atomic operations: senders set `SENT`/`MEASURED` before the bytes leave, readers set
//! `ACCEPTED`/`REJECTED`/`ERROR`, subscribers add to the seen count. No lock anywhere; the
//! figures of the run are computed from the slots at the end, deterministically. The slots are
//! allocated once at start-up for the whole run's id space (`uploads_max`); a sender that
//! exhausts it stops sending.
//!
//! The live counters beside the slots only feed the once-a-second progress line.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Digits of every key.
pub const KEY_DIGITS: usize = 18;
/// Smallest key: 10^17, so that every key has [`KEY_DIGITS`] digits.
pub const KEY_BASE: u64 = 100_000_000_000_000_000;
/// Sequence numbers of one run stay below this.
pub const SEQ_SPAN: u64 = 10_000_000_000;
/// Nonces stay below this, so that keys stay below 10^18.
pub const NONCE_SPAN: u64 = 90_000_000;
/// The placeholder key written into payloads before patching: `KEY_BASE` itself.
pub const PLACEHOLDER_KEY: u64 = KEY_BASE;

pub const SENT: u32 = 1;
pub const MEASURED: u32 = 1 << 1;
pub const ACCEPTED: u32 = 1 << 2;
pub const REJECTED: u32 = 1 << 3;
/// Sent but never answered: the connection died or the answer did not come within the grace.
pub const ERROR: u32 = 1 << 4;
/// A slow-joiner probe, never part of the figures.
pub const PROBE: u32 = 1 << 5;
/// Scheduled but never sent: the connection's queue was full (the offered rate was not offered).
pub const UNSENT: u32 = 1 << 6;
/// Every sighting on the feed adds this; the seen count is `flags >> SEEN_SHIFT`.
pub const SEEN_SHIFT: u32 = 8;
pub const SEEN_ONE: u32 = 1 << SEEN_SHIFT;

#[derive(Debug, Default)]
pub struct Slot {
    /// Intended send time in the run's clock.
    pub intended_ns: AtomicU64,
    /// When the upload was done: first seen on the feed, or accepted when there is no feed
    /// (0: not yet). Throughput counts completions inside the measured interval.
    pub done_ns: AtomicU64,
    pub flags: AtomicU32,
    /// Index of the payload (body or frame) that was sent.
    pub payload: AtomicU32,
}

/// Progress counters (Relaxed; only the progress line reads them while the run goes on).
#[derive(Debug, Default)]
pub struct Live {
    pub scheduled: AtomicU64,
    pub sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub errors: AtomicU64,
    pub unsent: AtomicU64,
    /// First sightings of a loadgen key on any subscriber.
    pub seen_unique: AtomicU64,
    pub seen_total: AtomicU64,
    /// Messages without this run's key (other traffic on the feed).
    pub foreign: AtomicU64,
    /// Frames that could not be read (not zlib, not JSON).
    pub bad_frames: AtomicU64,
    /// Accepted and measured, and first seen, so the grace wait can end early.
    pub accepted_measured: AtomicU64,
    pub seen_measured: AtomicU64,
}

#[derive(Debug)]
pub struct Ledger {
    slots: Box<[Slot]>,
    next: AtomicU64,
    nonce: u64,
    pub live: Live,
}

impl Ledger {
    /// A ledger for `capacity` ids; `nonce` is reduced into `0..NONCE_SPAN`.
    pub fn new(capacity: usize, nonce: u64) -> Ledger {
        assert!(
            capacity as u64 <= SEQ_SPAN,
            "ledger capacity above SEQ_SPAN"
        );
        let slots: Vec<Slot> = (0..capacity).map(|_| Slot::default()).collect();
        Ledger {
            slots: slots.into_boxed_slice(),
            next: AtomicU64::new(0),
            nonce: nonce % NONCE_SPAN,
            live: Live::default(),
        }
    }

    /// A nonce from the clock and the process id: different for every run.
    pub fn fresh_nonce() -> u64 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = engine::synth::Rng::new(t ^ (u64::from(std::process::id()) << 32));
        rng.next_u64()
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Ids handed out so far.
    pub fn issued(&self) -> usize {
        (self.next.load(Ordering::Relaxed) as usize).min(self.slots.len())
    }

    /// Claim the next id and record its intended send time, payload and flags (SENT is not
    /// set yet: see [`Ledger::mark`]). None when the id space is exhausted.
    pub fn issue(&self, intended_ns: u64, payload: u32, flags: u32) -> Option<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = self.slots.get(seq as usize)?;
        slot.intended_ns.store(intended_ns, Ordering::Relaxed);
        slot.done_ns.store(0, Ordering::Relaxed);
        slot.payload.store(payload, Ordering::Relaxed);
        slot.flags.store(flags, Ordering::Release);
        Some(seq)
    }

    pub fn slot(&self, seq: u64) -> &Slot {
        &self.slots[seq as usize]
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.issued()]
    }

    /// Set `flags` on `seq`; returns the flags before.
    pub fn mark(&self, seq: u64, flags: u32) -> u32 {
        self.slots[seq as usize]
            .flags
            .fetch_or(flags, Ordering::AcqRel)
    }

    /// The key of `seq`.
    pub fn key(&self, seq: u64) -> u64 {
        debug_assert!(seq < SEQ_SPAN);
        KEY_BASE + self.nonce * SEQ_SPAN + seq
    }

    /// The sequence number of `key`, if it is one of this run's issued ids.
    pub fn seq_of(&self, key: u64) -> Option<u64> {
        let rest = key.checked_sub(KEY_BASE)?;
        if rest / SEQ_SPAN != self.nonce {
            return None;
        }
        let seq = rest % SEQ_SPAN;
        ((seq as usize) < self.issued()).then_some(seq)
    }
}

/// `key` as its [`KEY_DIGITS`] decimal digits.
pub fn key_digits(key: u64) -> [u8; KEY_DIGITS] {
    assert!(
        (KEY_BASE..KEY_BASE * 10).contains(&key),
        "a key has exactly KEY_DIGITS digits"
    );
    let mut out = [b'0'; KEY_DIGITS];
    let mut v = key;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_fixed_width_and_map_back() {
        let l = Ledger::new(100, u64::MAX);
        for i in 0..100 {
            assert_eq!(l.issue(i * 10, 0, 0), Some(i));
        }
        for seq in [0, 1, 99] {
            let key = l.key(seq);
            let digits = key_digits(key);
            assert_eq!(std::str::from_utf8(&digits).unwrap(), key.to_string());
            assert_eq!(l.seq_of(key), Some(seq));
        }
        assert_eq!(l.seq_of(l.key(100)), None, "not issued");
        assert_eq!(l.seq_of(7), None);
        let other = Ledger::new(100, 5);
        other.issue(0, 0, 0);
        assert_eq!(other.seq_of(l.key(0)), None, "another run's key");
        assert_eq!(l.issue(0, 0, 0), None, "exhausted");
        assert_eq!(l.issued(), 100);
    }

    #[test]
    fn seen_counts_accumulate_in_the_flags() {
        let l = Ledger::new(1, 0);
        let seq = l.issue(5, 3, SENT | MEASURED).unwrap();
        l.mark(seq, ACCEPTED);
        l.slot(seq).flags.fetch_add(SEEN_ONE, Ordering::AcqRel);
        l.slot(seq).flags.fetch_add(SEEN_ONE, Ordering::AcqRel);
        let f = l.slot(seq).flags.load(Ordering::Acquire);
        assert_eq!(f >> SEEN_SHIFT, 2);
        assert_eq!(f & 0xff, SENT | MEASURED | ACCEPTED);
        assert_eq!(l.slot(seq).payload.load(Ordering::Relaxed), 3);
    }
}
