//! perf: emdr's benchmarks and the baselines they are measured against. Nothing depends on it.
//!
//! Each benchmark is a library function taking its parameters and returning its figures, so
//! that the binary that prints them and a `cargo test` smoke run with tiny parameters execute
//! the same code, and a benchmark cannot rot unnoticed (house style: tests in tiers).
//!
//! Module map:
//! - [`pipeline`]: the engine's whole per-upload job on one core (`Pipeline::process`) for
//!   realistic messages of several sizes and output zlib levels, beside its floor (gzip
//!   decompression plus a generic JSON parse of the same inputs), the zlib step alone at every
//!   level, and the time of each phase. Binary: `cargo run --release -p perf --bin pipeline`.
//!
//! - [`http_bench`]: the gateway's shards against may_minihttp serving the same engine, the
//!   same load and cores, in one run. Binary: `cargo run --release -p perf --bin http`.
//! - [`relay_bench`]: the relay (dedup on) against a libzmq XSUB/XPUB proxy. Binary: `--bin relay`.
//!
//! ```text
//!  engine::synth ──► gzip level 6 (before timing) ──► Pipeline::process ──► zlib frame
//!                                               └──► floor: gunzip + sonic_rs::Value
//! ```

pub mod http_bench;
pub mod pipeline;
pub mod relay_bench;
