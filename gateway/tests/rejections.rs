//! Every rejection of wire contract §2 with its status and a reason a person can act on, and
//! the gateway still serving afterwards: on the same connection when the answer keeps it open,
//! on a new one when the answer closes it. `/metrics` counts each rejection under its reason.

mod common;

use common::*;

/// The orders fixture with `from` replaced by `to` (exactly once).
fn fixture_with(from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(orders_fixture()).expect("UTF-8 fixture");
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} once in the fixture"
    );
    text.replacen(from, to, 1).into_bytes()
}

/// After a rejection on `c`: an upload succeeds, on `c` if the answer kept it open, else on a
/// new connection (and `c` must then be closed). Returns the connection to go on with.
fn still_serving(gw: &Gateway, mut c: Client, answer: &Response, what: &str) -> Client {
    let good = post("/upload/", &[], &orders_fixture());
    if answer.closes() {
        c.assert_closed();
        c = Client::connect(gw.http);
    }
    c.request(&good)
        .assert_accepted(&format!("an upload after {what}"));
    c
}

struct Case {
    what: &'static str,
    request: Vec<u8>,
    status: u16,
    /// What the one-line reason must mention (the field, or the problem).
    needle: &'static str,
    /// The `emdr_uploads_rejected_total` reason it is counted under.
    reason: &'static str,
}

fn upload_cases() -> Vec<Case> {
    let form = "application/x-www-form-urlencoded";
    vec![
        Case {
            what: "malformed JSON",
            request: post("/upload/", &[], br#"{"resultType": orders}"#),
            status: 400,
            needle: "malformed JSON at line 1",
            reason: "json_syntax",
        },
        Case {
            what: "truncated JSON",
            request: post("/upload/", &[], br#"{"resultType":"orders","#),
            status: 400,
            needle: "JSON",
            reason: "json_truncated",
        },
        Case {
            what: "a missing key",
            request: post(
                "/upload/",
                &[],
                &fixture_with(r#""uploadKeys": ["#, r#""uploadKeysX": ["#),
            ),
            status: 400,
            needle: "\"uploadKeys\"",
            reason: "missing_key",
        },
        Case {
            what: "a timestamp without an offset",
            request: post(
                "/upload/",
                &[],
                &fixture_with(r#""2011-12-03T08:10:59+00:00""#, r#""2011-12-03T08:10:59""#),
            ),
            status: 400,
            needle: "issueDate",
            reason: "bad_timestamp",
        },
        Case {
            what: "a bad generatedAt",
            request: post(
                "/upload/",
                &[],
                &fixture_with(
                    r#""generatedAt": "2011-10-22T15:43:00+00:00",
   "regionID": 10000065"#,
                    r#""generatedAt": "yesterday",
   "regionID": 10000065"#,
                ),
            ),
            status: 400,
            needle: "rowsets[0].generatedAt",
            reason: "bad_timestamp",
        },
        Case {
            what: "bid as a string",
            request: post(
                "/upload/",
                &[],
                &fixture_with(
                    "1,\n     false,\n     \"2011-12-03T08:10:59",
                    "1,\n     \"false\",\n     \"2011-12-03T08:10:59",
                ),
            ),
            status: 400,
            needle: "\"bid\"",
            reason: "wrong_type",
        },
        Case {
            what: "bid as 0",
            request: post(
                "/upload/",
                &[],
                &fixture_with(
                    "1,\n     false,\n     \"2011-12-03T10:53:26",
                    "1,\n     0,\n     \"2011-12-03T10:53:26",
                ),
            ),
            status: 400,
            needle: "rowsets[0].rows[1] column \"bid\"",
            reason: "wrong_type",
        },
        Case {
            what: "an unknown column",
            request: post(
                "/upload/",
                &[],
                &fixture_with(r#""minVolume","#, r#""minVolumeX","#),
            ),
            status: 400,
            needle: "minVolumeX",
            reason: "unknown_column",
        },
        Case {
            what: "a form without data",
            request: post("/upload/", &[("Content-Type", form)], b"foo=bar&baz=%7B%7D"),
            status: 400,
            needle: "\"data\"",
            reason: "form_missing_data",
        },
        Case {
            what: "gzip that is not gzip",
            request: post(
                "/upload/",
                &[("Content-Encoding", "gzip")],
                &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            ),
            status: 400,
            needle: "gzip",
            reason: "undecodable",
        },
        Case {
            what: "an empty body",
            request: post("/upload/", &[], b""),
            status: 400,
            needle: "empty body",
            reason: "empty_body",
        },
        Case {
            what: "Content-Encoding: br",
            request: post("/upload/", &[("Content-Encoding", "br")], &orders_fixture()),
            status: 415,
            needle: "Content-Encoding",
            reason: "unsupported_encoding",
        },
    ]
}

#[test]
fn each_rejection_has_its_status_and_reason_and_the_connection_goes_on() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);
    let cases = upload_cases();
    for case in &cases {
        let r = c.request(&case.request);
        r.assert_rejected(case.status, case.needle, case.what);
        assert!(
            !r.closes(),
            "{}: a rejected upload keeps the connection",
            case.what
        );
        c = still_serving(&gw, c, &r, case.what);
    }
    let m = gw.metrics();
    for case in &cases {
        let want = cases.iter().filter(|c| c.reason == case.reason).count() as u64;
        assert_eq!(
            m.rejected(case.reason),
            want,
            "emdr_uploads_rejected_total{{reason=\"{}\"}}",
            case.reason
        );
    }
    let total: u64 =
        m.0.iter()
            .filter(|(k, _)| k.starts_with("emdr_uploads_rejected_total{"))
            .map(|(_, v)| *v)
            .sum();
    assert_eq!(total, cases.len() as u64, "no rejection counted twice");
    assert_eq!(m.get("emdr_uploads_accepted_total"), cases.len() as u64);
    drop(c);
    gw.stop();
}

#[test]
fn a_declared_content_length_over_the_limit_is_413_before_the_body_is_sent() {
    let mut gw = Gateway::start(1, &["--body-bytes-max", "4096"]);
    let mut c = Client::connect(gw.http);
    // Only the head: the answer must come without the body.
    c.write(b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Encoding: gzip\r\nContent-Length: 4097\r\n\r\n");
    let r = c.read_response();
    r.assert_rejected(413, "4096", "Content-Length over --body-bytes-max");
    let r = still_serving(&gw, c, &r, "a 413 on Content-Length");
    drop(r);
    // Exactly at the limit is accepted.
    let mut body = orders_fixture();
    body.resize(4096, b' ');
    upload(gw.http, &[], &body).assert_accepted("a body of exactly --body-bytes-max");
    gw.stop();
}

#[test]
fn a_chunked_body_over_the_limit_is_413() {
    let mut gw = Gateway::start(1, &["--body-bytes-max", "4096"]);
    let mut c = Client::connect(gw.http);
    c.write(b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write(b"800\r\n");
    c.write(&[b' '; 0x800]);
    c.write(b"\r\n801\r\n");
    let r = c.read_response();
    r.assert_rejected(413, "4096", "chunked body over --body-bytes-max");
    still_serving(&gw, c, &r, "a 413 on a chunk size");
    gw.stop();
}

#[test]
fn a_body_over_the_limit_is_counted_as_body_too_large() {
    let mut gw = Gateway::start(1, &["--body-bytes-max", "4096"]);
    let mut c = Client::connect(gw.http);
    c.write(b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Length: 5000\r\n\r\n");
    c.read_response()
        .assert_rejected(413, "4096", "Content-Length over the limit");
    assert_eq!(gw.metrics().rejected("body_too_large"), 1);
    gw.stop();
}

#[test]
fn a_decompression_bomb_is_413_and_counted() {
    let mut gw = Gateway::start(1, &["--inflated-bytes-max", "100000"]);
    // 4 MB of JSON white space and then a valid message: tiny when gzipped.
    let mut json = vec![b' '; 4 << 20];
    json.extend_from_slice(&orders_fixture());
    let mut c = Client::connect(gw.http);
    for (what, body, enc) in [
        ("gzip bomb", gzip(&json), "gzip"),
        ("zlib bomb", zlib(&json), "deflate"),
        ("raw deflate bomb", raw_deflate(&json), "deflate"),
    ] {
        assert!(body.len() < 100_000, "{what} is small as sent");
        let r = c.request(&post("/upload/", &[("Content-Encoding", enc)], &body));
        r.assert_rejected(413, "100000", what);
        c = still_serving(&gw, c, &r, what);
    }
    // Uncompressed and over the inflated limit is refused too.
    let r = c.request(&post("/upload/", &[], &json[(4 << 20) - 200_000..]));
    r.assert_rejected(413, "100000", "plain body over --inflated-bytes-max");
    let c = still_serving(&gw, c, &r, "a plain body over the inflated limit");
    let m = gw.metrics();
    assert_eq!(m.rejected("inflated_too_large"), 4);
    assert_eq!(m.get("emdr_uploads_accepted_total"), 4);
    drop(c);
    gw.stop();
}

#[test]
fn routes_404_405_and_health_check() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);

    let r = c.request(&get("/health_check/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("emdr {}", env!("CARGO_PKG_VERSION")));
    let r = c.request(&get("/health_check"));
    assert_eq!(r.status, 200, "without the slash too");

    for path in ["/", "/nope", "/upload/x", "/uploads/"] {
        let r = c.request(&get(path));
        assert_eq!(r.status, 404, "GET {path}: {}", r.text());
        assert!(!r.text().is_empty(), "a 404 says why");
        c = still_serving(&gw, c, &r, "a 404");
    }
    let r = c.request(&post("/nope", &[], &orders_fixture()));
    assert_eq!(r.status, 404, "POST to an unknown path");
    c = still_serving(&gw, c, &r, "a 404 with a body");

    for path in ["/upload/", "/upload", "/upload/unified/"] {
        let r = c.request(&get(path));
        assert_eq!(r.status, 405, "GET {path}");
        assert_eq!(r.header("allow"), Some("POST"), "GET {path}: Allow");
        c = still_serving(&gw, c, &r, "a 405");
    }
    let r = c.request(&post("/health_check/", &[], b"{}"));
    assert_eq!(r.status, 405, "POST /health_check/");
    let allow = r.header("allow").expect("an Allow header");
    assert!(allow.contains("GET"), "Allow: {allow}");
    c = still_serving(&gw, c, &r, "a 405 with a body");
    let r = c.request(b"DELETE /upload/ HTTP/1.1\r\nHost: emdr.test\r\n\r\n");
    assert_eq!(r.status, 405, "DELETE /upload/");
    assert_eq!(r.header("allow"), Some("POST"));
    let c = still_serving(&gw, c, &r, "a 405 for DELETE");
    drop(c);
    let m = gw.metrics();
    assert_eq!(
        m.get("emdr_http_errors_total"),
        10,
        "every 404 and 405 is counted"
    );
    gw.stop();
}

#[test]
fn malformed_http_is_refused_and_the_server_goes_on() {
    // A small head limit, so that the over-long head is read whole before the answer (a
    // server closing with unread bytes would reset the connection and lose its answer).
    let mut gw = Gateway::start(1, &["--header-bytes-max", "1024"]);
    let body = orders_fixture();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "Content-Length with Transfer-Encoding",
            [
                format!(
                    "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
                &body,
            ]
            .concat(),
            400,
        ),
        (
            "a transfer coding other than chunked",
            b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                .to_vec(),
            501,
        ),
        (
            "HTTP/2.0 in the request line",
            b"GET /health_check/ HTTP/2.0\r\n\r\n".to_vec(),
            505,
        ),
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a bad chunk size",
            b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
                .to_vec(),
            400,
        ),
        (
            "a head over --header-bytes-max",
            format!(
                "GET /health_check/ HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
                "a".repeat(2000)
            )
            .into_bytes(),
            431,
        ),
    ];
    for (what, raw, status) in cases {
        let mut c = Client::connect(gw.http);
        let _ = c.try_write(&raw);
        let r = c.read_response();
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(
            r.closes(),
            "{what}: the framing is lost, so the connection closes"
        );
        still_serving(&gw, c, &r, what);
    }
    gw.stop();
}
