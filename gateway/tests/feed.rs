//! The published feed (wire contract §4, §5): a region-sized upload, every upload exactly once
//! under concurrent load on two shards, the reference Python consumer, and the uploader tag
//! (§2.5) with and without a trusted proxy.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// The `test` upload keys of a message.
fn test_keys(msg: &Value) -> Vec<String> {
    upload_keys(msg)
        .into_iter()
        .filter(|(n, _)| n == "test")
        .map(|(_, k)| k)
        .collect()
}

#[test]
fn thirty_thousand_orders_in_one_gzip_upload() {
    let mut gw = Gateway::start(1, &[]);
    let sub = gw.ready_sub();
    let json = orders_message(&[("test", "big")], 30, 1000, 5_000_000_000);
    assert!(json.len() > 2_500_000, "about 3 MB of JSON: {}", json.len());
    let body = gzip(json.as_bytes());
    let r = upload(gw.http, &[("Content-Encoding", "gzip")], &body);
    r.assert_accepted("30,000 orders");
    let msg = sub.recv();
    assert_eq!(check_canonical(&msg), ("orders".to_string(), 30_000));
    assert_eq!(test_keys(&msg), vec!["big"]);
    let mut ids = HashSet::new();
    let rowsets = msg
        .get("rowsets")
        .and_then(|r| r.as_array())
        .expect("rowsets");
    assert_eq!(rowsets.len(), 30);
    for rs in rowsets.iter() {
        for row in rs
            .get("rows")
            .and_then(|r| r.as_array())
            .expect("rows")
            .iter()
        {
            let id = row.get(3).and_then(|v| v.as_u64()).expect("orderID");
            assert!(ids.insert(id), "orderID {id} twice");
        }
    }
    assert_eq!(ids.len(), 30_000);
    assert_eq!(
        ids.iter().min().copied(),
        Some(5_000_000_000),
        "large orderIDs kept"
    );
    let m = gw.metrics();
    assert_eq!(
        m.get("emdr_orders_accepted_total"),
        30_000 + sub.warmups.get()
    );
    gw.stop();
}

#[test]
fn concurrent_uploads_on_two_shards_arrive_exactly_once() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 50;
    let mut gw = Gateway::start(2, &[]);
    let sub = gw.ready_sub();
    let http = gw.http;
    let clients: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                let mut c = Client::connect(http);
                for n in 0..PER_THREAD {
                    // A new connection now and then, so the kernel spreads them over shards.
                    if n % 10 == 0 {
                        c = Client::connect(http);
                    }
                    let key = format!("{t}-{n}");
                    let body = orders_message(&[("test", &key)], 1, 1 + n % 5, 1);
                    let r = c.request(&post("/upload/", &[], body.as_bytes()));
                    r.assert_accepted(&key);
                    accepted.push(key);
                }
                accepted
            })
        })
        .collect();
    let mut received = Vec::new();
    while received.len() < THREADS * PER_THREAD {
        let msg = sub.recv();
        let keys = test_keys(&msg);
        assert_eq!(keys.len(), 1, "one test key per message: {keys:?}");
        received.extend(keys);
    }
    let accepted: BTreeSet<String> = clients
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    assert_eq!(accepted.len(), THREADS * PER_THREAD);
    assert!(
        sub.try_recv(Duration::from_millis(300)).is_none(),
        "no message beyond the accepted uploads"
    );
    let unique: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(unique.len(), received.len(), "no upload published twice");
    assert_eq!(unique, accepted, "every accepted upload is published");

    let m = gw.metrics();
    let total = (THREADS * PER_THREAD) as u64 + sub.warmups.get();
    assert_eq!(m.get("emdr_uploads_accepted_total"), total);
    assert_eq!(m.get("emdr_frames_queued_total"), total);
    assert_eq!(m.get("emdr_frames_published_total"), total);
    assert_eq!(m.get("emdr_publish_errors_total"), 0);
    assert_eq!(m.get("emdr_frames_dropped_total"), 0);
    let err = gw.stop();
    assert!(
        err.contains(&format!("{total} uploads accepted"))
            && err.contains(&format!("{total} frames published")),
        "the shutdown summary agrees: {err}"
    );
}

#[test]
fn the_python_reference_consumer_reads_the_feed() {
    let script = reference_consumer();

    let mut gw = Gateway::start(1, &[]);
    let mut consumer = Command::new("python3")
        .arg(&script)
        .arg(&gw.pub_endpoint)
        .args(["--count", "3", "--timeout", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the consumer");
    // Upload until the consumer has its three messages (it misses those sent before its
    // subscription reached the gateway).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0usize;
    let status = loop {
        if let Some(status) = consumer.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = consumer.kill();
            let _ = consumer.wait();
            panic!("the consumer did not finish within 20 s");
        }
        let body = if n % 2 == 0 {
            orders_fixture()
        } else {
            gzip(&history_fixture())
        };
        upload(gw.http, &[], &body).assert_accepted("upload for the consumer");
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = consumer.wait_with_output().expect("consumer output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "the consumer failed ({status}): {stdout} {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in lines {
        assert!(
            line == "orders rowsets=2 rows=2 generator=Yapeal"
                || line == "history rowsets=1 rows=2 generator=EMDU",
            "consumer line {line:?}"
        );
    }
    gw.stop();
}

/// The EMDR tag a message ends with, after checking the uploader's own keys come first.
fn emdr_tag(msg: &Value) -> String {
    let keys = upload_keys(msg);
    assert_eq!(
        keys[..keys.len() - 1],
        [
            ("emk".to_string(), "abc".to_string()),
            ("ec".to_string(), "def".to_string())
        ],
        "the uploader's keys are passed through first"
    );
    let (name, key) = keys.last().cloned().expect("a tag");
    assert_eq!(
        name, "EMDR",
        "the last upload key is the gateway's: {keys:?}"
    );
    key
}

#[test]
fn the_uploader_tag_is_the_salted_peer_address() {
    let mut gw = Gateway::start(1, &["--ip-key-salt", "s"]);
    let sub = gw.ready_sub();
    let want = ip_key("s", "127.0.0.1");
    upload(gw.http, &[], &orders_fixture()).assert_accepted("upload");
    assert_eq!(emdr_tag(&sub.recv()), want);
    // Without a trusted proxy, X-Forwarded-For is ignored: it could be forged.
    let forged = [("X-Forwarded-For", "198.51.100.7")];
    upload(gw.http, &forged, &orders_fixture()).assert_accepted("upload");
    assert_eq!(
        emdr_tag(&sub.recv()),
        want,
        "a forged X-Forwarded-For is ignored"
    );
    gw.stop();
}

#[test]
fn behind_a_trusted_proxy_the_tag_is_the_forwarded_address() {
    let mut gw = Gateway::start(1, &["--ip-key-salt", "s", "--trusted-proxy", "127.0.0.1"]);
    let sub = gw.ready_sub();
    let xff = [("X-Forwarded-For", "198.51.100.7")];
    upload(gw.http, &xff, &orders_fixture()).assert_accepted("upload");
    assert_eq!(emdr_tag(&sub.recv()), ip_key("s", "198.51.100.7"));
    // The right-most untrusted hop: what the client put left of it is not believed.
    let chain = [("X-Forwarded-For", "6.6.6.6, 198.51.100.8")];
    upload(gw.http, &chain, &orders_fixture()).assert_accepted("upload");
    assert_eq!(emdr_tag(&sub.recv()), ip_key("s", "198.51.100.8"));
    // No header: the proxy itself.
    upload(gw.http, &[], &orders_fixture()).assert_accepted("upload");
    assert_eq!(emdr_tag(&sub.recv()), ip_key("s", "127.0.0.1"));
    gw.stop();
}
