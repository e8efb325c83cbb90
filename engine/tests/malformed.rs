//! A corpus of malformed uploads: each must be refused with its *specific* rejection, never a
//! panic, and (checked by `common::run_on` on every rejection) with a listed code, a 4xx
//! status and a non-empty one-line message. Decompression bombs are in `bombs.rs`.
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test (see clippy.toml)

mod common;

use common::*;
use engine::reject::{Format, Key, Place, RowsetKey, TimeProblem, Want};
use engine::uudif::Column;
use engine::{Limits, PipelineConfig, Reject, Upload};

fn orders_json() -> Vec<u8> {
    Msg::orders().json()
}

fn rej(body: &[u8], ce: Option<&str>, ct: Option<&str>) -> Reject {
    match run(&upload(body, ce, ct)) {
        Ok(out) => panic!("accepted: {}", out.text()),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- compressed bodies

#[test]
fn truncated_gzip_is_undecodable() {
    let g = gzip(&orders_json());
    for cut in [
        2,
        5,
        10,
        11,
        g.len() / 2,
        g.len() - 8,
        g.len() - 4,
        g.len() - 1,
    ] {
        for ce in [None, Some("gzip"), Some("deflate")] {
            assert_eq!(
                rej(&g[..cut], ce, None),
                Reject::Undecodable(Format::Gzip),
                "cut at {cut} of {}, {ce:?}",
                g.len()
            );
        }
    }
}

#[test]
fn corrupt_gzip_is_undecodable() {
    let g = gzip(&orders_json());
    let n = g.len();
    // The CRC-32, the ISIZE, the compressed data, the method byte.
    for at in [n - 8, n - 5, n - 4, n - 1, n / 2, 12, 2] {
        let mut bad = g.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            rej(&bad, Some("gzip"), None),
            Reject::Undecodable(Format::Gzip),
            "byte {at} of {n} flipped"
        );
    }
    // Reserved header flag bits.
    let mut bad = g.clone();
    bad[3] |= 0xe0;
    assert_eq!(rej(&bad, None, None), Reject::Undecodable(Format::Gzip));
}

#[test]
fn truncated_zlib_is_undecodable() {
    let z = zlib(&orders_json());
    for cut in [2, 3, z.len() / 2, z.len() - 4, z.len() - 1] {
        for ce in [None, Some("deflate"), Some("gzip")] {
            assert_eq!(
                rej(&z[..cut], ce, None),
                Reject::Undecodable(Format::Zlib),
                "cut at {cut} of {}, {ce:?}",
                z.len()
            );
        }
    }
}

#[test]
fn corrupt_zlib_is_undecodable() {
    let z = zlib(&orders_json());
    let n = z.len();
    // The Adler-32 trailer, then the data.
    for at in [n - 4, n - 3, n - 1, n / 2] {
        let mut bad = z.clone();
        bad[at] ^= 0x10;
        assert_eq!(
            rej(&bad, Some("deflate"), None),
            Reject::Undecodable(Format::Zlib),
            "byte {at} of {n} flipped"
        );
    }
    // A zlib header asking for a preset dictionary (FDICT) no uploader can have given.
    let mut dict = z.clone();
    dict[1] = 0xbb; // 0x78bb % 31 == 0, FDICT set
    assert_eq!((0x78u16 << 8 | 0xbb) % 31, 0);
    assert_eq!(rej(&dict, None, None), Reject::Undecodable(Format::Zlib));
}

#[test]
fn truncated_raw_deflate_is_undecodable() {
    let d = deflate(&orders_json());
    for cut in [1, d.len() / 2, d.len() - 1] {
        assert_eq!(
            rej(&d[..cut], Some("deflate"), None),
            Reject::Undecodable(Format::Deflate),
            "cut at {cut} of {}",
            d.len()
        );
    }
}

#[test]
fn garbage_under_a_compression_header_is_undecodable() {
    for body in [
        &b"\xff\xfe\xfd\xfc garbage"[..],
        b"\x07\x00\x00\x00",
        b"hello world",
        b"\x00",
        b"[1,2,3]",
    ] {
        for ce in ["deflate", "gzip", "x-gzip"] {
            assert_eq!(
                rej(body, Some(ce), None),
                Reject::Undecodable(Format::Deflate),
                "{body:?} as {ce}"
            );
        }
    }
}

#[test]
fn multi_member_gzip_is_decoded_whole() {
    let json = orders_json();
    let reference = accept(&json).text();
    for parts in [2, 3, 7] {
        let step = json.len().div_ceil(parts);
        let mut body = Vec::new();
        for chunk in json.chunks(step) {
            body.extend(gzip(chunk));
        }
        // An empty member in the middle is a member too.
        body.extend(gzip(b""));
        let out = run(&upload(&body, Some("gzip"), None)).unwrap();
        assert_eq!(out.text(), reference, "{parts} members");
        assert_eq!(accept(&body).text(), reference, "{parts} members, sniffed");
    }
}

#[test]
fn gzip_with_trailing_bytes_is_undecodable() {
    let g = gzip(&orders_json());
    for tail in [&b"garbage!"[..], b"\n", &[0u8; 8], b"\x1f", b"\x1f\x8b"] {
        let body = [g.as_slice(), tail].concat();
        assert_eq!(
            rej(&body, Some("gzip"), None),
            Reject::Undecodable(Format::Gzip),
            "tail {tail:?}"
        );
    }
}

// ---------------------------------------------------------------- empty bodies

#[test]
fn empty_and_blank_bodies() {
    for body in [&b""[..], b" ", b"\r\n", b" \t\r\n  "] {
        assert_eq!(rej(body, None, None), Reject::EmptyBody, "{body:?}");
        assert_eq!(
            rej(body, None, Some(FORM_CT)),
            Reject::EmptyBody,
            "{body:?}"
        );
    }
    // Compressed nothing, or compressed blanks.
    for plain in [&b""[..], b"   \n"] {
        assert_eq!(rej(&gzip(plain), None, None), Reject::EmptyBody);
        assert_eq!(rej(&zlib(plain), None, None), Reject::EmptyBody);
        assert_eq!(
            rej(&deflate(plain), Some("deflate"), None),
            Reject::EmptyBody
        );
    }
    // An empty body under a compression header is simply empty.
    assert_eq!(rej(b"", Some("gzip"), None), Reject::EmptyBody);
}

// ---------------------------------------------------------------- forms

#[test]
fn broken_forms() {
    for body in [&b"data=%7"[..], b"data=%", b"data=%zz", b"data=%7B%2"] {
        assert_eq!(
            rej(body, None, Some(FORM_CT)),
            Reject::FormBadEscape,
            "{body:?}"
        );
    }
    let mp = multipart_ct();
    let b = MULTIPART_BOUNDARY;
    for (body, ct) in [
        // No boundary parameter, or an empty or over-long one.
        ("--x\r\n\r\n".to_owned(), "multipart/form-data".to_owned()),
        (
            "--x\r\n\r\n".to_owned(),
            "multipart/form-data; charset=utf-8".to_owned(),
        ),
        (
            "--x\r\n\r\n".to_owned(),
            "multipart/form-data; boundary=".to_owned(),
        ),
        (
            "--x\r\n\r\n".to_owned(),
            "multipart/form-data; boundary=\"\"".to_owned(),
        ),
        (
            "--x\r\n\r\n".to_owned(),
            format!("multipart/form-data; boundary={}", "b".repeat(71)),
        ),
        // The boundary never appears.
        ("data={}".to_owned(), mp.clone()),
        // A part whose headers never end.
        (
            format!("--{b}\r\nContent-Disposition: form-data; name=\"data\""),
            mp.clone(),
        ),
        // A part that is never closed.
        (
            format!("--{b}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{{}}"),
            mp.clone(),
        ),
        // A boundary line followed by neither CRLF nor "--".
        (format!("--{b}xx"), mp.clone()),
    ] {
        let r = rej(body.as_bytes(), None, Some(&ct));
        assert!(matches!(r, Reject::BadMultipart(_)), "{body:?} {ct}: {r:?}");
        assert_eq!(r.code(), "bad_multipart");
    }
}

// ---------------------------------------------------------------- JSON syntax

#[test]
fn not_an_object_at_the_top() {
    for body in [
        &b"[]"[..],
        b"[{\"resultType\":\"orders\"}]",
        b"\"orders\"",
        b"42",
        b"-1.5e3",
        b"null",
        b"true",
        b"false",
    ] {
        assert_eq!(rej(body, None, None), Reject::NotAnObject, "{body:?}");
    }
}

#[test]
fn malformed_json_is_located() {
    for (body, col) in [
        (&b"{\"a\":1,}"[..], 8),
        (b"{} {}", 4),
        (b"{a:1}", 2),
        (b"{'a':1}", 2),
        (b"{\"a\":NaN}", 6),
        (b"{\"a\":1 // comment\n}", 8),
        (b"{\"a\":01}", 7),
    ] {
        let r = rej(body, None, None);
        assert!(
            matches!(r, Reject::JsonSyntax { line: 1, column } if column.abs_diff(col) <= 2),
            "{:?}: {r:?}",
            String::from_utf8_lossy(body)
        );
    }
    // A raw control character inside a string.
    let r = rej(b"{\"resultType\":\"or\x01ders\"}", None, None);
    assert!(matches!(r, Reject::JsonSyntax { .. }), "{r:?}");
    // A lone surrogate escape.
    let json = Msg::orders()
        .set("uploadKeys", r#"[{"name":"\ud800","key":"x"}]"#)
        .json();
    assert!(matches!(reject(&json), Reject::JsonSyntax { .. }));
}

#[test]
fn truncated_json() {
    let json = orders_json();
    for cut in [1, 2, 20, json.len() / 2, json.len() - 1] {
        assert_eq!(
            rej(&json[..cut], None, None),
            Reject::JsonTruncated,
            "cut {cut}"
        );
    }
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let json = orders_json();
    let s = String::from_utf8(json.clone()).unwrap();
    let in_value = s.find("\"emk\"").unwrap() + 2;
    let in_key = s.find("resultType").unwrap() + 3;
    for (at, bad) in [
        (in_value, &b"\xff"[..]),
        (in_value, b"\xc0\xaf"),       // overlong '/'
        (in_value, b"\xed\xa0\x80"),   // an encoded surrogate
        (in_value, b"\xe2\x82"),       // a cut sequence
        (in_key, b"\x80"),             // a bare continuation byte, in a key
        (in_key, b"\xf5\x80\x80\x80"), // beyond U+10FFFF
    ] {
        let mut body = json.clone();
        body.splice(at..at, bad.iter().copied());
        assert_eq!(
            rej(&body, None, None),
            Reject::NotUtf8 { offset: at },
            "{bad:?} at {at}"
        );
        // The offset is into the decompressed JSON.
        assert_eq!(
            rej(&gzip(&body), None, None),
            Reject::NotUtf8 { offset: at }
        );
    }
    // Inside a form's data field, after URL-decoding.
    let form = b"data=%7B%22a%22%3A%22%FF%22%7D";
    assert_eq!(
        rej(form, None, Some(FORM_CT)),
        Reject::NotUtf8 { offset: 6 }
    );
}

#[test]
fn huge_numbers_are_refused() {
    let digits = "9".repeat(400);
    for n in [
        "1e400",
        "-1e400",
        "1.7976931348623159e308",
        &digits,
        &format!("-{digits}"),
    ] {
        // In an ignored key, in a cell, in a row's ignored extras.
        for json in [
            Msg::orders().set("version", n).json(),
            Msg::orders_with(&[rowset(
                "1",
                "2",
                &[format!(
                    "[{n},1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1]"
                )],
            )])
            .json(),
            Msg::orders_with(&[rowset(
                "1",
                "2",
                &[format!(
                    "[1,1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1,{n}]"
                )],
            )])
            .json(),
        ] {
            let r = reject(&json);
            assert!(
                matches!(r, Reject::NumberTooLarge { line: 1, .. }),
                "{}: {r:?}",
                &n[..n.len().min(10)]
            );
        }
    }
    // 400 digits that make a modest number are fine where a number is wanted.
    let long_fraction = format!("1.{}", "0".repeat(398));
    let json = Msg::orders_with(&[rowset(
        "1",
        "2",
        &[format!(
            "[{long_fraction},1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1]"
        )],
    )])
    .json();
    assert!(run_body(&json).is_ok());
}

// ---------------------------------------------------------------- nesting

fn deep_array(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// Run `f` on a thread with a small stack: parsing must not recurse with the input's depth.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow, no panic")
}

#[test]
fn deep_nesting_is_refused_without_deep_recursion() {
    on_small_stack(|| {
        let deep = deep_array(100_000);
        let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        for json in [
            // In an ignored top-level key.
            Msg::orders().set("comment", &deep).json(),
            Msg::orders().set("version", &objects).json(),
            // In a row cell, and in a row's ignored extras.
            Msg::orders_with(&[rowset(
                "1",
                "2",
                &[format!(
                    "[{deep},1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1]"
                )],
            )])
            .json(),
            Msg::orders_with(&[rowset(
                "1",
                "2",
                &[format!(
                    "[1,1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1,{deep}]"
                )],
            )])
            .json(),
            // In an upload key's extra field, the generator, a rowset's unknown key.
            Msg::orders()
                .set(
                    "uploadKeys",
                    &format!("[{{\"name\":\"a\",\"key\":\"b\",\"x\":{deep}}}]"),
                )
                .json(),
            Msg::orders()
                .set("generator", &format!("{{\"name\":\"a\",\"x\":{objects}}}"))
                .json(),
            Msg::orders_with(&[
                rowset("1", "2", &[]).replace("\"rows\"", &format!("\"x\":{deep},\"rows\""))
            ])
            .json(),
            // As the columns list, or as a row.
            Msg::orders().set("columns", &deep).json(),
            Msg::orders_with(&[rowset("1", "2", std::slice::from_ref(&deep))]).json(),
            // The whole message.
            objects.clone().into_bytes(),
        ] {
            let r = reject(&json);
            assert_eq!(
                r,
                Reject::TooDeep { max: 16 },
                "{}",
                String::from_utf8_lossy(&json[..80])
            );
        }
        // A top-level array is not an object, however deep.
        assert_eq!(reject(deep.as_bytes()), Reject::NotAnObject);
    });
}

#[test]
fn nesting_up_to_the_limit_is_fine() {
    // The limit counts the top-level object as 1; a row cell sits at depth 6.
    let limit = Limits::default().json_depth_max;
    let fits = deep_array(limit - 5);
    let json = Msg::orders_with(&[rowset(
        "1",
        "2",
        &[format!(
            "[1,1,32767,1,1,1,false,\"2011-12-03T08:10:59+00:00\",90,1,1,{fits}]"
        )],
    )])
    .json();
    assert!(run_body(&json).is_ok());
    let over = deep_array(limit - 4);
    let json = String::from_utf8(json).unwrap().replace(&fits, &over);
    assert_eq!(reject(json.as_bytes()), Reject::TooDeep { max: limit });
    // A lower configured limit is the one enforced.
    let config = PipelineConfig {
        limits: Limits {
            json_depth_max: 6,
            ..Limits::default()
        },
        ..PipelineConfig::default()
    };
    let json = Msg::orders().set("comment", "[[[[[[1]]]]]]").json();
    assert_eq!(
        run_with(config, &Upload::body(&json)).unwrap_err(),
        Reject::TooDeep { max: 6 }
    );
}

// ---------------------------------------------------------------- wrong types

#[test]
fn every_top_level_key_with_a_wrong_type() {
    let top = |key| Place::Top(key);
    let cases: &[(&str, &[&str], Place, Want)] = &[
        (
            "resultType",
            &["5", "null", "[]", "{}", "true"],
            top(Key::ResultType),
            Want::String,
        ),
        (
            "uploadKeys",
            &["{}", "\"k\"", "5", "null", "true"],
            top(Key::UploadKeys),
            Want::Array,
        ),
        (
            "uploadKeys",
            &["[5]", "[\"k\"]", "[null]", "[[]]"],
            Place::UploadKey(0),
            Want::Object,
        ),
        (
            "uploadKeys",
            &[r#"[{"name":"a","key":"b"},7]"#],
            Place::UploadKey(1),
            Want::Object,
        ),
        (
            "uploadKeys",
            &[
                r#"[{"name":5,"key":"x"}]"#,
                r#"[{"key":"x"}]"#,
                r#"[{"name":null,"key":"x"}]"#,
            ],
            Place::UploadKeyField(0, "name"),
            Want::String,
        ),
        (
            "uploadKeys",
            &[
                r#"[{"name":"a"}]"#,
                r#"[{"name":"a","key":[]}]"#,
                r#"[{"name":"a","key":false}]"#,
            ],
            Place::UploadKeyField(0, "key"),
            Want::String,
        ),
        (
            "generator",
            &["5", "\"Yapeal\"", "[]", "true"],
            Place::Generator,
            Want::ObjectOrNull,
        ),
        (
            "generator",
            &[r#"{"name":5}"#, r#"{"name":["x"],"version":"1"}"#],
            Place::GeneratorField("name"),
            Want::String,
        ),
        (
            "generator",
            &[r#"{"name":"x","version":1.5}"#, r#"{"version":{}}"#],
            Place::GeneratorField("version"),
            Want::String,
        ),
        (
            "columns",
            &["{}", "\"price\"", "5", "null"],
            top(Key::Columns),
            Want::Array,
        ),
        (
            "columns",
            &["[5]", "[null]", "[[\"price\"]]"],
            Place::Column(0),
            Want::String,
        ),
        (
            "rowsets",
            &["{}", "\"x\"", "5", "null"],
            top(Key::Rowsets),
            Want::Array,
        ),
    ];
    for (key, values, place, want) in cases {
        for v in *values {
            let r = reject(&Msg::orders().set(key, v).json());
            assert_eq!(
                r,
                Reject::WrongType {
                    place: *place,
                    want: *want
                },
                "{key} = {v}"
            );
            assert!(r.to_string().contains(key), "{r}");
        }
    }
    // A rowset that is not an object (the place it names is checked in violations.rs).
    for v in ["[5]", "[\"x\"]", "[null]", "[[]]"] {
        let r = reject(&Msg::orders().set("rowsets", v).json());
        assert!(
            matches!(
                r,
                Reject::WrongType {
                    want: Want::Object,
                    ..
                }
            ),
            "{v}: {r:?}"
        );
    }
}

#[test]
fn every_rowset_key_with_a_wrong_type() {
    let cases: &[(&str, &[&str], RowsetKey, Want)] = &[
        (
            "generatedAt",
            &["5", "null", "true", "[]", "{}"],
            RowsetKey::GeneratedAt,
            Want::Timestamp,
        ),
        (
            "regionID",
            &["\"x\"", "1.5", "true", "[]", "{}", "\"\""],
            RowsetKey::RegionId,
            Want::IntegerOrNull,
        ),
        (
            "typeID",
            &["null", "\"x\"", "1.5", "true", "[]", "{}"],
            RowsetKey::TypeId,
            Want::Integer,
        ),
        (
            "rows",
            &["{}", "5", "\"x\"", "null", "true"],
            RowsetKey::Rows,
            Want::Array,
        ),
    ];
    for (key, values, rk, want) in cases {
        for v in *values {
            let entries: Vec<String> = [
                ("generatedAt", "\"2011-10-22T15:43:00+00:00\""),
                ("regionID", "1"),
                ("typeID", "2"),
                ("rows", "[]"),
            ]
            .iter()
            .map(|(k, good)| format!("\"{k}\":{}", if k == key { v } else { good }))
            .collect();
            let rs = format!("{{{}}}", entries.join(","));
            // A good rowset first, so that the index is checked too.
            let r = reject(&Msg::orders_with(&[rowset("9", "9", &[]), rs]).json());
            assert_eq!(
                r,
                Reject::WrongType {
                    place: Place::Rowset(1, *rk),
                    want: *want
                },
                "{key} = {v}"
            );
            assert!(r.to_string().contains(&format!("rowsets[1].{key}")), "{r}");
        }
    }
    let rs = rowset("1", "2", &[]).replace("2011-10-22T15:43:00+00:00", "noon");
    assert!(matches!(
        reject(&Msg::orders_with(&[rs]).json()),
        Reject::BadTimestamp {
            place: Place::Rowset(0, RowsetKey::GeneratedAt),
            problem: TimeProblem::Syntax,
            ..
        }
    ));
}

/// An array or object where a value belongs, in every column of both result types.
#[test]
fn every_cell_with_a_wrong_type() {
    let want_of = |c: Column| match c {
        Column::Price | Column::Low | Column::High | Column::Average => Want::Number,
        Column::Bid => Want::Boolean,
        Column::IssueDate | Column::Date => Want::Timestamp,
        Column::SolarSystemId => Want::IntegerOrNull,
        _ => Want::Integer,
    };
    let good_order = [
        "1",
        "1",
        "32767",
        "1",
        "1",
        "1",
        "false",
        "\"2011-12-03T08:10:59Z\"",
        "90",
        "1",
        "1",
    ];
    let good_history = ["\"2011-12-03T00:00:00Z\"", "1", "1", "1", "2", "1.5"];
    for (msg, good, columns) in [
        (
            Msg::orders_with as fn(&[String]) -> Msg,
            &good_order[..],
            &Column::ORDERS[..],
        ),
        (Msg::history_with, &good_history[..], &Column::HISTORY[..]),
    ] {
        for (i, &column) in columns.iter().enumerate() {
            for bad in ["[]", "[1]", "{}", "{\"v\":1}"] {
                let mut row = good.to_vec();
                row[i] = bad;
                let rows = [
                    format!("[{}]", good.join(",")),
                    format!("[{}]", row.join(",")),
                ];
                let r = reject(&msg(&[rowset("1", "2", &rows)]).json());
                assert_eq!(
                    r,
                    Reject::WrongType {
                        place: Place::Cell(0, 1, column),
                        want: want_of(column)
                    },
                    "{column:?} = {bad}"
                );
                assert!(r.to_string().contains(column.name()), "{r}");
            }
        }
    }
}

// ---------------------------------------------------------------- every code is reachable

/// Every reason code in `Reject::CODES` is produced by some input: the list names no dead
/// counter, and the corpus above misses no kind of rejection.
#[test]
fn every_reject_code_is_reachable() {
    let small = |l: Limits| PipelineConfig {
        limits: l,
        ..PipelineConfig::default()
    };
    let json = orders_json();
    let two_rows = Msg::orders_with(&[rowset("1", "2", &[order_row(1), order_row(2)])]).json();
    let two_sets = Msg::orders_with(&[rowset("1", "2", &[]), rowset("1", "3", &[])]).json();
    let long_row = Msg::orders_with(&[rowset(
        "1",
        "2",
        &[format!(
            "[{},{}]",
            &order_row(1)[1..order_row(1).len() - 1],
            vec!["0"; 60].join(",")
        )],
    )])
    .json();
    let mp = multipart_ct();
    // (configuration, body, Content-Encoding, Content-Type)
    type Case<'a> = (PipelineConfig, Vec<u8>, Option<&'a str>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (small(Limits::default()), json.clone(), Some("br"), None),
        (
            small(Limits {
                body_bytes_max: 10,
                ..Limits::default()
            }),
            json.clone(),
            None,
            None,
        ),
        (
            small(Limits {
                inflated_bytes_max: 10,
                ..Limits::default()
            }),
            gzip(&json),
            None,
            None,
        ),
        (small(Limits::default()), b" ".to_vec(), None, None),
        (small(Limits::default()), b"\x1f\x8bxx".to_vec(), None, None),
        (
            small(Limits::default()),
            b"a=1".to_vec(),
            None,
            Some(FORM_CT),
        ),
        (
            small(Limits::default()),
            b"data=%".to_vec(),
            None,
            Some(FORM_CT),
        ),
        (
            small(Limits::default()),
            b"--".to_vec(),
            None,
            Some("multipart/form-data"),
        ),
        (
            small(Limits::default()),
            b"{\"\xff\":1}".to_vec(),
            None,
            None,
        ),
        (small(Limits::default()), b"{\"a\":".to_vec(), None, None),
        (small(Limits::default()), b"{,}".to_vec(), None, None),
        (
            small(Limits::default()),
            b"{\"a\":1e999}".to_vec(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            format!("{{\"a\":{}}}", deep_array(30)).into_bytes(),
            None,
            None,
        ),
        (small(Limits::default()), b"[]".to_vec(), None, None),
        (small(Limits::default()), b"{}".to_vec(), None, None),
        (
            small(Limits::default()),
            Msg::orders().set("resultType", "\"x\"").json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders().set("uploadKeys", "5").json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders_with(&[rowset("1", "2", &[]).replace("typeID", "t")]).json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders().set("columns", "[\"x\"]").json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders().set("columns", "[\"price\",\"price\"]").json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders().set("columns", "[]").json(),
            None,
            None,
        ),
        (
            small(Limits {
                rowsets_max: 1,
                ..Limits::default()
            }),
            two_sets,
            None,
            None,
        ),
        (
            small(Limits {
                rows_max: 1,
                ..Limits::default()
            }),
            two_rows,
            None,
            None,
        ),
        (small(Limits::default()), long_row, None, None),
        (
            small(Limits::default()),
            Msg::orders_with(&[rowset("1", "2", &["[1]".into()])]).json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders_with(&[rowset("1", "2", &[]), rowset("1", "2", &[])]).json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders_with(&[rowset("1", "2", &[]).replace("+00:00", "")]).json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            multipart(b""),
            None,
            Some(mp.as_str()),
        ),
        (
            small(Limits::default()),
            Msg::orders().push("rowsets", "[]").json(),
            None,
            None,
        ),
        (
            small(Limits::default()),
            Msg::orders()
                .set("columns", &format!("[{}]", vec!["\"price\""; 70].join(",")))
                .json(),
            None,
            None,
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (config, body, ce, ct) in &cases {
        let r = run_with(config.clone(), &upload(body, *ce, *ct))
            .map(|o| o.text())
            .unwrap_err();
        seen.insert(r.code());
    }
    let missing: Vec<&&str> = Reject::CODES
        .iter()
        .filter(|c| !seen.contains(**c))
        .collect();
    assert!(missing.is_empty(), "codes never produced: {missing:?}");
}
