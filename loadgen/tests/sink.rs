//! The generator against its own sink: the offered rate is what was asked, the JSON file has
//! every figure, and thresholds turn into the exit status.

mod common;

use common::*;
use sonic_rs::JsonValueTrait;

#[test]
fn a_modest_upload_rate_is_offered_exactly_and_every_key_is_written() {
    let (_sink, url) = sink();
    let json = temp_json("sink-rate");
    let run = loadgen(&format!(
        "--target {url} --rate 400u --duration 2s --warmup 500ms --connections 4 \
         --encodings gzip:60,deflate:30,form:5,raw:5 --max-p99-ms 10000 --min-orders-per-s 1 \
         --json {}",
        json.display()
    ));
    run.assert_code(0);
    assert!(
        run.stdout.contains("emdr-loadgen http: rate 400 uploads/s"),
        "{}",
        run.stdout
    );
    let v = read_json(&json);
    assert_required_keys(&v, true, false);
    let offered = num(&v, "offered_uploads_per_s");
    assert!(
        (offered - 400.0).abs() <= 8.0,
        "offered {offered} uploads/s"
    );
    let sent = num(&v, "sent");
    assert!(
        (799.0..=801.0).contains(&sent),
        "400/s for 2 s by intended send time: {sent}"
    );
    assert_eq!(num(&v, "accepted"), sent);
    assert_eq!(num(&v, "rejected"), 0.0);
    assert_eq!(num(&v, "unsent"), 0.0);
    // Throughput counts answers inside the interval: within 10% of the offered rate, as long
    // as the machine does not stall the sink for long at one of the interval's edges.
    let orders = num(&v, "orders_per_s");
    assert!((orders - 40_000.0).abs() < 4_000.0, "{orders} orders/s");
    assert!(
        v.get("e2e_latency_ms").unwrap().is_null(),
        "no --sub, no e2e"
    );
}

#[test]
fn a_plain_rate_counts_orders_per_second() {
    let (_sink, url) = sink();
    let json = temp_json("sink-orders");
    let run = loadgen(&format!(
        "--target {url} --rate 30k --orders-per-upload 100 --duration 1s --warmup 200ms \
         --connections 2 --json {}",
        json.display()
    ));
    run.assert_code(0);
    let v = read_json(&json);
    let sent = num(&v, "sent");
    assert!(
        (299.0..=301.0).contains(&sent),
        "30k orders/s of 100-order uploads: {sent}"
    );
    assert!((num(&v, "offered_orders_per_s") - 30_000.0).abs() < 300.0);
}

#[test]
fn missed_thresholds_exit_with_status_2() {
    let (_sink, url) = sink();
    let base = format!("--target {url} --rate 200u --duration 500ms --warmup 100ms");
    let run = loadgen(&format!("{base} --max-p99-ms 0.0001"));
    run.assert_code(2);
    assert!(
        run.stderr.contains("threshold missed: HTTP p99"),
        "{}",
        run.stderr
    );
    let run = loadgen(&format!("{base} --min-orders-per-s 1e12"));
    run.assert_code(2);
    assert!(run.stderr.contains("--min-orders-per-s"), "{}", run.stderr);
}

#[test]
fn rate_max_keeps_every_connection_busy() {
    let (_sink, url) = sink();
    let json = temp_json("sink-max");
    let run = loadgen(&format!(
        "--target {url} --rate max --duration 1s --warmup 200ms --connections 4 --pipeline 2 \
         --threads 2 --orders-per-upload 10 --json {}",
        json.display()
    ));
    run.assert_code(0);
    let v = read_json(&json);
    assert!(num(&v, "sent") > 100.0, "{v}");
    assert_eq!(num(&v, "accepted"), num(&v, "sent"));
    assert_eq!(num(&v, "threads"), 2.0);
}

#[test]
fn an_unreachable_target_is_an_error_not_a_hang() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = loadgen(&format!(
        "--target http://127.0.0.1:{port}/upload/ --duration 1s"
    ));
    run.assert_code(1);
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);
}

#[test]
fn the_help_explains_every_flag() {
    let run = loadgen("--help");
    run.assert_code(0);
    for flag in [
        "--target",
        "--sub",
        "--subscribers",
        "--rate",
        "--duration",
        "--warmup",
        "--grace",
        "--connections",
        "--threads",
        "--pin",
        "--pipeline",
        "--in-flight-max",
        "--queue-max",
        "--mix",
        "--orders-per-upload",
        "--sizes",
        "--history-days",
        "--encodings",
        "--payloads",
        "--seed",
        "--json",
        "--max-p99-ms",
        "--max-lost",
        "--min-orders-per-s",
        "--sub-settle",
        "--sub-timeout",
        "--sub-inflate",
        "--relay",
        "--pub-bind",
        "--pub-connect",
        "Nu: uploads per second",
        "sink",
    ] {
        assert!(run.stdout.contains(flag), "--help does not mention {flag}");
    }
    let run = loadgen("sink --help");
    run.assert_code(0);
    assert!(run.stdout.contains("--listen"));
}
