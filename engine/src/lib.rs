//! emdr's sans-IO core: from the bytes an uploader POSTed to the frame the feed publishes.
//!
//! ```text
//!  body + headers ──► body::BodyDecoder ──► uudif::Parser ──► encode::write_json ──► zlib
//!  (gzip/zlib/deflate,   capped inflate,      parse+validate     canonical JSON        frame
//!   form or raw JSON)    form `data` field    into Message
//! ```
//! [`Pipeline`] strings these together and owns their buffers. Any step can refuse the upload
//! with a [`Reject`]: a stable code, an HTTP status and a one-line message for the uploader.
//!
//! Module map:
//! - [`body`]: Content-Encoding, magic bytes, capped decompression, forms.
//! - [`uudif`]: the message model; parsing and validation.
//! - [`time`]: ISO 8601 timestamps to and from Unix seconds.
//! - [`encode`]: canonical JSON.
//! - [`tag`]: the salted-SHA-1 uploader tag.
//! - [`dedup`]: the relay's de-duplication window.
//! - [`limits`]: every bound, named and validated.
//! - [`reject`]: why an upload was refused.
//! - [`pipeline`]: the whole job, with reusable buffers.
//! - [`synth`]: realistic generated messages, for tests, benchmarks and the load generator.
//!
//! Invariant: this crate does no IO, starts no threads and reads no clock; `now` is an
//! argument. Every behaviour is a deterministic function that a test or a fuzzer can drive.

pub mod body;
pub mod dedup;
pub mod encode;
pub mod limits;
pub mod pipeline;
pub mod reject;
pub mod synth;
pub mod tag;
pub mod time;
pub mod uudif;

pub use limits::Limits;
pub use pipeline::{Accepted, Pipeline, PipelineConfig, Upload};
pub use reject::Reject;
pub use uudif::{Message, ResultType};

/// This engine's version, written as the generator of uploads that named none.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
