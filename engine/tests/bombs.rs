//! Decompression bombs: a 1 GiB body of JSON white space, about 6.5 MB compressed, must be
//! refused with 413 after the engine has produced at most `inflated_bytes_max` of it, and
//! without its memory ever growing much past that limit.
//!
//! The bombs are built by hand (one fixed-Huffman deflate block of length-258, distance-1
//! matches: 13 bits per 258 bytes), so a test makes a 1 GiB bomb in milliseconds instead of
//! compressing 1 GiB. A small twin from the same builder decodes in full, which shows the
//! builder makes valid streams: the big ones are refused for their size, not for corruption.
//!
//! Memory is measured with a counting global allocator; the tests in this file take a lock so
//! that they do not run at once and disturb each other's figures.
#![allow(unsafe_code)] // the counting allocator below; see its SAFETY comments
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test (see clippy.toml)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;
use engine::{Limits, Pipeline, PipelineConfig, Reject, Upload};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(n: usize) {
    CURRENT.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// it upholds GlobalAlloc's contract exactly as System does; the bookkeeping only touches
// atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see above).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Count the new block before the old one goes: a moving realloc holds both.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Bytes allocated now, and the peak since the last call to `reset_peak`.
fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

fn reset_peak() -> usize {
    let now = current();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Writes a deflate bit stream, least significant bit first (RFC 1951 §3.1.1).
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn put(&mut self, value: u64, bits: u32) {
        self.acc |= value << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: its bits go most significant first.
    fn code(&mut self, code: u64, bits: u32) {
        let reversed = code.reverse_bits() >> (64 - bits);
        self.put(reversed, bits);
    }

    /// A literal byte of the fixed code (RFC 1951 §3.2.6).
    fn literal(&mut self, b: u8) {
        if b < 144 {
            self.code(0x30 + u64::from(b), 8);
        } else {
            self.code(0x190 + u64::from(b - 144), 9);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The content of a bomb: `{`, `1 + 258 * matches` spaces, `}`: blank JSON object text.
fn bomb_len(matches: usize) -> usize {
    3 + 258 * matches
}

/// Raw deflate of `{`, spaces, `}`: one final fixed-Huffman block.
fn bomb_deflate(matches: usize) -> Vec<u8> {
    let mut w = Bits::new();
    w.put(1, 1); // BFINAL
    w.put(1, 2); // BTYPE = 01, fixed Huffman
    w.literal(b'{');
    w.literal(b' ');
    for _ in 0..matches {
        w.code(0xc5, 8); // length symbol 285: 258 bytes
        w.code(0, 5); // distance symbol 0: distance 1
    }
    w.literal(b'}');
    w.code(0, 7); // end of block
    w.finish()
}

/// Adler-32 of the bomb's content, computed in closed form for the run of spaces.
fn bomb_adler32(matches: usize) -> u32 {
    const M: u64 = 65_521;
    let (mut a, mut b) = (1u64, 0u64);
    let mut byte = |c: u64| {
        a = (a + c) % M;
        b = (b + a) % M;
    };
    byte(u64::from(b'{'));
    // n spaces: a += 32n, b += n*a + 32*n(n+1)/2.
    let n = (1 + 258 * matches) as u64;
    let c = u64::from(b' ');
    let b2 = (b + (n % M) * a + c * ((n * (n + 1) / 2) % M)) % M;
    let a2 = (a + c * (n % M)) % M;
    let (mut a, mut b) = (a2, b2);
    a = (a + u64::from(b'}')) % M;
    b = (b + a) % M;
    ((b << 16) | a) as u32
}

fn bomb_zlib(matches: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    out.extend(bomb_deflate(matches));
    out.extend(bomb_adler32(matches).to_be_bytes());
    out
}

/// CRC-32 of the bomb's content. A bomb is for the big cases only: the run is hashed in
/// 1 MiB chunks, which takes a moment for a GiB; the small twin checks the result.
fn bomb_crc32(matches: usize) -> u32 {
    let mut crc = libdeflater::Crc::new();
    crc.update(b"{");
    let chunk = vec![b' '; 1 << 20];
    let mut left = 1 + 258 * matches;
    while left > 0 {
        let n = left.min(chunk.len());
        crc.update(&chunk[..n]);
        left -= n;
    }
    crc.update(b"}");
    crc.sum()
}

fn bomb_gzip(matches: usize) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(bomb_deflate(matches));
    out.extend(bomb_crc32(matches).to_le_bytes());
    out.extend((bomb_len(matches) as u32).to_le_bytes());
    out
}

/// The number of matches that makes a bomb of at least `bytes`.
fn matches_for(bytes: usize) -> usize {
    bytes.div_ceil(258)
}

#[test]
fn the_bomb_builder_makes_valid_streams() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = matches_for(100 << 10);
    let want = bomb_len(m);
    // An independent inflater agrees on the content and the checksums.
    let z = frame_json(&bomb_zlib(m));
    assert_eq!(z.len(), want);
    assert_eq!((z[0], z[want - 1]), (b'{', b'}'));
    assert!(z[1..want - 1].iter().all(|&c| c == b' '));
    let mut g = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bomb_gzip(m)[..]), &mut g)
        .unwrap();
    assert_eq!(g, z);
    // Under the limit the engine decodes all of it, and finds an empty object.
    for (name, body, ce) in [
        ("gzip", bomb_gzip(m), None),
        ("zlib", bomb_zlib(m), None),
        ("deflate", bomb_deflate(m), Some("deflate")),
    ] {
        let r = run(&upload(&body, ce, None)).unwrap_err();
        assert_eq!(
            r,
            Reject::MissingKey(engine::reject::Key::ResultType),
            "{name}"
        );
    }
}

/// 1 GiB against the default limits: refused with 413, having held little more than the
/// limit (64 MiB), and quickly.
#[test]
fn a_gigabyte_bomb_is_refused_within_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = matches_for(1 << 30);
    let cap = Limits::default().inflated_bytes_max;
    let bodies = [
        ("gzip", bomb_gzip(m), Some("gzip")),
        ("zlib", bomb_zlib(m), Some("deflate")),
        ("deflate", bomb_deflate(m), Some("deflate")),
        ("gzip, sniffed", bomb_gzip(m), None),
        ("zlib, sniffed", bomb_zlib(m), None),
    ];
    for (name, body, ce) in &bodies {
        let mut pipeline = Pipeline::new(PipelineConfig::default()).unwrap();
        assert!(
            body.len() < Limits::default().body_bytes_max,
            "{name}: {} bytes",
            body.len()
        );
        let before = reset_peak();
        let started = std::time::Instant::now();
        let mut frame = Vec::new();
        let r = pipeline.process(&upload(body, *ce, None), NOW, &mut frame);
        let held = peak() - before;
        eprintln!(
            "{name}: {} bytes in, held {held} bytes at most, {:?}",
            body.len(),
            started.elapsed()
        );
        assert_eq!(r, Err(Reject::InflatedTooLarge { max: cap }), "{name}");
        assert_eq!(r.unwrap_err().status(), 413);
        // Bounded by a small multiple of the cap, whatever the bomb's size. (How close to
        // the cap itself is `the_inflate_buffer_never_grows_past_the_cap`, below.)
        assert!(
            held <= 3 * cap,
            "{name}: held {held} bytes for a cap of {cap}"
        );
        assert!(
            started.elapsed().as_secs() < 20,
            "{name}: {:?}",
            started.elapsed()
        );
        // The pipeline still works after the bomb.
        assert!(run_on(&mut pipeline, &Upload::body(&Msg::orders().json())).is_ok());
    }
}

/// body.rs: "output goes into a buffer that grows by doubling up to `inflated_bytes_max` and
/// no further". It grows with `Vec::resize`, whose amortised growth at least doubles the
/// *capacity*: a zlib bomb of 6.7 MB starts at 4 x 6.7 = 27 MB, goes to 54 MB, and the last
/// step to the 64 MiB cap reserves 108 MB, while the 54 MB block is still live (162 MB in all).
/// Growing to exactly the cap (e.g. `reserve_exact` before `resize`) bounds it by 1.5 x cap.
#[test]

fn the_inflate_buffer_never_grows_past_the_cap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cap = Limits::default().inflated_bytes_max;
    let body = bomb_zlib(matches_for(1 << 30));
    let mut pipeline = Pipeline::new(PipelineConfig::default()).unwrap();
    let before = reset_peak();
    let mut frame = Vec::new();
    let r = pipeline.process(&Upload::body(&body), NOW, &mut frame);
    assert_eq!(r, Err(Reject::InflatedTooLarge { max: cap }));
    let held = peak() - before;
    assert!(
        held <= cap + cap / 2 + (1 << 20),
        "held {held} bytes for a cap of {cap}"
    );
}

/// body.rs: "After an upload, a buffer larger than [8 MiB] is given back to the allocator, so
/// that one huge upload does not pin its memory in a shard for ever." A bomb is the upload
/// that makes the buffer huge, and it is refused, which skips the trim: the pipeline keeps
/// the whole `inflated_bytes_max` (64 MiB by default) until its next accepted upload.
#[test]

fn a_refused_bomb_does_not_pin_its_buffer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let body = bomb_zlib(matches_for(1 << 30));
    let mut pipeline = Pipeline::new(PipelineConfig::default()).unwrap();
    let before = current();
    let mut frame = Vec::new();
    let r = pipeline.process(&Upload::body(&body), NOW, &mut frame);
    assert!(matches!(r, Err(Reject::InflatedTooLarge { .. })));
    let kept = current().saturating_sub(before);
    assert!(
        kept <= 8 << 20,
        "the pipeline kept {kept} bytes after refusing a bomb"
    );
}

/// The same with a lowered limit, and multi-member gzip whose members are small but whose sum
/// is a bomb.
#[test]
fn bombs_stop_at_a_lowered_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cap = 1 << 20;
    let config = PipelineConfig {
        limits: Limits {
            inflated_bytes_max: cap,
            ..Limits::default()
        },
        ..PipelineConfig::default()
    };
    let m = matches_for(200 << 20);
    let member = gzip(&vec![b' '; 512 << 10]);
    let many_members: Vec<u8> = std::iter::repeat_n(member.as_slice(), 400)
        .flatten()
        .copied()
        .collect();
    for (name, body, ce) in [
        ("gzip", bomb_gzip(m), Some("gzip")),
        ("zlib", bomb_zlib(m), Some("deflate")),
        ("deflate", bomb_deflate(m), Some("deflate")),
        ("400 gzip members of 512 KiB", many_members, Some("gzip")),
    ] {
        let before = reset_peak();
        let r = run_with(config.clone(), &upload(&body, ce, None));
        let held = peak() - before;
        eprintln!("{name}: {} bytes in, held {held} bytes at most", body.len());
        assert_eq!(
            r.map(|o| o.text()),
            Err(Reject::InflatedTooLarge { max: cap }),
            "{name}"
        );
        assert!(
            held <= 2 * cap + (1 << 20),
            "{name}: held {held} bytes for a cap of {cap}"
        );
    }
}
