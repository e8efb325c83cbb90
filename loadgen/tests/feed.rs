//! The generator with a feed: a fake gateway (the real engine pipeline behind a std HTTP
//! server, a ZeroMQ PUB) shows that every upload is matched to its message, and that lost
//! and duplicated messages are counted.

mod common;

use common::*;

#[test]
fn every_upload_is_matched_to_its_message_end_to_end() {
    let gw = FakeGateway::start(Faults::default());
    let json = temp_json("feed-clean");
    let run = loadgen(&format!(
        "--target {} --sub {} --rate 300u --duration 1s --warmup 300ms --connections 3 \
         --mix orders:80,history:20 --sizes 10:40,100:50,2000:10 --history-days 30 \
         --encodings gzip:40,deflate:30,form:15,raw:15 --max-lost 0 --json {}",
        gw.url,
        gw.pub_endpoint,
        json.display()
    ));
    run.assert_code(0);
    let v = read_json(&json);
    assert_required_keys(&v, true, true);
    // 300/s for 1 s by intended send time (±1 at the edges of the interval).
    let sent = num(&v, "sent");
    assert!((299.0..=301.0).contains(&sent), "{sent}");
    assert_eq!(num(&v, "accepted"), sent, "{}", run.stdout);
    assert_eq!(num(&v, "published"), sent);
    assert_eq!(num(&v, "lost"), 0.0);
    assert_eq!(num(&v, "duplicated"), 0.0);
    assert!(
        num(&v, "probes") >= 1.0,
        "probes waited for the slow joiner"
    );
    assert!(num(&v, "orders_per_s") > 0.0);
}

#[test]
fn lost_and_duplicated_messages_are_counted() {
    let gw = FakeGateway::start(Faults {
        drop_every: Some(10),
        duplicate: true,
    });
    let json = temp_json("feed-faults");
    let run = loadgen(&format!(
        "--target {} --sub {} --rate 200u --duration 1s --warmup 200ms --grace 500ms \
         --connections 2 --orders-per-upload 20 --max-lost 0 --json {}",
        gw.url,
        gw.pub_endpoint,
        json.display()
    ));
    run.assert_code(2);
    assert!(run.stderr.contains("--max-lost"), "{}", run.stderr);
    let v = read_json(&json);
    let (accepted, published, lost) = (num(&v, "accepted"), num(&v, "published"), num(&v, "lost"));
    assert!((199.0..=201.0).contains(&accepted), "{accepted}");
    assert_eq!(published + lost, accepted);
    assert!((15.0..=25.0).contains(&lost), "one in ten dropped: {lost}");
    assert_eq!(
        num(&v, "duplicated"),
        published,
        "each published message came twice"
    );
}

#[test]
fn a_feed_that_never_shows_the_uploads_is_an_error() {
    let gw = FakeGateway::start(Faults::default());
    // A PUB that nobody publishes to.
    let ctx = zmq::Context::new();
    let silent = ctx.socket(zmq::PUB).unwrap();
    silent.bind("tcp://127.0.0.1:*").unwrap();
    let ep = silent.get_last_endpoint().unwrap().unwrap();
    let run = loadgen(&format!(
        "--target {} --sub {ep} --sub-timeout 1s --duration 1s",
        gw.url
    ));
    run.assert_code(1);
    assert!(run.stderr.contains("saw no probe"), "{}", run.stderr);
}
