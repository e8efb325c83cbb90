//! One test per rule of the wire contract (§2 body decoding, §3 UUDIF input, §4 canonical
//! output), driven through the public `Pipeline` only and checked on the published frame.
//! Rules that the engine's unit tests check on an inner module are checked here end to end,
//! on what consumers actually receive.
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test (see clippy.toml)

mod common;

use common::*;
use engine::reject::{Key, Place, RowsetKey, TimeProblem, Want};
use engine::uudif::Column;
use engine::{encode, Limits, PipelineConfig, Reject, Upload};
use sonic_rs::{JsonValueTrait, Value};

/// The canonical order row's values, as JSON text, in canonical column order.
const ORDER_VALUES: [&str; 11] = [
    "8999",
    "1",
    "32767",
    "2363806077",
    "1",
    "1",
    "false",
    "\"2011-12-03T08:10:59+00:00\"",
    "90",
    "60008692",
    "30005038",
];
const HISTORY_VALUES: [&str; 6] = [
    "\"2011-12-03T00:00:00+00:00\"",
    "40",
    "40",
    "1999",
    "499999.99",
    "35223.5",
];

fn col_index(columns: &[&str], name: &str) -> usize {
    columns.iter().position(|c| *c == name).unwrap()
}

/// The canonical order row with one value replaced.
fn order_row_with(column: &str, value: &str) -> String {
    let mut v = ORDER_VALUES;
    v[col_index(&ORDER_COLUMNS, column)] = value;
    format!("[{}]", v.join(","))
}

fn history_row_with(column: &str, value: &str) -> String {
    let mut v = HISTORY_VALUES;
    v[col_index(&HISTORY_COLUMNS, column)] = value;
    format!("[{}]", v.join(","))
}

/// The canonical order row (ORDER_VALUES) as JSON text.
fn canonical_row() -> String {
    format!("[{}]", ORDER_VALUES.join(","))
}

fn orders_of(rows: &[String]) -> Vec<u8> {
    Msg::orders_with(&[rowset("10000065", "11134", rows)]).json()
}

fn history_of(rows: &[String]) -> Vec<u8> {
    Msg::history_with(&[rowset("10000065", "11134", rows)]).json()
}

/// The first row of the first rowset of a published message.
fn first_row(out: &Out) -> Vec<Value> {
    let v = out.value();
    let rs = &array(field(&v, "rowsets"))[0];
    array(&array(field(rs, "rows"))[0]).to_vec()
}

fn first_rowset(out: &Out) -> Value {
    let v = out.value();
    array(field(&v, "rowsets"))[0].clone()
}

fn cell(rowset: u32, row: u32, column: Column) -> Place {
    Place::Cell(rowset, row, column)
}

// ---------------------------------------------------------------- §2.1 body decoding

#[test]
fn content_encoding_names_are_case_insensitive() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    let bodies = [gzip(&json), zlib(&json), deflate(&json)];
    for ce in [
        "gzip",
        "GZIP",
        "Gzip",
        "gZiP",
        "x-gzip",
        "X-Gzip",
        "deflate",
        "DEFLATE",
        "Deflate",
        " gzip ",
        "deflate\t",
    ] {
        for body in &bodies {
            let out = run(&upload(body, Some(ce), None))
                .unwrap_or_else(|r| panic!("Content-Encoding {ce:?}: {r}"));
            assert_eq!(out.text(), reference, "{ce:?}");
        }
    }
}

#[test]
fn gzip_and_zlib_are_detected_by_magic_whatever_the_header_says() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    for body in [gzip(&json), zlib(&json)] {
        for ce in [
            None,
            Some("identity"),
            Some("IDENTITY"),
            Some(""),
            Some("gzip"),
        ] {
            for ct in [None, Some("application/json"), Some("text/plain")] {
                let out = run(&upload(&body, ce, ct))
                    .unwrap_or_else(|r| panic!("{ce:?} {ct:?} {:02x?}: {r}", &body[..2]));
                assert_eq!(out.text(), reference);
            }
        }
    }
}

/// Any valid zlib header is sniffed, whatever compression level its FLEVEL bits claim.
#[test]
fn zlib_headers_of_every_level_are_sniffed() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    let stream = zlib(&json);
    for flevel in 0..4u8 {
        let mut body = stream.clone();
        let flg = flevel << 6;
        body[1] = flg + (31 - ((u16::from(body[0]) << 8 | u16::from(flg)) % 31) as u8) % 31;
        assert_eq!((u16::from(body[0]) << 8 | u16::from(body[1])) % 31, 0);
        assert_eq!(
            accept(&body).text(),
            reference,
            "header {:02x?}",
            &body[..2]
        );
    }
}

/// gzip(1) and other tools write optional header fields (file name, comment, extra field,
/// header CRC); every one of them decodes.
#[test]
fn gzip_optional_header_fields_are_accepted() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    let member = gzip(&json);
    let (head, rest) = member.split_at(10);
    // FEXTRA = 4, FNAME = 8, FCOMMENT = 16, FHCRC = 2.
    let mut h = head.to_vec();
    h[3] = 4 | 8 | 16 | 2;
    h.extend_from_slice(&[4, 0, b'A', b'B', 0, 0]); // XLEN=4: one subfield AB of length 0
    h.extend_from_slice(b"upload.json\0");
    h.extend_from_slice(b"from EVEMon\0");
    let crc16 = (libdeflater::crc32(&h) & 0xffff) as u16;
    h.extend_from_slice(&crc16.to_le_bytes());
    h.extend_from_slice(rest);
    assert_eq!(accept(&h).text(), reference);
    let out = run(&upload(&h, Some("gzip"), None)).unwrap();
    assert_eq!(out.text(), reference);
}

#[test]
fn raw_deflate_needs_an_encoding_header() {
    // Raw deflate has no magic: without Content-Encoding it is taken as (bad) JSON.
    let json = Msg::orders().json();
    let r = reject(&deflate(&json));
    assert_eq!(r.status(), 400);
    assert!(
        matches!(r, Reject::NotUtf8 { .. } | Reject::JsonSyntax { .. }),
        "{r:?}"
    );
    let ok = run(&upload(&deflate(&json), Some("deflate"), None)).unwrap();
    assert_eq!(ok.json, accept(&json).json);
}

#[test]
fn other_content_encodings_are_415() {
    let json = Msg::orders().json();
    for ce in [
        "br",
        "compress",
        "zstd",
        "x-compress",
        "gzip, deflate",
        "gzip;q=1",
        "gzipp",
        "base64",
    ] {
        for body in [json.clone(), gzip(&json)] {
            let r = run(&upload(&body, Some(ce), None)).unwrap_err();
            assert_eq!(r, Reject::UnsupportedEncoding, "{ce:?}");
            assert_eq!(r.status(), 415);
            assert_eq!(r.code(), "unsupported_encoding");
        }
    }
}

// ---------------------------------------------------------------- §2.2 forms

#[test]
fn urlencoded_form_data_field_is_the_message() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    let enc = url_encode(&json);
    for (body, ct) in [
        (format!("data={enc}"), Some(FORM_CT)),
        (format!("a=1&b=&data={enc}&c"), Some(FORM_CT)),
        (
            format!("data={enc}"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
        ),
        (
            format!("data={enc}"),
            Some("Application/X-WWW-Form-Urlencoded"),
        ),
        // Old uploaders sent a form without saying so.
        (format!("data={enc}"), None),
        // The first `data` field counts.
        (format!("data={enc}&data=junk"), Some(FORM_CT)),
    ] {
        let out = run(&upload(body.as_bytes(), None, ct))
            .unwrap_or_else(|r| panic!("{ct:?} {}: {r}", &body[..30.min(body.len())]));
        assert_eq!(out.text(), reference);
    }
    // Only the characters a form must escape escaped: the rest sent as they are.
    let lightly: String = String::from_utf8(json.clone())
        .unwrap()
        .replace('%', "%25")
        .replace('&', "%26")
        .replace('+', "%2B")
        .replace(' ', "+");
    let body = format!("data={lightly}");
    let out = run(&upload(body.as_bytes(), None, Some(FORM_CT))).unwrap();
    assert_eq!(out.text(), reference);
}

#[test]
fn multipart_form_data_part_is_the_message() {
    let json = Msg::orders().json();
    let reference = accept(&json).text();
    let out = run(&upload(&multipart(&json), None, Some(&multipart_ct()))).unwrap();
    assert_eq!(out.text(), reference);
    // Quoted boundary, unquoted name, the data part first, a preamble.
    let mut body =
        b"preamble\r\n--b0und\r\ncontent-disposition: form-data; name=data\r\n\r\n".to_vec();
    body.extend_from_slice(&json);
    body.extend_from_slice(
        b"\r\n--b0und\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b0und--",
    );
    for ct in [
        "multipart/form-data; boundary=\"b0und\"",
        "multipart/form-data; boundary=b0und",
        "Multipart/Form-Data; charset=utf-8; boundary=b0und",
    ] {
        let out = run(&upload(&body, None, Some(ct))).unwrap_or_else(|r| panic!("{ct}: {r}"));
        assert_eq!(out.text(), reference, "{ct}");
    }
}

#[test]
fn a_form_without_data_is_400_naming_the_field() {
    let mp = multipart_ct();
    let b = MULTIPART_BOUNDARY;
    let no_data_part = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{{}}\r\n--{b}--\r\n"
    );
    let empty_data_part =
        format!("--{b}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n\r\n--{b}--\r\n");
    for (body, ct) in [
        ("uploader=x".to_owned(), FORM_CT),
        ("data=".to_owned(), FORM_CT),
        ("data&x=1".to_owned(), FORM_CT),
        ("data=&data=%7B%7D".to_owned(), FORM_CT),
        ("database=%7B%7D".to_owned(), FORM_CT),
        (no_data_part, mp.as_str()),
        (empty_data_part, mp.as_str()),
    ] {
        let r = run(&upload(body.as_bytes(), None, Some(ct))).unwrap_err();
        assert_eq!(r, Reject::FormMissingData, "{body:?}");
        assert_eq!(r.status(), 400);
        assert!(r.to_string().contains("\"data\""), "{r}");
    }
}

/// Decision (§2.2): a body whose first non-blank byte is `{` is JSON, even with `=` and `&`
/// inside it and a form Content-Type on it.
#[test]
fn json_with_equals_signs_is_never_a_form() {
    let json = Msg::orders()
        .set(
            "uploadKeys",
            r#"[{"name":"data=x&y=1","key":"a=b&data=%7B%7D"}]"#,
        )
        .json();
    let mut body = b" \r\n\t".to_vec();
    body.extend_from_slice(&json);
    for ct in [
        None,
        Some(FORM_CT),
        Some("multipart/form-data; boundary=zz"),
    ] {
        let out = run(&upload(&body, None, ct)).unwrap_or_else(|r| panic!("{ct:?}: {r}"));
        let v = out.value();
        let k = &array(field(&v, "uploadKeys"))[0];
        assert_eq!(str_of(k, "name"), "data=x&y=1");
        assert_eq!(str_of(k, "key"), "a=b&data=%7B%7D");
    }
}

// ---------------------------------------------------------------- §2.4 sizes: 413

#[test]
fn a_body_over_the_limit_is_413() {
    let json = Msg::orders().json();
    let limits = Limits {
        body_bytes_max: 100,
        ..Limits::default()
    };
    let config = PipelineConfig {
        limits,
        ..PipelineConfig::default()
    };
    for body in [json.clone(), gzip(&json)] {
        assert!(body.len() > 100);
        let r = run_with(config.clone(), &Upload::body(&body)).unwrap_err();
        assert_eq!(r, Reject::BodyTooLarge { max: 100 });
        assert_eq!(r.status(), 413);
    }
    // Exactly at the limit is fine.
    let limits = Limits {
        body_bytes_max: json.len(),
        ..Limits::default()
    };
    let config = PipelineConfig {
        limits,
        ..PipelineConfig::default()
    };
    assert!(run_with(config, &Upload::body(&json)).is_ok());
}

#[test]
fn a_body_inflating_over_the_limit_is_413() {
    // Pad the message with white space so that it compresses well.
    let mut json = Msg::orders().json();
    json.extend(std::iter::repeat_n(b' ', 20_000));
    let limits = Limits {
        inflated_bytes_max: 10_000,
        ..Limits::default()
    };
    let config = PipelineConfig {
        limits,
        ..PipelineConfig::default()
    };
    for (name, body, ce) in [
        ("gzip", gzip(&json), Some("gzip")),
        ("zlib", zlib(&json), Some("deflate")),
        ("deflate", deflate(&json), Some("deflate")),
        // An uncompressed body is held to the same limit.
        ("raw", json.clone(), None),
    ] {
        let r = run_with(config.clone(), &upload(&body, ce, None)).unwrap_err();
        assert_eq!(r, Reject::InflatedTooLarge { max: 10_000 }, "{name}");
        assert_eq!(r.status(), 413);
    }
    // Exactly at the limit is fine.
    let limits = Limits {
        inflated_bytes_max: json.len(),
        ..Limits::default()
    };
    let config = PipelineConfig {
        limits,
        ..PipelineConfig::default()
    };
    for body in [gzip(&json), zlib(&json), json.clone()] {
        assert!(run_with(config.clone(), &Upload::body(&body)).is_ok());
    }
}

// ---------------------------------------------------------------- §3 top-level keys

#[test]
fn result_type_must_be_orders_or_history() {
    for rt in [
        r#""trades""#,
        r#""Orders""#,
        r#""HISTORY""#,
        r#""""#,
        r#"" orders""#,
    ] {
        let r = reject(&Msg::orders().set("resultType", rt).json());
        assert!(matches!(r, Reject::BadResultType(_)), "{rt}: {r:?}");
    }
    for rt in ["5", "null", "true", "[\"orders\"]", "{}"] {
        let r = reject(&Msg::orders().set("resultType", rt).json());
        assert_eq!(
            r,
            Reject::WrongType {
                place: Place::Top(Key::ResultType),
                want: Want::String
            },
            "{rt}"
        );
    }
    // The result type decides the columns: history columns in an orders message are unknown.
    let r = reject(&Msg::history().set("resultType", "\"orders\"").json());
    assert!(matches!(r, Reject::UnknownColumn { index: 0, .. }), "{r:?}");
}

#[test]
fn required_keys_are_required() {
    for (key, k) in [
        ("resultType", Key::ResultType),
        ("uploadKeys", Key::UploadKeys),
        ("generator", Key::Generator),
        ("columns", Key::Columns),
        ("rowsets", Key::Rowsets),
    ] {
        for msg in [Msg::orders(), Msg::history()] {
            let r = reject(&msg.without(key).json());
            assert_eq!(r, Reject::MissingKey(k), "{key}");
            assert!(r.to_string().contains(key), "{r}");
        }
    }
}

#[test]
fn version_and_current_time_are_ignored_on_input() {
    let reference = accept(&Msg::orders().json()).text();
    for v in ["\"0.2\"", "5", "null", "{\"a\":[1,{\"b\":2}]}", "\"\""] {
        assert_eq!(
            accept(&Msg::orders().set("version", v).json()).text(),
            reference
        );
        assert_eq!(
            accept(&Msg::orders().set("currentTime", v).json()).text(),
            reference
        );
    }
    assert_eq!(
        accept(
            &Msg::orders()
                .without("version")
                .without("currentTime")
                .json()
        )
        .text(),
        reference
    );
    let out = accept(
        &Msg::orders()
            .set("currentTime", "\"1999-01-01T00:00:00Z\"")
            .json(),
    );
    assert_eq!(str_of(&out.value(), "currentTime"), NOW_TEXT);
}

#[test]
fn unknown_top_level_keys_are_ignored() {
    let reference = accept(&Msg::orders().json()).text();
    let out = accept(
        &Msg::orders()
            .set("comment", r#"{"rowsets":[],"columns":5}"#)
            .set("x", "[[[1]]]")
            .json(),
    );
    assert_eq!(out.text(), reference);
}

#[test]
fn upload_keys_are_passed_through() {
    // Empty.
    let out = accept(&Msg::orders().set("uploadKeys", "[]").json());
    assert!(array(field(&out.value(), "uploadKeys")).is_empty());
    // Strings that need escaping, unicode, escapes in the input, extra fields.
    let keys = r#"[{"name":"q\"b\\s/\n\t\u0001","key":"é€😀"},{"key":"\u00e9\ud83d\ude00","name":"","extra":[1,{"a":null}]},{"name":"emk","key":"abc"}]"#;
    let out = accept(&Msg::orders().set("uploadKeys", keys).json());
    let v = out.value();
    let got: Vec<(&str, &str)> = array(field(&v, "uploadKeys"))
        .iter()
        .map(|k| (str_of(k, "name"), str_of(k, "key")))
        .collect();
    assert_eq!(
        got,
        [("q\"b\\s/\n\t\u{1}", "é€😀"), ("", "é😀"), ("emk", "abc")]
    );
}

#[test]
fn generator_null_or_empty_becomes_emdr() {
    for g in ["null", "{}", " { } ", r#"{"unrelated":1}"#] {
        let out = accept(&Msg::orders().set("generator", g).json());
        let v = out.value();
        let gen = field(&v, "generator");
        assert_eq!(str_of(gen, "name"), "EMDR", "{g}");
        assert_eq!(str_of(gen, "version"), engine::VERSION, "{g}");
        assert_eq!(keys(gen), ["name", "version"]);
    }
}

#[test]
fn generator_is_passed_through() {
    let out = accept(
        &Msg::orders()
            .set(
                "generator",
                r#"{"version":"11.335.1737","name":"Yapeal \"β\"","url":"http://x"}"#,
            )
            .json(),
    );
    let v = out.value();
    let gen = field(&v, "generator");
    assert_eq!(str_of(gen, "name"), "Yapeal \"β\"");
    assert_eq!(str_of(gen, "version"), "11.335.1737");
    assert_eq!(keys(gen), ["name", "version"]);
}

// ---------------------------------------------------------------- §3 columns

/// Rows given in any column order come out in canonical order.
#[test]
fn columns_in_any_order() {
    let reference = accept(&orders_of(&[canonical_row()])).text();
    let n = ORDER_COLUMNS.len();
    for shift in 0..n {
        for reverse in [false, true] {
            let mut order: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
            if reverse {
                order.reverse();
            }
            let cols: Vec<&str> = order.iter().map(|&i| ORDER_COLUMNS[i]).collect();
            let row = format!(
                "[{}]",
                order
                    .iter()
                    .map(|&i| ORDER_VALUES[i])
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let json = Msg::orders_with(&[rowset("10000065", "11134", &[row])])
                .set("columns", &json_list(&cols))
                .json();
            assert_eq!(accept(&json).text(), reference, "{cols:?}");
        }
    }
    let reference = accept(&Msg::history().json()).text();
    let json = Msg::history_with(&[rowset(
        "10000065",
        "11134",
        &[format!(
            "[{}]",
            HISTORY_VALUES
                .iter()
                .rev()
                .copied()
                .collect::<Vec<_>>()
                .join(",")
        )],
    )])
    .set(
        "columns",
        &json_list(&HISTORY_COLUMNS.iter().rev().copied().collect::<Vec<_>>()),
    )
    .json();
    assert_eq!(accept(&json).text(), reference);
}

#[test]
fn solar_system_id_column_may_be_absent() {
    let cols = &ORDER_COLUMNS[..10];
    let row = format!("[{}]", ORDER_VALUES[..10].join(","));
    let json = Msg::orders_with(&[rowset("10000065", "11134", &[row])])
        .set("columns", &json_list(cols))
        .json();
    let out = accept(&json);
    check_canonical(&out.value());
    let r = first_row(&out);
    assert_eq!(r.len(), 11);
    assert!(r[10].is_null());
    assert_eq!(r[9].as_i64(), Some(60008692));
}

#[test]
fn an_unknown_column_is_400() {
    for (msg, bad, index) in [
        (Msg::orders(), "colour", 6),
        (Msg::orders(), "Price", 0),
        (Msg::orders(), "date", 3),
        (Msg::history(), "price", 5),
        (Msg::history(), "", 0),
    ] {
        let mut cols: Vec<&str> = if msg.json().starts_with(br#"{"resultType":"orders""#) {
            ORDER_COLUMNS.to_vec()
        } else {
            HISTORY_COLUMNS.to_vec()
        };
        cols[index] = bad;
        let r = reject(&msg.set("columns", &json_list(&cols)).json());
        match r {
            Reject::UnknownColumn { index: i, name } => {
                assert_eq!((i as usize, name.as_str()), (index, bad));
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert!(r.to_string().contains(&format!("columns[{index}]")), "{r}");
    }
    // Even as an extra, a name that is no column is refused.
    let mut cols = ORDER_COLUMNS.to_vec();
    cols.push("note");
    let r = reject(&Msg::orders().set("columns", &json_list(&cols)).json());
    assert!(
        matches!(r, Reject::UnknownColumn { index: 11, .. }),
        "{r:?}"
    );
}

#[test]
fn every_required_column_is_required() {
    for (i, name) in ORDER_COLUMNS.iter().enumerate().take(10) {
        let mut cols = ORDER_COLUMNS.to_vec();
        cols.remove(i);
        let r = reject(&Msg::orders().set("columns", &json_list(&cols)).json());
        assert_eq!(r, Reject::MissingColumn(Column::ORDERS[i]), "{name}");
        assert!(r.to_string().contains(name));
    }
    for (i, name) in HISTORY_COLUMNS.iter().enumerate() {
        let mut cols = HISTORY_COLUMNS.to_vec();
        cols.remove(i);
        let r = reject(&Msg::history().set("columns", &json_list(&cols)).json());
        assert_eq!(r, Reject::MissingColumn(Column::HISTORY[i]), "{name}");
    }
}

#[test]
fn a_repeated_column_is_400() {
    let mut cols = ORDER_COLUMNS.to_vec();
    cols.push("price");
    let r = reject(&Msg::orders().set("columns", &json_list(&cols)).json());
    assert_eq!(
        r,
        Reject::DuplicateColumn {
            index: 11,
            column: Column::Price
        }
    );
}

// ---------------------------------------------------------------- §3 rowsets

#[test]
fn rowset_required_keys() {
    for (key, k) in [
        ("generatedAt", RowsetKey::GeneratedAt),
        ("typeID", RowsetKey::TypeId),
        ("rows", RowsetKey::Rows),
    ] {
        let rs =
            rowset("10000065", "11134", &[order_row(1)]).replace(&format!("\"{key}\""), "\"x\"");
        let ok = rowset("1", "2", &[]);
        let r = reject(&Msg::orders_with(&[ok, rs]).json());
        assert_eq!(r, Reject::RowsetMissingKey { rowset: 1, key: k }, "{key}");
        assert!(r.to_string().contains(key));
    }
    // regionID may be left out: it is unknown, written as null.
    let rs = rowset("10000065", "11134", &[order_row(1)]).replace("\"regionID\"", "\"x\"");
    let out = accept(&Msg::orders_with(&[rs]).json());
    assert!(field(&first_rowset(&out), "regionID").is_null());
}

#[test]
fn empty_rowsets_are_kept() {
    let sets = [
        rowset("10000002", "34", &[]),
        rowset("10000002", "35", &[order_row(7)]),
        rowset("10000043", "34", &[]),
    ];
    let out = accept(&Msg::orders_with(&sets).json());
    assert_eq!((out.accepted.rowsets, out.accepted.rows), (3, 1));
    let v = out.value();
    check_canonical(&v);
    let rs = array(field(&v, "rowsets"));
    let shape: Vec<(i64, i64, usize)> = rs
        .iter()
        .map(|r| {
            (
                field(r, "regionID").as_i64().unwrap(),
                field(r, "typeID").as_i64().unwrap(),
                array(field(r, "rows")).len(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [(10000002, 34, 0), (10000002, 35, 1), (10000043, 34, 0)]
    );
    // A message of no rowsets at all is a valid (if empty) message.
    for msg in [Msg::orders_with(&[]), Msg::history_with(&[])] {
        let out = accept(&msg.json());
        assert!(array(field(&out.value(), "rowsets")).is_empty());
        assert_eq!((out.accepted.rowsets, out.accepted.rows), (0, 0));
    }
}

#[test]
fn two_rowsets_for_one_region_and_type_are_400() {
    for (a, b) in [
        (("10000002", "34"), ("10000002", "34")),
        (("null", "34"), ("0", "34")),
        (("\"10000002\"", "34"), ("10000002", "34.0")),
        (("10000002.0", "\"34\""), ("10000002", "34")),
    ] {
        for msg in [Msg::orders_with as fn(&[String]) -> Msg, Msg::history_with] {
            let sets = [
                rowset(a.0, a.1, &[]),
                rowset("1", "1", &[]),
                rowset(b.0, b.1, &[]),
            ];
            let r = reject(&msg(&sets).json());
            assert!(
                matches!(
                    r,
                    Reject::DuplicateRowset {
                        rowset: 2,
                        first: 0,
                        type_id: 34,
                        ..
                    }
                ),
                "{a:?} {b:?}: {r:?}"
            );
        }
    }
    // The same type in another region, or another type in the same region, is fine.
    let sets = [
        rowset("10000002", "34", &[]),
        rowset("10000043", "34", &[]),
        rowset("null", "34", &[]),
        rowset("10000002", "35", &[]),
    ];
    assert_eq!(accept(&Msg::orders_with(&sets).json()).accepted.rowsets, 4);
}

// ---------------------------------------------------------------- §3 values

#[test]
fn integers_accept_integral_floats_and_integer_strings() {
    let reference = accept(&orders_of(&[canonical_row()])).text();
    let int_columns = [
        ("volRemaining", "1"),
        ("range", "32767"),
        ("orderID", "2363806077"),
        ("volEntered", "1"),
        ("minVolume", "1"),
        ("duration", "90"),
        ("stationID", "60008692"),
        ("solarSystemID", "30005038"),
    ];
    for (col, v) in int_columns {
        for form in [
            v.to_owned(),
            format!("{v}.0"),
            format!("{v}.000"),
            format!("{v}e0"),
            format!("{v}0e-1"),
            format!("\"{v}\""),
        ] {
            let out = accept(&orders_of(&[order_row_with(col, &form)]));
            assert_eq!(out.text(), reference, "{col} = {form}");
        }
    }
    // Every integer is written as an integer.
    let r = first_row(&accept(&orders_of(&[order_row_with(
        "volRemaining",
        "7.0",
    )])));
    for i in [1, 2, 3, 4, 5, 8, 9, 10] {
        assert!(r[i].is_i64(), "column {i}: {:?}", r[i]);
    }
    let reference = accept(&Msg::history().json()).text();
    for (col, v) in [("orders", "40"), ("quantity", "40")] {
        for form in [format!("{v}.0"), format!("\"{v}\""), format!("{v}e0")] {
            let out = accept(&history_of(&[history_row_with(col, &form)]));
            assert_eq!(out.text(), reference, "{col} = {form}");
        }
    }
    // typeID and regionID too.
    let reference = accept(&orders_of(&[canonical_row()])).text();
    for (region, type_id) in [
        ("10000065.0", "11134"),
        ("\"10000065\"", "\"11134\""),
        ("10000065", "11134.0"),
    ] {
        let json = Msg::orders_with(&[rowset(region, type_id, &[canonical_row()])]).json();
        assert_eq!(accept(&json).text(), reference, "{region} {type_id}");
    }
}

#[test]
fn integers_refuse_fractions_and_non_numbers() {
    for (col, column) in [
        ("volRemaining", Column::VolRemaining),
        ("orderID", Column::OrderId),
        ("duration", Column::Duration),
        ("stationID", Column::StationId),
    ] {
        for bad in [
            "1.5", "\"1.5\"", "\"five\"", "\"\"", "true", "null", "[1]", "{}",
        ] {
            let r = reject(&orders_of(&[order_row(1), order_row_with(col, bad)]));
            assert!(
                matches!(
                    r,
                    Reject::WrongType { place, want: Want::Integer | Want::InRange }
                        if place == cell(0, 1, column)
                ),
                "{col} = {bad}: {r:?}"
            );
        }
    }
    for bad in ["1e19", "9223372036854775808", "-9.3e18", "1e300"] {
        let r = reject(&orders_of(&[order_row_with("orderID", bad)]));
        assert_eq!(
            r,
            Reject::WrongType {
                place: cell(0, 0, Column::OrderId),
                want: Want::InRange
            },
            "{bad}"
        );
    }
    for bad in ["2.5", "\"x\"", "false"] {
        let r = reject(&history_of(&[history_row_with("quantity", bad)]));
        assert!(
            matches!(r, Reject::WrongType { place, want: Want::Integer } if place == cell(0, 0, Column::Quantity)),
            "{bad}: {r:?}"
        );
    }
    let r = reject(&Msg::orders_with(&[rowset("1", "\"abc\"", &[])]).json());
    assert_eq!(
        r,
        Reject::WrongType {
            place: Place::Rowset(0, RowsetKey::TypeId),
            want: Want::Integer
        }
    );
    for bad in ["\"abc\"", "1.5", "true", "[]"] {
        let r = reject(&Msg::orders_with(&[rowset(bad, "34", &[])]).json());
        assert_eq!(
            r,
            Reject::WrongType {
                place: Place::Rowset(0, RowsetKey::RegionId),
                want: Want::IntegerOrNull
            },
            "{bad}"
        );
    }
}

#[test]
fn the_order_range_is_a_known_range() {
    for ok in ["-1", "0", "1", "5", "40", "32767"] {
        let out = accept(&orders_of(&[order_row_with("range", ok)]));
        assert_eq!(first_row(&out)[2].as_i64(), Some(ok.parse().unwrap()));
    }
    for bad in ["-2", "41", "32766", "65535"] {
        let r = reject(&orders_of(&[order_row_with("range", bad)]));
        assert_eq!(
            r,
            Reject::WrongType {
                place: cell(0, 0, Column::Range),
                want: Want::Range
            },
            "{bad}"
        );
    }
}

#[test]
fn numbers_accept_finite_numbers_and_numeric_strings() {
    for (form, want) in [
        ("1.5", 1.5),
        ("15e-1", 1.5),
        ("\"1.5\"", 1.5),
        ("\"15E-1\"", 1.5),
        ("\"1500\"", 1500.0),
        ("1500", 1500.0),
        ("0.01", 0.01),
        ("-3.25", -3.25),
        ("1e300", 1e300),
        ("\"-0\"", 0.0),
    ] {
        let out = accept(&orders_of(&[order_row_with("price", form)]));
        assert_eq!(first_row(&out)[0].as_f64(), Some(want), "{form}");
        for col in ["low", "high", "average"] {
            let out = accept(&history_of(&[history_row_with(col, form)]));
            let i = col_index(&HISTORY_COLUMNS, col);
            assert_eq!(first_row(&out)[i].as_f64(), Some(want), "{col} = {form}");
        }
    }
}

#[test]
fn numbers_refuse_non_finite_and_non_numeric_values() {
    for bad in [
        "\"NaN\"",
        "\"nan\"",
        "\"inf\"",
        "\"-Infinity\"",
        "\"1e400\"",
        "\"\"",
        "\"12 ISK\"",
        "true",
        "null",
        "[1.5]",
        "{\"v\":1}",
    ] {
        let r = reject(&orders_of(&[order_row_with("price", bad)]));
        assert_eq!(
            r,
            Reject::WrongType {
                place: cell(0, 0, Column::Price),
                want: Want::Number
            },
            "{bad}"
        );
        let r = reject(&history_of(&[history_row_with("average", bad)]));
        assert_eq!(
            r,
            Reject::WrongType {
                place: cell(0, 0, Column::Average),
                want: Want::Number
            },
            "{bad}"
        );
    }
}

#[test]
fn bid_is_a_json_boolean_only() {
    for (form, want) in [("true", true), ("false", false)] {
        let out = accept(&orders_of(&[order_row_with("bid", form)]));
        assert_eq!(first_row(&out)[6].as_bool(), Some(want));
    }
    for bad in [
        "\"false\"",
        "\"true\"",
        "0",
        "1",
        "0.0",
        "null",
        "\"\"",
        "[]",
    ] {
        let r = reject(&orders_of(&[order_row_with("bid", bad)]));
        assert_eq!(
            r,
            Reject::WrongType {
                place: cell(0, 0, Column::Bid),
                want: Want::Boolean
            },
            "{bad}"
        );
        assert!(r.to_string().contains("\"bid\""), "{r}");
    }
}

#[test]
fn null_or_zero_region_and_solar_system_are_written_null() {
    for unknown in ["null", "0", "0.0", "\"0\"", "-0"] {
        let json = Msg::orders_with(&[rowset(
            unknown,
            "34",
            &[order_row_with("solarSystemID", unknown)],
        )])
        .json();
        let out = accept(&json);
        let v = out.value();
        check_canonical(&v);
        assert!(
            field(&first_rowset(&out), "regionID").is_null(),
            "{unknown}"
        );
        assert!(first_row(&out)[10].is_null(), "{unknown}");
    }
}

#[test]
fn timestamps_with_offsets_are_written_in_utc() {
    for (input, utc) in [
        ("2011-12-03T08:10:59+00:00", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T08:10:59+0000", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T08:10:59Z", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03 08:10:59+00:00", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T08:10:59.999+00:00", "2011-12-03T08:10:59+00:00"),
        (
            "2011-12-03T08:10:59.123456789Z",
            "2011-12-03T08:10:59+00:00",
        ),
        ("2011-12-03T10:10:59+02:00", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T03:10:59-05:00", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T13:40:59+0530", "2011-12-03T08:10:59+00:00"),
        ("2011-12-03T08:10:59-00:00", "2011-12-03T08:10:59+00:00"),
        ("2012-01-01T01:00:00+02:00", "2011-12-31T23:00:00+00:00"),
        ("2012-02-28T22:30:00-01:30", "2012-02-29T00:00:00+00:00"),
        ("2011-12-31T23:59:59-23:59", "2012-01-01T23:58:59+00:00"),
    ] {
        let q = format!("\"{input}\"");
        // issueDate, generatedAt and the history date.
        let out = accept(&orders_of(&[order_row_with("issueDate", &q)]));
        assert_eq!(first_row(&out)[7].as_str(), Some(utc), "{input}");
        let rs = rowset("1", "2", &[]).replace("2011-10-22T15:43:00+00:00", input);
        let out = accept(&Msg::orders_with(&[rs]).json());
        assert_eq!(
            field(&first_rowset(&out), "generatedAt").as_str(),
            Some(utc),
            "{input}"
        );
        let out = accept(&history_of(&[history_row_with("date", &q)]));
        assert_eq!(first_row(&out)[0].as_str(), Some(utc), "{input}");
    }
}

#[test]
fn timestamps_without_an_offset_are_refused() {
    for t in [
        "2011-12-03T08:10:59",
        "2011-12-03 08:10:59",
        "2011-12-03T08:10:59.5",
    ] {
        let q = format!("\"{t}\"");
        let r = reject(&orders_of(&[order_row_with("issueDate", &q)]));
        assert!(
            matches!(r, Reject::BadTimestamp { place, problem: TimeProblem::NoOffset, text }
                if place == cell(0, 0, Column::IssueDate) && text.as_str() == t),
            "{t}: {r:?}"
        );
        assert!(r.to_string().contains("offset"), "{r}");
        let r = reject(&history_of(&[history_row_with("date", &q)]));
        assert!(
            matches!(r, Reject::BadTimestamp { place, problem: TimeProblem::NoOffset, .. }
                if place == cell(0, 0, Column::Date)),
            "{t}: {r:?}"
        );
        let rs = rowset("1", "2", &[]).replace("2011-10-22T15:43:00+00:00", t);
        let r = reject(&Msg::orders_with(&[rs]).json());
        assert!(
            matches!(
                r,
                Reject::BadTimestamp {
                    place: Place::Rowset(0, RowsetKey::GeneratedAt),
                    problem: TimeProblem::NoOffset,
                    ..
                }
            ),
            "{t}: {r:?}"
        );
    }
}

#[test]
fn malformed_timestamps_are_refused() {
    for (t, problem) in [
        ("\"yesterday\"", Some(TimeProblem::Syntax)),
        ("\"2011-12-03\"", Some(TimeProblem::Syntax)),
        ("\"03/12/2011 08:10:59Z\"", Some(TimeProblem::Syntax)),
        ("\"2011-12-03T08:10Z\"", Some(TimeProblem::Syntax)),
        (
            "\"2011-12-03T08:10:59+25:00\"",
            Some(TimeProblem::OutOfRange),
        ),
        ("\"2011-02-30T08:10:59Z\"", Some(TimeProblem::OutOfRange)),
        ("\"2011-12-03T24:00:00Z\"", Some(TimeProblem::OutOfRange)),
        ("1322899859", None),
        ("null", None),
    ] {
        let r = reject(&orders_of(&[order_row_with("issueDate", t)]));
        match problem {
            Some(p) => assert!(
                matches!(r, Reject::BadTimestamp { place, problem, .. } if place == cell(0, 0, Column::IssueDate) && problem == p),
                "{t}: {r:?}"
            ),
            None => assert_eq!(
                r,
                Reject::WrongType {
                    place: cell(0, 0, Column::IssueDate),
                    want: Want::Timestamp
                },
                "{t}"
            ),
        }
    }
}

#[test]
fn a_row_shorter_than_columns_is_400() {
    let short = format!("[{}]", ORDER_VALUES[..10].join(","));
    let r = reject(&orders_of(&[order_row(1), order_row(2), short]));
    assert_eq!(
        r,
        Reject::RowTooShort {
            rowset: 0,
            row: 2,
            len: 10,
            want: 11
        }
    );
    assert!(r.to_string().contains("rowsets[0].rows[2]"), "{r}");
    let r = reject(&orders_of(&["[]".into()]));
    assert!(matches!(r, Reject::RowTooShort { len: 0, .. }), "{r:?}");
    let r = reject(&history_of(&[r#"["2011-12-03T00:00:00Z",1,2,3,4]"#.into()]));
    assert!(
        matches!(
            r,
            Reject::RowTooShort {
                len: 5,
                want: 6,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn a_row_longer_than_columns_has_its_extras_ignored() {
    let reference = accept(&orders_of(&[canonical_row()])).text();
    for extra in [
        "null",
        "1",
        "\"x\"",
        "[1,[2]]",
        "{\"a\":{}}",
        "true,false,\"2011\"",
    ] {
        let long = format!("[{},{extra}]", ORDER_VALUES.join(","));
        assert_eq!(accept(&orders_of(&[long])).text(), reference, "{extra}");
    }
    // With solarSystemID left out of columns, its value at the end of a row is an extra.
    let cols = &ORDER_COLUMNS[..10];
    let json = Msg::orders_with(&[rowset("10000065", "11134", &[order_row(1)])])
        .set("columns", &json_list(cols))
        .json();
    let out = accept(&json);
    assert!(first_row(&out)[10].is_null());
}

// ---------------------------------------------------------------- §4 output

#[test]
fn rowsets_and_rows_keep_their_input_order() {
    let sets: Vec<String> = (0..20)
        .map(|i| {
            let rows: Vec<String> = (0..5).map(|j| order_row(1000 - i * 10 - j)).collect();
            rowset("10000002", &(500 - i).to_string(), &rows)
        })
        .collect();
    let out = accept(&Msg::orders_with(&sets).json());
    let v = out.value();
    check_canonical(&v);
    let rowsets = array(field(&v, "rowsets"));
    for (i, rs) in rowsets.iter().enumerate() {
        let i = i as i64;
        assert_eq!(field(rs, "typeID").as_i64(), Some(500 - i));
        let ids: Vec<i64> = array(field(rs, "rows"))
            .iter()
            .map(|r| array(r)[3].as_i64().unwrap())
            .collect();
        let want: Vec<i64> = (0..5).map(|j| 1000 - i * 10 - j).collect();
        assert_eq!(ids, want);
    }
}

#[test]
fn encoding_the_same_message_twice_gives_the_same_bytes() {
    let json = fixture(ORDERS_FIXTURE);
    let mut p = pipeline(PipelineConfig::default());
    let first = run_on(&mut p, &Upload::body(&json)).unwrap();
    let second = run_on(&mut p, &Upload::body(&json)).unwrap();
    assert_eq!(first.frame, second.frame);
    // write_json is a pure function of (message, now, tag).
    let mut a = Vec::new();
    let mut b = Vec::new();
    encode::write_json(p.message(), NOW, Some("k"), &mut a);
    encode::write_json(p.message(), NOW, Some("k"), &mut b);
    assert_eq!(a, b);
    let mut untagged = Vec::new();
    encode::write_json(p.message(), NOW, None, &mut untagged);
    assert_eq!(untagged, first.json);
    // Another `now` changes currentTime and nothing else.
    let mut later = Vec::new();
    p.process(&Upload::body(&json), NOW + 3600, &mut later)
        .unwrap();
    let later = frame_json(&later);
    let later = String::from_utf8(later).unwrap();
    assert_eq!(
        later.replace("2023-11-14T23:13:20+00:00", NOW_TEXT),
        String::from_utf8(first.json).unwrap()
    );
}

/// About the largest real upload: a region-wide dump of 30,000 orders (some 3 MB of JSON)
/// passes with the default limits, raw and gzipped.
#[test]
fn a_region_wide_upload_of_30000_orders_passes_with_default_limits() {
    let types = 1_000;
    let per_type = 30;
    let sets: Vec<String> = (0..types)
        .map(|t| {
            let rows: Vec<String> = (0..per_type)
                .map(|j| {
                    let id = 2_363_806_077_i64 + (t * per_type + j) as i64;
                    format!(
                        r#"[{}.{:02},{},{},{id},{},1,{},"2011-12-03T08:10:59+00:00",90,{},{}]"#,
                        1000 + t * 7 + j,
                        j,
                        j + 1,
                        [32767, -1, 0, 5][j % 4],
                        j * 10 + 1,
                        j % 3 == 0,
                        60_000_000 + j,
                        30_000_000 + t,
                    )
                })
                .collect();
            rowset("10000002", &(34 + t).to_string(), &rows)
        })
        .collect();
    let json = Msg::orders_with(&sets).json();
    assert!(
        (2_500_000..4_000_000).contains(&json.len()),
        "{} bytes",
        json.len()
    );
    let raw = accept(&json);
    assert_eq!((raw.accepted.rowsets, raw.accepted.rows), (1_000, 30_000));
    let gz = gzip(&json);
    let gzipped = run(&upload(&gz, Some("gzip"), None)).unwrap();
    assert_eq!(gzipped.frame, raw.frame);
    let v = raw.value();
    check_canonical(&v);
    let last = array(field(&array(field(&v, "rowsets"))[999], "rows"))[29].clone();
    assert_eq!(array(&last)[3].as_i64(), Some(2_363_806_077 + 29_999));
}
