//! Start-up and shutdown: SIGTERM while idle, with an idle keep-alive connection, and with an
//! upload in flight (which is answered and published before the exit); the ports are closed
//! afterwards.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Whether a connection to `addr` is refused (nothing listens there any more).
fn refused(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "connect: {e}");
            true
        }
    }
}

/// Wait (bounded) until the gateway has stopped accepting: it has seen the signal.
fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !refused(addr) {
        assert!(
            Instant::now() < deadline,
            "the listener stayed open 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The port of a `tcp://host:port` endpoint, as a loopback address.
fn endpoint_addr(ep: &str) -> SocketAddr {
    ep.trim_start_matches("tcp://").parse().expect("host:port")
}

/// After the exit: connections to the HTTP port are refused. For a short while after the
/// process is reaped the kernel may still complete handshakes on the port (glommio's listener
/// is released by the asynchronous io_uring teardown, not by the process); such a connection
/// must never be served, and the port must end up refusing within the bound.
fn assert_http_port_closed(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "connect: {e}");
                return;
            }
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .expect("timeout");
                let _ = s.write_all(&get("/health_check/"));
                let mut buf = [0u8; 256];
                if let Ok(n @ 1..) = s.read(&mut buf) {
                    panic!(
                        "a connection after the exit was served: {:?}",
                        String::from_utf8_lossy(&buf[..n])
                    );
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the HTTP port still accepts connections 10 s after the exit"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigterm_while_idle_exits_zero_and_closes_the_ports() {
    let mut gw = Gateway::start(2, &[]);
    assert_eq!(
        Client::connect(gw.http)
            .request(&get("/health_check/"))
            .status,
        200
    );
    let err = gw.stop();
    assert!(
        err.contains("emdr gateway stopped: 0 uploads accepted (0 orders), 0 rejected, 0 frames published, 0 dropped"),
        "{err}"
    );
    assert_http_port_closed(gw.http);
    assert!(
        refused(endpoint_addr(&gw.pub_endpoint)),
        "the PUB port is closed after the exit"
    );
}

#[test]
fn sigint_exits_zero_too() {
    let mut gw = Gateway::start(1, &[]);
    signal(gw.pid(), libc::SIGINT);
    gw.expect_clean_exit();
}

#[test]
fn sigterm_with_an_idle_keep_alive_connection_open() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);
    c.request(&post("/upload/", &[], &orders_fixture()))
        .assert_accepted("upload before the signal");
    let mut idle = Client::connect(gw.http);
    assert_eq!(idle.request(&get("/health_check/")).status, 200);
    // Connected but not a byte sent yet.
    let silent = Client::connect(gw.http);
    gw.stop();
    c.assert_closed();
    idle.assert_closed();
    drop(silent);
    assert_http_port_closed(gw.http);
}

#[test]
fn an_upload_in_flight_at_sigterm_is_answered_and_published() {
    let mut gw = Gateway::start(1, &[]);
    let sub = gw.ready_sub();
    let body = orders_message(&[("test", "in-flight")], 2, 50, 1);
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut c = Client::connect(gw.http);
    // One request first, so that the connection is certainly being served.
    assert_eq!(c.request(&get("/health_check/")).status, 200);
    c.write(
        format!(
            "POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.write(first);
    gw.sigterm();
    wait_until_refused(gw.http);
    assert!(
        gw.poll_exit().is_none(),
        "the gateway waits for the request in flight"
    );
    c.write(rest);
    let r = c.read_response();
    r.assert_accepted("the upload in flight");
    assert!(r.closes(), "answered with Connection: close while stopping");
    c.assert_closed();
    let err = gw.expect_clean_exit();
    let msg = sub.recv();
    assert_eq!(check_canonical(&msg), ("orders".to_string(), 100));
    assert_eq!(
        upload_keys(&msg),
        vec![("test".to_string(), "in-flight".to_string())]
    );
    let published = format!("{} uploads accepted (", sub.warmups.get() + 1);
    assert!(
        err.contains(&published),
        "summary {err:?} should have {published:?}"
    );
}

#[test]
fn an_upload_after_100_continue_at_sigterm_is_answered_and_published() {
    let mut gw = Gateway::start(1, &[]);
    let sub = gw.ready_sub();
    let body = gzip(&history_fixture());
    let mut c = Client::connect(gw.http);
    c.write(
        format!(
            "POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nExpect: 100-continue\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    // The 100 proves the head was read: the request is in flight.
    assert_eq!(c.read_response().status, 100);
    gw.sigterm();
    wait_until_refused(gw.http);
    c.write(&body);
    let r = c.read_response();
    r.assert_accepted("the body sent after SIGTERM");
    assert!(r.closes());
    gw.expect_clean_exit();
    assert_eq!(check_canonical(&sub.recv()), ("history".to_string(), 2));
}

#[test]
fn a_stalled_upload_does_not_hold_the_exit_past_the_shutdown_timeout() {
    let mut gw = Gateway::start(
        1,
        &["--shutdown-timeout-ms", "300", "--body-timeout-ms", "60000"],
    );
    let mut c = Client::connect(gw.http);
    c.write(
        b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nExpect: 100-continue\r\n\
          Content-Length: 100\r\n\r\n",
    );
    // The 100 proves the head was read: the request is in flight, and its body never comes.
    assert_eq!(c.read_response().status, 100);
    c.write(b"{");
    gw.stop();
    // The request was abandoned: no answer, the connection is closed.
    let (_, bytes) = c.wait_closed(IO_TIMEOUT);
    assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
}
