//! The whole per-upload job: body in, canonical zlib frame (or a rejection) out.
//!
//! A [`Pipeline`] owns every buffer and codec the job needs (decompressor, parser buffers,
//! the parsed message, the JSON buffer, the compressor), so a shard builds one at start-up and
//! calls [`Pipeline::process`] for each upload; once warmed up it does not allocate. It does no
//! IO and reads no clock: the caller passes the upload's bytes and headers, the client's IP, and
//! `now`.

use std::net::IpAddr;

use libdeflater::{CompressionLvl, Compressor};

use crate::body::{BodyDecoder, Encoding};
use crate::encode;
use crate::limits::LimitsError;
use crate::time::UnixSeconds;
use crate::uudif::{Message, Parser, ResultType};
use crate::{tag, Limits, Reject};

/// The zlib level of published frames unless configured: chosen from the measured trade-off
/// between CPU per order and feed bytes per order (docs/performance.md).
pub const DEFAULT_ZLIB_LEVEL: u8 = 1;

/// What a pipeline is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    pub limits: Limits,
    /// libdeflate level of the published zlib frames, 1 (fastest) to 12 (smallest).
    pub zlib_level: u8,
    /// When set, each message gets an `EMDR` upload key: SHA-1 of this salt and the client IP.
    pub ip_key_salt: Option<Vec<u8>>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            limits: Limits::default(),
            zlib_level: DEFAULT_ZLIB_LEVEL,
            ip_key_salt: None,
        }
    }
}

impl PipelineConfig {
    /// Check the configuration; say what is wrong.
    pub fn validate(&self) -> Result<(), LimitsError> {
        self.limits.validate()?;
        if !(1..=12).contains(&self.zlib_level) {
            return Err(LimitsError("zlib_level must be between 1 and 12".into()));
        }
        Ok(())
    }
}

/// One upload as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub body: &'a [u8],
    /// The `Content-Encoding` header's value, if any.
    pub content_encoding: Option<&'a [u8]>,
    /// The `Content-Type` header's value, if any.
    pub content_type: Option<&'a [u8]>,
    /// The client, for the uploader tag.
    pub client_ip: Option<IpAddr>,
}

impl<'a> Upload<'a> {
    /// A bare body with no headers.
    pub fn body(body: &'a [u8]) -> Upload<'a> {
        Upload {
            body,
            content_encoding: None,
            content_type: None,
            client_ip: None,
        }
    }
}

/// What an accepted upload became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub result_type: ResultType,
    pub rowsets: usize,
    /// Orders or history rows.
    pub rows: usize,
    /// Bytes of canonical JSON before compression.
    pub json_bytes: usize,
    /// Bytes of the zlib frame.
    pub frame_bytes: usize,
}

/// Decompress, parse, validate, encode, compress. See the module docs.
pub struct Pipeline {
    config: PipelineConfig,
    body: BodyDecoder,
    parser: Parser,
    msg: Message,
    json: Vec<u8>,
    compressor: Compressor,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Build a pipeline; fails on an invalid configuration.
    pub fn new(config: PipelineConfig) -> Result<Pipeline, LimitsError> {
        config.validate()?;
        let level = CompressionLvl::new(i32::from(config.zlib_level))
            .map_err(|_| LimitsError("zlib_level must be between 1 and 12".into()))?;
        Ok(Pipeline {
            config,
            body: BodyDecoder::new(),
            parser: Parser::new(),
            msg: Message::default(),
            json: Vec::new(),
            compressor: Compressor::new(level),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The message of the last accepted upload.
    pub fn message(&self) -> &Message {
        &self.msg
    }

    /// The canonical JSON of the last accepted upload.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// Decode, parse and validate an upload into [`Pipeline::message`], without encoding.
    pub fn parse(&mut self, upload: &Upload<'_>) -> Result<(), Reject> {
        let limits = self.config.limits;
        let encoding = Encoding::from_header(upload.content_encoding)?;
        let parsed = match self
            .body
            .decode(upload.body, encoding, upload.content_type, &limits)
        {
            Ok(json) => self.parser.parse(json, &limits, &mut self.msg),
            Err(e) => Err(e),
        };
        // Also after a refusal: a refused bomb is the upload that made the buffer huge.
        self.body.trim();
        parsed
    }

    /// The whole job: the upload's zlib frame replaces the contents of `frame`.
    pub fn process(
        &mut self,
        upload: &Upload<'_>,
        now: UnixSeconds,
        frame: &mut Vec<u8>,
    ) -> Result<Accepted, Reject> {
        self.parse(upload)?;
        let key = match (&self.config.ip_key_salt, upload.client_ip) {
            (Some(salt), Some(ip)) => Some(tag::uploader_key(salt, ip)),
            _ => None,
        };
        let key = key.as_ref().and_then(|k| std::str::from_utf8(k).ok());
        self.json.clear();
        encode::write_json(&self.msg, now, key, &mut self.json);
        compress_into(&mut self.compressor, &self.json, frame);
        Ok(Accepted {
            result_type: self.msg.result_type,
            rowsets: self.msg.rowsets.len(),
            rows: self.msg.row_count(),
            json_bytes: self.json.len(),
            frame_bytes: frame.len(),
        })
    }
}

/// zlib-compress `data` into `out` (replacing its contents).
pub fn compress_into(c: &mut Compressor, data: &[u8], out: &mut Vec<u8>) {
    let bound = c.zlib_compress_bound(data.len());
    out.clear();
    out.resize(bound, 0);
    // The bound is libdeflate's own worst case, so the output always fits.
    let n = c
        .zlib_compress(data, out)
        .expect("zlib_compress_bound is large enough");
    out.truncate(n);
}
