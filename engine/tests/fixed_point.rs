//! Property: canonical output is a fixed point of the pipeline (contract §4).
//!
//! proptest builds arbitrary *valid* uploads: orders or history; columns in any order, with
//! the optional `solarSystemID` sometimes absent; every value in each form the contract
//! allows (integers as JSON integers, integral floats, exponents or strings; prices as any
//! finite number in shortest, exponent or long decimal form, or as numeric strings; timestamps
//! with `T`, `t` or a space, fractions, and every offset style from -23:59 to +23:59; unknown
//! IDs as null or 0); empty rowsets; unique (regionID, typeID) pairs; `uploadKeys` and
//! `generator` strings of arbitrary Unicode, escaped at random (short escapes, `\uXXXX`,
//! surrogate pairs, raw); keys in random order and randomly escaped; unknown keys; extra row
//! values; random white space; and any transport of §2 (raw, gzip, zlib, raw deflate, forms).
//!
//! For each upload `x`, with a fixed `now`:
//! 1. `parse(x)` is the message the generator meant (an independent model of the rules:
//!    the expected UTC seconds are computed here, not with `engine::time`);
//! 2. `y`, the canonical JSON of `x`, is well formed (§4) and `parse(y) == parse(x)`;
//! 3. `encode(parse(y)) == y`, byte for byte.
//!
//! A `null` or `{}` generator parses as `Generator::engine_default()`, so `Message` is
//! canonical and the comparisons are direct.
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test (see clippy.toml)

mod common;

use common::*;
use engine::uudif::{Generator, HistoryRow, Message, Order, Rowset, UploadKey};
use engine::{encode, PipelineConfig, ResultType, Upload};
use proptest::prelude::*;

const TWO_53: i64 = 1 << 53;

// ---------------------------------------------------------------- JSON text of values

/// Characters worth testing: anything at all, and the ones JSON treats specially.
fn a_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => proptest::sample::select(vec![
            '"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1f}', '\u{7f}', 'é',
            '€', '😀', '\u{2028}', '\u{feff}', '\u{ffff}', '\u{10ffff}', 'a', ' ',
        ]),
        2 => proptest::char::range('a', 'z'),
    ]
}

/// Append `c` to JSON string text, escaped in one of the ways JSON allows, chosen by `k`.
fn push_json_char(out: &mut String, c: char, k: u8) {
    let u = |out: &mut String, v: u32| {
        if k & 4 == 0 {
            out.push_str(&format!("\\u{v:04x}"));
        } else {
            out.push_str(&format!("\\u{v:04X}"));
        }
    };
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 => match (c, k % 2) {
            ('\n', 0) => out.push_str("\\n"),
            ('\r', 0) => out.push_str("\\r"),
            ('\t', 0) => out.push_str("\\t"),
            ('\u{8}', 0) => out.push_str("\\b"),
            ('\u{c}', 0) => out.push_str("\\f"),
            _ => u(out, c as u32),
        },
        '/' if k % 4 == 2 => out.push_str("\\/"),
        c if k % 4 == 3 => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                u(out, u32::from(*unit));
            }
        }
        c => out.push(c),
    }
}

/// A JSON string: (its value, its text).
fn json_string() -> impl Strategy<Value = (String, String)> {
    prop::collection::vec((a_char(), any::<u8>()), 0..10).prop_map(|cs| {
        let mut value = String::new();
        let mut text = String::from("\"");
        for (c, k) in cs {
            value.push(c);
            push_json_char(&mut text, c, k);
        }
        text.push('"');
        (value, text)
    })
}

/// A fixed name (a key or a column), randomly escaped.
fn name_text(name: &str, k: u64) -> String {
    let mut text = String::from("\"");
    for (i, c) in name.chars().enumerate() {
        // Mostly raw: escape a character now and then.
        let pick = (k >> (i % 60)) & 0x1f;
        push_json_char(&mut text, c, if pick == 0 { 3 } else { 0 });
    }
    text.push('"');
    text
}

/// An integer in one of the forms the contract accepts.
fn int_text(v: i64, form: u8) -> String {
    let small = (-TWO_53..=TWO_53).contains(&v);
    match form % 6 {
        1 if small => format!("{v}.0"),
        2 if small => format!("{v}e0"),
        3 if small => format!("{v}.000E+0"),
        4 | 5 => format!("\"{v}\""),
        _ => v.to_string(),
    }
}

fn an_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => -1_000i64..1_000,
        2 => 0i64..10_000_000_000,
        1 => any::<i64>(),
        1 => proptest::sample::select(vec![i64::MIN, i64::MAX, -TWO_53, TWO_53, 0, 1, -1]),
    ]
}

fn an_int() -> impl Strategy<Value = (i64, String)> {
    (an_i64(), any::<u8>()).prop_map(|(v, f)| (v, int_text(v, f)))
}

/// A regionID or solarSystemID: unknown (null, 0 in any form) or a non-zero integer.
fn an_id() -> impl Strategy<Value = (Option<i64>, String)> {
    prop_oneof![
        1 => proptest::sample::select(vec!["null", "0", "0.0", "\"0\"", "-0", "0e5"])
            .prop_map(|t| (None, t.to_owned())),
        3 => an_int()
            .prop_filter("0 is unknown", |(v, _)| *v != 0)
            .prop_map(|(v, t)| (Some(v), t)),
    ]
}

fn a_range() -> impl Strategy<Value = (i64, String)> {
    let ranges: Vec<i64> = (-1..=40).chain([32767]).collect();
    (proptest::sample::select(ranges), any::<u8>()).prop_map(|(v, f)| (v, int_text(v, f)))
}

fn an_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (0i64..100_000_000).prop_map(|c| c as f64 / 100.0),
        1 => (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        2 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
        1 => proptest::sample::select(vec![
            0.0, -0.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE, 5e-324, 1e22, 1e23, 0.1, 9007199254740993.0,
        ]),
    ]
}

/// A finite number in one of the forms the contract accepts.
fn a_number() -> impl Strategy<Value = (f64, String)> {
    (an_f64(), any::<u8>()).prop_map(|(v, f)| {
        let text = match f % 7 {
            0 => format!("{v:?}"),
            1 => format!("{v:e}"),
            2 => format!("{v:E}"),
            // Plain decimal: up to some 330 digits for the extremes.
            3 => format!("{v}"),
            4 => format!("\"{v:?}\""),
            5 => format!("\"{v:e}\""),
            _ if v.fract() == 0.0 && v.abs() < 9.2e18 => format!("{}", v as i64),
            _ => format!("{v:?}"),
        };
        // The engine writes -0 as 0.
        (if v == 0.0 { 0.0 } else { v }, text)
    })
}

// ---------------------------------------------------------------- timestamps

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_days(y: i64, m: i64) -> i64 {
    [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][m as usize - 1]
}

/// Days from 1970-01-01 to y-m-d, counted by years and months (not engine::time's method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    const BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let y1 = y - 1;
    let before_year = 365 * y1 + y1 / 4 - y1 / 100 + y1 / 400; // since 0001-01-01
    let leap_day = i64::from(m > 2 && is_leap(y));
    before_year + BEFORE_MONTH[m as usize - 1] + leap_day + d - 1 - 719_162
}

/// A timestamp with a UTC offset: (Unix seconds, JSON text).
fn a_timestamp() -> impl Strategy<Value = (i64, String)> {
    (
        prop_oneof![1970i64..2040, 2i64..9999],
        1i64..=12,
        1i64..=31,
        (0i64..24, 0i64..60, 0i64..60),
        prop::option::of((
            proptest::sample::select(vec!['.', ',']),
            1usize..10,
            any::<u64>(),
        )),
        proptest::sample::select(vec!['T', 'T', ' ', 't']),
        prop_oneof![1 => Just(0i64), 3 => -(23 * 60 + 59)..=(23i64 * 60 + 59)],
        any::<u8>(),
    )
        .prop_map(|(y, mo, d, (h, mi, s), frac, sep, off, style)| {
            let d = d.min(month_days(y, mo));
            let mut text = format!("\"{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}");
            if let Some((c, n, digits)) = frac {
                text.push(c);
                let digits = format!("{digits:020}");
                text.push_str(&digits[..n]);
            }
            let (sign, abs) = if off < 0 { ('-', -off) } else { ('+', off) };
            let (oh, om) = (abs / 60, abs % 60);
            let offset = match (off, style % 6) {
                (0, 0) => "Z".to_owned(),
                (0, 1) => "z".to_owned(),
                (0, 2) => "-00:00".to_owned(),
                (_, 3) => format!("{sign}{oh:02}{om:02}"),
                (_, 4) if om == 0 => format!("{sign}{oh:02}"),
                _ => format!("{sign}{oh:02}:{om:02}"),
            };
            text.push_str(&offset);
            text.push('"');
            let local = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
            (local - off * 60, text)
        })
}

// ---------------------------------------------------------------- rows, rowsets, messages

/// A value and the JSON text that means it.
type Text<T> = (T, String);
/// A row and its values' text in canonical column order.
type RowText = (Row, Vec<String>);
/// A row, and the ignored extra values written after it.
type RowCase = (RowText, Vec<&'static str>);

#[derive(Debug, Clone)]
enum Row {
    Order(Order),
    History(HistoryRow),
}

/// Ignored values a row may carry after its columns.
fn row_extras() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        proptest::sample::select(vec!["null", "1", "\"x\"", "[1,[2]]", "{\"a\":{}}", "true"]),
        0..3,
    )
}

/// An order and its 11 values' text, in canonical column order.
fn an_order() -> impl Strategy<Value = RowText> {
    (
        a_number(),
        an_int(),
        a_range(),
        an_int(),
        an_int(),
        an_int(),
        any::<bool>(),
        a_timestamp(),
        an_int(),
        an_int(),
        an_id(),
    )
        .prop_map(
            |(price, vr, range, id, ve, mv, bid, issued, dur, station, system)| {
                let order = Order {
                    price: price.0,
                    vol_remaining: vr.0,
                    range: range.0,
                    order_id: id.0,
                    vol_entered: ve.0,
                    min_volume: mv.0,
                    bid,
                    issue_date: issued.0,
                    duration: dur.0,
                    station_id: station.0,
                    solar_system_id: system.0,
                };
                let texts = vec![
                    price.1,
                    vr.1,
                    range.1,
                    id.1,
                    ve.1,
                    mv.1,
                    bid.to_string(),
                    issued.1,
                    dur.1,
                    station.1,
                    system.1,
                ];
                (Row::Order(order), texts)
            },
        )
}

fn a_history_row() -> impl Strategy<Value = RowText> {
    (
        a_timestamp(),
        an_int(),
        an_int(),
        a_number(),
        a_number(),
        a_number(),
    )
        .prop_map(|(date, orders, quantity, low, high, average)| {
            let row = HistoryRow {
                date: date.0,
                orders: orders.0,
                quantity: quantity.0,
                low: low.0,
                high: high.0,
                average: average.0,
            };
            (
                Row::History(row),
                vec![date.1, orders.1, quantity.1, low.1, high.1, average.1],
            )
        })
}

#[derive(Debug, Clone)]
struct RowsetCase {
    generated_at: Text<i64>,
    /// `None` text: the key is left out.
    region: (Option<i64>, Option<String>),
    type_id: Text<i64>,
    rows: Vec<RowCase>,
    unknown_key: bool,
    order: Vec<u8>,
}

fn a_rowset(row: impl Strategy<Value = RowText>) -> impl Strategy<Value = RowsetCase> {
    (
        a_timestamp(),
        prop_oneof![
            1 => Just((None, None)),
            4 => an_id().prop_map(|(v, t)| (v, Some(t))),
        ],
        an_int(),
        prop::collection::vec((row, row_extras()), 0..4),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 5),
    )
        .prop_map(
            |(generated_at, region, type_id, rows, unknown_key, order)| RowsetCase {
                generated_at,
                region,
                type_id,
                rows,
                unknown_key,
                order,
            },
        )
}

#[derive(Debug, Clone)]
struct Case {
    result_type: ResultType,
    upload_keys: Vec<(Text<String>, Text<String>)>,
    /// `None`: `null` or `{}` (by `generator_form`).
    generator: Option<(Text<String>, Text<String>)>,
    generator_form: bool,
    /// The permutation of canonical column indexes the rows use.
    columns: Vec<usize>,
    rowsets: Vec<RowsetCase>,
    version: Option<&'static str>,
    current_time: Option<&'static str>,
    unknown: Option<&'static str>,
    order: Vec<u8>,
    name_escapes: u64,
    spaced: bool,
    transport: usize,
}

fn a_case() -> impl Strategy<Value = Case> {
    let orders = (
        Just(ResultType::Orders),
        Just((0..11).collect::<Vec<usize>>()).prop_shuffle(),
        any::<bool>(),
        prop::collection::vec(a_rowset(an_order()), 0..4),
    )
        .prop_map(|(rt, mut cols, drop_system, sets)| {
            if drop_system {
                cols.retain(|&c| c != 10);
            }
            (rt, cols, sets)
        });
    let history = (
        Just(ResultType::History),
        Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        prop::collection::vec(a_rowset(a_history_row()), 0..4),
    );
    let body = prop_oneof![orders.boxed(), history.boxed()];
    (
        body,
        prop::collection::vec((json_string(), json_string()), 0..4),
        prop::option::of((json_string(), json_string())),
        any::<bool>(),
        (
            prop::option::of(proptest::sample::select(vec![
                "\"0.1\"",
                "\"0.2\"",
                "5",
                "null",
                "{\"a\":[1]}",
            ])),
            prop::option::of(proptest::sample::select(vec![
                "\"2011-10-22T15:46:00+00:00\"",
                "\"yesterday\"",
                "0",
            ])),
            prop::option::of(proptest::sample::select(vec![
                "{\"rowsets\":[],\"columns\":1}",
                "[[[]]]",
                "\"x\"",
            ])),
        ),
        prop::collection::vec(any::<u8>(), 8),
        any::<u64>(),
        any::<bool>(),
        0usize..16,
    )
        .prop_map(
            |(
                (result_type, columns, rowsets),
                upload_keys,
                generator,
                generator_form,
                (version, current_time, unknown),
                order,
                name_escapes,
                spaced,
                transport,
            )| {
                Case {
                    result_type,
                    upload_keys,
                    generator,
                    generator_form,
                    columns,
                    // Unique (regionID, typeID): keep the first of each.
                    rowsets: {
                        let mut seen = Vec::new();
                        rowsets
                            .into_iter()
                            .filter(|rs| {
                                let key = (rs.region.0, rs.type_id.0);
                                let new = !seen.contains(&key);
                                seen.push(key);
                                new
                            })
                            .collect()
                    },
                    version,
                    current_time,
                    unknown,
                    order,
                    name_escapes,
                    spaced,
                    transport,
                }
            },
        )
}

/// Join `(key, value)` entries into an object, in the order of `priority`.
fn object(mut entries: Vec<(String, String)>, priority: &[u8], spaced: bool) -> String {
    let mut keyed: Vec<(u8, (String, String))> = entries
        .drain(..)
        .enumerate()
        .map(|(i, e)| (priority[i % priority.len()], e))
        .collect();
    keyed.sort_by_key(|(p, _)| *p);
    let (sep, colon) = if spaced { (",\n  ", " : ") } else { (",", ":") };
    let body: Vec<String> = keyed
        .into_iter()
        .map(|(_, (k, v))| format!("{k}{colon}{v}"))
        .collect();
    format!("{{{}}}", body.join(sep))
}

impl Case {
    fn names(&self) -> &'static [&'static str] {
        match self.result_type {
            ResultType::Orders => &ORDER_COLUMNS,
            ResultType::History => &HISTORY_COLUMNS,
        }
    }

    fn json(&self) -> Vec<u8> {
        let k = |name: &str| name_text(name, self.name_escapes);
        let sep = if self.spaced { ", " } else { "," };
        let names = self.names();
        let columns: Vec<String> = self.columns.iter().map(|&c| k(names[c])).collect();
        let keys: Vec<String> = self
            .upload_keys
            .iter()
            .map(|((_, name), (_, key))| format!("{{{}:{name},{}:{key}}}", k("name"), k("key")))
            .collect();
        let generator = match (&self.generator, self.generator_form) {
            (Some(((_, name), (_, version))), _) => {
                format!("{{{}:{version},{}:{name}}}", k("version"), k("name"))
            }
            (None, true) => "null".to_owned(),
            (None, false) => "{ }".to_owned(),
        };
        let rowsets: Vec<String> = self
            .rowsets
            .iter()
            .map(|rs| {
                let rows: Vec<String> = rs
                    .rows
                    .iter()
                    .map(|((_, texts), extras)| {
                        let mut cells: Vec<&str> =
                            self.columns.iter().map(|&c| texts[c].as_str()).collect();
                        cells.extend(extras);
                        format!("[{}]", cells.join(sep))
                    })
                    .collect();
                let mut entries = vec![
                    (k("generatedAt"), rs.generated_at.1.clone()),
                    (k("typeID"), rs.type_id.1.clone()),
                    (k("rows"), format!("[{}]", rows.join(sep))),
                ];
                if let Some(region) = &rs.region.1 {
                    entries.push((k("regionID"), region.clone()));
                }
                if rs.unknown_key {
                    entries.push((k("note"), "{\"rows\":[[1]]}".to_owned()));
                }
                object(entries, &rs.order, self.spaced)
            })
            .collect();
        let mut entries = vec![
            (
                k("resultType"),
                k(match self.result_type {
                    ResultType::Orders => "orders",
                    ResultType::History => "history",
                }),
            ),
            (k("uploadKeys"), format!("[{}]", keys.join(sep))),
            (k("generator"), generator),
            (k("columns"), format!("[{}]", columns.join(sep))),
            (k("rowsets"), format!("[{}]", rowsets.join(sep))),
        ];
        for (key, value) in [
            ("version", self.version),
            ("currentTime", self.current_time),
            ("uploader", self.unknown),
        ] {
            if let Some(v) = value {
                entries.push((k(key), v.to_owned()));
            }
        }
        let text = object(entries, &self.order, self.spaced);
        if self.spaced {
            format!("\n {text} \r\n").into_bytes()
        } else {
            text.into_bytes()
        }
    }

    /// The message the contract says this upload means.
    fn expected(&self) -> Message {
        let mut m = Message {
            result_type: self.result_type,
            upload_keys: self
                .upload_keys
                .iter()
                .map(|((name, _), (key, _))| UploadKey {
                    name: name.clone(),
                    key: key.clone(),
                })
                .collect(),
            generator: Some(self.generator.as_ref().map_or_else(
                Generator::engine_default,
                |((name, _), (version, _))| Generator {
                    name: name.clone(),
                    version: version.clone(),
                },
            )),
            ..Message::default()
        };
        let has_system = self.columns.contains(&10);
        for rs in &self.rowsets {
            m.rowsets.push(Rowset {
                generated_at: rs.generated_at.0,
                region_id: rs.region.0,
                type_id: rs.type_id.0,
                rows: rs.rows.len(),
            });
            for ((row, _), _) in &rs.rows {
                match row {
                    Row::Order(o) => {
                        let mut o = *o;
                        if !has_system {
                            o.solar_system_id = None;
                        }
                        m.orders.push(o);
                    }
                    Row::History(h) => m.history.push(*h),
                }
            }
        }
        m
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let x = case.json();
    let transports = transports(&x);
    let t = &transports[case.transport % transports.len()];
    let mut p = pipeline(PipelineConfig::default());
    let out = match run_on(&mut p, &t.upload()) {
        Ok(out) => out,
        Err(r) => {
            return Err(TestCaseError::fail(format!(
                "{}: rejected ({}): {r}\n{}",
                t.name,
                r.code(),
                String::from_utf8_lossy(&x)
            )))
        }
    };
    // 1. The message is the one the upload means.
    let parsed_x = p.message().clone();
    prop_assert_eq!(&parsed_x, &case.expected(), "parse(x)");
    // 2. y is canonical and means the same.
    let y = out.json;
    check_canonical(&value(&y));
    let mut direct = Vec::new();
    encode::write_json(&parsed_x, NOW, None, &mut direct);
    prop_assert_eq!(&direct, &y, "write_json(parse(x)) is the frame's JSON");
    let again = run_on(&mut p, &Upload::body(&y)).map_err(|r| {
        TestCaseError::fail(format!(
            "canonical output rejected ({}): {r}\n{}",
            r.code(),
            String::from_utf8_lossy(&y)
        ))
    })?;
    let parsed_y = p.message().clone();
    prop_assert_eq!(&parsed_y, &parsed_x, "parse(y)");
    // 3. Byte for byte.
    prop_assert_eq!(
        String::from_utf8_lossy(&again.json),
        String::from_utf8_lossy(&y),
        "encode(parse(y)) == y"
    );
    Ok(())
}

proptest! {
    // 256 cases by default (about two seconds in debug); PROPTEST_CASES=100000 for a long run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn canonical_output_is_a_fixed_point(case in a_case()) {
        check(&case)?;
    }
}

/// The model's own calendar agrees with a few known instants.
#[test]
fn the_model_calendar_is_right() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(
        days_from_civil(2011, 10, 22) * 86_400 + 15 * 3600 + 46 * 60,
        1_319_298_360
    );
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(
        days_from_civil(2023, 11, 14) * 86_400 + 22 * 3600 + 13 * 60 + 20,
        NOW
    );
    assert_eq!(days_from_civil(1, 1, 1), -719_162);
}
