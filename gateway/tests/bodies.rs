//! Every body form of wire contract §2 reaches the feed, canonical (§4).
//!
//! Each test starts its own gateway, warms a SUB socket up, POSTs one upload in the form a
//! real uploader uses (raw JSON, `data=` form, gzip as EVEMon sends it, zlib under
//! `deflate` as EMDU sends it, raw deflate as .NET sends it, chunked, multipart, ...) and
//! checks the answer is exactly `200 1` and that exactly one single-frame zlib message
//! arrives whose JSON is canonical and carries the uploaded rows.

mod common;

use std::time::Duration;

use common::*;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// POST `raw` (a whole request) to a fresh gateway; assert `200 1`, then one canonical
/// message of `kind` with `rows` rows and nothing else on the feed.
fn assert_reaches_feed(what: &str, raw: &[u8], kind: &str, rows: usize) -> Value {
    let mut gw = Gateway::start(1, &[]);
    let sub = gw.ready_sub();
    let mut c = Client::connect(gw.http);
    c.request(raw).assert_accepted(what);
    let msg = sub.recv();
    assert_eq!(
        check_canonical(&msg),
        (kind.to_string(), rows),
        "{what}: {msg}"
    );
    assert!(
        sub.try_recv(Duration::from_millis(200)).is_none(),
        "{what}: one upload must publish one message"
    );
    drop(c);
    gw.stop();
    msg
}

/// The uploader keys of the orders fixture, which every orders message must pass through.
fn assert_fixture_orders(msg: &Value) {
    assert_eq!(
        upload_keys(msg),
        vec![
            ("emk".to_string(), "abc".to_string()),
            ("ec".to_string(), "def".to_string())
        ]
    );
    let rowsets = msg
        .get("rowsets")
        .and_then(|r| r.as_array())
        .expect("rowsets");
    assert_eq!(rowsets.len(), 2, "the empty rowset is kept");
    let first = rowsets.first().expect("rowset 0");
    assert_eq!(
        first.get("regionID").and_then(|v| v.as_i64()),
        Some(10000065)
    );
    assert_eq!(first.get("typeID").and_then(|v| v.as_i64()), Some(11134));
    let row = first
        .get("rows")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.as_array())
        .expect("row 0");
    assert_eq!(row.get(3).and_then(|v| v.as_u64()), Some(2363806077));
    assert_eq!(row.get(6).and_then(|v| v.as_bool()), Some(false));
    assert_eq!(
        row.get(7).and_then(|v| v.as_str()),
        Some("2011-12-03T08:10:59+00:00")
    );
    let second_row_system = first
        .get("rows")
        .and_then(|r| r.as_array())
        .and_then(|r| r.get(1))
        .and_then(|r| r.as_array())
        .and_then(|r| r.get(10))
        .expect("row 1 solarSystemID");
    assert!(second_row_system.is_null());
    let empty = rowsets.get(1).expect("rowset 1");
    assert_eq!(
        empty
            .get("rows")
            .and_then(|r| r.as_array())
            .map(|r| r.len()),
        Some(0)
    );
}

#[test]
fn raw_json() {
    let body = orders_fixture();
    let raw = post("/upload/", &[("Content-Type", "application/json")], &body);
    let msg = assert_reaches_feed("raw JSON", &raw, "orders", 2);
    assert_fixture_orders(&msg);
    let generator = msg.get("generator").expect("generator");
    assert_eq!(
        generator.get("name").and_then(|v| v.as_str()),
        Some("Yapeal")
    );
}

#[test]
fn raw_json_history_on_the_unified_path_without_slash() {
    let raw = post("/upload/unified", &[], &history_fixture());
    let msg = assert_reaches_feed("history JSON", &raw, "history", 2);
    let row = msg
        .get("rowsets")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.get("rows"))
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.as_array())
        .expect("row 0");
    assert_eq!(
        row.first().and_then(|v| v.as_str()),
        Some("2011-12-03T00:00:00+00:00")
    );
    assert_eq!(row.get(4).and_then(|v| v.as_f64()), Some(499999.99));
}

#[test]
fn urlencoded_form() {
    let body = format!("data={}", urlencode(&orders_fixture()));
    let raw = post(
        "/upload",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    let msg = assert_reaches_feed("data= form", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn gzip_evemon_style() {
    let body = gzip(&orders_fixture());
    let raw = post(
        "/upload/",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &body,
    );
    let msg = assert_reaches_feed("gzip", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn zlib_under_deflate_emdu_style() {
    let body = zlib(&orders_fixture());
    let raw = post("/upload/", &[("Content-Encoding", "deflate")], &body);
    let msg = assert_reaches_feed("zlib as deflate", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn raw_deflate_dotnet_style() {
    let body = raw_deflate(&orders_fixture());
    let raw = post("/upload/", &[("Content-Encoding", "Deflate")], &body);
    let msg = assert_reaches_feed("raw deflate", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn form_inside_deflate() {
    let form = format!("data={}", urlencode(&orders_fixture()));
    for (what, body) in [
        ("form in zlib", zlib(form.as_bytes())),
        ("form in raw deflate", raw_deflate(form.as_bytes())),
    ] {
        let raw = post(
            "/upload/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Encoding", "deflate"),
            ],
            &body,
        );
        let msg = assert_reaches_feed(what, &raw, "orders", 2);
        assert_fixture_orders(&msg);
    }
}

#[test]
fn gzip_without_content_encoding_is_detected_by_its_magic() {
    let body = gzip(&history_fixture());
    let raw = post("/upload/", &[("Content-Type", "application/json")], &body);
    assert_reaches_feed("gzip, no Content-Encoding", &raw, "history", 2);
}

#[test]
fn chunked_transfer_encoding() {
    let body = orders_fixture();
    let mut raw =
        b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.chunks(97) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let msg = assert_reaches_feed("chunked", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn chunked_gzip() {
    let body = gzip(&orders_fixture());
    let mut raw = b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Encoding: gzip\r\n\
        Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for chunk in body.chunks(50) {
        raw.extend_from_slice(format!("{:X};ext=1\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\nX-Trailer: ignored\r\n\r\n");
    let msg = assert_reaches_feed("chunked gzip", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn multipart_form_data() {
    let boundary = "----emdrTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"m.json\"\r\n\
             Content-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&orders_fixture());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let raw = post("/upload/", &[("Content-Type", &ct)], &body);
    let msg = assert_reaches_feed("multipart", &raw, "orders", 2);
    assert_fixture_orders(&msg);
}

#[test]
fn json_containing_an_equals_sign_is_not_taken_for_a_form() {
    // §2.2 Decision: a body whose first non-blank byte is `{` is JSON, whatever it contains.
    let body = orders_message(&[("name=x", "a=b&data=c")], 1, 3, 1);
    let raw = post(
        "/upload/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("\n  {body}").as_bytes(),
    );
    let msg = assert_reaches_feed("JSON with '='", &raw, "orders", 3);
    assert_eq!(
        upload_keys(&msg),
        vec![("name=x".to_string(), "a=b&data=c".to_string())]
    );
}

#[test]
fn non_canonical_input_is_published_canonical() {
    // Columns in another order (a superset is not needed), timestamps with Z, +0000, a
    // space, fractions and a +02:00 offset, integers as strings, regionID 0, generator null.
    let body = br#"{"resultType":"orders","version":"0.2","uploadKeys":[],"generator":null,
        "currentTime":"2011-10-22 15:46:00Z",
        "columns":["solarSystemID","stationID","duration","issueDate","bid","minVolume",
                   "volEntered","orderID","range","volRemaining","price"],
        "rowsets":[{"generatedAt":"2011-10-22T17:43:00.123+02:00","regionID":0,"typeID":"34",
          "rows":[[0,"60003760",90,"2011-12-03 08:10:59.5+0000",true,1,"100",77,-1,5.0,4.5],
                  [30000142,60003760,"90","2011-12-03T08:10:59Z",false,1,100,78,32767,5,"5.5"]]}]}"#;
    let raw = post("/upload/", &[], body);
    let msg = assert_reaches_feed("non-canonical", &raw, "orders", 2);
    let rowset = msg
        .get("rowsets")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .expect("rowset");
    assert_eq!(
        rowset.get("generatedAt").and_then(|v| v.as_str()),
        Some("2011-10-22T15:43:00+00:00"),
        "converted to UTC, fraction dropped"
    );
    assert!(rowset.get("regionID").is_some_and(|v| v.is_null()));
    assert_eq!(rowset.get("typeID").and_then(|v| v.as_i64()), Some(34));
    let rows = rowset.get("rows").and_then(|r| r.as_array()).expect("rows");
    let row0 = rows.first().and_then(|r| r.as_array()).expect("row 0");
    assert_eq!(row0.first().and_then(|v| v.as_f64()), Some(4.5), "price");
    assert_eq!(
        row0.get(1).and_then(|v| v.as_i64()),
        Some(5),
        "volRemaining"
    );
    assert_eq!(row0.get(2).and_then(|v| v.as_i64()), Some(-1), "range");
    assert_eq!(row0.get(3).and_then(|v| v.as_i64()), Some(77), "orderID");
    assert_eq!(
        row0.get(4).and_then(|v| v.as_i64()),
        Some(100),
        "volEntered"
    );
    assert_eq!(row0.get(6).and_then(|v| v.as_bool()), Some(true), "bid");
    assert_eq!(
        row0.get(7).and_then(|v| v.as_str()),
        Some("2011-12-03T08:10:59+00:00")
    );
    assert_eq!(row0.get(9).and_then(|v| v.as_i64()), Some(60003760));
    assert!(
        row0.get(10).is_some_and(|v| v.is_null()),
        "solarSystemID 0 is null"
    );
    let row1 = rows.get(1).and_then(|r| r.as_array()).expect("row 1");
    assert_eq!(row1.first().and_then(|v| v.as_f64()), Some(5.5));
    assert_eq!(row1.get(10).and_then(|v| v.as_i64()), Some(30000142));
    let generator = msg.get("generator").expect("generator");
    assert_eq!(
        generator.get("name").and_then(|v| v.as_str()),
        Some("EMDR"),
        "a null generator becomes EMDR's"
    );
    assert_ne!(
        msg.get("currentTime").and_then(|v| v.as_str()),
        Some("2011-10-22T15:46:00+00:00"),
        "currentTime is the gateway's, not the uploader's"
    );
}

#[test]
fn zlib_or_raw_deflate_with_trailing_bytes_is_refused() {
    let mut gw = Gateway::start(1, &[]);
    let json = orders_fixture();
    for (what, mut body) in [("zlib", zlib(&json)), ("raw deflate", raw_deflate(&json))] {
        body.extend_from_slice(b"junk");
        let r = upload(gw.http, &[("Content-Encoding", "deflate")], &body);
        r.assert_rejected(400, "not valid", &format!("{what} followed by junk"));
    }
    // Gzip already is refused, for comparison.
    let mut body = gzip(&json);
    body.extend_from_slice(b"junk");
    let r = upload(gw.http, &[("Content-Encoding", "gzip")], &body);
    r.assert_rejected(400, "not valid gzip", "gzip followed by junk");
    gw.stop();
}

#[test]
fn plain_json_under_a_lying_content_encoding_is_taken_as_plain() {
    let mut gw = Gateway::start(1, &[]);
    let compact = orders_message(&[], 1, 2, 1);
    for enc in ["gzip", "deflate"] {
        upload(gw.http, &[("Content-Encoding", enc)], compact.as_bytes())
            .assert_accepted(&format!("compact JSON under {enc}"));
        upload(gw.http, &[("Content-Encoding", enc)], &orders_fixture())
            .assert_accepted(&format!("the pretty-printed fixture under {enc}"));
    }
    gw.stop();
}
