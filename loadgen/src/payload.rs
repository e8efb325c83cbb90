//! Payloads, all built before the clock starts: HTTP upload bodies and relay frames, each
//! with an id that is patched in place for every send.
//!
//! The JSON comes from `engine::synth` (realistic IDs, prices, dates; per-type uploads of tens
//! to hundreds of orders; region-wide ones of many rowsets) with the placeholder key
//! [`ledger::PLACEHOLDER_KEY`] in its `uploadKeys`. Bodies are encoded as each kind of
//! uploader sends them:
//!
//! | encoding  | header                                 | like      |
//! |-----------|----------------------------------------|-----------|
//! | `gzip`    | `Content-Encoding: gzip`               | EVEMon    |
//! | `deflate` | `Content-Encoding: deflate`, zlib bytes| EMDU      |
//! | `form`    | urlencoded `data=` field               | web forms, EVE Marketeer's uploader |
//! | `raw`     | plain JSON                             | scripts   |
//!
//! Why patching, and how: every sent upload needs a unique key (relays drop byte-identical
//! frames, and matching feed messages to uploads needs it), but compressing per send would
//! make the generator the bottleneck. So a compressed body is laid out as one *stored*
//! (uncompressed) deflate block holding the JSON up to and including the key, followed by the
//! libdeflate-compressed rest: a valid gzip / zlib stream (RFC 1951 allows any mix of block
//! types) whose key bytes sit at a known offset. A send copies the body, writes the key's
//! digits and recomputes the trailer checksum (CRC-32 for gzip, Adler-32 for zlib), resuming
//! from the checksum of the unchanged prefix computed here. The prefix is the few hundred bytes
//! before `rowsets`, so the compression ratio is that of the whole message within a percent.
//! Relay frames use the same layout in a zlib frame: a valid frame whose inflation is the
//! canonical JSON `engine::Pipeline` produced.

use anyhow::{bail, Context as _};
use engine::synth::{self, Rng, Shape};
use engine::{Pipeline, PipelineConfig, Upload};
use libdeflater::{Adler32, CompressionLvl, Compressor, Crc};

use crate::ledger::{self, KEY_DIGITS};

/// Orders per rowset of region-wide uploads (a region's market for each type is small).
pub const REGION_ROWS_PER_TYPE: usize = 30;
/// Uploads of up to this many orders are one type's market: one rowset.
pub const SINGLE_TYPE_ORDERS_MAX: usize = 1000;
/// The largest upload the generator builds, in rows.
pub const UPLOAD_ROWS_MAX: usize = 500_000;
/// Distinct payloads at most (a limit on start-up memory and time).
pub const PAYLOADS_MAX: usize = 65_536;
/// The stored block holding the prefix cannot exceed this (RFC 1951 LEN is 16 bits).
const STORED_BLOCK_MAX: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Orders,
    History,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Orders => "orders",
            Kind::History => "history",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Gzip,
    Deflate,
    Form,
    Raw,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Form,
        Encoding::Raw,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Form => "form",
            Encoding::Raw => "raw",
        }
    }

    pub fn parse(s: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The request headers after `Host`, up to and including the blank line.
    fn head(self, body_len: usize) -> Vec<u8> {
        let (agent, ctype, cenc) = match self {
            Encoding::Gzip => ("EVEMon/1.6.0", "application/json", Some("gzip")),
            Encoding::Deflate => ("EMDU/1.2.2", "application/json", Some("deflate")),
            Encoding::Form => (
                "EVE Marketeer Uploader/2.1.4",
                "application/x-www-form-urlencoded",
                None,
            ),
            Encoding::Raw => ("emdr-loadgen", "application/json", None),
        };
        let mut h = format!("User-Agent: {agent}\r\nContent-Type: {ctype}\r\n");
        if let Some(enc) = cenc {
            h.push_str(&format!("Content-Encoding: {enc}\r\n"));
        }
        h.push_str(&format!("Content-Length: {body_len}\r\n\r\n"));
        h.into_bytes()
    }
}

/// One size class of uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeClass {
    pub kind: Kind,
    /// Orders per upload, or days of history.
    pub rows: usize,
    pub weight: u64,
}

impl SizeClass {
    /// The message shape: up to [`SINGLE_TYPE_ORDERS_MAX`] orders are one type; more are a
    /// region-wide dump of [`REGION_ROWS_PER_TYPE`] orders per type (rounded down to a whole
    /// number per rowset: the figures count the rows actually built).
    pub fn shape(&self) -> Shape {
        match self.kind {
            Kind::History => Shape::history(1, self.rows),
            Kind::Orders if self.rows <= SINGLE_TYPE_ORDERS_MAX => Shape::orders(1, self.rows),
            Kind::Orders => {
                let rowsets = self.rows.div_ceil(REGION_ROWS_PER_TYPE);
                Shape::orders(rowsets, self.rows / rowsets)
            }
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct PayloadPlan {
    /// Classes with their weights (share of uploads, not of rows).
    pub classes: Vec<SizeClass>,
    pub encodings: Vec<(Encoding, u64)>,
    /// Distinct JSON messages, spread over the classes by weight (at least one each).
    pub distinct: usize,
    pub seed: u64,
    /// libdeflate level of gzip and zlib bodies (6 is zlib's and .NET's default).
    pub upload_level: u8,
    /// "now" of the generated messages, Unix seconds.
    pub base_time: i64,
}

/// Where a checksum goes and how to recompute it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// gzip: CRC-32 little-endian at `at`; `prefix` is the CRC of the JSON before the key.
    Crc32Le {
        at: usize,
        prefix: u32,
    },
    /// zlib: Adler-32 big-endian at `at`.
    Adler32Be {
        at: usize,
        prefix: u32,
    },
}

/// A message with its key placeholder.
#[derive(Debug, Clone)]
pub struct Content {
    pub kind: Kind,
    pub rows: u32,
    pub json: Vec<u8>,
    /// Offset of the key digits in `json`.
    pub key_at: usize,
}

/// An encoded body ready to send, with where to patch it.
#[derive(Debug, Clone)]
pub struct Body {
    pub content: u32,
    pub encoding: Encoding,
    pub kind: Kind,
    pub rows: u32,
    /// Headers after `Host` (ends with the blank line).
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub key_at: usize,
    pub check: Check,
}

/// Every body of a run and how to pick one.
#[derive(Debug)]
pub struct Payloads {
    pub contents: Vec<Content>,
    pub bodies: Vec<Body>,
    /// Per size class: its weight and its contents.
    classes: Vec<(u64, Vec<u32>)>,
    encodings: Vec<(Encoding, u64)>,
    /// `body_of[content][encoding]`.
    body_of: Vec<[u32; 4]>,
}

/// Offset of the loadgen key's value in `json`.
pub fn key_position(json: &[u8]) -> Option<usize> {
    let open = format!("{{\"name\":\"{}\",\"key\":\"", synth::LOADGEN_KEY_NAME);
    json.windows(open.len())
        .position(|w| w == open.as_bytes())
        .map(|i| i + open.len())
}

/// A synth message of `shape` with the placeholder key, and the key's offset.
pub fn placeholder_message(rng: &mut Rng, shape: Shape, base_time: i64) -> (Vec<u8>, usize) {
    let json = synth::message_json(rng, shape, base_time, Some(ledger::PLACEHOLDER_KEY));
    let at = key_position(&json).expect("synth writes the loadgen key");
    debug_assert_eq!(
        &json[at..at + KEY_DIGITS],
        &ledger::key_digits(ledger::PLACEHOLDER_KEY)
    );
    (json, at)
}

/// Raw deflate of `json` with the bytes up to `split` in a stored block: the key (before
/// `split`) is then at `out_start + 5 + key_at`.
fn deflate_patchable(c: &mut Compressor, json: &[u8], split: usize, out: &mut Vec<u8>) {
    assert!(
        split <= STORED_BLOCK_MAX,
        "the prefix fits one stored block"
    );
    let len = split as u16;
    out.push(0x00); // BFINAL 0, BTYPE 00 (stored), padding to the byte boundary
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&json[..split]);
    let rest = &json[split..];
    let start = out.len();
    out.resize(start + c.deflate_compress_bound(rest.len()), 0);
    let n = c
        .deflate_compress(rest, &mut out[start..])
        .expect("the bound is large enough");
    out.truncate(start + n);
}

fn urlencode_into(data: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in data {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

/// Encode `json` (key at `key_at`) as `encoding`: the body, the key's offset in it, the check.
pub fn encode(
    c: &mut Compressor,
    json: &[u8],
    key_at: usize,
    encoding: Encoding,
) -> (Vec<u8>, usize, Check) {
    let split = key_at + KEY_DIGITS;
    let mut prefix_crc = Crc::new();
    prefix_crc.update(&json[..key_at]);
    let mut prefix_adler = Adler32::new();
    prefix_adler.update(&json[..key_at]);
    match encoding {
        Encoding::Gzip => {
            // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=0 (what .NET's GZipStream writes).
            let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0];
            let header = out.len();
            deflate_patchable(c, json, split, &mut out);
            let at = out.len();
            out.extend_from_slice(&libdeflater::crc32(json).to_le_bytes());
            out.extend_from_slice(&(json.len() as u32).to_le_bytes());
            let check = Check::Crc32Le {
                at,
                prefix: prefix_crc.sum(),
            };
            (out, header + 5 + key_at, check)
        }
        Encoding::Deflate => {
            let mut out = vec![0x78, 0x9c];
            deflate_patchable(c, json, split, &mut out);
            let at = out.len();
            out.extend_from_slice(&libdeflater::adler32(json).to_be_bytes());
            let check = Check::Adler32Be {
                at,
                prefix: prefix_adler.sum(),
            };
            (out, 2 + 5 + key_at, check)
        }
        Encoding::Form => {
            let mut out = b"data=".to_vec();
            urlencode_into(&json[..key_at], &mut out);
            let at = out.len();
            urlencode_into(&json[key_at..], &mut out);
            (out, at, Check::None)
        }
        Encoding::Raw => (json.to_vec(), key_at, Check::None),
    }
}

/// Write `digits` into `out` (a copy of a body or frame whose JSON is `json`, key at
/// `json_key_at`) at `key_at`, and recompute its checksum.
pub fn patch(
    out: &mut [u8],
    key_at: usize,
    check: Check,
    json: &[u8],
    json_key_at: usize,
    digits: &[u8; KEY_DIGITS],
) {
    out[key_at..key_at + KEY_DIGITS].copy_from_slice(digits);
    let rest = &json[json_key_at + KEY_DIGITS..];
    match check {
        Check::None => {}
        Check::Crc32Le { at, prefix } => {
            let mut crc = Crc::with_initial(prefix);
            crc.update(digits);
            crc.update(rest);
            out[at..at + 4].copy_from_slice(&crc.sum().to_le_bytes());
        }
        Check::Adler32Be { at, prefix } => {
            let mut a = Adler32::with_initial(prefix);
            a.update(digits);
            a.update(rest);
            out[at..at + 4].copy_from_slice(&a.sum().to_be_bytes());
        }
    }
}

fn weighted<T: Copy>(items: &[(T, u64)], rng: &mut Rng) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total.max(1));
    for &(item, w) in items {
        if x < w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

impl Payloads {
    /// Build every body of `plan`. Takes a while for big classes: call before the clock.
    pub fn build(plan: &PayloadPlan) -> anyhow::Result<Payloads> {
        if plan.classes.is_empty() || plan.classes.iter().all(|c| c.weight == 0) {
            bail!("no upload class has a positive weight");
        }
        if plan.encodings.is_empty() || plan.encodings.iter().all(|e| e.1 == 0) {
            bail!("no encoding has a positive weight");
        }
        if !(1..=12).contains(&plan.upload_level) {
            bail!("the upload compression level must be 1 to 12");
        }
        let classes: Vec<SizeClass> = plan
            .classes
            .iter()
            .copied()
            .filter(|c| c.weight > 0)
            .collect();
        for c in &classes {
            if c.rows == 0 || c.rows > UPLOAD_ROWS_MAX {
                bail!(
                    "uploads of {} rows: sizes must be 1 to {UPLOAD_ROWS_MAX}",
                    c.rows
                );
            }
            if c.kind == Kind::History && c.rows > synth::HISTORY_DAYS_MAX {
                bail!(
                    "history uploads of {} days: at most {}",
                    c.rows,
                    synth::HISTORY_DAYS_MAX
                );
            }
        }
        let encodings: Vec<(Encoding, u64)> =
            plan.encodings.iter().copied().filter(|e| e.1 > 0).collect();
        let distinct = plan.distinct.clamp(1, PAYLOADS_MAX);
        let total_weight: u64 = classes.iter().map(|c| c.weight).sum();
        let level = CompressionLvl::new(i32::from(plan.upload_level))
            .map_err(|_| anyhow::anyhow!("bad compression level"))?;
        let mut c = Compressor::new(level);
        let mut rng = Rng::new(plan.seed);
        let mut out = Payloads {
            contents: Vec::new(),
            bodies: Vec::new(),
            classes: Vec::new(),
            encodings: encodings.clone(),
            body_of: Vec::new(),
        };
        for class in &classes {
            let share = (distinct as u128 * u128::from(class.weight) / u128::from(total_weight))
                .max(1) as usize;
            let shape = class.shape();
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let (json, key_at) = placeholder_message(&mut rng, shape, plan.base_time);
                let content = out.contents.len() as u32;
                let mut index = [u32::MAX; 4];
                for &(e, _) in &encodings {
                    let (body, at, check) = encode(&mut c, &json, key_at, e);
                    index[e.index()] = out.bodies.len() as u32;
                    out.bodies.push(Body {
                        content,
                        encoding: e,
                        kind: class.kind,
                        rows: shape.rows() as u32,
                        head: e.head(body.len()),
                        body,
                        key_at: at,
                        check,
                    });
                }
                out.body_of.push(index);
                out.contents.push(Content {
                    kind: class.kind,
                    rows: shape.rows() as u32,
                    json,
                    key_at,
                });
                ids.push(content);
            }
            out.classes.push((class.weight, ids));
        }
        Ok(out)
    }

    /// Copy body `b` (its head after `Host`, then its body) onto `out`, patched with `key`.
    pub fn write_request(&self, b: u32, key: u64, out: &mut Vec<u8>) {
        let body = &self.bodies[b as usize];
        let content = &self.contents[body.content as usize];
        out.extend_from_slice(&body.head);
        let start = out.len();
        out.extend_from_slice(&body.body);
        patch(
            &mut out[start..],
            body.key_at,
            body.check,
            &content.json,
            content.key_at,
            &ledger::key_digits(key),
        );
    }

    /// Mean rows per upload under the weights (for sizing the id space).
    pub fn mean_rows(&self) -> f64 {
        let total: u64 = self.classes.iter().map(|c| c.0).sum();
        self.classes
            .iter()
            .map(|(w, ids)| {
                let rows = self.contents[ids[0] as usize].rows as f64;
                rows * *w as f64 / total as f64
            })
            .sum()
    }

    /// The smallest body: for probes.
    pub fn smallest(&self) -> u32 {
        (0..self.bodies.len() as u32)
            .min_by_key(|&b| self.bodies[b as usize].body.len())
            .expect("at least one body")
    }
}

/// Draws bodies with the plan's weights; one per sender, seeded separately.
#[derive(Debug)]
pub struct Picker {
    rng: Rng,
    next_in_class: Vec<usize>,
}

impl Picker {
    pub fn new(p: &Payloads, seed: u64) -> Picker {
        Picker {
            rng: Rng::new(seed),
            next_in_class: vec![0; p.classes.len()],
        }
    }

    /// The next body: a class by weight, the class's contents in turn, an encoding by weight.
    pub fn pick(&mut self, p: &Payloads) -> u32 {
        let total: u64 = p.classes.iter().map(|c| c.0).sum();
        let mut x = self.rng.below(total);
        let mut class = p.classes.len() - 1;
        for (i, (w, _)) in p.classes.iter().enumerate() {
            if x < *w {
                class = i;
                break;
            }
            x -= *w;
        }
        let ids = &p.classes[class].1;
        let n = &mut self.next_in_class[class];
        let content = ids[*n % ids.len()];
        *n = n.wrapping_add(1);
        let e = weighted(&p.encodings, &mut self.rng);
        let b = p.body_of[content as usize][e.index()];
        debug_assert_ne!(b, u32::MAX);
        b
    }
}

/// A relay frame: a zlib frame of canonical JSON with a patchable key.
#[derive(Debug, Clone)]
pub struct Frame {
    pub rows: u32,
    pub json: Vec<u8>,
    pub json_key_at: usize,
    pub frame: Vec<u8>,
    pub key_at: usize,
    pub check: Check,
    /// Size of the frame the gateway itself would publish (libdeflate, one pass).
    pub gateway_frame_bytes: usize,
}

/// Canonical frames for `--relay` mode: synth JSON through `engine::Pipeline::process` (the
/// gateway's own job), then laid out with a patchable key (module docs) at zlib level `level`.
/// Frame `i` is body `i` of the returned payloads, so their [`Picker`] picks frames.
pub fn relay_frames(plan: &PayloadPlan, level: u8) -> anyhow::Result<(Payloads, Vec<Frame>)> {
    let payloads = Payloads::build(&PayloadPlan {
        encodings: vec![(Encoding::Raw, 1)],
        ..plan.clone()
    })?;
    let mut pipeline = Pipeline::new(PipelineConfig {
        zlib_level: level,
        ..PipelineConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let lvl = CompressionLvl::new(i32::from(level)).map_err(|_| anyhow::anyhow!("bad level"))?;
    let mut c = Compressor::new(lvl);
    let mut gateway_frame = Vec::new();
    let frames = payloads
        .bodies
        .iter()
        .map(|body| {
            let content = &payloads.contents[body.content as usize];
            pipeline
                .process(
                    &Upload::body(&content.json),
                    plan.base_time,
                    &mut gateway_frame,
                )
                .map_err(|r| anyhow::anyhow!("the engine refused a generated message: {r}"))?;
            let json = pipeline.json().to_vec();
            let json_key_at =
                key_position(&json).context("the canonical JSON lost the loadgen key")?;
            let (frame, key_at, check) = encode(&mut c, &json, json_key_at, Encoding::Deflate);
            Ok(Frame {
                rows: content.rows,
                json,
                json_key_at,
                frame,
                key_at,
                check,
                gateway_frame_bytes: gateway_frame.len(),
            })
        })
        .collect::<anyhow::Result<Vec<Frame>>>()?;
    Ok((payloads, frames))
}

impl Frame {
    /// The frame patched with `key`, into `out` (same length as `self.frame`).
    pub fn write(&self, key: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.frame);
        patch(
            out,
            self.key_at,
            self.check,
            &self.json,
            self.json_key_at,
            &ledger::key_digits(key),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::synth::upload_key_of;
    use std::io::Read;

    const BASE: i64 = 1_700_000_000;

    fn plan(classes: Vec<SizeClass>, encodings: Vec<(Encoding, u64)>) -> PayloadPlan {
        PayloadPlan {
            classes,
            encodings,
            distinct: 8,
            seed: 3,
            upload_level: 6,
            base_time: BASE,
        }
    }

    fn orders(rows: usize, weight: u64) -> SizeClass {
        SizeClass {
            kind: Kind::Orders,
            rows,
            weight,
        }
    }

    /// Decode a sent body as a third party would (flate2, not libdeflate), checksums included.
    fn decode(e: Encoding, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match e {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(body)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Deflate => {
                flate2::read::ZlibDecoder::new(body)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Form | Encoding::Raw => out = body.to_vec(),
        }
        out
    }

    #[test]
    fn patched_bodies_decode_and_the_engine_accepts_them_with_the_new_key() {
        let p = Payloads::build(&plan(
            vec![orders(100, 1)],
            Encoding::ALL.iter().map(|&e| (e, 1)).collect(),
        ))
        .unwrap();
        assert_eq!(p.bodies.len(), 8 * 4);
        let mut pipeline = Pipeline::new(PipelineConfig::default()).unwrap();
        let mut frame = Vec::new();
        for (i, b) in p.bodies.iter().enumerate() {
            let key = ledger::KEY_BASE + 123_456_789 + i as u64;
            let mut req = Vec::new();
            p.write_request(i as u32, key, &mut req);
            let head_end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let body = &req[head_end..];
            assert_eq!(body.len(), b.body.len());
            let head = std::str::from_utf8(&req[..head_end]).unwrap();
            assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
            let json = decode(b.encoding, body);
            if b.encoding != Encoding::Form {
                assert_eq!(upload_key_of(&json), Some(key), "{:?}", b.encoding);
            }
            let (ce, ct) = match b.encoding {
                Encoding::Gzip => (Some(&b"gzip"[..]), None),
                Encoding::Deflate => (Some(&b"deflate"[..]), None),
                Encoding::Form => (None, Some(&b"application/x-www-form-urlencoded"[..])),
                Encoding::Raw => (None, Some(&b"application/json"[..])),
            };
            let upload = Upload {
                body,
                content_encoding: ce,
                content_type: ct,
                client_ip: None,
            };
            let acc = pipeline
                .process(&upload, BASE, &mut frame)
                .unwrap_or_else(|r| panic!("{:?}: {r}", b.encoding));
            assert_eq!(acc.rows, 100);
            assert_eq!(upload_key_of(pipeline.json()), Some(key));
        }
    }

    #[test]
    fn the_stored_prefix_costs_little_compression() {
        let mut rng = Rng::new(9);
        let (json, at) = placeholder_message(&mut rng, Shape::orders(1, 100), BASE);
        let mut c = Compressor::new(CompressionLvl::new(6).unwrap());
        let (body, _, _) = encode(&mut c, &json, at, Encoding::Gzip);
        let mut whole = vec![0; c.gzip_compress_bound(json.len())];
        let n = c.gzip_compress(&json, &mut whole).unwrap();
        assert!(
            body.len() < n + n / 10 + 200,
            "patchable {} vs one-pass {n}",
            body.len()
        );
    }

    #[test]
    fn sizes_map_to_realistic_shapes() {
        assert_eq!(orders(100, 1).shape(), Shape::orders(1, 100));
        assert_eq!(orders(30_000, 1).shape(), Shape::orders(1000, 30));
        let s = orders(5000, 1).shape();
        assert!(s.rowsets > 1 && s.rows() <= 5000 && s.rows() > 4800);
        let h = SizeClass {
            kind: Kind::History,
            rows: 365,
            weight: 1,
        };
        assert_eq!(h.shape(), Shape::history(1, 365));
    }

    #[test]
    fn the_picker_follows_the_weights() {
        let p = Payloads::build(&plan(
            vec![
                orders(10, 90),
                SizeClass {
                    kind: Kind::History,
                    rows: 30,
                    weight: 10,
                },
            ],
            vec![(Encoding::Gzip, 75), (Encoding::Raw, 25)],
        ))
        .unwrap();
        let mut picker = Picker::new(&p, 1);
        let (mut history, mut gzip) = (0, 0);
        for _ in 0..10_000 {
            let b = &p.bodies[picker.pick(&p) as usize];
            history += usize::from(b.kind == Kind::History);
            gzip += usize::from(b.encoding == Encoding::Gzip);
        }
        assert!((800..1200).contains(&history), "{history}");
        assert!((7200..7800).contains(&gzip), "{gzip}");
        assert!((p.mean_rows() - 12.0).abs() < 1e-9);
    }

    #[test]
    fn relay_frames_inflate_to_canonical_json_with_the_key() {
        let (_, frames) = relay_frames(&plan(vec![orders(50, 1)], vec![]), 1).unwrap();
        assert_eq!(frames.len(), 8);
        for f in &frames {
            let key = ledger::KEY_BASE + 42;
            let mut out = vec![0; f.frame.len()];
            f.write(key, &mut out);
            let json = decode(Encoding::Deflate, &out);
            assert_eq!(upload_key_of(&json), Some(key));
            assert!(json.starts_with(b"{\"resultType\":\"orders\",\"version\":\"0.1\""));
            assert!(out.len() < f.gateway_frame_bytes + f.gateway_frame_bytes / 5 + 200);
        }
    }

    #[test]
    fn bad_plans_are_refused() {
        assert!(Payloads::build(&plan(vec![orders(10, 0)], vec![(Encoding::Raw, 1)])).is_err());
        assert!(Payloads::build(&plan(vec![orders(10, 1)], vec![(Encoding::Raw, 0)])).is_err());
        assert!(Payloads::build(&plan(vec![orders(0, 1)], vec![(Encoding::Raw, 1)])).is_err());
    }
}
