//! The two spec fixtures (`../shared/fixtures`), sent every way an uploader sends a message
//! (contract §2), must come out as the canonical message of contract §4, checked field by
//! field on the decompressed frame. A missing fixture fails these tests; it never skips them.
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test (see clippy.toml)

mod common;

use std::net::IpAddr;

use common::*;
use engine::{PipelineConfig, ResultType, Upload};
use sha1::{Digest, Sha1};
use sonic_rs::{JsonValueTrait, Value};

/// Lowercase hex SHA-1 of `salt ++ ip text`, computed here independently of `engine::tag`.
fn sha1hex(salt: &[u8], ip: &str) -> String {
    let mut h = Sha1::new();
    h.update(salt);
    h.update(ip.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn row(v: &Value, rowset: usize, row: usize) -> Vec<Value> {
    let rs = &array(field(v, "rowsets"))[rowset];
    array(&array(field(rs, "rows"))[row]).to_vec()
}

fn check_orders(v: &Value) {
    check_canonical(v);
    assert_eq!(str_of(v, "resultType"), "orders");
    let keys: Vec<(&str, &str)> = array(field(v, "uploadKeys"))
        .iter()
        .map(|k| (str_of(k, "name"), str_of(k, "key")))
        .collect();
    assert_eq!(keys, [("emk", "abc"), ("ec", "def")]);
    let gen = field(v, "generator");
    assert_eq!(
        (str_of(gen, "name"), str_of(gen, "version")),
        ("Yapeal", "11.335.1737")
    );
    let rowsets = array(field(v, "rowsets"));
    assert_eq!(rowsets.len(), 2);
    assert_eq!(
        str_of(&rowsets[0], "generatedAt"),
        "2011-10-22T15:43:00+00:00"
    );
    assert_eq!(field(&rowsets[0], "regionID").as_i64(), Some(10000065));
    assert_eq!(field(&rowsets[0], "typeID").as_i64(), Some(11134));
    assert_eq!(array(field(&rowsets[0], "rows")).len(), 2);

    let r = row(v, 0, 0);
    assert_eq!(r[0].as_f64(), Some(8999.0));
    let ints: Vec<Option<i64>> = [1, 2, 3, 4, 5].iter().map(|&i| r[i].as_i64()).collect();
    assert_eq!(
        ints,
        [Some(1), Some(32767), Some(2363806077), Some(1), Some(1)]
    );
    assert_eq!(r[6].as_bool(), Some(false));
    assert_eq!(r[7].as_str(), Some("2011-12-03T08:10:59+00:00"));
    assert_eq!(r[8].as_i64(), Some(90));
    assert_eq!(r[9].as_i64(), Some(60008692));
    assert_eq!(r[10].as_i64(), Some(30005038));

    // Second row: input order kept, solarSystemID null kept null.
    let r = row(v, 0, 1);
    assert_eq!(r[0].as_f64(), Some(11499.99));
    assert_eq!(r[1].as_i64(), Some(10));
    assert_eq!(r[3].as_i64(), Some(2363915657));
    assert_eq!(r[4].as_i64(), Some(10));
    assert_eq!(r[7].as_str(), Some("2011-12-03T10:53:26+00:00"));
    assert_eq!(r[9].as_i64(), Some(60006970));
    assert!(r[10].is_null());

    // The empty rowset is kept, with its own region and type.
    assert_eq!(
        str_of(&rowsets[1], "generatedAt"),
        "2011-10-22T15:43:00+00:00"
    );
    assert_eq!(field(&rowsets[1], "regionID").as_i64(), Some(10000067));
    assert_eq!(field(&rowsets[1], "typeID").as_i64(), Some(11136));
    assert!(array(field(&rowsets[1], "rows")).is_empty());
}

fn check_history(v: &Value) {
    check_canonical(v);
    assert_eq!(str_of(v, "resultType"), "history");
    assert!(array(field(v, "uploadKeys")).is_empty());
    let gen = field(v, "generator");
    assert_eq!(
        (str_of(gen, "name"), str_of(gen, "version")),
        ("EMDU", "git")
    );
    let rowsets = array(field(v, "rowsets"));
    assert_eq!(rowsets.len(), 1);
    assert_eq!(
        str_of(&rowsets[0], "generatedAt"),
        "2011-10-22T15:42:00+00:00"
    );
    assert_eq!(field(&rowsets[0], "regionID").as_i64(), Some(10000065));
    assert_eq!(field(&rowsets[0], "typeID").as_i64(), Some(11134));
    let want: [(&str, i64, i64, f64, f64, f64); 2] = [
        (
            "2011-12-03T00:00:00+00:00",
            40,
            40,
            1999.0,
            499999.99,
            35223.5,
        ),
        (
            "2011-12-02T00:00:00+00:00",
            83,
            252,
            9999.0,
            11550.0,
            11550.0,
        ),
    ];
    assert_eq!(array(field(&rowsets[0], "rows")).len(), want.len());
    for (i, w) in want.iter().enumerate() {
        let r = row(v, 0, i);
        assert_eq!(r[0].as_str(), Some(w.0), "row {i}");
        assert_eq!((r[1].as_i64(), r[2].as_i64()), (Some(w.1), Some(w.2)));
        assert_eq!(
            (r[3].as_f64(), r[4].as_f64(), r[5].as_f64()),
            (Some(w.3), Some(w.4), Some(w.5))
        );
    }
}

#[test]
fn fixtures_are_present() {
    for name in [ORDERS_FIXTURE, HISTORY_FIXTURE] {
        let bytes = fixture(name);
        assert!(
            bytes.trim_ascii_start().starts_with(b"{"),
            "{name} is not a JSON object"
        );
    }
}

#[test]
fn orders_fixture_every_transport() {
    let json = fixture(ORDERS_FIXTURE);
    let mut reference: Option<Vec<u8>> = None;
    for t in transports(&json) {
        let out = run(&t.upload()).unwrap_or_else(|r| panic!("{}: rejected: {r}", t.name));
        assert_eq!(out.accepted.result_type, ResultType::Orders, "{}", t.name);
        assert_eq!(
            (out.accepted.rowsets, out.accepted.rows),
            (2, 2),
            "{}",
            t.name
        );
        check_orders(&out.value());
        // Every transport yields the very same canonical bytes.
        match &reference {
            None => reference = Some(out.json),
            Some(r) => assert_eq!(&out.json, r, "{}", t.name),
        }
    }
}

#[test]
fn history_fixture_every_transport() {
    let json = fixture(HISTORY_FIXTURE);
    let mut reference: Option<Vec<u8>> = None;
    for t in transports(&json) {
        let out = run(&t.upload()).unwrap_or_else(|r| panic!("{}: rejected: {r}", t.name));
        assert_eq!(out.accepted.result_type, ResultType::History, "{}", t.name);
        assert_eq!(
            (out.accepted.rowsets, out.accepted.rows),
            (1, 2),
            "{}",
            t.name
        );
        check_history(&out.value());
        match &reference {
            None => reference = Some(out.json),
            Some(r) => assert_eq!(&out.json, r, "{}", t.name),
        }
    }
}

/// One pipeline reused across fixtures and transports gives what fresh pipelines give: no
/// state leaks from one upload into the next, accepted or rejected.
#[test]
fn a_reused_pipeline_leaks_nothing_between_uploads() {
    let orders = fixture(ORDERS_FIXTURE);
    let history = fixture(HISTORY_FIXTURE);
    let mut p = pipeline(PipelineConfig::default());
    for _ in 0..2 {
        for json in [&orders, &history] {
            for t in transports(json) {
                let fresh = run(&t.upload()).unwrap();
                let reused = run_on(&mut p, &t.upload()).unwrap();
                assert_eq!(reused.frame, fresh.frame, "{}", t.name);
                // A rejection in between does not disturb the next upload.
                assert!(run_on(&mut p, &Upload::body(b"{\"resultType\":1}")).is_err());
            }
        }
    }
}

#[test]
fn uploader_tag_is_appended_when_salted() {
    let json = fixture(ORDERS_FIXTURE);
    let salt = b"pepper".to_vec();
    let config = PipelineConfig {
        ip_key_salt: Some(salt.clone()),
        ..PipelineConfig::default()
    };
    for ip in ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.1"] {
        let addr: IpAddr = ip.parse().unwrap();
        for t in transports(&json) {
            let mut up = t.upload();
            up.client_ip = Some(addr);
            let out = run_with(config.clone(), &up).unwrap();
            let v = out.value();
            check_canonical(&v);
            let keys: Vec<(String, String)> = array(field(&v, "uploadKeys"))
                .iter()
                .map(|k| (str_of(k, "name").into(), str_of(k, "key").into()))
                .collect();
            let tag = sha1hex(&salt, &addr.to_string());
            assert_eq!(tag.len(), 40);
            assert_eq!(
                keys,
                [
                    ("emk".into(), "abc".into()),
                    ("ec".into(), "def".into()),
                    ("EMDR".into(), tag)
                ],
                "{ip} {}",
                t.name
            );
        }
    }
    // A known vector: printf 'salt127.0.0.1' | sha1sum
    assert_eq!(
        sha1hex(b"salt", "127.0.0.1"),
        "6a0149e8527fbd0cf24cd04e900f1381e87882b2"
    );
}

#[test]
fn no_tag_without_salt_or_without_ip() {
    let json = fixture(ORDERS_FIXTURE);
    let plain = run_body(&json).unwrap();
    // An IP but no salt.
    let mut up = Upload::body(&json);
    up.client_ip = Some("203.0.113.7".parse().unwrap());
    assert_eq!(run(&up).unwrap().json, plain.json);
    // A salt but no IP.
    let config = PipelineConfig {
        ip_key_salt: Some(b"pepper".to_vec()),
        ..PipelineConfig::default()
    };
    assert_eq!(
        run_with(config, &Upload::body(&json)).unwrap().json,
        plain.json
    );
    // An empty salt is still a salt: the tag is SHA-1 of the IP alone.
    let config = PipelineConfig {
        ip_key_salt: Some(Vec::new()),
        ..PipelineConfig::default()
    };
    let out = run_with(config, &up).unwrap();
    let v = out.value();
    let last = array(field(&v, "uploadKeys")).last().unwrap().clone();
    assert_eq!(str_of(&last, "key"), sha1hex(b"", "203.0.113.7"));
}

/// Every configurable zlib level publishes a frame consumers can read, with the same JSON.
#[test]
fn every_zlib_level_gives_a_valid_frame() {
    let json = fixture(ORDERS_FIXTURE);
    let reference = run_body(&json).unwrap().json;
    for level in 1..=12 {
        let config = PipelineConfig {
            zlib_level: level,
            ..PipelineConfig::default()
        };
        let out = run_with(config, &Upload::body(&json)).unwrap();
        assert_eq!(out.json, reference, "level {level}");
    }
    for level in [0, 13] {
        let config = PipelineConfig {
            zlib_level: level,
            ..PipelineConfig::default()
        };
        assert!(engine::Pipeline::new(config).is_err(), "level {level}");
    }
}

/// The canonical output is itself an upload that every transport accepts, and it comes back
/// byte for byte: the published form is a fixed point.
#[test]
fn fixture_output_is_a_fixed_point() {
    for name in [ORDERS_FIXTURE, HISTORY_FIXTURE] {
        let first = run_body(&fixture(name)).unwrap();
        for t in transports(&first.json) {
            let again = run(&t.upload()).unwrap();
            assert_eq!(again.json, first.json, "{name}: {}", t.name);
        }
        // The published frame itself is a zlib body, which the gateway sniffs.
        assert_eq!(run_body(&first.frame).unwrap().json, first.json, "{name}");
    }
}
