//! Against the real `emdr` gateway, when it has been built (`cargo build -p emdr-gateway`;
//! this crate may not depend on it, so the binary is looked up in `target/`). Skipped, with a
//! note, when it is not there; `perf/run` always runs the real thing.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_real_gateway_publishes_every_accepted_upload() {
    let Some(emdr) = emdr_binary() else {
        eprintln!(
            "skipped: no target/{{debug,release}}/emdr; build it with cargo build -p emdr-gateway"
        );
        return;
    };
    let mut cmd = Command::new(&emdr);
    cmd.args([
        "--http",
        "127.0.0.1:0",
        "--pub-bind",
        "tcp://127.0.0.1:*",
        "--shards",
        "1",
    ]);
    let gw = daemon(cmd);
    assert!(
        gw.ready.starts_with("emdr gateway listening: "),
        "{}",
        gw.ready
    );
    let url = format!("http://{}/upload/", field(&gw.ready, "http="));
    let pub_ep = field(&gw.ready, "pub=")
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let json = temp_json("gateway");
    let run = loadgen(&format!(
        "--target {url} --sub {pub_ep} --rate 200u --duration 1s --warmup 300ms --connections 4 \
         --mix orders:90,history:10 --sizes 10:30,100:60,1000:10 --history-days 60 \
         --encodings gzip:60,deflate:30,form:5,raw:5 --max-lost 0 --json {}",
        json.display()
    ));
    run.assert_code(0);
    let v = read_json(&json);
    assert_required_keys(&v, true, true);
    let sent = num(&v, "sent");
    assert!((199.0..=201.0).contains(&sent), "{sent}");
    assert_eq!(num(&v, "accepted"), sent, "{}", run.stdout);
    assert_eq!(num(&v, "published"), sent);
    assert_eq!(num(&v, "lost"), 0.0);
}
