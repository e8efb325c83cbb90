//! `--relay` mode against a fake relay (SUB bind in, PUB bind out): frames reach every
//! subscriber, and the per-subscriber figures are reported.

mod common;

use common::*;
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

#[test]
fn frames_fan_out_to_every_subscriber() {
    let relay = FakeRelay::start();
    let json = temp_json("relay");
    let run = loadgen(&format!(
        "--relay --pub-connect {} --sub {} --subscribers 3 --rate 500u --duration 1s \
         --warmup 200ms --max-lost 0 --json {}",
        relay.sub_bind,
        relay.pub_bind,
        json.display()
    ));
    run.assert_code(0);
    let v = read_json(&json);
    assert_required_keys(&v, false, true);
    let sent = num(&v, "sent");
    assert!((499.0..=501.0).contains(&sent), "{sent}");
    assert_eq!(num(&v, "published"), sent);
    assert_eq!(num(&v, "lost"), 0.0);
    let subs = v.get("subscribers").unwrap().as_array().unwrap();
    assert_eq!(subs.len(), 3);
    for s in subs.iter() {
        assert_eq!(num(s, "delivered"), sent, "{s}");
    }
    let per = v.get("per_subscriber_msgs_per_s").unwrap();
    assert!((num(per, "min") - sent).abs() < 1.0, "{per}");
}

#[test]
fn a_bound_pub_prints_its_endpoint() {
    // Nobody subscribes: the probes time out, but the endpoint was printed first.
    let ctx = zmq::Context::new();
    let nobody = ctx.socket(zmq::PUB).unwrap();
    nobody.bind("tcp://127.0.0.1:*").unwrap();
    let ep = nobody.get_last_endpoint().unwrap().unwrap();
    let run = loadgen(&format!(
        "--relay --pub-bind tcp://127.0.0.1:* --sub {ep} --sub-timeout 300ms"
    ));
    run.assert_code(1);
    let line = run.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("emdr-loadgen publishing: pub=tcp://127.0.0.1:"),
        "{line}"
    );
    assert!(!line.ends_with(":*"), "{line}");
}
