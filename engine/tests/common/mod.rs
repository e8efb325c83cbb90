//! Helpers shared by the engine's integration tests: the spec fixtures, compressors for every
//! transport an uploader uses, a pipeline runner that checks every published frame and every
//! rejection against the wire contract, and a small builder for UUDIF messages.
//!
//! Every test crate under `tests/` includes this module with `mod common;` and uses a different
//! part of it, hence the `dead_code` allowance. Frames are checked with flate2 (miniz_oxide), a
//! different inflater from the engine's libdeflate, so a bug shared by the engine's compressor
//! and decompressor cannot hide itself.
// Each test crate uses a part of this module; and these helpers are test code, where a panic is
// a failed test (clippy.toml's allow-unwrap-in-tests covers only #[test] functions).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Read;
use std::path::PathBuf;

use engine::{Accepted, Pipeline, PipelineConfig, Reject, Upload};
use libdeflater::{CompressionLvl, Compressor};
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// The `now` every test passes, and its canonical text (2023-11-14T22:13:20Z is Unix 1.7e9).
pub const NOW: i64 = 1_700_000_000;
pub const NOW_TEXT: &str = "2023-11-14T22:13:20+00:00";

pub const ORDERS_FIXTURE: &str = "uudif-orders-spec.json";
pub const HISTORY_FIXTURE: &str = "uudif-history-spec.json";

pub const ORDER_COLUMNS: [&str; 11] = [
    "price",
    "volRemaining",
    "range",
    "orderID",
    "volEntered",
    "minVolume",
    "bid",
    "issueDate",
    "duration",
    "stationID",
    "solarSystemID",
];
pub const HISTORY_COLUMNS: [&str; 6] = ["date", "orders", "quantity", "low", "high", "average"];

/// Where the project's shared fixtures live: `../shared/fixtures` from the repository root.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures"
    ))
    .join(name)
}

/// A shared fixture's bytes. A missing fixture fails the test: it is never skipped.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "shared fixture {} cannot be read ({e}): the engine's tests need the project's \
             shared/ folder beside the repository (../shared/fixtures from the repo root)",
            path.display()
        )
    })
}

fn compressor() -> Compressor {
    Compressor::new(CompressionLvl::default())
}

/// RFC 1952 gzip, one member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = compressor();
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// RFC 1950 zlib.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut c = compressor();
    let mut out = vec![0; c.zlib_compress_bound(data.len())];
    let n = c.zlib_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// RFC 1951 raw deflate, as .NET's DeflateStream writes it.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = compressor();
    let mut out = vec![0; c.deflate_compress_bound(data.len())];
    let n = c.deflate_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Percent-encode everything but unreserved characters, as a browser encodes a form value.
pub fn url_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 3);
    for &b in data {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                s.push(b as char)
            }
            b' ' => s.push('+'),
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

pub const FORM_CT: &str = "application/x-www-form-urlencoded";
pub const MULTIPART_BOUNDARY: &str = "----emdrTestBoundary7MA4YWxk";

/// A urlencoded form with the message in `data`, between two other fields.
pub fn url_form(json: &[u8]) -> Vec<u8> {
    format!("uploader=test&data={}&x=1", url_encode(json)).into_bytes()
}

/// A multipart/form-data body (RFC 7578) with the message in the `data` part.
pub fn multipart(json: &[u8]) -> Vec<u8> {
    let b = MULTIPART_BOUNDARY;
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nignored\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"upload.json\"\r\n\
         Content-Type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(json);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    body
}

pub fn multipart_ct() -> String {
    format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}")
}

/// One way an uploader may send a message: its body and its two headers.
#[derive(Debug, Clone)]
pub struct Transport {
    pub name: &'static str,
    pub body: Vec<u8>,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
}

impl Transport {
    pub fn upload(&self) -> Upload<'_> {
        Upload {
            body: &self.body,
            content_encoding: self.content_encoding.as_deref().map(str::as_bytes),
            content_type: self.content_type.as_deref().map(str::as_bytes),
            client_ip: None,
        }
    }
}

/// Every transport of contract §2 for one JSON message.
pub fn transports(json: &[u8]) -> Vec<Transport> {
    let t = |name, body, ce: Option<&str>, ct: Option<&str>| Transport {
        name,
        body,
        content_encoding: ce.map(str::to_owned),
        content_type: ct.map(str::to_owned),
    };
    let mp = multipart_ct();
    vec![
        t("raw JSON", json.to_vec(), None, None),
        t(
            "raw JSON, application/json",
            json.to_vec(),
            None,
            Some("application/json"),
        ),
        t("gzip", gzip(json), Some("gzip"), None),
        t("gzip, no header (magic)", gzip(json), None, None),
        t("zlib as deflate", zlib(json), Some("deflate"), None),
        t("zlib, no header (magic)", zlib(json), None, None),
        t(
            "raw deflate as deflate",
            deflate(json),
            Some("deflate"),
            None,
        ),
        t("raw deflate as gzip", deflate(json), Some("gzip"), None),
        t("zlib as gzip", zlib(json), Some("gzip"), None),
        t("gzip as deflate", gzip(json), Some("deflate"), None),
        t("urlencoded form", url_form(json), None, Some(FORM_CT)),
        t("multipart form", multipart(json), None, Some(&mp)),
        t(
            "urlencoded form in zlib",
            zlib(&url_form(json)),
            Some("deflate"),
            Some(FORM_CT),
        ),
        t(
            "urlencoded form in raw deflate",
            deflate(&url_form(json)),
            Some("deflate"),
            Some(FORM_CT),
        ),
        t(
            "urlencoded form in gzip",
            gzip(&url_form(json)),
            Some("gzip"),
            Some(FORM_CT),
        ),
        t(
            "multipart form in gzip",
            gzip(&multipart(json)),
            Some("gzip"),
            Some(&mp),
        ),
    ]
}

/// Check a published frame against contract §4 and return the JSON inside it: a zlib stream
/// (0x78 header, valid FCHECK, no preset dictionary) whose Adler-32 trailer is right, and that
/// a C# consumer decodes by stripping 2 header and 4 trailer bytes and raw-inflating the rest.
pub fn frame_json(frame: &[u8]) -> Vec<u8> {
    assert!(frame.len() >= 6, "frame of {} bytes", frame.len());
    assert_eq!(frame[0], 0x78, "zlib CMF: deflate with a 32 KiB window");
    assert_eq!(
        (u16::from(frame[0]) << 8 | u16::from(frame[1])) % 31,
        0,
        "zlib FCHECK"
    );
    assert_eq!(frame[1] & 0x20, 0, "no preset dictionary");
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(frame)
        .read_to_end(&mut json)
        .expect("frame is a valid zlib stream");
    let n = frame.len();
    let trailer = u32::from_be_bytes([frame[n - 4], frame[n - 3], frame[n - 2], frame[n - 1]]);
    assert_eq!(trailer, libdeflater::adler32(&json), "Adler-32 trailer");
    // The C# / VB way: skip the 2-byte header, drop the 4-byte trailer, raw-inflate.
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(&frame[2..n - 4])
        .read_to_end(&mut raw)
        .expect("the frame's middle is raw deflate");
    assert_eq!(raw, json, "C#-style decoding");
    json
}

/// What an accepted upload produced.
#[derive(Debug, Clone)]
pub struct Out {
    pub accepted: Accepted,
    pub frame: Vec<u8>,
    pub json: Vec<u8>,
}

impl Out {
    pub fn value(&self) -> Value {
        value(&self.json)
    }

    /// The canonical JSON as text, for readable assertion failures.
    pub fn text(&self) -> String {
        String::from_utf8(self.json.clone()).expect("output is UTF-8")
    }
}

/// Check what every rejection must be: a listed code, a 400/413/415 status and a non-empty
/// one-line message.
pub fn check_reject(r: &Reject) {
    let text = r.to_string();
    assert!(!text.trim().is_empty(), "{r:?}: empty message");
    assert!(
        !text.contains(['\n', '\r']),
        "{r:?}: message is not one line: {text:?}"
    );
    assert!(
        Reject::CODES.contains(&r.code()),
        "{r:?}: code {} is not in Reject::CODES",
        r.code()
    );
    assert!(
        matches!(r.status(), 400 | 413 | 415),
        "{r:?}: status {}",
        r.status()
    );
}

/// Run one upload through `pipeline`; check the frame (on success) or the rejection.
pub fn run_on(pipeline: &mut Pipeline, upload: &Upload<'_>) -> Result<Out, Reject> {
    let mut frame = Vec::new();
    match pipeline.process(upload, NOW, &mut frame) {
        Ok(accepted) => {
            let json = frame_json(&frame);
            assert_eq!(
                json,
                pipeline.json(),
                "Pipeline::json is the frame's content"
            );
            assert_eq!(accepted.json_bytes, json.len());
            assert_eq!(accepted.frame_bytes, frame.len());
            assert_eq!(accepted.result_type, pipeline.message().result_type);
            assert_eq!(accepted.rowsets, pipeline.message().rowsets.len());
            assert_eq!(accepted.rows, pipeline.message().row_count());
            Ok(Out {
                accepted,
                frame,
                json,
            })
        }
        Err(r) => {
            check_reject(&r);
            Err(r)
        }
    }
}

pub fn pipeline(config: PipelineConfig) -> Pipeline {
    Pipeline::new(config).expect("valid configuration")
}

pub fn run_with(config: PipelineConfig, upload: &Upload<'_>) -> Result<Out, Reject> {
    run_on(&mut pipeline(config), upload)
}

pub fn run(upload: &Upload<'_>) -> Result<Out, Reject> {
    run_with(PipelineConfig::default(), upload)
}

/// A bare body: no Content-Encoding, no Content-Type.
pub fn run_body(body: &[u8]) -> Result<Out, Reject> {
    run(&Upload::body(body))
}

pub fn upload<'a>(body: &'a [u8], ce: Option<&'a str>, ct: Option<&'a str>) -> Upload<'a> {
    Upload {
        body,
        content_encoding: ce.map(str::as_bytes),
        content_type: ct.map(str::as_bytes),
        client_ip: None,
    }
}

/// Accept or fail the test with the rejection's message.
pub fn accept(body: &[u8]) -> Out {
    run_body(body).unwrap_or_else(|r| {
        panic!(
            "rejected ({}): {r}\n{}",
            r.code(),
            String::from_utf8_lossy(&body[..body.len().min(600)])
        )
    })
}

/// Reject or fail the test.
pub fn reject(body: &[u8]) -> Reject {
    match run_body(body) {
        Ok(out) => panic!(
            "accepted: {}\ninput: {}",
            String::from_utf8_lossy(&out.json),
            String::from_utf8_lossy(&body[..body.len().min(600)])
        ),
        Err(r) => r,
    }
}

pub fn value(json: &[u8]) -> Value {
    sonic_rs::from_slice(json).expect("output is JSON")
}

/// `v[key]`, failing the test when absent.
pub fn field<'v>(v: &'v Value, key: &str) -> &'v Value {
    v.get(key)
        .unwrap_or_else(|| panic!("no key {key:?} in {}", sonic_rs::to_string(v).unwrap()))
}

pub fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string"))
}

pub fn array(v: &Value) -> &[Value] {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {}", sonic_rs::to_string(v).unwrap()))
}

/// The sorted keys of an object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, _)| k.to_owned())
        .collect();
    k.sort();
    k
}

/// `YYYY-MM-DDTHH:MM:SS+00:00` exactly.
pub fn is_canonical_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 25
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 | 22 => c == b':',
            19 => c == b'+',
            20 | 21 | 23 | 24 => c == b'0',
            _ => c.is_ascii_digit(),
        })
}

/// Every structural promise of §4 that holds for any published message: top-level and rowset
/// keys, `version`, `currentTime`, canonical `columns`, rows as long as `columns`, canonical
/// timestamps, `uploadKeys` of strings.
pub fn check_canonical(v: &Value) {
    assert_eq!(
        keys(v),
        [
            "columns",
            "currentTime",
            "generator",
            "resultType",
            "rowsets",
            "uploadKeys",
            "version"
        ]
    );
    assert_eq!(str_of(v, "version"), "0.1");
    assert_eq!(str_of(v, "currentTime"), NOW_TEXT);
    let (want, time_col): (&[&str], usize) = match str_of(v, "resultType") {
        "orders" => (&ORDER_COLUMNS, 7),
        "history" => (&HISTORY_COLUMNS, 0),
        other => panic!("resultType {other}"),
    };
    let cols: Vec<&str> = array(field(v, "columns"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cols, want);
    let gen = field(v, "generator");
    assert_eq!(keys(gen), ["name", "version"]);
    assert!(field(gen, "name").is_str() && field(gen, "version").is_str());
    for k in array(field(v, "uploadKeys")) {
        assert_eq!(keys(k), ["key", "name"]);
        assert!(field(k, "name").is_str() && field(k, "key").is_str());
    }
    for rs in array(field(v, "rowsets")) {
        assert_eq!(keys(rs), ["generatedAt", "regionID", "rows", "typeID"]);
        assert!(is_canonical_time(str_of(rs, "generatedAt")));
        let region = field(rs, "regionID");
        assert!(region.is_null() || region.as_i64().is_some_and(|r| r != 0));
        assert!(field(rs, "typeID").is_i64());
        for row in array(field(rs, "rows")) {
            let row = array(row);
            assert_eq!(row.len(), want.len());
            assert!(is_canonical_time(row[time_col].as_str().unwrap()));
            if time_col == 7 {
                assert!(row[6].is_boolean());
                assert!(row[10].is_null() || row[10].as_i64().is_some_and(|s| s != 0));
            }
        }
    }
}

/// A UUDIF message as a list of top-level entries (JSON text), for tests to edit one key.
#[derive(Debug, Clone)]
pub struct Msg {
    pub entries: Vec<(String, String)>,
}

/// A canonical order row with this order ID.
pub fn order_row(order_id: i64) -> String {
    format!(
        r#"[8999,1,32767,{order_id},1,1,false,"2011-12-03T08:10:59+00:00",90,60008692,30005038]"#
    )
}

pub fn history_row(day: u32) -> String {
    format!(r#"["2011-12-{day:02}T00:00:00+00:00",40,40,1999,499999.99,35223.5]"#)
}

/// A rowset object; `region` and `type_id` are JSON text.
pub fn rowset(region: &str, type_id: &str, rows: &[String]) -> String {
    format!(
        r#"{{"generatedAt":"2011-10-22T15:43:00+00:00","regionID":{region},"typeID":{type_id},"rows":[{}]}}"#,
        rows.join(",")
    )
}

pub fn json_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(","))
}

impl Msg {
    fn new(result_type: &str, columns: &[&str], rowsets: &[String]) -> Msg {
        let e = |k: &str, v: String| (k.to_owned(), v);
        Msg {
            entries: vec![
                e("resultType", format!("\"{result_type}\"")),
                e("version", "\"0.1\"".into()),
                e("uploadKeys", r#"[{"name":"emk","key":"abc"}]"#.into()),
                e("generator", r#"{"name":"Test","version":"1.0"}"#.into()),
                e("currentTime", "\"2011-10-22T15:46:00+00:00\"".into()),
                e("columns", json_list(columns)),
                e("rowsets", format!("[{}]", rowsets.join(","))),
            ],
        }
    }

    /// An orders message with one rowset of one canonical row.
    pub fn orders() -> Msg {
        Msg::orders_with(&[rowset("10000065", "11134", &[order_row(1)])])
    }

    pub fn orders_with(rowsets: &[String]) -> Msg {
        Msg::new("orders", &ORDER_COLUMNS, rowsets)
    }

    /// A history message with one rowset of one canonical row.
    pub fn history() -> Msg {
        Msg::history_with(&[rowset("10000065", "11134", &[history_row(3)])])
    }

    pub fn history_with(rowsets: &[String]) -> Msg {
        Msg::new("history", &HISTORY_COLUMNS, rowsets)
    }

    /// Replace (or add) a top-level key; `value` is JSON text.
    pub fn set(mut self, key: &str, value: &str) -> Msg {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.entries.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Drop a top-level key.
    pub fn without(mut self, key: &str) -> Msg {
        self.entries.retain(|(k, _)| k != key);
        self
    }

    /// Append an entry even if its key is present already (a duplicate key).
    pub fn push(mut self, key: &str, value: &str) -> Msg {
        self.entries.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn json(&self) -> Vec<u8> {
        let body: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }
}
