//! HTTP/1.1 connection handling as real uploaders exercise it: long keep-alive connections,
//! pipelining, HTTP/1.0, `Connection: close`, `Expect: 100-continue`.

mod common;

use common::*;

#[test]
fn two_hundred_requests_on_one_keep_alive_connection() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);
    let body = orders_fixture();
    for i in 0..200 {
        let r = if i % 10 == 9 {
            c.request(&get("/health_check/"))
        } else {
            c.request(&post("/upload/", &[], &body))
        };
        assert!(!r.closes(), "request {i}: the connection is kept");
        if i % 10 == 9 {
            assert_eq!(r.status, 200, "health check {i}");
        } else {
            r.assert_accepted(&format!("upload {i}"));
        }
    }
    let m = gw.metrics();
    assert_eq!(m.get("emdr_uploads_accepted_total"), 180);
    assert_eq!(m.get("emdr_orders_accepted_total"), 360);
    assert_eq!(
        m.get("emdr_connections_accepted_total"),
        2,
        "one connection for the 200 requests, one for /metrics"
    );
    assert_eq!(m.get("emdr_http_requests_total"), 201);
    drop(c);
    gw.stop();
}

#[test]
fn fifty_pipelined_requests_are_answered_in_order() {
    let mut gw = Gateway::start(1, &[]);
    let sub = gw.ready_sub();
    let good = orders_fixture();
    let mut batch = Vec::new();
    let mut expect = Vec::new();
    for i in 0..50 {
        match i % 5 {
            0 | 2 => {
                let body = orders_message(&[("test", &i.to_string())], 1, 1 + i, 1);
                batch.extend_from_slice(&post("/upload/", &[], body.as_bytes()));
                expect.push((200, Some("1")));
            }
            1 => {
                batch.extend_from_slice(&get("/health_check/"));
                expect.push((200, None));
            }
            3 => {
                batch.extend_from_slice(&post("/upload/", &[], br#"{"resultType":1}"#));
                expect.push((400, None));
            }
            _ => {
                let gz = gzip(&good);
                batch.extend_from_slice(&post("/upload/", &[("Content-Encoding", "gzip")], &gz));
                expect.push((200, Some("1")));
            }
        }
    }
    let mut c = Client::connect(gw.http);
    c.write(&batch);
    for (i, (status, body)) in expect.iter().enumerate() {
        let r = c.read_response();
        assert_eq!(r.status, *status, "response {i}: {}", r.text());
        if let Some(b) = body {
            assert_eq!(r.text(), *b, "response {i}");
        } else if *status == 200 {
            assert!(
                r.text().starts_with("emdr "),
                "response {i} is the health check"
            );
        }
    }
    // The uploads reach the feed in request order.
    let mut rows = Vec::new();
    for _ in 0..30 {
        let msg = sub.recv();
        rows.push(check_canonical(&msg).1);
    }
    let want: Vec<usize> = (0..50)
        .filter_map(|i| match i % 5 {
            0 | 2 => Some(1 + i),
            4 => Some(2),
            _ => None,
        })
        .collect();
    assert_eq!(rows, want, "pipelined uploads are published in order");
    drop(c);
    gw.stop();
}

#[test]
fn http_1_0_closes_after_the_response() {
    let mut gw = Gateway::start(1, &[]);
    let body = orders_fixture();
    let mut head = format!(
        "POST /upload/ HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(&body);
    let mut c = Client::connect(gw.http);
    let r = c.request(&head);
    r.assert_accepted("an HTTP/1.0 upload");
    c.assert_closed();

    // With Connection: keep-alive, a 1.0 client may reuse the connection.
    let mut c = Client::connect(gw.http);
    let ka = b"GET /health_check/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let r = c.request(ka);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.request(ka);
    assert_eq!(
        r.status, 200,
        "the second request on a 1.0 keep-alive connection"
    );
    let r = c.request(b"GET /health_check/ HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    c.assert_closed();
    gw.stop();
}

#[test]
fn connection_close_is_honoured() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);
    let r = c.request(&post(
        "/upload/",
        &[("Connection", "close")],
        &orders_fixture(),
    ));
    r.assert_accepted("upload with Connection: close");
    assert!(r.closes(), "the answer says Connection: close");
    c.assert_closed();
    gw.stop();
}

#[test]
fn expect_100_continue() {
    let mut gw = Gateway::start(1, &["--body-bytes-max", "100000"]);
    let sub = gw.ready_sub();
    let body = gzip(&history_fixture());
    let mut c = Client::connect(gw.http);
    c.write(
        format!(
            "POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Encoding: gzip\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let interim = c.read_response();
    assert_eq!((interim.status, interim.reason.as_str()), (100, "Continue"));
    c.write(&body);
    c.read_response()
        .assert_accepted("the body after 100 Continue");
    assert_eq!(check_canonical(&sub.recv()), ("history".to_string(), 2));

    // Twice on the same connection, the second time chunked.
    c.write(
        b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nExpect: 100-continue\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(c.read_response().status, 100);
    let json = orders_fixture();
    c.write(format!("{:x}\r\n", json.len()).as_bytes());
    c.write(&json);
    c.write(b"\r\n0\r\n\r\n");
    c.read_response()
        .assert_accepted("a chunked body after 100 Continue");
    assert_eq!(check_canonical(&sub.recv()), ("orders".to_string(), 2));

    // A body that would be too large is refused without the 100.
    c.write(
        b"POST /upload/ HTTP/1.1\r\nHost: emdr.test\r\nExpect: 100-continue\r\n\
          Content-Length: 100001\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 413, "refused from the head: {}", r.text());
    c.assert_closed();
    gw.stop();
}

#[test]
fn head_health_check_has_the_get_content_length() {
    let mut gw = Gateway::start(1, &[]);
    let mut c = Client::connect(gw.http);
    let got = c.request(&get("/health_check/"));
    c.write(b"HEAD /health_check/ HTTP/1.1\r\nHost: emdr.test\r\n\r\n");
    // Read the head only: a HEAD response has no body whatever its Content-Length says.
    let (_, bytes) = {
        c.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        c.wait_closed(IO_TIMEOUT)
    };
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text:?}");
    let want = format!("Content-Length: {}\r\n", got.body.len());
    assert!(
        text.contains(&want),
        "HEAD answer {text:?} should have {want:?}"
    );
    gw.stop();
}

#[test]
fn absolute_form_targets_are_routed() {
    let mut gw = Gateway::start(1, &[]);
    let body = orders_fixture();
    let mut raw = format!(
        "POST http://emdr.test/upload/ HTTP/1.1\r\nHost: emdr.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    Client::connect(gw.http)
        .request(&raw)
        .assert_accepted("an absolute-form upload");
    gw.stop();
}
