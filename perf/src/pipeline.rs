//! The engine pipeline benchmark: [`Pipeline::process`] on one core, against its floor.
//!
//! For each message [`Shape`] it builds a corpus of distinct realistic messages with
//! [`engine::synth`], gzip-compressed at level 6 as uploaders send them, all *before* any
//! timing; messages are cycled so caches and branch predictors never see just one. It then
//! times, on the calling thread only:
//! - the whole job, `Pipeline::process` (decompress, parse, validate, encode, compress), at
//!   each requested output zlib level, with the feed bytes each order costs;
//! - the floor of that work on the same inputs in the same run: libdeflate gzip decompression
//!   plus `sonic_rs::from_slice::<sonic_rs::Value>`, i.e. what merely reading the upload costs;
//! - the zlib step alone at every level on one shape's canonical JSON (the default-level
//!   trade-off);
//! - each phase alone (decompress, parse+validate, encode, compress), to show where time goes.
//!
//! Every figure is the median of `repeats` timed runs of at least `cell_time` each, with the
//! spread of the runs beside it; the cells are timed round-robin so that a machine's slow
//! drift (noisy neighbours on a shared VM) spreads over all of them. Rates are rows (orders,
//! or days of history) per second; MB are 10^6 bytes of *uncompressed* JSON. [`run`] does no
//! IO and depends on nothing but its parameters and the clock, so `cargo test` runs it with
//! tiny parameters (perf/tests/pipeline_smoke.rs).

use std::fmt::{self, Write as _};
use std::hint::black_box;
use std::time::{Duration, Instant};

use engine::body::{BodyDecoder, Encoding};
use engine::pipeline::{compress_into, DEFAULT_ZLIB_LEVEL};
use engine::synth::{self, Rng, Shape};
use engine::time::UnixSeconds;
use engine::uudif::{Message, Parser};
use engine::{encode, Limits, Pipeline, PipelineConfig, ResultType, Upload};
use libdeflater::{CompressionLvl, Compressor, Decompressor};

/// The time generated messages are "as of", fixed so that runs compare: 2011-10-22T15:46:00Z.
pub const BASE_TIME: UnixSeconds = 1_319_298_360;
/// The `now` the pipeline is given: a minute later.
const NOW: UnixSeconds = BASE_TIME + 60;
/// The gzip level of the uploads (zlib's and gzip(1)'s default, what uploaders' libraries use).
pub const UPLOAD_GZIP_LEVEL: u8 = 6;
/// Headers of every upload.
const CONTENT_ENCODING: &[u8] = b"gzip";
const CONTENT_TYPE: &[u8] = b"application/json";
/// A shape's corpus never has fewer distinct messages than this, however large they are.
pub const MESSAGES_PER_SHAPE_MIN: usize = 4;
/// Bytes in the MB of "MB/s".
const MB: f64 = 1e6;

/// The sizes the benchmark reports by default: a market window's 10 and 100 orders, 1,000
/// orders over ten types, a region-wide upload of 30,000 orders over 1,000 types, and a year
/// of one type's history.
pub const STANDARD_SHAPES: [Shape; 5] = [
    Shape::orders(1, 10),
    Shape::orders(1, 100),
    Shape::orders(10, 100),
    Shape::orders(1000, 30),
    Shape::history(1, 365),
];

/// Output levels reported by default: fastest, zlib's default, and the engine's default.
pub fn standard_levels() -> Vec<u8> {
    let mut levels = vec![1, 6, DEFAULT_ZLIB_LEVEL];
    levels.sort_unstable();
    levels.dedup();
    levels
}

/// What to measure, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub shapes: Vec<Shape>,
    /// Output zlib levels of the pipeline, 1..=12.
    pub levels: Vec<u8>,
    /// Minimum timed duration of one run of one cell.
    pub cell_time: Duration,
    /// Timed runs per cell; the median is reported.
    pub repeats: usize,
    /// Distinct messages per shape, at most.
    pub messages_per_shape: usize,
    /// Rows over one shape's corpus, at most: large shapes get fewer messages (but at least
    /// [`MESSAGES_PER_SHAPE_MIN`], or `messages_per_shape` if smaller), which bounds memory
    /// and set-up time.
    pub corpus_rows_max: usize,
    /// The shape whose canonical JSON the zlib-only comparison compresses.
    pub zlib_only_shape: Shape,
    /// Levels of the zlib-only comparison (empty: skip it).
    pub zlib_only_levels: Vec<u8>,
    /// Output level of the per-phase split (`None`: skip it).
    pub phase_level: Option<u8>,
    /// Seed of the generated messages.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            shapes: STANDARD_SHAPES.to_vec(),
            levels: standard_levels(),
            cell_time: Duration::from_millis(500),
            repeats: 5,
            messages_per_shape: 64,
            corpus_rows_max: 600_000,
            zlib_only_shape: Shape::orders(1, 100),
            zlib_only_levels: (1..=12).collect(),
            phase_level: Some(DEFAULT_ZLIB_LEVEL),
            seed: 1,
        }
    }
}

impl Params {
    /// Check the parameters; say which one is wrong.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError(m.to_owned()));
        let levels = self.levels.iter().chain(&self.zlib_only_levels);
        if levels
            .chain(&self.phase_level)
            .any(|l| !(1..=12).contains(l))
        {
            return bad("zlib levels must be between 1 and 12");
        }
        if self.shapes.is_empty() || self.levels.is_empty() {
            return bad("at least one shape and one level are needed");
        }
        if self
            .shapes
            .iter()
            .chain([&self.zlib_only_shape])
            .any(|s| s.rows() == 0)
        {
            return bad("every shape needs at least one row");
        }
        let too_big = |s: &Shape| {
            s.rowsets > synth::ROWSETS_MAX
                || (s.result_type == ResultType::History
                    && s.rows_per_rowset > synth::HISTORY_DAYS_MAX)
        };
        if self
            .shapes
            .iter()
            .chain([&self.zlib_only_shape])
            .any(too_big)
        {
            return bad("a shape exceeds what engine::synth can generate");
        }
        if self.repeats == 0 || self.messages_per_shape == 0 || self.cell_time.is_zero() {
            return bad("repeats, messages per shape and cell time must be positive");
        }
        Ok(())
    }

    /// Distinct messages built for `shape`.
    pub fn messages_for(&self, shape: Shape) -> usize {
        (self.corpus_rows_max / shape.rows().max(1))
            .max(MESSAGES_PER_SHAPE_MIN)
            .min(self.messages_per_shape)
    }
}

/// A benchmark that could not run: bad parameters, or the engine refused a generated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

/// One (shape, level) cell of the pipeline table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub result_type: ResultType,
    pub rowsets: usize,
    /// Orders per message (for history: days).
    pub orders_per_message: usize,
    /// Distinct messages cycled.
    pub messages: usize,
    pub zlib_level: u8,
    pub orders_per_s: f64,
    /// Uncompressed input JSON through the pipeline, in MB (10^6 bytes) per second.
    pub input_mb_per_s: f64,
    /// (fastest - slowest) / median of the timed runs: how noisy the figure is.
    pub spread: f64,
    /// Published frame bytes over orders, over the whole corpus.
    pub feed_bytes_per_order: f64,
    /// Uncompressed input JSON bytes over orders.
    pub input_bytes_per_order: f64,
    /// Gzip upload bytes over orders.
    pub upload_bytes_per_order: f64,
    /// The floor on the same inputs: gzip decompression plus a generic JSON parse.
    pub floor_orders_per_s: f64,
    /// The frame of the corpus's first message at this level, for checks.
    pub sample_frame: Vec<u8>,
}

impl Row {
    /// Pipeline throughput as a fraction of the floor's.
    pub fn ratio_to_floor(&self) -> f64 {
        self.orders_per_s / self.floor_orders_per_s
    }
}

/// The zlib step alone at one level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZlibRow {
    pub zlib_level: u8,
    pub bytes_per_order: f64,
    /// Canonical JSON compressed, in MB (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub ns_per_order: f64,
}

/// Where one shape's time goes at one level, in nanoseconds per order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseRow {
    pub result_type: ResultType,
    pub orders_per_message: usize,
    pub zlib_level: u8,
    /// Gzip body to JSON (`BodyDecoder::decode`).
    pub decompress_ns: f64,
    /// JSON to a validated `Message` (`Parser::parse`).
    pub parse_ns: f64,
    /// `Message` to canonical JSON (`encode::write_json`).
    pub encode_ns: f64,
    /// Canonical JSON to the zlib frame (`compress_into`).
    pub compress_ns: f64,
    /// The whole `Pipeline::process`, measured on its own.
    pub pipeline_ns: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub params: Params,
    pub default_level: u8,
    pub rows: Vec<Row>,
    pub zlib_only: Vec<ZlibRow>,
    pub phases: Vec<PhaseRow>,
}

/// One shape's pre-built uploads.
struct Corpus {
    shape: Shape,
    gz: Vec<Vec<u8>>,
    json_bytes: Vec<usize>,
}

impl Corpus {
    fn build(shape: Shape, count: usize, seed: u64) -> Result<Corpus, BenchError> {
        let level = CompressionLvl::new(i32::from(UPLOAD_GZIP_LEVEL))
            .map_err(|_| BenchError("bad upload gzip level".into()))?;
        let mut gzip = Compressor::new(level);
        let mut rng = Rng::new(seed);
        let mut corpus = Corpus {
            shape,
            gz: Vec::with_capacity(count),
            json_bytes: Vec::with_capacity(count),
        };
        for _ in 0..count {
            let json = synth::message_json(&mut rng, shape, BASE_TIME, None);
            let mut gz = vec![0; gzip.gzip_compress_bound(json.len())];
            let n = gzip
                .gzip_compress(&json, &mut gz)
                .map_err(|e| BenchError(format!("gzip of a generated message failed: {e}")))?;
            gz.truncate(n);
            corpus.gz.push(gz);
            corpus.json_bytes.push(json.len());
        }
        Ok(corpus)
    }

    fn upload(&self, i: usize) -> Upload<'_> {
        Upload {
            body: &self.gz[i],
            content_encoding: Some(CONTENT_ENCODING),
            content_type: Some(CONTENT_TYPE),
            client_ip: None,
        }
    }

    fn rows(&self) -> usize {
        self.shape.rows() * self.gz.len()
    }
}

/// A measured throughput.
#[derive(Debug, Clone, Copy)]
struct Rate {
    rows_per_s: f64,
    bytes_per_s: f64,
}

impl Rate {
    fn ns_per_row(self) -> f64 {
        1e9 / self.rows_per_s
    }
}

/// What a timed cell measures, to put its figures back in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// `Pipeline::process` of shape `.0` at level `.1`.
    Pipeline(usize, u8),
    /// The floor of shape `.0`.
    Floor(usize),
    /// Phase `.1` (an index into [`PHASES`]) of shape `.0`.
    Phase(usize, usize),
    /// The zlib step alone at a level.
    ZlibOnly(u8),
}

/// The phases timed alone, in pipeline order (and in the order of [`PhaseRow`]'s fields).
const PHASES: [&str; 4] = ["decompress", "parse", "encode", "compress"];

type Work<'a> = Box<dyn FnMut(usize) -> Result<(), BenchError> + 'a>;

/// One timed cell: a job over messages `0..bytes.len()`, run cyclically.
struct Cell<'a> {
    what: What,
    /// Rows of each message.
    rows: usize,
    /// Bytes each message counts for.
    bytes: &'a [usize],
    /// The message the next run starts with: runs continue the cycle.
    next: usize,
    work: Work<'a>,
    runs: Vec<Rate>,
}

impl<'a> Cell<'a> {
    fn new(what: What, rows: usize, bytes: &'a [usize], work: Work<'a>) -> Cell<'a> {
        Cell {
            what,
            rows,
            bytes,
            next: 0,
            work,
            runs: Vec::new(),
        }
    }

    /// One untimed pass over every message: checks them and grows every buffer.
    fn warm_up(&mut self) -> Result<(), BenchError> {
        (0..self.bytes.len()).try_for_each(&mut self.work)
    }

    /// One timed run of at least `duration`.
    fn run_once(&mut self, duration: Duration) -> Result<(), BenchError> {
        let (mut rows, mut bytes) = (0usize, 0usize);
        let mut i = self.next;
        let start = Instant::now();
        let elapsed = loop {
            (self.work)(i)?;
            rows += self.rows;
            bytes += self.bytes[i];
            i = (i + 1) % self.bytes.len();
            let e = start.elapsed();
            if e >= duration {
                break e.as_secs_f64();
            }
        };
        self.next = i;
        self.runs.push(Rate {
            rows_per_s: rows as f64 / elapsed,
            bytes_per_s: bytes as f64 / elapsed,
        });
        Ok(())
    }

    /// The median run by rows per second, and the spread of the runs ((max - min) / median).
    fn median(&self) -> (Rate, f64) {
        let mut runs = self.runs.clone();
        runs.sort_by(|a, b| a.rows_per_s.total_cmp(&b.rows_per_s));
        let mid = runs[runs.len() / 2];
        let spread = (runs[runs.len() - 1].rows_per_s - runs[0].rows_per_s) / mid.rows_per_s;
        (mid, spread)
    }
}

fn pipeline_at(level: u8) -> Result<Pipeline, BenchError> {
    Pipeline::new(PipelineConfig {
        zlib_level: level,
        ..PipelineConfig::default()
    })
    .map_err(|e| BenchError(e.to_string()))
}

fn compressor(level: u8) -> Result<Compressor, BenchError> {
    CompressionLvl::new(i32::from(level))
        .map(Compressor::new)
        .map_err(|_| BenchError(format!("bad zlib level {level}")))
}

fn refused(shape: Shape, e: engine::Reject) -> BenchError {
    BenchError(format!(
        "the engine refused a generated {shape:?} message: {e}"
    ))
}

/// A corpus and, when phases are timed alone, each phase's inputs, made outside the timing.
struct Prepared {
    corpus: Corpus,
    /// Decompressed upload JSON, per message.
    jsons: Vec<Vec<u8>>,
    /// Parsed messages.
    messages: Vec<Message>,
    /// Canonical JSON, per message.
    canonical: Vec<Vec<u8>>,
    canonical_bytes: Vec<usize>,
}

impl Prepared {
    fn new(corpus: Corpus, stages: bool) -> Result<Prepared, BenchError> {
        let shape = corpus.shape;
        let limits = Limits::default();
        let mut p = Prepared {
            corpus,
            jsons: Vec::new(),
            messages: Vec::new(),
            canonical: Vec::new(),
            canonical_bytes: Vec::new(),
        };
        if !stages {
            return Ok(p);
        }
        let mut body = BodyDecoder::new();
        let mut parser = Parser::new();
        for i in 0..p.corpus.gz.len() {
            let up = p.corpus.upload(i);
            let json = body
                .decode(up.body, Encoding::Gzip, up.content_type, &limits)
                .map_err(|e| refused(shape, e))?
                .to_vec();
            let mut msg = Message::default();
            parser
                .parse(&json, &limits, &mut msg)
                .map_err(|e| refused(shape, e))?;
            let mut out = Vec::new();
            encode::write_json(&msg, NOW, None, &mut out);
            p.canonical_bytes.push(out.len());
            p.jsons.push(json);
            p.messages.push(msg);
            p.canonical.push(out);
        }
        Ok(p)
    }
}

/// Feed bytes and the first frame of a corpus at one level, from an untimed pass that also
/// checks every message is accepted whole.
fn feed_of(pipe: &mut Pipeline, corpus: &Corpus) -> Result<(usize, Vec<u8>), BenchError> {
    let shape = corpus.shape;
    let mut frame = Vec::new();
    let mut feed_bytes = 0;
    let mut sample = Vec::new();
    for i in 0..corpus.gz.len() {
        let accepted = pipe
            .process(&corpus.upload(i), NOW, &mut frame)
            .map_err(|e| refused(shape, e))?;
        if accepted.rows != shape.rows() || accepted.rowsets != shape.rowsets {
            return Err(BenchError(format!(
                "{shape:?}: the pipeline saw {} rows in {} rowsets",
                accepted.rows, accepted.rowsets
            )));
        }
        feed_bytes += accepted.frame_bytes;
        if i == 0 {
            sample = frame.clone();
        }
    }
    Ok((feed_bytes, sample))
}

fn pipeline_work(mut pipe: Pipeline, corpus: &Corpus) -> Work<'_> {
    let mut frame = Vec::new();
    Box::new(move |i| {
        let accepted = pipe
            .process(&corpus.upload(i), NOW, &mut frame)
            .map_err(|e| refused(corpus.shape, e))?;
        black_box(accepted);
        Ok(())
    })
}

/// Gzip decompression plus `sonic_rs::from_slice::<Value>`.
fn floor_work(corpus: &Corpus) -> Work<'_> {
    let max_json = corpus.json_bytes.iter().copied().max().unwrap_or(0);
    let mut out = vec![0u8; max_json];
    let mut gunzip = Decompressor::new();
    Box::new(move |i| {
        let n = gunzip
            .gzip_decompress(&corpus.gz[i], &mut out)
            .map_err(|e| BenchError(format!("floor: gunzip failed: {e}")))?;
        if n != corpus.json_bytes[i] {
            return Err(BenchError("floor: gunzip gave the wrong length".into()));
        }
        let value: sonic_rs::Value = sonic_rs::from_slice(&out[..n])
            .map_err(|e| BenchError(format!("floor: JSON parse failed: {e}")))?;
        black_box(value);
        Ok(())
    })
}

/// Phase `phase` of [`PHASES`] alone, on the inputs the earlier phases made.
fn phase_work(p: &Prepared, phase: usize, level: u8) -> Result<Work<'_>, BenchError> {
    let shape = p.corpus.shape;
    let limits = Limits::default();
    let mut out = Vec::new();
    Ok(match phase {
        0 => {
            let mut body = BodyDecoder::new();
            Box::new(move |i| {
                let up = p.corpus.upload(i);
                let json = body
                    .decode(up.body, Encoding::Gzip, up.content_type, &limits)
                    .map_err(|e| refused(shape, e))?;
                black_box(json.len());
                Ok(())
            })
        }
        1 => {
            let mut parser = Parser::new();
            let mut msg = Message::default();
            Box::new(move |i| {
                parser
                    .parse(&p.jsons[i], &limits, &mut msg)
                    .map_err(|e| refused(shape, e))?;
                black_box(msg.row_count());
                Ok(())
            })
        }
        2 => Box::new(move |i| {
            out.clear();
            encode::write_json(&p.messages[i], NOW, None, &mut out);
            black_box(out.len());
            Ok(())
        }),
        _ => {
            let mut zlib = compressor(level)?;
            Box::new(move |i| {
                compress_into(&mut zlib, &p.canonical[i], &mut out);
                black_box(out.len());
                Ok(())
            })
        }
    })
}

/// Run the benchmark; see the module docs. Cells are timed round-robin (every cell once,
/// then every cell again, `repeats` times), so a slow drift of the machine (a noisy
/// neighbour, frequency changes) spreads over all cells instead of biasing some.
pub fn run(params: &Params) -> Result<Report, BenchError> {
    params.validate()?;
    let phase_level = params.phase_level;
    let mut prepared = Vec::with_capacity(params.shapes.len());
    for (k, &shape) in params.shapes.iter().enumerate() {
        let seed = params.seed ^ (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let corpus = Corpus::build(shape, params.messages_for(shape), seed)?;
        prepared.push(Prepared::new(corpus, phase_level.is_some())?);
    }
    let zlib_only = if params.zlib_only_levels.is_empty() {
        None
    } else {
        let shape = params.zlib_only_shape;
        let corpus = Corpus::build(shape, params.messages_for(shape), params.seed)?;
        Some(Prepared::new(corpus, true)?)
    };

    // Cells, and the untimed figures of each pipeline cell: feed bytes and a sample frame.
    let mut cells = Vec::new();
    let mut feeds = Vec::new();
    for (k, p) in prepared.iter().enumerate() {
        let bytes = &p.corpus.json_bytes;
        let rows = p.corpus.shape.rows();
        cells.push(Cell::new(
            What::Floor(k),
            rows,
            bytes,
            floor_work(&p.corpus),
        ));
        let mut levels = params.levels.clone();
        levels.extend(phase_level.filter(|l| !params.levels.contains(l)));
        for level in levels {
            let mut pipe = pipeline_at(level)?;
            feeds.push(((k, level), feed_of(&mut pipe, &p.corpus)?));
            let work = pipeline_work(pipe, &p.corpus);
            cells.push(Cell::new(What::Pipeline(k, level), rows, bytes, work));
        }
        if let Some(level) = phase_level {
            for phase in 0..PHASES.len() {
                let work = phase_work(p, phase, level)?;
                cells.push(Cell::new(What::Phase(k, phase), rows, bytes, work));
            }
        }
    }
    let mut zlib_only_sizes = Vec::new();
    if let Some(p) = &zlib_only {
        for &level in &params.zlib_only_levels {
            let mut zlib = compressor(level)?;
            let mut out = Vec::new();
            let compressed: usize = p
                .canonical
                .iter()
                .map(|json| {
                    compress_into(&mut zlib, json, &mut out);
                    out.len()
                })
                .sum();
            zlib_only_sizes.push(compressed as f64 / p.corpus.rows() as f64);
            let work: Work<'_> = Box::new(move |i| {
                compress_into(&mut zlib, &p.canonical[i], &mut out);
                black_box(out.len());
                Ok(())
            });
            let rows = p.corpus.shape.rows();
            cells.push(Cell::new(
                What::ZlibOnly(level),
                rows,
                &p.canonical_bytes,
                work,
            ));
        }
    }

    for cell in &mut cells {
        cell.warm_up()?;
    }
    for _ in 0..params.repeats {
        for cell in &mut cells {
            cell.run_once(params.cell_time)?;
        }
    }

    let result = |what: What| {
        cells
            .iter()
            .find(|c| c.what == what)
            .map(Cell::median)
            .ok_or_else(|| BenchError(format!("internal: no cell {what:?}")))
    };
    let mut rows = Vec::new();
    let mut phases = Vec::new();
    for (k, p) in prepared.iter().enumerate() {
        let shape = p.corpus.shape;
        let orders = p.corpus.rows() as f64;
        let total_json: usize = p.corpus.json_bytes.iter().sum();
        let total_gz: usize = p.corpus.gz.iter().map(Vec::len).sum();
        let (floor, _) = result(What::Floor(k))?;
        for &level in &params.levels {
            let (rate, spread) = result(What::Pipeline(k, level))?;
            let (feed_bytes, sample_frame) = feeds
                .iter()
                .find(|(key, _)| *key == (k, level))
                .map(|(_, f)| f.clone())
                .ok_or_else(|| BenchError("internal: no feed figures".into()))?;
            rows.push(Row {
                result_type: shape.result_type,
                rowsets: shape.rowsets,
                orders_per_message: shape.rows(),
                messages: p.corpus.gz.len(),
                zlib_level: level,
                orders_per_s: rate.rows_per_s,
                input_mb_per_s: rate.bytes_per_s / MB,
                spread,
                feed_bytes_per_order: feed_bytes as f64 / orders,
                input_bytes_per_order: total_json as f64 / orders,
                upload_bytes_per_order: total_gz as f64 / orders,
                floor_orders_per_s: floor.rows_per_s,
                sample_frame,
            });
        }
        if let Some(level) = phase_level {
            let ns = |phase| result(What::Phase(k, phase)).map(|(r, _)| r.ns_per_row());
            phases.push(PhaseRow {
                result_type: shape.result_type,
                orders_per_message: shape.rows(),
                zlib_level: level,
                decompress_ns: ns(0)?,
                parse_ns: ns(1)?,
                encode_ns: ns(2)?,
                compress_ns: ns(3)?,
                pipeline_ns: result(What::Pipeline(k, level))?.0.ns_per_row(),
            });
        }
    }
    let mut zlib_rows = Vec::new();
    for (&level, &bytes_per_order) in params.zlib_only_levels.iter().zip(&zlib_only_sizes) {
        let (rate, _) = result(What::ZlibOnly(level))?;
        zlib_rows.push(ZlibRow {
            zlib_level: level,
            bytes_per_order,
            mb_per_s: rate.bytes_per_s / MB,
            ns_per_order: rate.ns_per_row(),
        });
    }
    Ok(Report {
        params: params.clone(),
        default_level: DEFAULT_ZLIB_LEVEL,
        rows,
        zlib_only: zlib_rows,
        phases,
    })
}

/// `1234567.8` as `1,234,568`.
fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn kind(rt: ResultType) -> &'static str {
    match rt {
        ResultType::Orders => "orders",
        ResultType::History => "history",
    }
}

impl Report {
    /// The readable tables.
    pub fn table(&self) -> String {
        let p = &self.params;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Engine pipeline, one thread: Pipeline::process on gzip level {UPLOAD_GZIP_LEVEL} \
             uploads built before timing.\n\
             orders/s counts orders (history: days); input MB/s is over the UNCOMPRESSED JSON \
             (1 MB = 10^6 B);\nfeed B/order = zlib frame bytes / orders; floor = libdeflate \
             gunzip + sonic_rs::from_slice::<Value> on the same inputs, same run.\n\
             Median of {} runs of >= {:.3} s per cell, cells timed round-robin; spread = \
             (max - min) / median of the runs;\ndistinct messages cycled per size in `msgs`; \
             in B/o = uncompressed input JSON per order, gz B/o = the gzip upload per order. * = DEFAULT_ZLIB_LEVEL ({}).\n",
            p.repeats,
            p.cell_time.as_secs_f64(),
            self.default_level
        );
        let _ = writeln!(
            s,
            "{:<8} {:>7} {:>7} {:>4} {:>6} {:>11} {:>6} {:>8} {:>8} {:>8} {:>8} {:>11} {:>7}",
            "kind",
            "rows",
            "rowsets",
            "msgs",
            "level",
            "orders/s",
            "spread",
            "in MB/s",
            "in B/o",
            "gz B/o",
            "feed B/o",
            "floor ord/s",
            "/floor"
        );
        for r in &self.rows {
            let mark = if r.zlib_level == self.default_level {
                "*"
            } else {
                " "
            };
            let _ = writeln!(
                s,
                "{:<8} {:>7} {:>7} {:>4} {:>5}{} {:>11} {:>5.0}% {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>11} {:>7.2}",
                kind(r.result_type),
                r.orders_per_message,
                r.rowsets,
                r.messages,
                r.zlib_level,
                mark,
                grouped(r.orders_per_s),
                r.spread * 100.0,
                r.input_mb_per_s,
                r.input_bytes_per_order,
                r.upload_bytes_per_order,
                r.feed_bytes_per_order,
                grouped(r.floor_orders_per_s),
                r.ratio_to_floor()
            );
        }
        if !self.zlib_only.is_empty() {
            let sh = p.zlib_only_shape;
            let _ = writeln!(
                s,
                "\nzlib step alone on the canonical JSON of {} {} x {} ({} rows/message):",
                kind(sh.result_type),
                sh.rowsets,
                sh.rows_per_rowset,
                sh.rows()
            );
            let _ = writeln!(
                s,
                "{:>6} {:>9} {:>9} {:>9} {:>12}",
                "level", "B/order", "MB/s", "ns/order", "orders/s"
            );
            for z in &self.zlib_only {
                let _ = writeln!(
                    s,
                    "{:>6} {:>9.1} {:>9.1} {:>9.1} {:>12}",
                    z.zlib_level,
                    z.bytes_per_order,
                    z.mb_per_s,
                    z.ns_per_order,
                    grouped(1e9 / z.ns_per_order)
                );
            }
        }
        if !self.phases.is_empty() {
            let _ = writeln!(s, "\nPhases timed alone, ns per order (history: per day):");
            let _ = writeln!(
                s,
                "{:<8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>9} {:>8} {:>9}",
                "kind",
                "rows",
                "level",
                "decompress",
                "parse",
                "encode",
                "compress",
                "sum",
                "pipeline"
            );
            for ph in &self.phases {
                let sum = ph.decompress_ns + ph.parse_ns + ph.encode_ns + ph.compress_ns;
                let _ = writeln!(
                    s,
                    "{:<8} {:>7} {:>6} {:>10.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>9.1}",
                    kind(ph.result_type),
                    ph.orders_per_message,
                    ph.zlib_level,
                    ph.decompress_ns,
                    ph.parse_ns,
                    ph.encode_ns,
                    ph.compress_ns,
                    sum,
                    ph.pipeline_ns
                );
            }
        }
        s
    }

    /// One JSON object: `{"default_level", "results": [...], "zlib_only": [...],
    /// "phases_ns_per_order": [...]}`.
    pub fn to_json(&self) -> String {
        let results: Vec<sonic_rs::Value> = self
            .rows
            .iter()
            .map(|r| {
                sonic_rs::json!({
                    "result_type": kind(r.result_type),
                    "orders_per_message": r.orders_per_message,
                    "rowsets": r.rowsets,
                    "zlib_level": r.zlib_level,
                    "orders_per_s": r.orders_per_s,
                    "input_mb_per_s": r.input_mb_per_s,
                    "spread": r.spread,
                    "feed_bytes_per_order": r.feed_bytes_per_order,
                    "floor_orders_per_s": r.floor_orders_per_s,
                })
            })
            .collect();
        let zlib_only: Vec<sonic_rs::Value> = self
            .zlib_only
            .iter()
            .map(|z| {
                sonic_rs::json!({
                    "zlib_level": z.zlib_level,
                    "bytes_per_order": z.bytes_per_order,
                    "mb_per_s": z.mb_per_s,
                    "ns_per_order": z.ns_per_order,
                })
            })
            .collect();
        let phases: Vec<sonic_rs::Value> = self
            .phases
            .iter()
            .map(|ph| {
                sonic_rs::json!({
                    "result_type": kind(ph.result_type),
                    "orders_per_message": ph.orders_per_message,
                    "zlib_level": ph.zlib_level,
                    "decompress": ph.decompress_ns,
                    "parse": ph.parse_ns,
                    "encode": ph.encode_ns,
                    "compress": ph.compress_ns,
                    "pipeline": ph.pipeline_ns,
                })
            })
            .collect();
        let report = sonic_rs::json!({
            "default_level": self.default_level,
            "results": results,
            "zlib_only": zlib_only,
            "phases_ns_per_order": phases,
        });
        sonic_rs::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
