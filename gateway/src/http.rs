//! Sans-IO HTTP/1.1 request framing for the ingest listener.
//!
//! This module owns the *wire format* of the gateway's HTTP side and nothing else: it finds
//! request heads ([`parse_head`]), decodes chunked bodies ([`ChunkedDecoder`]) and formats
//! responses ([`write_response`], [`CONTINUE`]). It does no IO, spawns no tasks, reads no clock
//! and keeps no global state. The connection loop (a glommio task per connection, written
//! elsewhere) owns the socket and the read buffer; it calls in here with whatever bytes it has
//! and acts on the answer: read more, reply with an error status, or hand a body to the engine.
//!
//! Invariants:
//! * Everything derived from network bytes comes back as a `Result`; nothing here panics,
//!   unwraps input or uses `unsafe`.
//! * Every resource an uploader can make us spend is bounded by [`HttpLimits`] before it is
//!   spent: the head is never scanned past `header_bytes_max`, header fields are counted
//!   against `headers_max`, and a body is refused (413) from its `Content-Length` or from a
//!   chunk-size line *before* any of its bytes are buffered.
//! * Parsing a head allocates nothing: header values are returned as byte ranges into the
//!   caller's buffer, header slots live in a fixed stack array.
//! * Framing is strict where leniency enables request smuggling: `Content-Length` together
//!   with `Transfer-Encoding` is rejected, conflicting `Content-Length`s are rejected, the only
//!   transfer coding accepted is a lone `chunked`, and chunked framing requires CRLF.
//!
//! Why sans-IO: the same code then serves any runtime, is tested byte-exactly without sockets,
//! and the connection loop stays a small readable state machine around it.

use std::fmt;
use std::ops::Range;

/// Number of header slots on the stack in [`parse_head`]. `headers_max` values above this are
/// clamped to it, so this is the hard upper bound on header fields per request.
pub const HEADERS_CAPACITY: usize = 128;

/// Longest chunk-size line (hex size plus extensions, excluding CRLF) [`ChunkedDecoder`]
/// accepts. Must match the number in the `BadChunk` message below.
pub const CHUNK_LINE_MAX: usize = 4096;
const CHUNK_LINE_TOO_LONG: &str = "chunk-size line is longer than 4096 bytes";

/// The interim response sent to a client that asked for `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Bounds on what one request may make the gateway buffer or scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The whole head: request line, header fields and the final empty line. Default 16 KiB.
    /// Also bounds the trailer section of a chunked body.
    pub header_bytes_max: usize,
    /// Number of header fields. Default 64; clamped to [`HEADERS_CAPACITY`].
    pub headers_max: usize,
    /// A decoded body, from `Content-Length` or the sum of chunk sizes. Default 8 MiB.
    pub body_bytes_max: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_bytes_max: 16 * 1024,
            headers_max: 64,
            body_bytes_max: 8 * 1024 * 1024,
        }
    }
}

/// The request methods the gateway routes on; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`; RFC 9112 §6.3 rule 6).
    None,
    /// Exactly this many bytes follow the head; already checked against `body_bytes_max`.
    Length(usize),
    /// `Transfer-Encoding: chunked`; decode with [`ChunkedDecoder`].
    Chunked,
}

/// Everything the gateway needs from a request head.
///
/// Ranges index the buffer that was given to [`parse_head`]; read them with [`Head::value`]
/// (or the `*_bytes` helpers). Header value ranges exclude surrounding whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    /// The request-target up to (not including) any `?`. Origin-form is expected; an
    /// absolute-form target (`http://host/path`) is passed through unchanged.
    pub path: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Bytes of the head including the final CRLFCRLF; the body (or the next pipelined request)
    /// starts at `buf[head_len]`.
    pub head_len: usize,
    pub framing: BodyFraming,
    /// Whether the connection may be reused after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (and no `close`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1: a 1.0 request's
    /// expectation is ignored). Other expectations are ignored.
    pub expect_continue: bool,
    /// `Content-Encoding` value (a repeated field is rejected as ambiguous).
    pub content_encoding: Option<Range<usize>>,
    /// `Content-Type` value (a repeated field is rejected as ambiguous).
    pub content_type: Option<Range<usize>>,
    /// `X-Forwarded-For` value. If the field is repeated, this is the LAST occurrence, i.e. the
    /// one appended by the proxy nearest to us; its content is not split or validated.
    pub x_forwarded_for: Option<Range<usize>>,
}

impl Head {
    /// The bytes of `range` in `buf`, or an empty slice if `range` does not fit `buf` (which
    /// only happens if a different buffer is passed than the one that was parsed).
    pub fn value<'b>(buf: &'b [u8], range: &Range<usize>) -> &'b [u8] {
        buf.get(range.clone()).unwrap_or(&[])
    }

    /// The path (request-target without query) as bytes of `buf`.
    pub fn path_bytes<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        Head::value(buf, &self.path)
    }

    /// The `Content-Type` value as bytes of `buf`, if present.
    pub fn content_type_bytes<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.content_type.as_ref().map(|r| Head::value(buf, r))
    }

    /// The `Content-Encoding` value as bytes of `buf`, if present.
    pub fn content_encoding_bytes<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.content_encoding.as_ref().map(|r| Head::value(buf, r))
    }

    /// The (last) `X-Forwarded-For` value as bytes of `buf`, if present.
    pub fn x_forwarded_for_bytes<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.x_forwarded_for.as_ref().map(|r| Head::value(buf, r))
    }
}

/// Why a request cannot be served. Every variant maps to a response status ([`status`]) and
/// a one-line plain-text explanation ([`Display`](fmt::Display)) suitable as the response body.
/// After any of these the connection should be closed: the framing can no longer be trusted.
///
/// [`status`]: HttpError::status
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed head or conflicting framing headers (400).
    BadRequest(&'static str),
    /// No complete head within `limit` bytes (431).
    HeadTooLarge { limit: usize },
    /// More than `limit` header fields (431).
    TooManyHeaders { limit: usize },
    /// The body is, or would become, larger than `limit` bytes (413).
    BodyTooLarge { limit: usize },
    /// Malformed chunked transfer coding (400).
    BadChunk(&'static str),
    /// The trailer section of a chunked body exceeds `limit` bytes (431).
    TrailersTooLarge { limit: usize },
    /// A transfer coding other than a lone `chunked` (501).
    UnsupportedTransferEncoding,
    /// An HTTP version other than 1.0 or 1.1 (505).
    UnsupportedVersion,
}

impl HttpError {
    /// The response status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) | HttpError::BadChunk(_) => 400,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::HeadTooLarge { .. }
            | HttpError::TooManyHeaders { .. }
            | HttpError::TrailersTooLarge { .. } => 431,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::UnsupportedVersion => 505,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(msg) => write!(f, "bad request: {msg}"),
            HttpError::HeadTooLarge { limit } => {
                write!(f, "request head exceeds the limit of {limit} bytes")
            }
            HttpError::TooManyHeaders { limit } => {
                write!(f, "request has more than {limit} header fields")
            }
            HttpError::BodyTooLarge { limit } => {
                write!(f, "request body exceeds the limit of {limit} bytes")
            }
            HttpError::BadChunk(msg) => write!(f, "malformed chunked request body: {msg}"),
            HttpError::TrailersTooLarge { limit } => {
                write!(
                    f,
                    "chunked trailer section exceeds the limit of {limit} bytes"
                )
            }
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("unsupported Transfer-Encoding: only a single \"chunked\" is accepted")
            }
            HttpError::UnsupportedVersion => {
                f.write_str("unsupported HTTP version: use HTTP/1.0 or HTTP/1.1")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Parse a request head at the start of `buf`.
///
/// * `Ok(Some(head))`: a complete head of `head.len` bytes; the body (see `head.framing`)
///   starts at `buf[head.head_len]`.
/// * `Ok(None)`: incomplete; read more and call again with the grown buffer (the head is
///   re-parsed from the start, which is bounded by `header_bytes_max`).
/// * `Err(HeadTooLarge)`: `buf` already holds `header_bytes_max` bytes and no head completes
///   within them (a head must fit in `header_bytes_max` bytes, CRLFCRLF included).
/// * Other errors: the request is malformed or unacceptable; reply with `err.status()` and
///   close.
///
/// Leading empty lines are skipped (RFC 9112 §2.2) and counted in `head_len`. Header names
/// are matched case-insensitively. `Host` is not checked.
pub fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<Head>, HttpError> {
    let window = &buf[..buf.len().min(limits.header_bytes_max)];
    let headers_max = limits.headers_max.min(HEADERS_CAPACITY);
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_CAPACITY];
    let mut req = httparse::Request::new(&mut slots[..headers_max]);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.header_bytes_max {
                return Err(HttpError::HeadTooLarge {
                    limit: limits.header_bytes_max,
                });
            }
            return Ok(None);
        }
        Err(e) => return Err(map_parse_error(e, window, headers_max)),
    };

    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("POST") => Method::Post,
        Some(_) => Method::Other,
        None => return Err(HttpError::BadRequest("missing method")),
    };
    let minor_version = match req.version {
        Some(v @ (0 | 1)) => v,
        Some(_) => return Err(HttpError::UnsupportedVersion),
        None => return Err(HttpError::BadRequest("missing HTTP version")),
    };
    let target = req
        .path
        .ok_or(HttpError::BadRequest("missing request-target"))?;
    let target_range = range_in(window, target.as_bytes())?;
    let path_len = target.find('?').unwrap_or(target.len());
    let path = target_range.start..target_range.start + path_len;

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut te_fields = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut content_encoding = None;
    let mut content_type = None;
    let mut x_forwarded_for = None;

    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = trim_ows(h.value);
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            match content_length {
                Some(prev) if prev != n => {
                    return Err(HttpError::BadRequest(
                        "conflicting Content-Length header fields",
                    ))
                }
                _ => content_length = Some(n),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_fields += 1;
            transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim_ows(token);
                if token.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            if content_encoding.is_some() {
                return Err(HttpError::BadRequest(
                    "repeated Content-Encoding header field",
                ));
            }
            content_encoding = Some(range_in(window, value)?);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            if content_type.is_some() {
                return Err(HttpError::BadRequest("repeated Content-Type header field"));
            }
            content_type = Some(range_in(window, value)?);
        } else if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            x_forwarded_for = Some(range_in(window, value)?);
        }
    }

    let framing = match (content_length, transfer_encoding) {
        (Some(_), Some(_)) => {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding are present",
            ))
        }
        (None, Some(te)) => {
            if minor_version == 0 {
                return Err(HttpError::BadRequest(
                    "Transfer-Encoding is not allowed in HTTP/1.0",
                ));
            }
            if te_fields != 1 || !te.eq_ignore_ascii_case(b"chunked") {
                return Err(HttpError::UnsupportedTransferEncoding);
            }
            BodyFraming::Chunked
        }
        (Some(n), None) => match usize::try_from(n) {
            Ok(n) if n <= limits.body_bytes_max => BodyFraming::Length(n),
            _ => {
                return Err(HttpError::BodyTooLarge {
                    limit: limits.body_bytes_max,
                })
            }
        },
        (None, None) => BodyFraming::None,
    };

    let keep_alive = if minor_version == 0 {
        conn_keep_alive && !conn_close
    } else {
        !conn_close
    };

    Ok(Some(Head {
        method,
        path,
        minor_version,
        head_len,
        framing,
        keep_alive,
        expect_continue: expect_continue && minor_version == 1,
        content_encoding,
        content_type,
        x_forwarded_for,
    }))
}

/// Translate an httparse error. A version error on an otherwise well-formed `HTTP/x.y` token
/// is 505; anything else malformed is 400.
fn map_parse_error(e: httparse::Error, window: &[u8], headers_max: usize) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders { limit: headers_max },
        httparse::Error::Version => {
            if looks_like_http_version(window) {
                HttpError::UnsupportedVersion
            } else {
                HttpError::BadRequest("malformed HTTP version in request line")
            }
        }
        httparse::Error::HeaderName => HttpError::BadRequest("invalid header field name"),
        httparse::Error::HeaderValue => HttpError::BadRequest("invalid header field value"),
        httparse::Error::NewLine => HttpError::BadRequest("invalid line ending in request head"),
        httparse::Error::Token => HttpError::BadRequest("invalid method or request-target"),
        httparse::Error::Status => HttpError::BadRequest("malformed request line"),
    }
}

/// Whether the last word of the request line is `HTTP/<digit>[.<digit>]` (possibly cut short
/// at the end of the buffer), i.e. a real but unsupported version rather than garbage.
fn looks_like_http_version(window: &[u8]) -> bool {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let rest = window.get(start..).unwrap_or(&[]);
    let line_end = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let line = rest.get(..line_end).unwrap_or(&[]);
    let word = match line.iter().rposition(|&b| b == b' ') {
        Some(sp) => line.get(sp + 1..).unwrap_or(&[]),
        None => return false,
    };
    match word.strip_prefix(b"HTTP/") {
        Some([major]) => major.is_ascii_digit(),
        Some([major, b'.']) => major.is_ascii_digit(),
        Some([major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

/// The position of `sub` (a slice httparse returned) within `buf`.
fn range_in(buf: &[u8], sub: &[u8]) -> Result<Range<usize>, HttpError> {
    let start = (sub.as_ptr() as usize).checked_sub(buf.as_ptr() as usize);
    match start {
        Some(start) if start <= buf.len() && sub.len() <= buf.len() - start => {
            Ok(start..start + sub.len())
        }
        _ => Err(HttpError::BadRequest("unparseable request head")),
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `Content-Length = 1*DIGIT`. Values that overflow `u64` saturate (they are over any limit).
fn parse_content_length(v: &[u8]) -> Result<u64, HttpError> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::BadRequest(
            "Content-Length must be a non-negative decimal integer",
        ));
    }
    Ok(v.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// At the start of a chunk-size line: a hex digit must follow.
    #[default]
    SizeStart,
    /// Inside the hex digits of a chunk size.
    Size,
    /// Whitespace after the size; only `;` (an extension) may follow.
    SizeBws,
    /// Inside chunk extensions, up to CR.
    Ext,
    /// Saw the CR ending a chunk-size line.
    SizeLf,
    /// `size` bytes of chunk data still to copy.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Saw CR in the trailer section; `empty` if it ended an empty line.
    TrailerLf { empty: bool },
    /// The final CRLF has been consumed.
    Done,
}

/// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
///
/// Accepts `chunk-size [BWS ";" ext...] CRLF data CRLF ... 0 [ext] CRLF *(trailer CRLF) CRLF`.
/// Chunk extensions and trailer fields are ignored (not validated beyond rejecting control
/// characters). Line endings must be CRLF: a bare LF is rejected, because parsers that disagree
/// on line endings are a request-smuggling vector. Bounds: the decoded total against
/// `body_bytes_max` (checked while the size line is read, before its data is appended), each
/// chunk-size line against [`CHUNK_LINE_MAX`], the trailer section against `header_bytes_max`.
///
/// Use one decoder per body. After an error the decoder is poisoned and keeps returning that
/// error; data appended to `out` before the error should be discarded.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Size being parsed (size-line states) or data left in the chunk (`Data`).
    size: usize,
    /// Bytes of the current chunk-size line, excluding CRLF.
    line_len: usize,
    /// Bytes of the trailer section so far, including line endings.
    trailer_len: usize,
    /// Sum of the sizes of all chunks whose size line is complete.
    total: usize,
    error: Option<HttpError>,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the last chunk and the trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consume as much of `input` as possible, appending decoded data to `out`.
    ///
    /// Returns `(consumed, done)`. When `done`, input after `consumed` belongs to the next
    /// request and is left alone; otherwise all of `input` was consumed and more is needed.
    /// Errors: [`HttpError::BodyTooLarge`] if the decoded total would exceed
    /// `body_bytes_max` (detected from the chunk-size line, before appending its data),
    /// [`HttpError::BadChunk`] on malformed syntax or an over-long chunk-size line,
    /// [`HttpError::TrailersTooLarge`] if the trailer section exceeds `header_bytes_max`.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &HttpLimits,
    ) -> Result<(usize, bool), HttpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.step(input, out, limits) {
            Ok(consumed) => Ok((consumed, self.is_done())),
            Err(e) => {
                self.error = Some(e);
                Err(e)
            }
        }
    }

    fn step(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &HttpLimits,
    ) -> Result<usize, HttpError> {
        let mut i = 0;
        while let Some(rest) = input.get(i..) {
            if rest.is_empty() || self.state == ChunkState::Done {
                break;
            }
            if self.state == ChunkState::Data {
                let n = self.size.min(rest.len());
                out.extend_from_slice(&rest[..n]);
                i += n;
                self.size -= n;
                if self.size == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            let b = rest[0];
            i += 1;
            self.state = match self.state {
                ChunkState::SizeStart => match hex_value(b) {
                    Some(d) => {
                        self.size = 0;
                        self.line_len = 0;
                        self.size_line_byte()?;
                        self.push_digit(d, limits)?;
                        ChunkState::Size
                    }
                    None if b == b'\r' || b == b'\n' => {
                        return Err(HttpError::BadChunk("missing chunk size"))
                    }
                    None => return Err(HttpError::BadChunk("chunk size is not hexadecimal")),
                },
                ChunkState::Size => {
                    if let Some(d) = hex_value(b) {
                        self.size_line_byte()?;
                        self.push_digit(d, limits)?;
                        ChunkState::Size
                    } else {
                        match b {
                            b'\r' => ChunkState::SizeLf,
                            b' ' | b'\t' => {
                                self.size_line_byte()?;
                                ChunkState::SizeBws
                            }
                            b';' => {
                                self.size_line_byte()?;
                                ChunkState::Ext
                            }
                            b'\n' => return Err(bare_lf()),
                            _ => {
                                return Err(HttpError::BadChunk(
                                    "invalid character after chunk size",
                                ))
                            }
                        }
                    }
                }
                ChunkState::SizeBws => {
                    self.size_line_byte()?;
                    match b {
                        b' ' | b'\t' => ChunkState::SizeBws,
                        b';' => ChunkState::Ext,
                        _ => {
                            return Err(HttpError::BadChunk(
                                "whitespace after chunk size must be followed by an extension",
                            ))
                        }
                    }
                }
                ChunkState::Ext => match b {
                    b'\r' => ChunkState::SizeLf,
                    b'\n' => return Err(bare_lf()),
                    _ if is_ctl(b) => {
                        return Err(HttpError::BadChunk("control character in chunk extension"))
                    }
                    _ => {
                        self.size_line_byte()?;
                        ChunkState::Ext
                    }
                },
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(HttpError::BadChunk(
                            "CR not followed by LF after chunk size",
                        ));
                    }
                    if self.size == 0 {
                        self.trailer_len = 0;
                        ChunkState::TrailerStart
                    } else {
                        // push_digit already checked this sum against body_bytes_max.
                        self.total = self.total.saturating_add(self.size);
                        ChunkState::Data
                    }
                }
                // Handled above; kept for exhaustiveness.
                ChunkState::Data | ChunkState::Done => self.state,
                ChunkState::DataCr => match b {
                    b'\r' => ChunkState::DataLf,
                    _ => return Err(HttpError::BadChunk("chunk data not followed by CRLF")),
                },
                ChunkState::DataLf => match b {
                    b'\n' => ChunkState::SizeStart,
                    _ => return Err(HttpError::BadChunk("chunk data not followed by CRLF")),
                },
                ChunkState::TrailerStart | ChunkState::Trailer => {
                    let at_start = self.state == ChunkState::TrailerStart;
                    self.trailer_byte(limits)?;
                    match b {
                        b'\r' => ChunkState::TrailerLf { empty: at_start },
                        b'\n' => return Err(bare_lf()),
                        b' ' | b'\t' if at_start => {
                            return Err(HttpError::BadChunk(
                                "trailer field starts with whitespace (obsolete line folding)",
                            ))
                        }
                        _ if is_ctl(b) => {
                            return Err(HttpError::BadChunk("control character in trailer field"))
                        }
                        _ => ChunkState::Trailer,
                    }
                }
                ChunkState::TrailerLf { empty } => {
                    self.trailer_byte(limits)?;
                    match b {
                        b'\n' if empty => ChunkState::Done,
                        b'\n' => ChunkState::TrailerStart,
                        _ => return Err(HttpError::BadChunk("CR not followed by LF in trailer")),
                    }
                }
            };
        }
        Ok(i)
    }

    /// Count one byte of the chunk-size line against [`CHUNK_LINE_MAX`].
    fn size_line_byte(&mut self) -> Result<(), HttpError> {
        self.line_len += 1;
        if self.line_len > CHUNK_LINE_MAX {
            return Err(HttpError::BadChunk(CHUNK_LINE_TOO_LONG));
        }
        Ok(())
    }

    /// Append a hex digit to the chunk size, refusing as soon as the body would exceed the limit.
    fn push_digit(&mut self, d: u8, limits: &HttpLimits) -> Result<(), HttpError> {
        let too_large = HttpError::BodyTooLarge {
            limit: limits.body_bytes_max,
        };
        let size = self
            .size
            .checked_mul(16)
            .and_then(|s| s.checked_add(usize::from(d)))
            .ok_or(too_large)?;
        match self.total.checked_add(size) {
            Some(t) if t <= limits.body_bytes_max => {
                self.size = size;
                Ok(())
            }
            _ => Err(too_large),
        }
    }

    /// Count one byte of the trailer section against `header_bytes_max`.
    fn trailer_byte(&mut self, limits: &HttpLimits) -> Result<(), HttpError> {
        self.trailer_len += 1;
        if self.trailer_len > limits.header_bytes_max {
            return Err(HttpError::TrailersTooLarge {
                limit: limits.header_bytes_max,
            });
        }
        Ok(())
    }
}

fn bare_lf() -> HttpError {
    HttpError::BadChunk("bare LF in chunked framing; lines must end with CRLF")
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Control characters other than HTAB (which is allowed in field values and extensions).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// The standard reason phrase for `status`, or `""` for codes without one here.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Append a complete HTTP/1.1 response to `out`, for an HTTP/1.1 client.
///
/// Layout: status line with the standard reason phrase; `Content-Length`; `Content-Type:
/// text/plain; charset=utf-8` when `body` is non-empty (unless `extra` has its own
/// `Content-Type`); `Connection: close` when `!keep_alive`; the `extra` headers in order; the
/// body. For 1xx, 204 and 304 neither `Content-Length` nor the body is written. A status
/// outside 100..=999 is written as 500. For a HEAD request pass an empty body.
///
/// An HTTP/1.0 client needs `Connection: keep-alive` to keep the connection open; use
/// [`write_response_for_version`] with its `minor_version` (with this function such a client
/// simply closes after the response, which is safe).
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    extra: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    write_response_for_version(out, 1, status, extra, body, keep_alive);
}

/// [`write_response`] for a client speaking HTTP/1.`minor_version`: when the client is
/// HTTP/1.0 and `keep_alive` is set, also writes `Connection: keep-alive`.
pub fn write_response_for_version(
    out: &mut Vec<u8>,
    minor_version: u8,
    status: u16,
    extra: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let bodiless = status < 200 || status == 204 || status == 304;
    let body = if bodiless { &[][..] } else { body };
    let extra_len: usize = extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    out.reserve(160 + extra_len + body.len());

    let reason = reason_phrase(status);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body.len());
        out.extend_from_slice(b"\r\n");
    }
    let extra_has_ct = extra
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !extra_has_ct {
        out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if minor_version == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    for (name, value) in extra {
        debug_assert!(
            !name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']),
            "response header must not contain CR, LF (or ':' in the name)"
        );
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Append the decimal digits of `n` without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits::default()
    }

    fn parse(buf: &[u8]) -> Result<Option<Head>, HttpError> {
        parse_head(buf, &limits())
    }

    fn complete(buf: &[u8]) -> Head {
        parse(buf).unwrap().expect("complete head")
    }

    /// Decode a whole chunked body in one call; returns (body, consumed, done).
    fn decode_all(input: &[u8], limits: &HttpLimits) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let (n, done) = d.decode(input, &mut out, limits)?;
        Ok((out, n, done))
    }

    fn decode_bytewise(input: &[u8], limits: &HttpLimits) -> Result<(Vec<u8>, usize), HttpError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        for (i, b) in input.iter().enumerate() {
            let (n, done) = d.decode(std::slice::from_ref(b), &mut out, limits)?;
            consumed += n;
            if done {
                assert_eq!(consumed, i + 1);
                return Ok((out, consumed));
            }
            assert_eq!(n, 1, "a not-done decoder consumes all input");
        }
        Err(HttpError::BadChunk(
            "test: input ended before the last chunk",
        ))
    }

    #[test]
    fn defaults() {
        let l = HttpLimits::default();
        assert_eq!(l.header_bytes_max, 16384);
        assert_eq!(l.headers_max, 64);
        assert_eq!(l.body_bytes_max, 8 * 1024 * 1024);
    }

    #[test]
    fn simple_get() {
        let buf = b"GET /health_check/?probe=1 HTTP/1.1\r\nHost: relay\r\n\r\n";
        let h = complete(buf);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.path_bytes(buf), b"/health_check/");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.head_len, buf.len());
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(h.content_type, None);
        assert_eq!(h.content_encoding, None);
        assert_eq!(h.x_forwarded_for, None);
    }

    #[test]
    fn methods() {
        for (m, want) in [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("PUT", Method::Other),
            ("get", Method::Other),
        ] {
            let buf = format!("{m} / HTTP/1.1\r\n\r\n");
            assert_eq!(complete(buf.as_bytes()).method, want, "{m}");
        }
    }

    #[test]
    fn post_with_content_length_and_headers() {
        let buf = b"POST /upload/ HTTP/1.1\r\nHost: x\r\ncontent-length:  11 \r\n\
            Content-Type: application/json\r\nCONTENT-ENCODING: gzip\r\n\
            X-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 192.0.2.7, 10.0.0.2\r\n\r\n{\"a\": 1234}";
        let h = complete(buf);
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.path_bytes(buf), b"/upload/");
        assert_eq!(h.framing, BodyFraming::Length(11));
        assert_eq!(&buf[h.head_len..], b"{\"a\": 1234}");
        assert_eq!(h.content_type_bytes(buf), Some(&b"application/json"[..]));
        assert_eq!(h.content_encoding_bytes(buf), Some(&b"gzip"[..]));
        // The last occurrence wins.
        assert_eq!(
            h.x_forwarded_for_bytes(buf),
            Some(&b"192.0.2.7, 10.0.0.2"[..])
        );
        assert_eq!(
            Head::value(buf, h.content_type.as_ref().unwrap()),
            b"application/json"
        );
    }

    #[test]
    fn post_without_length_has_no_body() {
        let h = complete(b"POST /upload/ HTTP/1.1\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::None);
    }

    #[test]
    fn partial_heads_at_every_split() {
        let full: &[u8] = b"POST /upload/?x=1 HTTP/1.1\r\nHost: relay.example\r\n\
            Content-Length: 3\r\nExpect: 100-continue\r\n\r\n";
        for k in 0..full.len() {
            assert_eq!(parse(&full[..k]), Ok(None), "split at {k}");
        }
        let h = complete(full);
        assert_eq!(h.head_len, full.len());
        assert_eq!(h.framing, BodyFraming::Length(3));
        assert_eq!(h.path_bytes(full), b"/upload/");
    }

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            (
                b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nconnection: foo , Keep-Alive\r\n\r\n",
                true,
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false),
        ];
        for (buf, want) in cases {
            let h = complete(buf);
            assert_eq!(h.keep_alive, *want, "{}", String::from_utf8_lossy(buf));
        }
        assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").minor_version, 0);
    }

    #[test]
    fn expect_continue() {
        let h = complete(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n");
        assert!(h.expect_continue);
        let h = complete(b"POST / HTTP/1.1\r\nExpect: something-else\r\n\r\n");
        assert!(!h.expect_continue);
        // RFC 9110 §10.1.1: ignored for HTTP/1.0.
        let h = complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
        assert!(!h.expect_continue);
        assert_eq!(CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn chunked_head() {
        let h = complete(b"POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Chunked);
    }

    #[test]
    fn unsupported_transfer_encodings() {
        for buf in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let e = parse(buf).unwrap_err();
            assert_eq!(e, HttpError::UnsupportedTransferEncoding);
            assert_eq!(e.status(), 501);
        }
        let e = parse(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn content_length_and_transfer_encoding_is_400() {
        let e =
            parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err();
        assert!(matches!(e, HttpError::BadRequest(_)));
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn bad_content_length() {
        for v in ["", "abc", "-1", "+5", "5 5", "5,5", "0x10", "1.0"] {
            let buf = format!("POST / HTTP/1.1\r\nContent-Length: {v}\r\n\r\n");
            let e = parse(buf.as_bytes()).unwrap_err();
            assert!(matches!(e, HttpError::BadRequest(_)), "{v:?}: {e:?}");
            assert_eq!(e.status(), 400);
        }
        let e = parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
            .unwrap_err();
        assert_eq!(e.status(), 400);
        // Identical duplicates are tolerated (RFC 9112 §6.3).
        let h = complete(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 005\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Length(5));
    }

    #[test]
    fn oversize_content_length_is_413() {
        let l = HttpLimits {
            body_bytes_max: 100,
            ..limits()
        };
        let h = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", &l)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Length(100));
        let e = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", &l).unwrap_err();
        assert_eq!(e, HttpError::BodyTooLarge { limit: 100 });
        assert_eq!(e.status(), 413);
        let e = parse(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n")
            .unwrap_err();
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn too_many_headers_is_431() {
        let l = HttpLimits {
            headers_max: 3,
            ..limits()
        };
        let ok = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert!(parse_head(ok, &l).unwrap().is_some());
        let bad = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        let e = parse_head(bad, &l).unwrap_err();
        assert_eq!(e, HttpError::TooManyHeaders { limit: 3 });
        assert_eq!(e.status(), 431);

        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..65 {
            many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many).unwrap_err().status(), 431);

        // headers_max above the stack capacity is clamped to it.
        let huge = HttpLimits {
            headers_max: 10_000,
            header_bytes_max: 1 << 20,
            ..limits()
        };
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=HEADERS_CAPACITY {
            many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&many, &huge).unwrap_err(),
            HttpError::TooManyHeaders {
                limit: HEADERS_CAPACITY
            }
        );
    }

    #[test]
    fn head_too_large_is_431() {
        let l = HttpLimits {
            header_bytes_max: 64,
            ..limits()
        };
        // Incomplete and already at the limit.
        let mut buf = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        buf.resize(63, b'a');
        assert_eq!(parse_head(&buf, &l), Ok(None));
        buf.push(b'a');
        let e = parse_head(&buf, &l).unwrap_err();
        assert_eq!(e, HttpError::HeadTooLarge { limit: 64 });
        assert_eq!(e.status(), 431);
        // Complete, but longer than the limit.
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&buf, &l).unwrap_err().status(), 431);
        // Exactly at the limit is fine, even with body bytes following.
        let mut exact = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        exact.resize(60, b'a');
        exact.extend_from_slice(b"\r\n\r\n");
        assert_eq!(exact.len(), 64);
        exact.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parse_head(&exact, &l).unwrap().unwrap().head_len, 64);
    }

    #[test]
    fn versions() {
        for buf in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/3\r\n\r\n",
        ] {
            let e = parse(buf).unwrap_err();
            assert_eq!(e, HttpError::UnsupportedVersion, "{buf:?}");
            assert_eq!(e.status(), 505);
        }
        for buf in [&b"GET / HTTX/1.1\r\n\r\n"[..], b"GET / junk\r\n\r\n"] {
            assert_eq!(parse(buf).unwrap_err().status(), 400, "{buf:?}");
        }
    }

    #[test]
    fn malformed_heads_are_400() {
        for buf in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nName : x\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\n\r\n",
        ] {
            let e = parse(buf).unwrap_err();
            assert_eq!(
                e.status(),
                400,
                "{:?} -> {e:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn pipelined_requests() {
        let buf = b"POST /upload/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
            GET /health_check/ HTTP/1.1\r\n\r\n";
        let first = complete(buf);
        let BodyFraming::Length(n) = first.framing else {
            panic!("expected a length")
        };
        assert_eq!(&buf[first.head_len..first.head_len + n], b"hello");
        let rest = &buf[first.head_len + n..];
        let second = complete(rest);
        assert_eq!(second.method, Method::Get);
        assert_eq!(second.path_bytes(rest), b"/health_check/");
        assert_eq!(second.head_len, rest.len());
    }

    #[test]
    fn pipelined_after_chunked_body() {
        let buf = b"POST /upload/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let first = complete(buf);
        assert_eq!(first.framing, BodyFraming::Chunked);
        let (body, n, done) = decode_all(&buf[first.head_len..], &limits()).unwrap();
        assert!(done);
        assert_eq!(body, b"abc");
        let rest = &buf[first.head_len + n..];
        assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(complete(rest).method, Method::Get);
    }

    const CHUNKED: &[u8] = b"5\r\nhello\r\n1;name=value;flag\r\n \r\n00a ; ext=\"q s\"\r\n\
        0123456789\r\nA\r\nabcdefghij\r\n000;last\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n";
    const CHUNKED_BODY: &[u8] = b"hello 0123456789abcdefghij";

    #[test]
    fn chunked_bytewise_equals_all_at_once() {
        let (all, n, done) = decode_all(CHUNKED, &limits()).unwrap();
        assert!(done);
        assert_eq!(n, CHUNKED.len());
        assert_eq!(all, CHUNKED_BODY);
        let (bytewise, n) = decode_bytewise(CHUNKED, &limits()).unwrap();
        assert_eq!(n, CHUNKED.len());
        assert_eq!(bytewise, all);
        // Every two-piece split too.
        for k in 0..CHUNKED.len() {
            let mut d = ChunkedDecoder::new();
            let mut out = Vec::new();
            let (a, done_a) = d.decode(&CHUNKED[..k], &mut out, &limits()).unwrap();
            assert_eq!((a, done_a), (k, false), "split {k}");
            let (b, done_b) = d.decode(&CHUNKED[k..], &mut out, &limits()).unwrap();
            assert!(done_b);
            assert_eq!(a + b, CHUNKED.len());
            assert_eq!(out, CHUNKED_BODY);
        }
    }

    #[test]
    fn chunked_done_stops_consuming() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let (n, done) = d.decode(b"0\r\n\r\nextra", &mut out, &limits()).unwrap();
        assert_eq!((n, done), (5, true));
        assert!(out.is_empty());
        assert_eq!(d.decode(b"more", &mut out, &limits()), Ok((0, true)));
        assert!(d.is_done());
    }

    #[test]
    fn chunked_incomplete_is_not_done() {
        let (out, n, done) = decode_all(b"5\r\nhel", &limits()).unwrap();
        assert_eq!((out.as_slice(), n, done), (&b"hel"[..], 6, false));
        let (_, _, done) = decode_all(b"0\r\nTrailer: x\r\n", &limits()).unwrap();
        assert!(!done);
    }

    #[test]
    fn chunked_over_limit_errors_before_appending() {
        let l = HttpLimits {
            body_bytes_max: 10,
            ..limits()
        };
        // Exactly at the limit is fine.
        let (out, _, done) = decode_all(b"6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", &l).unwrap();
        assert!(done);
        assert_eq!(out.len(), 10);
        // One more byte is refused from the size line: nothing of that chunk is appended.
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let e = d
            .decode(b"6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", &mut out, &l)
            .unwrap_err();
        assert_eq!(e, HttpError::BodyTooLarge { limit: 10 });
        assert_eq!(e.status(), 413);
        assert_eq!(out, b"abcdef");
        // Poisoned afterwards.
        assert_eq!(d.decode(b"0\r\n\r\n", &mut out, &l), Err(e));
        // A single huge chunk, and an overflowing size, are refused from the digits alone.
        let mut out = Vec::new();
        let e = ChunkedDecoder::new()
            .decode(b"100000", &mut out, &l)
            .unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(out.is_empty());
        let e = decode_all(b"ffffffffffffffffffffffff\r\n", &limits()).unwrap_err();
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn bad_chunks() {
        for input in [
            &b"\r\n"[..],
            b"g\r\n",
            b"-1\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5x\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\rhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"0\r\nTrailer: x\n\r\n",
            b"0\r\n\n",
            b"0\r\n\rX",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nA: \x01\r\n\r\n",
        ] {
            let e = decode_all(input, &limits()).unwrap_err();
            assert!(
                matches!(e, HttpError::BadChunk(_)),
                "{:?} -> {e:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn chunk_line_and_trailer_limits() {
        let mut line = b"1;".to_vec();
        line.resize(CHUNK_LINE_MAX, b'x');
        line.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_eq!(decode_all(&line, &limits()).unwrap().0, b"a");
        let mut long = b"1;".to_vec();
        long.resize(CHUNK_LINE_MAX + 1, b'x');
        let e = decode_all(&long, &limits()).unwrap_err();
        assert_eq!(e, HttpError::BadChunk(CHUNK_LINE_TOO_LONG));
        assert!(e.to_string().contains(&CHUNK_LINE_MAX.to_string()));

        let l = HttpLimits {
            header_bytes_max: 16,
            ..limits()
        };
        // Trailer section "A: 0123456789\r\n\r\n" is 17 bytes.
        let e = decode_all(b"0\r\nA: 0123456789\r\n\r\n", &l).unwrap_err();
        assert_eq!(e, HttpError::TrailersTooLarge { limit: 16 });
        assert_eq!(e.status(), 431);
        let (_, _, done) = decode_all(b"0\r\nA: 012345678\r\n\r\n", &l).unwrap();
        assert!(done);
    }

    #[test]
    fn write_response_exact_bytes() {
        let mut out = Vec::new();
        write_response(&mut out, 200, &[], b"1", true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n1"
        );
    }

    #[test]
    fn write_response_variants() {
        let mut out = b"previous".to_vec();
        write_response(&mut out, 405, &[("Allow", "POST")], b"", false);
        assert_eq!(
            out,
            b"previousHTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\
              Connection: close\r\nAllow: POST\r\n\r\n"
        );

        let mut out = Vec::new();
        write_response_for_version(&mut out, 0, 200, &[], b"", true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );

        let mut out = Vec::new();
        write_response(
            &mut out,
            200,
            &[("content-type", "application/json")],
            b"{}",
            true,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: application/json\r\n\r\n{}"
        );

        let mut out = Vec::new();
        write_response(&mut out, 204, &[], b"ignored", true);
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\n\r\n");

        let mut out = Vec::new();
        write_response(&mut out, 599, &[], b"", true);
        assert_eq!(out, b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");

        let mut out = Vec::new();
        write_response(&mut out, 7, &[], b"", true);
        assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));

        let err = HttpError::BodyTooLarge { limit: 8388608 };
        let msg = err.to_string();
        assert_eq!(msg, "request body exceeds the limit of 8388608 bytes");
        let mut out = Vec::new();
        write_response(&mut out, err.status(), &[], msg.as_bytes(), false);
        assert!(out.starts_with(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 47\r\n"));
        assert!(out.ends_with(b"\r\n\r\nrequest body exceeds the limit of 8388608 bytes"));
    }

    #[test]
    fn push_decimal_values() {
        for n in [0usize, 7, 10, 99, 100, 8388608, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn error_messages_are_one_line() {
        let all = [
            HttpError::BadRequest("x"),
            HttpError::HeadTooLarge { limit: 1 },
            HttpError::TooManyHeaders { limit: 1 },
            HttpError::BodyTooLarge { limit: 1 },
            HttpError::BadChunk("x"),
            HttpError::TrailersTooLarge { limit: 1 },
            HttpError::UnsupportedTransferEncoding,
            HttpError::UnsupportedVersion,
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
            assert!(!reason_phrase(e.status()).is_empty());
        }
    }

    /// Deterministic xorshift64* generator; no dependency needed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random and mutated inputs never panic and every answer respects the limits.
    #[test]
    fn fuzzish_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let l = HttpLimits {
            header_bytes_max: 512,
            headers_max: 8,
            body_bytes_max: 64,
        };
        let heads: [&[u8]; 3] = [
            b"POST /upload/?a=b HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            b"GET /health_check/ HTTP/1.0\r\nConnection: keep-alive\r\nX-Forwarded-For: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        ];
        let alphabet = b"GETPOSTHEAD /?:;,\r\n\t 0123456789abcdefABCDEF-HTTP/1.\x00\x7f\xff";
        for round in 0..20_000 {
            let mut buf: Vec<u8> = if round % 2 == 0 {
                heads[rng.below(heads.len())].to_vec()
            } else {
                CHUNKED.to_vec()
            };
            match rng.below(4) {
                0 => {
                    let len = rng.below(600);
                    buf = (0..len).map(|_| rng.next() as u8).collect();
                }
                1 => {
                    let len = rng.below(600);
                    buf = (0..len)
                        .map(|_| alphabet[rng.below(alphabet.len())])
                        .collect();
                }
                _ => {
                    for _ in 0..1 + rng.below(4) {
                        if buf.is_empty() {
                            break;
                        }
                        let at = rng.below(buf.len());
                        match rng.below(3) {
                            0 => buf[at] = alphabet[rng.below(alphabet.len())],
                            1 => {
                                buf.remove(at);
                            }
                            _ => buf.insert(at, rng.next() as u8),
                        }
                    }
                }
            }

            if let Ok(Some(h)) = parse_head(&buf, &l) {
                assert!(h.head_len <= buf.len() && h.head_len <= l.header_bytes_max);
                assert!(h.path.end <= h.head_len);
                for r in [&h.content_type, &h.content_encoding, &h.x_forwarded_for]
                    .into_iter()
                    .flatten()
                {
                    assert!(r.start <= r.end && r.end <= h.head_len);
                }
                if let BodyFraming::Length(n) = h.framing {
                    assert!(n <= l.body_bytes_max);
                }
            }

            let mut d = ChunkedDecoder::new();
            let mut out = Vec::new();
            let mut pos = 0;
            while pos < buf.len() {
                let step = 1 + rng.below(buf.len() - pos);
                match d.decode(&buf[pos..pos + step], &mut out, &l) {
                    Ok((n, done)) => {
                        assert!(n <= step);
                        assert!(out.len() <= l.body_bytes_max);
                        pos += n;
                        if done {
                            break;
                        }
                        assert_eq!(n, step);
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
