//! Limits and timeouts on connections (house style: put a limit on everything): a slowloris
//! head is cut off by `--header-timeout-ms`, a stalled body by `--body-timeout-ms`, an idle
//! keep-alive connection by `--idle-timeout-ms`, and `--connections-max` closes the next
//! connection at once and counts it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// What a cut-off connection may have received: nothing, or a 408 and nothing after it.
fn assert_nothing_or_408(bytes: &[u8], what: &str) {
    if bytes.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "{what}: the connection got {text:?}"
    );
    assert!(text.contains("Connection: close"), "{what}: {text:?}");
}

#[test]
fn a_slowloris_head_is_cut_off_by_the_header_timeout() {
    let mut gw = Gateway::start(1, &["--header-timeout-ms", "300"]);
    let mut c = Client::connect(gw.http);
    c.write(b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Le");
    let (_, bytes) = c.wait_closed(IO_TIMEOUT);
    assert_nothing_or_408(&bytes, "a stalled head");
    assert!(!bytes.is_empty(), "the stalled head is answered 408");
    let m = gw.metrics();
    assert_eq!(m.get("emdr_request_timeouts_total"), 1);
    upload(gw.http, &[], &orders_fixture()).assert_accepted("an upload after the cut-off");
    gw.stop();
}

#[test]
fn a_head_dripped_byte_by_byte_is_cut_off_too() {
    // The header timeout runs from the first byte of the head: bytes trickling in do not
    // extend it. The drip goes on for longer than the test waits for the close, so a
    // per-read timeout would fail this test.
    let mut gw = Gateway::start(1, &["--header-timeout-ms", "300"]);
    let mut c = Client::connect(gw.http);
    let mut writer = c.stream.try_clone().expect("clone the stream");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = Arc::clone(&stop);
    let drip = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writer.write_all(b"POST /upload/ HTTP/1.1\r\nX-Pad: ");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !stop_w.load(Ordering::Relaxed) && Instant::now() < deadline {
            if writer.write_all(b"a").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (_, bytes) = c.wait_closed(IO_TIMEOUT);
    stop.store(true, Ordering::Relaxed);
    drip.join().expect("drip thread");
    assert_nothing_or_408(&bytes, "a dripped head");
    gw.stop();
}

#[test]
fn a_stalled_body_is_cut_off_by_the_body_timeout() {
    let mut gw = Gateway::start(1, &["--body-timeout-ms", "300"]);
    let mut c = Client::connect(gw.http);
    c.write(
        b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Length: 1000\r\n\r\n{\"resultType\"",
    );
    let r = c.read_response();
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(r.text().contains("body"), "{}", r.text());
    assert!(r.closes());
    c.assert_closed();
    // A chunked body that stops mid-chunk, likewise.
    let mut c = Client::connect(gw.http);
    c.write(b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"res");
    assert_eq!(c.read_response().status, 408);
    c.assert_closed();
    let m = gw.metrics();
    assert_eq!(m.get("emdr_request_timeouts_total"), 2);
    assert_eq!(m.get("emdr_uploads_accepted_total"), 0);
    upload(gw.http, &[], &orders_fixture()).assert_accepted("an upload after the cut-offs");
    gw.stop();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let mut gw = Gateway::start(1, &["--idle-timeout-ms", "300"]);
    let mut c = Client::connect(gw.http);
    c.request(&post("/upload/", &[], &orders_fixture()))
        .assert_accepted("an upload before going idle");
    let (how, bytes) = c.wait_closed(IO_TIMEOUT);
    assert_eq!(how, Closed::Eof, "an idle connection is closed cleanly");
    assert!(
        bytes.is_empty(),
        "nothing is sent to an idle connection: {bytes:?}"
    );
    // A connection that never sends a byte is idle too.
    let mut silent = Client::connect(gw.http);
    let (how, bytes) = silent.wait_closed(IO_TIMEOUT);
    assert_eq!((how, bytes.len()), (Closed::Eof, 0));
    assert_eq!(
        gw.metrics().get("emdr_request_timeouts_total"),
        0,
        "closing an idle connection is not a request timeout"
    );
    gw.stop();
}

#[test]
fn connections_over_the_maximum_are_closed_at_once_and_counted() {
    let mut gw = Gateway::start(1, &["--connections-max", "2"]);
    let mut a = Client::connect(gw.http);
    let mut b = Client::connect(gw.http);
    // A request on each: both are certainly being served (counted open).
    assert_eq!(a.request(&get("/health_check/")).status, 200);
    assert_eq!(b.request(&get("/health_check/")).status, 200);
    let mut third = Client::connect(gw.http);
    let _ = third.try_write(&get("/health_check/"));
    let (_, bytes) = third.wait_closed(IO_TIMEOUT);
    assert!(
        bytes.is_empty(),
        "the third connection is closed unserved: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    // Ask an open connection: a new one would be refused too.
    let r = a.request(&get("/metrics"));
    assert_eq!(r.status, 200);
    let m = Metrics::parse(&r.text());
    assert_eq!(m.get("emdr_connections_refused_total"), 1);
    assert_eq!(m.get("emdr_connections_open"), 2);
    // The open ones still work.
    b.request(&post("/upload/", &[], &orders_fixture()))
        .assert_accepted("an upload on an open connection at the maximum");
    // Once one closes, a new connection is served again (its slot frees when the server has
    // seen the close, so retry, bounded).
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::connect(gw.http);
        let _ = c.try_write(&get("/health_check/"));
        match c.try_read_response() {
            Ok(Some(r)) => {
                assert_eq!(r.status, 200);
                break;
            }
            Ok(None) | Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "no connection served 10 s after one of the two closed"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    drop(b);
    gw.stop();
}
