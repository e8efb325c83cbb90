//! Realistic generated UUDIF messages, for tests, benchmarks and the load generator.
//!
//! A message is made by [`write_message`] (or its `Vec`-returning shorthands) from a seeded
//! [`Rng`], a [`Shape`] (result type, rowsets, rows per rowset) and a base time that stands for
//! "now": there is no IO, no clock and no global state, so one seed, shape and base time give
//! the same bytes on every run and every platform (the generator uses integer arithmetic only;
//! prices are whole cents written as decimals by hand).
//!
//! What the messages look like, and why: they are what uploaders send (wire contract §3), so
//! that a benchmark or a load test spends its time where production does. Keys come in the
//! order real uploaders write them (`resultType`, `version`, `uploadKeys`, `generator`,
//! `currentTime`, `columns`, `rowsets`; in a rowset `generatedAt`, `regionID`, `typeID`,
//! `rows`), compact, with `+00:00` offsets. IDs fall in EVE's ranges; a message covers one
//! region, as a market window or a region-wide dump does, with a distinct `typeID` per rowset
//! (spilling into the next regions only past [`TYPE_ID_COUNT`] rowsets), so no two rowsets
//! share (`regionID`, `typeID`), which the engine refuses. Each type has a price level
//! spread over eleven decades (0.01 to 1e9 ISK); sell orders sit above it and have range -1,
//! buy orders below it with any valid range; volumes shrink as prices grow; a few stations per
//! rowset carry the orders; about one order in twenty has a `null` `solarSystemID`.
//! History is one row per day, oldest first, ending the day before the base time.
//!
//! The load generator marks each message with a unique id, an `uploadKeys` entry
//! `{"name":"emdr-loadgen","key":"<id>"}` ([`LOADGEN_KEY_NAME`]) that the gateway passes
//! through, so a consumer can match what it reads to what was sent with [`upload_key_of`].
//!
//! Invariant (tested below): every message this module writes is accepted by
//! [`crate::Pipeline`] with its default configuration, as long as its shape is within the
//! default [`crate::Limits`]. Parameters out of the generator's own range (more rowsets than
//! [`ROWSETS_MAX`], more history days than [`HISTORY_DAYS_MAX`]) are caller bugs and panic.

use crate::time::{self, UnixSeconds};
use crate::uudif::ResultType;

/// EVE's region IDs, first and last.
pub const REGION_ID_FIRST: i64 = 10_000_001;
pub const REGION_ID_LAST: i64 = 10_000_070;
/// Type IDs, first and last (the market-tradeable range, roughly).
pub const TYPE_ID_FIRST: i64 = 18;
pub const TYPE_ID_LAST: i64 = 40_000;
/// Distinct type IDs available, so distinct rowsets in one region.
pub const TYPE_ID_COUNT: usize = (TYPE_ID_LAST - TYPE_ID_FIRST + 1) as usize;
const REGION_ID_COUNT: usize = (REGION_ID_LAST - REGION_ID_FIRST + 1) as usize;
/// Rowsets one message can have with distinct (`regionID`, `typeID`).
pub const ROWSETS_MAX: usize = TYPE_ID_COUNT * REGION_ID_COUNT;
/// Station IDs, first and last.
pub const STATION_ID_FIRST: i64 = 60_000_000;
pub const STATION_ID_LAST: i64 = 61_000_000;
/// Solar system IDs, first and last.
pub const SOLAR_SYSTEM_ID_FIRST: i64 = 30_000_001;
pub const SOLAR_SYSTEM_ID_LAST: i64 = 30_005_000;
/// Order IDs, first and last.
pub const ORDER_ID_FIRST: i64 = 2_000_000_000;
pub const ORDER_ID_LAST: i64 = 5_000_000_000;
/// Every valid `range`: -1 station, 0 system, jumps, 32767 region.
pub const RANGES: [i64; 12] = [-1, 0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 32767];
/// Order durations, in days, as the game offers them.
pub const DURATIONS_DAYS: [i64; 7] = [0, 1, 3, 7, 14, 30, 90];
/// History rows per rowset at most: ten years of days.
pub const HISTORY_DAYS_MAX: usize = 3650;
/// Stations per rowset at most.
const STATIONS_PER_ROWSET_MAX: u64 = 6;
/// Price levels span decades 10^0..=10^PRICE_DECADES_MAX cents: 0.01 to 1e9 ISK.
const PRICE_DECADES_MAX: u32 = 11;
/// Prices never exceed this many cents (1e9 ISK, times the sell spread).
const PRICE_CENTS_MAX: i64 = 130_000_000_000;
/// The `uploadKeys` name under which the load generator puts its message id.
pub const LOADGEN_KEY_NAME: &str = "emdr-loadgen";

const ORDER_COLUMNS: &str = r#"["price","volRemaining","range","orderID","volEntered","minVolume","bid","issueDate","duration","stationID","solarSystemID"]"#;
const HISTORY_COLUMNS: &str = r#"["date","orders","quantity","low","high","average"]"#;
/// Generators real uploads named: (name, version).
const GENERATORS: [(&str, &str); 5] = [
    ("EVEMon", "1.6.0"),
    ("EMDU", "1.2.2"),
    ("Yapeal", "11.335.1737"),
    ("EVE Marketeer Uploader", "2.1.4"),
    ("Contraband Market Uploader", "0.9"),
];
/// Upload key names real uploads carried.
const UPLOAD_KEY_NAMES: [&str; 3] = ["emk", "EVEMarketeer", "eve-central"];

/// splitmix64: a tiny, fast, well-mixed generator; plenty for test data, not for secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; equal seeds give equal streams.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below n / 2^64). Panics if `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0) has no value to return");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`. Panics if `lo > hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "Rng::between: empty range {lo}..={hi}");
        let span = hi.abs_diff(lo);
        if span == u64::MAX {
            return self.next_u64() as i64;
        }
        lo.wrapping_add(self.below(span + 1) as i64)
    }

    /// True `num` times in `den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `10^e + below(9 * 10^e)` for a decade `e` drawn from `0..decades`: log-uniform-ish.
    fn log_uniform(&mut self, decades: u32) -> i64 {
        let e = self.below(u64::from(decades.max(1))) as u32;
        let lo = 10u64.pow(e);
        (lo + self.below(9 * lo)) as i64
    }
}

/// What a generated message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub result_type: ResultType,
    pub rowsets: usize,
    /// Orders (or days of history) in each rowset; 0 writes empty rowsets.
    pub rows_per_rowset: usize,
}

impl Shape {
    /// Orders: `rowsets` types with `rows_per_rowset` orders each.
    pub const fn orders(rowsets: usize, rows_per_rowset: usize) -> Shape {
        Shape {
            result_type: ResultType::Orders,
            rowsets,
            rows_per_rowset,
        }
    }

    /// History: `rowsets` types with `rows_per_rowset` days each.
    pub const fn history(rowsets: usize, rows_per_rowset: usize) -> Shape {
        Shape {
            result_type: ResultType::History,
            rowsets,
            rows_per_rowset,
        }
    }

    /// Rows (orders or days) in the whole message.
    pub const fn rows(&self) -> usize {
        self.rowsets * self.rows_per_rowset
    }
}

/// UUDIF orders JSON with `rowsets` types of `rows_per_rowset` orders, as of `base_time`.
pub fn orders_json(
    rng: &mut Rng,
    rowsets: usize,
    rows_per_rowset: usize,
    base_time: UnixSeconds,
) -> Vec<u8> {
    message_json(
        rng,
        Shape::orders(rowsets, rows_per_rowset),
        base_time,
        None,
    )
}

/// UUDIF history JSON with `rowsets` types of `rows_per_rowset` days, ending before `base_time`.
pub fn history_json(
    rng: &mut Rng,
    rowsets: usize,
    rows_per_rowset: usize,
    base_time: UnixSeconds,
) -> Vec<u8> {
    message_json(
        rng,
        Shape::history(rowsets, rows_per_rowset),
        base_time,
        None,
    )
}

/// A message of `shape` as of `base_time`, marked with `upload_key` if given (module docs).
pub fn message_json(
    rng: &mut Rng,
    shape: Shape,
    base_time: UnixSeconds,
    upload_key: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + shape.rows() * 128);
    write_message(rng, shape, base_time, upload_key, &mut out);
    out
}

/// Append a message of `shape` as of `base_time` to `out`; see the module docs.
///
/// Panics if `shape.rowsets` exceeds [`ROWSETS_MAX`], or for history if `rows_per_rowset`
/// exceeds [`HISTORY_DAYS_MAX`]: those are bugs in the caller, not input.
pub fn write_message(
    rng: &mut Rng,
    shape: Shape,
    base_time: UnixSeconds,
    upload_key: Option<u64>,
    out: &mut Vec<u8>,
) {
    assert!(
        shape.rowsets <= ROWSETS_MAX,
        "synth: {} rowsets exceed ROWSETS_MAX ({ROWSETS_MAX})",
        shape.rowsets
    );
    assert!(
        shape.result_type == ResultType::Orders || shape.rows_per_rowset <= HISTORY_DAYS_MAX,
        "synth: {} history days exceed HISTORY_DAYS_MAX ({HISTORY_DAYS_MAX})",
        shape.rows_per_rowset
    );
    out.reserve(512 + shape.rows() * 128);
    out.extend_from_slice(b"{\"resultType\":\"");
    out.extend_from_slice(shape.result_type.name().as_bytes());
    out.extend_from_slice(b"\",\"version\":\"0.1\",\"uploadKeys\":[");
    let mut first = true;
    for _ in 0..rng.below(3) {
        push_sep(out, &mut first);
        out.extend_from_slice(b"{\"name\":\"");
        out.extend_from_slice(rng.pick(&UPLOAD_KEY_NAMES).as_bytes());
        out.extend_from_slice(b"\",\"key\":\"");
        push_hex(out, rng.next_u64());
        out.extend_from_slice(b"\"}");
    }
    if let Some(id) = upload_key {
        push_sep(out, &mut first);
        out.extend_from_slice(b"{\"name\":\"");
        out.extend_from_slice(LOADGEN_KEY_NAME.as_bytes());
        out.extend_from_slice(b"\",\"key\":\"");
        push_int(out, id);
        out.extend_from_slice(b"\"}");
    }
    let (name, version) = *rng.pick(&GENERATORS);
    out.extend_from_slice(b"],\"generator\":{\"name\":\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\",\"version\":\"");
    out.extend_from_slice(version.as_bytes());
    out.extend_from_slice(b"\"},\"currentTime\":");
    push_time(out, base_time);
    out.extend_from_slice(b",\"columns\":");
    out.extend_from_slice(match shape.result_type {
        ResultType::Orders => ORDER_COLUMNS.as_bytes(),
        ResultType::History => HISTORY_COLUMNS.as_bytes(),
    });
    out.extend_from_slice(b",\"rowsets\":[");
    let keys = RowsetKeys::new(rng);
    for i in 0..shape.rowsets {
        if i > 0 {
            out.push(b',');
        }
        let (region_id, type_id) = keys.get(i);
        out.extend_from_slice(b"{\"generatedAt\":");
        push_time(out, base_time - rng.between(0, 3600));
        out.extend_from_slice(b",\"regionID\":");
        push_int(out, region_id);
        out.extend_from_slice(b",\"typeID\":");
        push_int(out, type_id);
        out.extend_from_slice(b",\"rows\":[");
        match shape.result_type {
            ResultType::Orders => push_orders(rng, shape.rows_per_rowset, base_time, out),
            ResultType::History => push_history(rng, shape.rows_per_rowset, base_time, out),
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

/// The id of an `emdr-loadgen` upload key in a message (input or canonical output), if any.
pub fn upload_key_of(json: &[u8]) -> Option<u64> {
    const OPEN: &[u8] = b"{\"name\":\"emdr-loadgen\",\"key\":\"";
    let at = json.windows(OPEN.len()).position(|w| w == OPEN)? + OPEN.len();
    let rest = &json[at..];
    let end = rest.iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Distinct (`regionID`, `typeID`) for rowsets `0..ROWSETS_MAX`: types walk a random
/// permutation (an affine map with a stride coprime to the type count) from a random start;
/// the region moves on only when every type has been used.
struct RowsetKeys {
    region0: u64,
    start: u64,
    stride: u64,
}

impl RowsetKeys {
    fn new(rng: &mut Rng) -> RowsetKeys {
        let n = TYPE_ID_COUNT as u64;
        let mut stride = 1 + rng.below(n - 1);
        while gcd(stride, n) != 1 {
            stride = 1 + rng.below(n - 1);
        }
        RowsetKeys {
            region0: rng.below(REGION_ID_COUNT as u64),
            start: rng.below(n),
            stride,
        }
    }

    fn get(&self, i: usize) -> (i64, i64) {
        let n = TYPE_ID_COUNT as u64;
        let (round, t) = ((i / TYPE_ID_COUNT) as u64, (i % TYPE_ID_COUNT) as u64);
        let region = (self.region0 + round) % REGION_ID_COUNT as u64;
        let ty = (self.start + t * self.stride) % n;
        (REGION_ID_FIRST + region as i64, TYPE_ID_FIRST + ty as i64)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn push_orders(rng: &mut Rng, rows: usize, base_time: UnixSeconds, out: &mut Vec<u8>) {
    // One price level for the type; volumes shrink as it grows.
    let level_cents = rng.log_uniform(PRICE_DECADES_MAX);
    let price_decade = level_cents.ilog10();
    let volume_decades = (PRICE_DECADES_MAX - 1)
        .saturating_sub(price_decade)
        .clamp(1, 7);
    let mut stations = [(0i64, 0i64); STATIONS_PER_ROWSET_MAX as usize];
    let station_count = 1 + rng.below(STATIONS_PER_ROWSET_MAX) as usize;
    for s in &mut stations[..station_count] {
        *s = (
            rng.between(STATION_ID_FIRST, STATION_ID_LAST),
            rng.between(SOLAR_SYSTEM_ID_FIRST, SOLAR_SYSTEM_ID_LAST),
        );
    }
    for r in 0..rows {
        if r > 0 {
            out.push(b',');
        }
        let bid = rng.chance(2, 5);
        // Per mille of the level: sells 100%..130%, buys 70%..100%.
        let spread = if bid { 700 } else { 1000 } + rng.between(0, 300);
        let price = (level_cents * spread / 1000).clamp(1, PRICE_CENTS_MAX);
        let vol_entered = rng.log_uniform(volume_decades);
        let vol_remaining = rng.between(1, vol_entered);
        let min_volume = if rng.chance(9, 10) {
            1
        } else {
            rng.between(1, vol_remaining)
        };
        let range = if bid { *rng.pick(&RANGES) } else { -1 };
        let duration = *rng.pick(&DURATIONS_DAYS);
        let issued = base_time - rng.between(0, duration.max(1) * 86_400);
        let (station, system) = if rng.chance(1, 2) {
            stations[0]
        } else {
            *rng.pick(&stations[..station_count])
        };
        out.push(b'[');
        push_cents(out, price);
        out.push(b',');
        push_int(out, vol_remaining);
        out.push(b',');
        push_int(out, range);
        out.push(b',');
        push_int(out, rng.between(ORDER_ID_FIRST, ORDER_ID_LAST));
        out.push(b',');
        push_int(out, vol_entered);
        out.push(b',');
        push_int(out, min_volume);
        out.extend_from_slice(if bid { b",true," } else { b",false," });
        push_time(out, issued);
        out.push(b',');
        push_int(out, duration);
        out.push(b',');
        push_int(out, station);
        out.push(b',');
        if rng.chance(1, 20) {
            out.extend_from_slice(b"null");
        } else {
            push_int(out, system);
        }
        out.push(b']');
    }
}

fn push_history(rng: &mut Rng, days: usize, base_time: UnixSeconds, out: &mut Vec<u8>) {
    let today = base_time.div_euclid(86_400) * 86_400;
    let mut average = rng.log_uniform(PRICE_DECADES_MAX);
    let orders_decades = rng.between(1, 4) as u32;
    for d in 0..days {
        if d > 0 {
            out.push(b',');
        }
        // A random walk of ±3% a day, kept inside the price range.
        average = (average * rng.between(970, 1030) / 1000).clamp(1, PRICE_CENTS_MAX / 2);
        let low = (average * rng.between(900, 1000) / 1000).max(1);
        let high = (average * rng.between(1000, 1100) / 1000).max(average);
        let orders = rng.log_uniform(orders_decades);
        let quantity = orders * rng.log_uniform(4);
        out.push(b'[');
        push_time(out, today - (days - d) as i64 * 86_400);
        out.push(b',');
        push_int(out, orders);
        out.push(b',');
        push_int(out, quantity);
        for v in [low, high, average] {
            out.push(b',');
            push_cents(out, v);
        }
        out.push(b']');
    }
}

fn push_sep(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Whole cents as a decimal: `8999`, `8999.5`, `11499.99`.
fn push_cents(out: &mut Vec<u8>, cents: i64) {
    debug_assert!(cents >= 0);
    push_int(out, cents / 100);
    let frac = cents % 100;
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + (frac / 10) as u8);
        if frac % 10 != 0 {
            out.push(b'0' + (frac % 10) as u8);
        }
    }
}

fn push_hex(out: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for k in (0..16).rev() {
        out.push(HEX[((v >> (k * 4)) & 0xf) as usize]);
    }
}

fn push_time(out: &mut Vec<u8>, t: UnixSeconds) {
    out.push(b'"');
    out.extend_from_slice(&time::format(t));
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::uudif::Message;
    use crate::{Pipeline, PipelineConfig, Upload};

    /// 2011-10-22T15:46:00Z.
    const BASE: UnixSeconds = 1_319_298_360;

    fn accept(json: &[u8]) -> (Message, Vec<u8>) {
        let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
        let mut frame = Vec::new();
        p.process(&Upload::body(json), BASE + 60, &mut frame)
            .unwrap_or_else(|r| panic!("rejected: {r}"));
        (p.message().clone(), p.json().to_vec())
    }

    fn assert_distinct_rowsets(m: &Message) {
        let keys: HashSet<_> = m.rowsets.iter().map(|r| (r.region_id, r.type_id)).collect();
        assert_eq!(keys.len(), m.rowsets.len(), "a (regionID, typeID) repeats");
    }

    #[test]
    fn orders_are_accepted_at_every_size() {
        let mut rng = Rng::new(1);
        for (rowsets, rows) in [(1, 1), (1, 10), (1, 100), (10, 100), (1000, 30), (3, 0)] {
            let json = orders_json(&mut rng, rowsets, rows, BASE);
            let (m, _) = accept(&json);
            assert_eq!(m.result_type, ResultType::Orders);
            assert_eq!((m.rowsets.len(), m.orders.len()), (rowsets, rowsets * rows));
            assert_distinct_rowsets(&m);
            for o in &m.orders {
                assert!(o.price >= 0.01 && o.price <= 1.3e9, "{}", o.price);
                assert!(RANGES.contains(&o.range));
                assert!((ORDER_ID_FIRST..=ORDER_ID_LAST).contains(&o.order_id));
                assert!((STATION_ID_FIRST..=STATION_ID_LAST).contains(&o.station_id));
                assert!(1 <= o.min_volume && o.min_volume <= o.vol_remaining);
                assert!(o.vol_remaining <= o.vol_entered);
                assert!(o.issue_date <= BASE && o.issue_date >= BASE - 90 * 86_400);
                assert!(DURATIONS_DAYS.contains(&o.duration));
                assert!(o.bid || o.range == -1, "sell orders are station range");
            }
        }
    }

    #[test]
    fn large_messages_have_both_sides_and_some_unknown_systems() {
        let (m, _) = accept(&orders_json(&mut Rng::new(2), 100, 30, BASE));
        let nulls = m
            .orders
            .iter()
            .filter(|o| o.solar_system_id.is_none())
            .count();
        let bids = m.orders.iter().filter(|o| o.bid).count();
        assert!((50..300).contains(&nulls), "{nulls} null systems of 3000");
        assert!((900..1500).contains(&bids), "{bids} bids of 3000");
        let cheap = m.orders.iter().filter(|o| o.price < 10.0).count();
        let dear = m.orders.iter().filter(|o| o.price > 1e7).count();
        assert!(cheap > 0 && dear > 0, "prices span magnitudes");
    }

    #[test]
    fn history_is_accepted_at_every_size() {
        let mut rng = Rng::new(3);
        for (rowsets, days) in [(1, 1), (1, 365), (5, 30), (2, HISTORY_DAYS_MAX)] {
            let json = history_json(&mut rng, rowsets, days, BASE);
            let (m, _) = accept(&json);
            assert_eq!(m.result_type, ResultType::History);
            assert_eq!(
                (m.rowsets.len(), m.history.len()),
                (rowsets, rowsets * days)
            );
            assert_distinct_rowsets(&m);
            let today = BASE.div_euclid(86_400) * 86_400;
            for (i, h) in m.history[..days].iter().enumerate() {
                assert_eq!(h.date, today - (days - i) as i64 * 86_400);
                assert!(h.low <= h.average && h.average <= h.high);
                assert!(h.orders >= 1 && h.quantity >= h.orders);
            }
        }
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        let shape = Shape::orders(5, 20);
        let a = message_json(&mut Rng::new(42), shape, BASE, Some(7));
        let b = message_json(&mut Rng::new(42), shape, BASE, Some(7));
        let c = message_json(&mut Rng::new(43), shape, BASE, Some(7));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut rng = Rng::new(42);
        assert_ne!(
            orders_json(&mut rng, 1, 10, BASE),
            orders_json(&mut rng, 1, 10, BASE),
            "successive messages from one stream differ"
        );
    }

    #[test]
    fn rowset_keys_never_repeat_even_past_one_region() {
        let mut rng = Rng::new(4);
        for _ in 0..4 {
            let keys = RowsetKeys::new(&mut rng);
            let n = TYPE_ID_COUNT * 2 + 10;
            let seen: HashSet<_> = (0..n).map(|i| keys.get(i)).collect();
            assert_eq!(seen.len(), n);
            for (region, ty) in seen {
                assert!((REGION_ID_FIRST..=REGION_ID_LAST).contains(&region));
                assert!((TYPE_ID_FIRST..=TYPE_ID_LAST).contains(&ty));
            }
        }
        // 20,000 rowsets in one message: still no duplicates for the engine.
        let (m, _) = accept(&orders_json(&mut Rng::new(5), 20_000, 1, BASE));
        assert_distinct_rowsets(&m);
    }

    #[test]
    fn the_loadgen_key_survives_the_pipeline() {
        let json = message_json(
            &mut Rng::new(6),
            Shape::orders(2, 3),
            BASE,
            Some(u64::MAX - 1),
        );
        assert_eq!(upload_key_of(&json), Some(u64::MAX - 1));
        let (m, canonical) = accept(&json);
        assert!(m.upload_keys.iter().any(|k| k.name == LOADGEN_KEY_NAME));
        assert_eq!(upload_key_of(&canonical), Some(u64::MAX - 1));
        assert_eq!(
            upload_key_of(&orders_json(&mut Rng::new(6), 1, 1, BASE)),
            None
        );
    }

    #[test]
    fn cents_are_written_as_short_decimals() {
        for (cents, text) in [
            (1, "0.01"),
            (10, "0.1"),
            (899_900, "8999"),
            (1_149_999, "11499.99"),
        ] {
            let mut out = Vec::new();
            push_cents(&mut out, cents);
            assert_eq!(out, text.as_bytes());
        }
    }

    #[test]
    fn rng_bounds_hold() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            assert!(rng.below(3) < 3);
            let v = rng.between(-1, 1);
            assert!((-1..=1).contains(&v));
        }
        assert_eq!(Rng::new(9).next_u64(), Rng::new(9).next_u64());
    }
}
