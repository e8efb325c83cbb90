//! Body decoding: from the bytes an uploader POSTed to the UUDIF JSON inside them.
//!
//! This is the only module that builds decompressors, and every one of them is capped: output
//! goes into a buffer that grows by doubling up to `inflated_bytes_max` and no further, so a
//! decompression bomb is refused ([`Reject::InflatedTooLarge`]) after producing at most the
//! limit, never by allocating more. Buffers belong to a [`BodyDecoder`], which a shard owns and
//! reuses, so a warmed-up decoder does not allocate.
//!
//! The steps follow the wire contract §2, in order:
//! 1. Decompress when `Content-Encoding` is gzip or deflate (any case), or when the bytes start
//!    with the gzip magic or a valid zlib header whatever the header says. Under either name the
//!    bytes may be gzip, zlib or raw deflate: the format is told from the bytes.
//! 2. Take the `data` field of a form (urlencoded or multipart), unless the body's first
//!    non-blank byte is `{`, which always means JSON.
//!
//! libdeflate decompresses one stream (one gzip member) and ignores what follows it. Bodies are
//! therefore decoded through libdeflate's `_ex` entry points, which report the input a stream
//! used: gzip member by member until the input is used up (a multi-member body is decoded
//! whole), and bytes after the end of any stream are refused. Nothing is silently cut short.
//! Those entry points are the crate's one use of `unsafe`, confined to the `ffi` module below
//! (the libdeflater crate, used for compression, does not expose them).
//!
//! Text that merely looks like a zlib header (a form body starting `hbar=`, say) is not
//! mistaken for one: a sniffed, undeclared zlib body that does not decode and starts with two
//! printable characters is taken as plain text. A UTF-8 byte-order mark before the JSON (as some
//! .NET writers emit) is skipped.

use crate::reject::{Format, Reject};
use crate::Limits;

/// The first output buffer size, before any growth.
const INFLATE_START_BYTES: usize = 64 << 10;
/// After an upload, a buffer larger than this is given back to the allocator, so that one
/// huge upload does not pin its memory in a shard for ever.
const RETAIN_BYTES: usize = 8 << 20;

/// What an upload's `Content-Encoding` header asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No header, or `identity`.
    Identity,
    /// `gzip` or `x-gzip`.
    Gzip,
    /// `deflate`.
    Deflate,
}

impl Encoding {
    /// Classify a `Content-Encoding` value; anything but gzip, deflate or identity is a 415.
    pub fn from_header(value: Option<&[u8]>) -> Result<Encoding, Reject> {
        let Some(v) = value else {
            return Ok(Encoding::Identity);
        };
        let v = v.trim_ascii();
        if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Ok(Encoding::Identity)
        } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Ok(Encoding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Ok(Encoding::Deflate)
        } else {
            Err(Reject::UnsupportedEncoding)
        }
    }
}

/// Tell gzip or zlib from the first bytes (RFC 1952 magic; RFC 1950 CMF/FLG check).
pub fn sniff(body: &[u8]) -> Option<Format> {
    match body {
        [0x1f, 0x8b, ..] => Some(Format::Gzip),
        [cmf, flg, ..]
            if cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 =>
        {
            Some(Format::Zlib)
        }
        _ => None,
    }
}

/// The first byte that is not JSON white space.
fn first_non_blank(b: &[u8]) -> Option<u8> {
    b.iter()
        .copied()
        .find(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Plain text that no compressed stream can be confused with: JSON, or a `data=` form.
fn looks_plain(b: &[u8]) -> bool {
    first_non_blank(b) == Some(b'{') || b.starts_with(b"data=")
}

/// Two printable ASCII characters: text, which a real zlib header (whose second byte is
/// 0x01, 0x5e, 0x9c or 0xda in practice) is not.
fn starts_printable(b: &[u8]) -> bool {
    b.len() >= 2 && b[..2].iter().all(|c| (0x20..0x7f).contains(c))
}

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

fn skip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(UTF8_BOM).unwrap_or(b)
}

/// Which form a body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormKind<'a> {
    Urlencoded,
    Multipart { boundary: &'a [u8] },
}

fn form_kind(content_type: Option<&[u8]>) -> Result<Option<FormKind<'_>>, Reject> {
    let Some(ct) = content_type else {
        return Ok(None);
    };
    let mut parts = ct.split(|&c| c == b';');
    let mime = parts.next().unwrap_or_default().trim_ascii();
    if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        return Ok(Some(FormKind::Urlencoded));
    }
    if !mime.eq_ignore_ascii_case(b"multipart/form-data") {
        return Ok(None);
    }
    for param in parts {
        let param = param.trim_ascii();
        if param.len() > 9 && param[..9].eq_ignore_ascii_case(b"boundary=") {
            let mut b = &param[9..];
            if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
                b = &b[1..b.len() - 1];
            }
            if b.is_empty() || b.len() > 70 {
                return Err(Reject::BadMultipart("the boundary must be 1 to 70 bytes"));
            }
            return Ok(Some(FormKind::Multipart { boundary: b }));
        }
    }
    Err(Reject::BadMultipart(
        "Content-Type has no boundary parameter",
    ))
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// URL-decode (`+` is a space, `%XX` a byte) `src` onto the end of `out`.
fn url_decode_into(src: &[u8], out: &mut Vec<u8>) -> Result<(), Reject> {
    out.reserve(src.len());
    let mut i = 0;
    while i < src.len() {
        // Copy the run up to the next escape in one go.
        let run = src[i..]
            .iter()
            .position(|&c| c == b'%' || c == b'+')
            .unwrap_or(src.len() - i);
        out.extend_from_slice(&src[i..i + run]);
        i += run;
        match src.get(i) {
            Some(b'+') => {
                out.push(b' ');
                i += 1;
            }
            Some(b'%') => {
                let hi = src.get(i + 1).copied().and_then(hex);
                let lo = src.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(Reject::FormBadEscape),
                }
                i += 3;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The raw (still URL-encoded) value of the first `data` field of an urlencoded form.
fn urlencoded_data(body: &[u8]) -> Option<&[u8]> {
    body.split(|&c| c == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&c| c == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        (k == b"data").then_some(v)
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The content of the `data` part of a multipart/form-data body (RFC 7578).
fn multipart_data<'b>(body: &'b [u8], boundary: &[u8]) -> Result<Option<&'b [u8]>, Reject> {
    let mut delim = Vec::with_capacity(boundary.len() + 4);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let Some(start) = find(body, &delim) else {
        return Err(Reject::BadMultipart(
            "the body does not contain its boundary",
        ));
    };
    let mut rest = &body[start + delim.len()..];
    // Each part after a delimiter: CRLF, headers, CRLF CRLF, content, CRLF delimiter.
    delim.splice(0..0, *b"\r\n");
    loop {
        if rest.starts_with(b"--") {
            return Ok(None); // the close delimiter: no data part
        }
        let Some(after_line) = rest.strip_prefix(b"\r\n") else {
            return Err(Reject::BadMultipart(
                "a boundary line is not followed by CRLF",
            ));
        };
        let Some(head_end) = find(after_line, b"\r\n\r\n") else {
            return Err(Reject::BadMultipart("a part has no end to its headers"));
        };
        let headers = &after_line[..head_end];
        let content_and_rest = &after_line[head_end + 4..];
        let Some(end) = find(content_and_rest, &delim) else {
            return Err(Reject::BadMultipart("a part is not closed by the boundary"));
        };
        if part_is_named_data(headers) {
            return Ok(Some(&content_and_rest[..end]));
        }
        rest = &content_and_rest[end + delim.len()..];
    }
}

fn part_is_named_data(headers: &[u8]) -> bool {
    headers.split(|&c| c == b'\n').any(|line| {
        let line = line.trim_ascii();
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return false;
        };
        if !line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(b"content-disposition")
        {
            return false;
        }
        line[colon + 1..].split(|&c| c == b';').any(|p| {
            let p = p.trim_ascii();
            p.len() > 5
                && p[..5].eq_ignore_ascii_case(b"name=")
                && matches!(&p[5..], b"data" | b"\"data\"")
        })
    })
}

/// Reusable buffers and decompressor for turning bodies into JSON. One per shard.
pub struct BodyDecoder {
    decompressor: ffi::Decompressor,
    inflated: Vec<u8>,
    form: Vec<u8>,
}

impl std::fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyDecoder")
            .field("inflated_capacity", &self.inflated.capacity())
            .field("form_capacity", &self.form.capacity())
            .finish()
    }
}

impl Default for BodyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyDecoder {
    /// A decoder with empty buffers; they grow to the sizes real uploads need.
    pub fn new() -> BodyDecoder {
        BodyDecoder {
            decompressor: ffi::Decompressor::new(),
            inflated: Vec::new(),
            form: Vec::new(),
        }
    }

    /// Turn a body into the UUDIF JSON it carries. See the module docs for the steps.
    pub fn decode<'a>(
        &'a mut self,
        body: &'a [u8],
        encoding: Encoding,
        content_type: Option<&[u8]>,
        limits: &Limits,
    ) -> Result<&'a [u8], Reject> {
        if body.len() > limits.body_bytes_max {
            return Err(Reject::BodyTooLarge {
                max: limits.body_bytes_max,
            });
        }
        if first_non_blank(body).is_none() {
            return Err(Reject::EmptyBody);
        }
        let format = match (encoding, sniff(body)) {
            (_, Some(f)) => Some(f),
            (Encoding::Identity, None) => None,
            (Encoding::Gzip | Encoding::Deflate, None) => Some(Format::Deflate),
        };
        let declared = encoding != Encoding::Identity;
        let Self {
            decompressor,
            inflated,
            form,
        } = self;
        let plain: &'a [u8] = match format {
            None => body,
            Some(f) => match inflate(decompressor, inflated, f, body, limits.inflated_bytes_max) {
                Ok(n) => {
                    let inflated: &'a Vec<u8> = inflated;
                    &inflated[..n]
                }
                // The header claimed a compression the bytes plainly do not have.
                Err(Reject::Undecodable(Format::Deflate)) if looks_plain(body) => body,
                // Text whose first two bytes happen to pass the zlib header check.
                Err(Reject::Undecodable(Format::Zlib))
                    if looks_plain(body) || (!declared && starts_printable(body)) =>
                {
                    body
                }
                Err(e) => return Err(e),
            },
        };
        let plain = skip_bom(plain);
        if plain.len() > limits.inflated_bytes_max {
            return Err(Reject::InflatedTooLarge {
                max: limits.inflated_bytes_max,
            });
        }
        let json: &'a [u8] = match first_non_blank(plain) {
            None => return Err(Reject::EmptyBody),
            Some(b'{') => plain,
            Some(_) => match form_kind(content_type)? {
                Some(FormKind::Multipart { boundary }) => multipart_data(plain, boundary)?
                    .filter(|d| !d.is_empty())
                    .ok_or(Reject::FormMissingData)?,
                Some(FormKind::Urlencoded) => url_form(plain, form)?,
                // No form Content-Type: a body that starts `data=` is still a form (old
                // uploaders omitted the header); anything else is taken as JSON and fails there.
                None if plain.starts_with(b"data=") => url_form(plain, form)?,
                None => plain,
            },
        };
        Ok(skip_bom(json))
    }

    /// Give back buffers that one exceptional upload made huge.
    pub fn trim(&mut self) {
        for buf in [&mut self.inflated, &mut self.form] {
            if buf.capacity() > RETAIN_BYTES {
                buf.truncate(RETAIN_BYTES);
                buf.shrink_to(RETAIN_BYTES);
            }
        }
    }
}

fn url_form<'a>(plain: &[u8], form: &'a mut Vec<u8>) -> Result<&'a [u8], Reject> {
    let raw = urlencoded_data(plain)
        .filter(|d| !d.is_empty())
        .ok_or(Reject::FormMissingData)?;
    form.clear();
    url_decode_into(raw, form)?;
    Ok(form)
}

/// Decompress `input` as `format` into `out`, growing it by doubling up to `cap` (and never
/// reserving past it). Returns the number of bytes produced. Gzip is decoded member by member;
/// any byte after the end of the (last) stream makes the body undecodable.
fn inflate(
    d: &mut ffi::Decompressor,
    out: &mut Vec<u8>,
    format: Format,
    input: &[u8],
    cap: usize,
) -> Result<usize, Reject> {
    // A gzip trailer states the (last member's) size: a good first guess, never trusted.
    let hint = match format {
        Format::Gzip if input.len() >= 18 => trailer_isize(input) as usize,
        _ => input.len().saturating_mul(4),
    };
    let mut size = hint.clamp(INFLATE_START_BYTES.min(cap), cap);
    let (mut read, mut written) = (0, 0);
    loop {
        if out.len() < size {
            if written == 0 {
                // Nothing to keep: free the old buffer before taking the new one, so a bomb
                // never holds more than the cap at once.
                *out = Vec::new();
                *out = vec![0; size];
            } else {
                out.reserve_exact(size - out.len());
                out.resize(size, 0);
            }
        }
        match d.decompress(format, &input[read..], &mut out[written..size]) {
            Ok((used, produced)) => {
                read += used;
                written += produced;
                if read == input.len() {
                    return Ok(written);
                }
                if format != Format::Gzip {
                    return Err(Reject::Undecodable(format));
                }
            }
            Err(ffi::Failed::NoSpace) if size >= cap => {
                return Err(Reject::InflatedTooLarge { max: cap })
            }
            Err(ffi::Failed::NoSpace) => size = size.saturating_mul(2).min(cap),
            Err(ffi::Failed::BadData) => return Err(Reject::Undecodable(format)),
        }
    }
}

/// The ISIZE field of the gzip trailer at the end of `input` (len >= 8): the last member's
/// size modulo 2^32.
fn trailer_isize(input: &[u8]) -> u32 {
    let n = input.len();
    u32::from_le_bytes([input[n - 4], input[n - 3], input[n - 2], input[n - 1]])
}

/// libdeflate's `_ex` decompression entry points, which report the input a stream used.
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::c_void;
    use std::ptr::NonNull;

    use libdeflate_sys::{
        libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_deflate_decompress_ex,
        libdeflate_free_decompressor, libdeflate_gzip_decompress_ex,
        libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE, libdeflate_result_LIBDEFLATE_SUCCESS,
        libdeflate_zlib_decompress_ex,
    };

    use crate::reject::Format;

    /// Why one stream did not decode.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Failed {
        /// The output buffer is too small.
        NoSpace,
        /// Corrupt or truncated.
        BadData,
    }

    /// An owned libdeflate decompressor.
    pub(super) struct Decompressor(NonNull<libdeflate_decompressor>);

    // SAFETY: the decompressor is a heap block that only this value points to; libdeflate
    // keeps no thread-local state, so it may move between threads (it is never shared: every
    // use takes `&mut self`).
    unsafe impl Send for Decompressor {}

    impl Decompressor {
        pub(super) fn new() -> Decompressor {
            // SAFETY: a plain allocation call with no arguments; NULL is checked below.
            let p = unsafe { libdeflate_alloc_decompressor() };
            Decompressor(NonNull::new(p).expect("libdeflate could not allocate its 8 KiB state"))
        }

        /// Decompress the one stream (gzip: one member) at the start of `input` into `out`:
        /// (input bytes used, output bytes written).
        pub(super) fn decompress(
            &mut self,
            format: Format,
            input: &[u8],
            out: &mut [u8],
        ) -> Result<(usize, usize), Failed> {
            let f = match format {
                Format::Gzip => libdeflate_gzip_decompress_ex,
                Format::Zlib => libdeflate_zlib_decompress_ex,
                Format::Deflate => libdeflate_deflate_decompress_ex,
            };
            let (mut used, mut written) = (0usize, 0usize);
            // SAFETY: the pointer is a live decompressor owned by `self` (exclusive through
            // `&mut self`); the input and output pointers and lengths come from live slices,
            // and libdeflate reads at most `input.len()` and writes at most `out.len()` bytes;
            // the two out-parameters point to locals. All three functions share this signature.
            let r = unsafe {
                f(
                    self.0.as_ptr(),
                    input.as_ptr().cast::<c_void>(),
                    input.len(),
                    out.as_mut_ptr().cast::<c_void>(),
                    out.len(),
                    &mut used,
                    &mut written,
                )
            };
            #[allow(non_upper_case_globals)]
            match r {
                libdeflate_result_LIBDEFLATE_SUCCESS => Ok((used, written)),
                libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Err(Failed::NoSpace),
                _ => Err(Failed::BadData),
            }
        }
    }

    impl Drop for Decompressor {
        fn drop(&mut self) {
            // SAFETY: the pointer came from libdeflate_alloc_decompressor and is freed once.
            unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libdeflater::{CompressionLvl, Compressor};

    fn compress(format: Format, data: &[u8]) -> Vec<u8> {
        let mut c = Compressor::new(CompressionLvl::default());
        let mut out = vec![0; data.len() + 1024];
        let n = match format {
            Format::Gzip => c.gzip_compress(data, &mut out),
            Format::Zlib => c.zlib_compress(data, &mut out),
            Format::Deflate => c.deflate_compress(data, &mut out),
        }
        .unwrap();
        out.truncate(n);
        out
    }

    fn decode(
        body: &[u8],
        enc: Option<&str>,
        ct: Option<&str>,
        limits: &Limits,
    ) -> Result<Vec<u8>, Reject> {
        let mut d = BodyDecoder::new();
        let enc = Encoding::from_header(enc.map(str::as_bytes))?;
        d.decode(body, enc, ct.map(str::as_bytes), limits)
            .map(<[u8]>::to_vec)
    }

    const JSON: &[u8] = br#"{"resultType":"orders","a":"x=y&data=z"}"#;

    #[test]
    fn every_format_under_either_name_and_by_magic() {
        let l = Limits::default();
        for f in [Format::Gzip, Format::Zlib, Format::Deflate] {
            let body = compress(f, JSON);
            for enc in ["gzip", "deflate", "GZIP", "Deflate", "x-gzip"] {
                assert_eq!(
                    decode(&body, Some(enc), None, &l).unwrap(),
                    JSON,
                    "{f} {enc}"
                );
            }
        }
        for f in [Format::Gzip, Format::Zlib] {
            let body = compress(f, JSON);
            assert_eq!(decode(&body, None, None, &l).unwrap(), JSON, "{f} sniffed");
            assert_eq!(decode(&body, Some("identity"), None, &l).unwrap(), JSON);
        }
        assert_eq!(decode(JSON, None, None, &l).unwrap(), JSON);
    }

    #[test]
    fn wrong_encoding_header_on_plain_json_is_forgiven() {
        let l = Limits::default();
        assert_eq!(decode(JSON, Some("gzip"), None, &l).unwrap(), JSON);
    }

    #[test]
    fn unknown_encoding_is_415() {
        let r = decode(JSON, Some("br"), None, &Limits::default()).unwrap_err();
        assert_eq!(r, Reject::UnsupportedEncoding);
        assert_eq!(r.status(), 415);
    }

    #[test]
    fn forms_urlencoded_and_multipart() {
        let l = Limits::default();
        let form = b"foo=1&data=%7B%22a%22%3A+1%7D&data=second";
        let ct = Some("application/x-www-form-urlencoded; charset=UTF-8");
        assert_eq!(decode(form, None, ct, &l).unwrap(), br#"{"a": 1}"#);
        // Without the header, a body starting data= is still a form.
        assert_eq!(decode(b"data=%7B%7D", None, None, &l).unwrap(), b"{}");
        // Form inside deflate, as EMDU sends it.
        let body = compress(Format::Zlib, form);
        assert_eq!(
            decode(&body, Some("deflate"), ct, &l).unwrap(),
            br#"{"a": 1}"#
        );
        let mp = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nno\r\n--XyZ\r\n\
                   Content-Disposition: form-data; name=\"data\"\r\nContent-Type: application/json\r\n\r\n\
                   {\"a\":2}\r\n--XyZ--\r\n";
        let ct = Some("multipart/form-data; boundary=\"XyZ\"");
        assert_eq!(decode(mp, None, ct, &l).unwrap(), br#"{"a":2}"#);
    }

    #[test]
    fn text_that_looks_like_a_zlib_header_is_text() {
        let l = Limits::default();
        // 'h','b' pass the zlib header check (0x6862 % 31 == 0).
        let form = b"hbar=1&data=%7B%7D";
        assert_eq!(sniff(form), Some(Format::Zlib));
        let ct = Some("application/x-www-form-urlencoded");
        assert_eq!(decode(form, None, ct, &l).unwrap(), b"{}");
        // A BOM before the JSON is skipped.
        assert_eq!(decode(b"\xef\xbb\xbf{}", None, None, &l).unwrap(), b"{}");
    }

    #[test]
    fn bytes_after_a_stream_are_refused() {
        let l = Limits::default();
        for f in [Format::Zlib, Format::Deflate] {
            let mut body = compress(f, JSON);
            body.extend_from_slice(b"garbage");
            assert_eq!(
                decode(&body, Some("deflate"), None, &l),
                Err(Reject::Undecodable(f)),
                "{f}"
            );
        }
    }

    #[test]
    fn json_with_equals_sign_is_never_a_form() {
        let ct = Some("application/x-www-form-urlencoded");
        assert_eq!(decode(JSON, None, ct, &Limits::default()).unwrap(), JSON);
    }

    #[test]
    fn form_errors_name_the_data_field() {
        let l = Limits::default();
        let ct = Some("application/x-www-form-urlencoded");
        for body in [&b"foo=1"[..], b"data=", b"data"] {
            assert_eq!(decode(body, None, ct, &l), Err(Reject::FormMissingData));
        }
        assert_eq!(decode(b"data=%7", None, ct, &l), Err(Reject::FormBadEscape));
        assert_eq!(
            decode(b"data=%zz", None, ct, &l),
            Err(Reject::FormBadEscape)
        );
        let mp = Some("multipart/form-data; boundary=b");
        assert!(matches!(
            decode(b"nothing here", None, mp, &l),
            Err(Reject::BadMultipart(_))
        ));
        assert_eq!(
            decode(
                b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--",
                None,
                mp,
                &l
            ),
            Err(Reject::FormMissingData)
        );
        assert!(matches!(
            decode(b"x", None, Some("multipart/form-data"), &l),
            Err(Reject::BadMultipart(_))
        ));
    }

    #[test]
    fn corrupt_and_truncated_streams_are_undecodable() {
        let l = Limits::default();
        for f in [Format::Gzip, Format::Zlib] {
            let body = compress(f, JSON);
            let cut = &body[..body.len() - 5];
            assert_eq!(
                decode(cut, None, None, &l),
                Err(Reject::Undecodable(f)),
                "{f}"
            );
            let mut bad = body.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x55;
            assert_eq!(
                decode(&bad, None, None, &l),
                Err(Reject::Undecodable(f)),
                "{f}"
            );
        }
        let r = decode(b"\x03\xff\xff\xff", Some("deflate"), None, &l);
        assert_eq!(r, Err(Reject::Undecodable(Format::Deflate)));
    }

    #[test]
    fn multi_member_gzip_is_decoded_whole() {
        let l = Limits::default();
        let mut body = compress(Format::Gzip, br#"{"a":"#);
        body.extend(compress(Format::Gzip, br#""b"}"#));
        assert_eq!(decode(&body, None, None, &l).unwrap(), br#"{"a":"b"}"#);
        // Garbage after a member is not silently ignored.
        let mut body = compress(Format::Gzip, JSON);
        body.extend_from_slice(b"garbage!");
        assert_eq!(
            decode(&body, None, None, &l),
            Err(Reject::Undecodable(Format::Gzip))
        );
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let l = Limits {
            inflated_bytes_max: 1 << 20,
            ..Limits::default()
        };
        let zeros = vec![b' '; 50 << 20];
        for f in [Format::Gzip, Format::Zlib, Format::Deflate] {
            let bomb = compress(f, &zeros);
            assert!(bomb.len() < 100 << 10);
            let mut d = BodyDecoder::new();
            let r = d.decode(&bomb, Encoding::Deflate, None, &l);
            assert_eq!(r, Err(Reject::InflatedTooLarge { max: 1 << 20 }), "{f}");
            assert!(
                d.inflated.capacity() <= (1 << 20) * 2,
                "{f}: grew past the cap"
            );
        }
        // Exactly at the cap is fine.
        let mut exact = vec![b' '; (1 << 20) - 2];
        exact[0] = b'{';
        exact.push(b'}');
        exact.push(b' ');
        let body = compress(Format::Zlib, &exact);
        assert_eq!(decode(&body, None, None, &l).unwrap().len(), 1 << 20);
        // The multi-member path is capped too.
        let mut two = compress(Format::Gzip, &zeros[..600 << 10]);
        two.extend(compress(Format::Gzip, &zeros[..600 << 10]));
        assert_eq!(
            decode(&two, None, None, &l),
            Err(Reject::InflatedTooLarge { max: 1 << 20 })
        );
    }

    #[test]
    fn empty_and_oversize_bodies() {
        let l = Limits {
            body_bytes_max: 8,
            ..Limits::default()
        };
        assert_eq!(decode(b"", None, None, &l), Err(Reject::EmptyBody));
        assert_eq!(decode(b" \r\n", None, None, &l), Err(Reject::EmptyBody));
        assert_eq!(
            decode(b"{\"a\": 1234}", None, None, &l),
            Err(Reject::BodyTooLarge { max: 8 })
        );
    }
}
