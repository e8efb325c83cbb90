//! One relay, black-box (wire contract §5, §6): the real `emdr relay` binary between an
//! upstream the test controls (a raw ZeroMQ PUB socket, or a gateway) and real subscribers
//! (libzmq SUB sockets, a raw ZMTP client over TCP, the Python reference consumer, `emdr
//! snoop`).
//!
//! What is pinned: frames forwarded byte for byte; exact duplicates dropped and counted, and a
//! duplicate never extending its own window; `--dedup-frames 0`; `--decompress`; multi-part
//! messages dropped and counted; a stalled subscriber neither slowing the others nor growing
//! memory, and evicted after the stall timeout; every subscriber served on two shards; an
//! upstream that starts late or restarts picked up again; heartbeats answered (a heartbeating
//! SUB stays connected through silence) and relays chained.
//!
//! Regression tests pin two bugs found here: the dedup age was counted in whole seconds, and
//! a second relay could bind a port already in use.
//!
//! Every wait is bounded; every frame a test sends is unique unless the test is about
//! duplicates, so de-duplication never hides a frame by accident.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A frame of `len` bytes (at least 8) unique to `i` in the whole test run.
fn frame(i: u64, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(8));
    f.extend_from_slice(&i.to_be_bytes());
    f.extend((8..len).map(|j| (j as u64 ^ i.wrapping_mul(31)) as u8));
    f
}

/// What a frame is, for failure messages: its [`frame`] number and length.
fn describe(f: &[u8]) -> String {
    match f.get(..8) {
        Some(b) => format!(
            "frame #{} of {} bytes",
            u64::from_be_bytes(b.try_into().expect("8 bytes")),
            f.len()
        ),
        None => format!("{} bytes {f:?}", f.len()),
    }
}

/// Assert `got` is frame `i` of `len` bytes.
fn assert_frame(got: &[u8], i: u64, len: usize, what: &str) {
    assert!(
        got == frame(i, len).as_slice(),
        "{what}: expected frame #{i} of {len} bytes, got {}",
        describe(got)
    );
}

/// The next message on `sub` that is not a warm-up, as one frame; fails the test on a timeout
/// or on a multi-part message.
fn next_frame(sub: &Sub, timeout: Duration) -> Vec<u8> {
    try_next_frame(sub, timeout).unwrap_or_else(|| panic!("no frame within {timeout:?}"))
}

fn try_next_frame(sub: &Sub, timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut frames = sub.recv_frames(left.max(Duration::from_millis(1)))?;
        assert_eq!(frames.len(), 1, "a relayed message is one frame");
        let f = frames.pop().expect("one frame");
        if !is_warmup_frame(&f) {
            return Some(f);
        }
    }
}

/// Assert nothing but warm-ups arrives on `sub` for `quiet`.
fn assert_quiet(sub: &Sub, quiet: Duration, what: &str) {
    if let Some(f) = try_next_frame(sub, quiet) {
        panic!(
            "{what}: unexpected frame of {} bytes: {:?}",
            f.len(),
            &f[..f.len().min(32)]
        );
    }
}

/// The 64-byte ZMTP 3.0 greeting of a SUB peer, the READY command naming the socket type
/// `SUB`, and a subscription to everything, as a raw client sends them.
fn raw_sub_handshake() -> Vec<u8> {
    let mut out = vec![0xff];
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&[0x7f, 0x03, 0x00]);
    out.extend_from_slice(b"NULL");
    out.extend_from_slice(&[0; 16]);
    out.push(0x00); // as-server
    out.extend_from_slice(&[0; 31]);
    assert_eq!(out.len(), 64);
    let mut ready = vec![0x05];
    ready.extend_from_slice(b"READY");
    ready.push(0x0b);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&3u32.to_be_bytes());
    ready.extend_from_slice(b"SUB");
    out.push(0x04);
    out.push(u8::try_from(ready.len()).expect("a short command"));
    out.extend_from_slice(&ready);
    out.extend_from_slice(&[0x00, 0x01, 0x01]);
    out
}

/// A subscriber that does the ZMTP handshake and then never reads a byte.
fn stalled_subscriber(relay: &Relay) -> TcpStream {
    let addr = relay
        .pub_endpoint
        .strip_prefix("tcp://")
        .expect("a tcp endpoint");
    let mut s = TcpStream::connect(addr).expect("connect the stalled subscriber");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(&raw_sub_handshake()).expect("handshake");
    s
}

#[test]
fn frames_are_forwarded_byte_for_byte() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start("relay", &["--upstream", &upstream.endpoint]);
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    // Sizes around the ZMTP short/long frame boundary (255/256), an empty frame, and large ones.
    let mut sent: Vec<Vec<u8>> = vec![Vec::new(), vec![0x78]];
    for (i, len) in [8usize, 255, 256, 257, 1000, 65_535, 65_536, 300_000]
        .into_iter()
        .enumerate()
    {
        sent.push(frame(i as u64, len));
    }
    sent.extend((100..150).map(|i| frame(i, 100 + i as usize)));
    for f in &sent {
        upstream.send(f);
    }
    for (i, want) in sent.iter().enumerate() {
        let got = next_frame(&sub, IO_TIMEOUT);
        assert!(
            got == *want,
            "frame {i}: sent {} bytes, got {} bytes",
            want.len(),
            got.len()
        );
    }
    assert_quiet(&sub, Duration::from_millis(300), "after the frames");
    let c = relay.stop();
    assert_eq!(c.get("duplicates"), 0, "{c:?}");
    assert_eq!(c.get("multipart"), 0, "{c:?}");
}

#[test]
fn exact_duplicates_from_two_upstreams_are_dropped_and_counted() {
    let (a, b) = (RawPub::ephemeral(), RawPub::ephemeral());
    let mut relay = Relay::start(
        "relay",
        &["--upstream", &a.endpoint, "--upstream", &b.endpoint],
    );
    let sub = relay.sub();
    warm_up_frames(&[&a, &b], &[&sub]);
    const N: u64 = 20;
    for i in 0..N {
        let f = frame(1000 + i, 500);
        a.send(&f);
        b.send(&f);
    }
    let mut got = Vec::new();
    for _ in 0..N {
        got.push(next_frame(&sub, IO_TIMEOUT));
    }
    // A frame that differs in one byte is not a duplicate.
    let mut near = frame(1000, 500);
    near[499] ^= 1;
    a.send(&near);
    assert_eq!(
        next_frame(&sub, IO_TIMEOUT),
        near,
        "a near-duplicate is forwarded"
    );
    assert_quiet(&sub, Duration::from_millis(500), "after the duplicates");
    got.sort();
    let mut want: Vec<Vec<u8>> = (0..N).map(|i| frame(1000 + i, 500)).collect();
    want.sort();
    assert!(got == want, "each frame exactly once");
    let c = relay.stop();
    assert_eq!(c.get("duplicates"), N, "{c:?}");
    assert_eq!(
        c.get("forwarded") + c.get("duplicates"),
        c.get("received"),
        "{c:?}"
    );
}

#[test]
fn a_duplicate_does_not_extend_its_own_window() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start(
        "relay",
        &["--upstream", &upstream.endpoint, "--dedup-seconds", "2"],
    );
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    // Re-send F every 300 ms for 5 s (longer, up to 10 s, if it has not come back by then).
    let f = frame(7, 300);
    let start = Instant::now();
    let mut sends = 0u64;
    let mut arrivals = Vec::new();
    while start.elapsed() < Duration::from_secs(5)
        || (arrivals.len() < 2 && start.elapsed() < Duration::from_secs(10))
    {
        upstream.send(&f);
        sends += 1;
        let step = Instant::now() + Duration::from_millis(300);
        while let Some(got) = try_next_frame(&sub, step.saturating_duration_since(Instant::now())) {
            assert_eq!(got, f);
            arrivals.push(start.elapsed());
        }
    }
    let sending = start.elapsed();
    while let Some(got) = try_next_frame(&sub, Duration::from_millis(300)) {
        assert_eq!(got, f);
        arrivals.push(start.elapsed());
    }
    println!(
        "frame re-sent {sends} times over {sending:?} with a 2 s window: delivered at {arrivals:?}"
    );
    assert!(
        arrivals.len() >= 2,
        "a frame re-sent continuously must be forwarded again once its window (2 s) has passed: \
         delivered at {arrivals:?}"
    );
    // Once per window of 2 s (the relay's clock ticks in whole seconds): over 5 s, 4 at most.
    let most = 2 + (sending.as_secs_f64() / 2.0) as usize;
    assert!(
        arrivals.len() <= most,
        "the window must still drop most copies: delivered at {arrivals:?}, at most {most}"
    );
    let c = relay.stop();
    assert_eq!(c.get("duplicates"), sends - arrivals.len() as u64, "{c:?}");
}

#[test]
fn dedup_off_forwards_duplicates() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start(
        "relay",
        &["--upstream", &upstream.endpoint, "--dedup-frames", "0"],
    );
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    let f = frame(42, 200);
    for _ in 0..3 {
        upstream.send(&f);
    }
    for i in 0..3 {
        assert_eq!(next_frame(&sub, IO_TIMEOUT), f, "copy {i}");
    }
    assert_quiet(&sub, Duration::from_millis(300), "after three copies");
    let c = relay.stop();
    assert_eq!(c.get("duplicates"), 0, "{c:?}");
}

#[test]
fn decompress_forwards_the_json_and_counts_undecodable_frames() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start("relay", &["--upstream", &upstream.endpoint, "--decompress"]);
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    let json = orders_message(&[("test", "decompress")], 2, 50, 1);
    let compressed = zlib(json.as_bytes());
    upstream.send(b"not zlib at all");
    upstream.send(&compressed);
    let got = next_frame(&sub, IO_TIMEOUT);
    assert_eq!(got.first(), Some(&b'{'), "the consumer gets JSON");
    assert_eq!(
        got,
        inflate_frame(&compressed),
        "the JSON is the inflated frame"
    );
    assert_eq!(got, json.as_bytes());
    assert_quiet(&sub, Duration::from_millis(300), "after the JSON");
    let c = relay.stop();
    assert_eq!(c.get("undecodable"), 1, "{c:?}");
}

#[test]
fn multipart_messages_are_dropped_and_counted() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start("relay", &["--upstream", &upstream.endpoint]);
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    upstream.send_parts(&[b"topic", &frame(1, 100)]);
    upstream.send_parts(&[b"a", b"b", b"c"]);
    let after = frame(2, 100);
    upstream.send(&after);
    assert_eq!(
        next_frame(&sub, IO_TIMEOUT),
        after,
        "only the single-frame message"
    );
    assert_quiet(&sub, Duration::from_millis(300), "after the single frame");
    let c = relay.stop();
    assert_eq!(c.get("multipart"), 2, "{c:?}");
}

/// How long a paced consumer waits for its next frame: longer than a loaded machine's
/// scheduling stalls, and still finite, so that a relay that stops forwarding fails the test.
const PACED_WAIT: Duration = Duration::from_secs(30);

/// Publish `count` frames of `len` bytes from a thread, never more than `window` ahead of
/// what the consumer has counted in `received`, so that only a consumer that stops reading
/// falls behind. Returns the sender's handle.
fn paced_sender(
    upstream: RawPub,
    count: u64,
    len: usize,
    window: usize,
    received: Arc<AtomicUsize>,
    abort: Arc<AtomicBool>,
) -> std::thread::JoinHandle<RawPub> {
    std::thread::spawn(move || {
        for i in 0..count {
            while i as usize >= received.load(Relaxed) + window {
                if abort.load(Relaxed) {
                    return upstream;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            upstream.send(&frame(i, len));
        }
        upstream
    })
}

#[test]
fn a_stalled_subscriber_never_slows_the_others_and_memory_stays_bounded() {
    const FRAMES: u64 = 3000;
    const LEN: usize = 50_000;
    const RSS_MAX_KIB: u64 = 200 << 10;
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start(
        "relay",
        &[
            "--upstream",
            &upstream.endpoint,
            "--queue-frames-max",
            "100",
            "--stall-timeout-ms",
            "120000",
            "--stats-interval-s",
            "1",
        ],
    );
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    let stalled = stalled_subscriber(&relay);
    relay.wait_stats(Duration::from_secs(10), |c| c.get("subscribers") == 2);
    let rss_before = relay.daemon.rss_kib();

    let received = Arc::new(AtomicUsize::new(0));
    let abort = Arc::new(AtomicBool::new(false));
    let sender = paced_sender(
        upstream,
        FRAMES,
        LEN,
        32,
        Arc::clone(&received),
        Arc::clone(&abort),
    );
    let start = Instant::now();
    let mut rss_max = rss_before;
    for i in 0..FRAMES {
        let Some(got) = try_next_frame(&sub, PACED_WAIT) else {
            abort.store(true, Relaxed);
            panic!(
                "the normal consumer stalled at frame {i} of {FRAMES}; relay stderr: {}",
                relay.daemon.stderr_now()
            );
        };
        assert_frame(&got, i, LEN, "the normal consumer");
        received.fetch_add(1, Relaxed);
        if i % 100 == 0 {
            rss_max = rss_max.max(relay.daemon.rss_kib());
        }
    }
    let elapsed = start.elapsed();
    let _upstream = sender.join().expect("sender");
    rss_max = rss_max.max(relay.daemon.rss_kib());
    let during = relay.wait_stats(Duration::from_secs(5), |c| c.get("dropped_slow") > 0);
    println!(
        "{FRAMES} frames of {LEN} bytes to the normal consumer in {elapsed:?} \
         ({:.0} MB/s) beside a stalled one; relay RSS {} KiB before, {} KiB max; {during:?}",
        (FRAMES as f64 * LEN as f64) / elapsed.as_secs_f64() / 1e6,
        rss_before,
        rss_max
    );
    assert!(
        rss_max < RSS_MAX_KIB,
        "relay RSS reached {rss_max} KiB with a stalled subscriber"
    );
    // The stalled peer hangs up (with unread data: a reset), so the shutdown need not wait
    // for its queue.
    drop(stalled);
    let c = relay.stop();
    assert!(
        c.get("dropped_slow") > 0,
        "drops for the stalled subscriber are counted: {c:?}"
    );
    assert!(
        c.get("dropped_slow") <= FRAMES,
        "only the stalled subscriber lost frames: {c:?}"
    );
    assert_eq!(c.get("evicted"), 0, "{c:?}");
}

#[test]
fn a_stalled_subscriber_is_evicted_after_the_stall_timeout() {
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start(
        "relay",
        &[
            "--upstream",
            &upstream.endpoint,
            "--queue-frames-max",
            "100",
            "--stall-timeout-ms",
            "500",
            "--stats-interval-s",
            "1",
        ],
    );
    let sub = relay.sub();
    warm_up_frames(&[&upstream], &[&sub]);
    let stalled = stalled_subscriber(&relay);
    relay.wait_stats(Duration::from_secs(10), |c| c.get("subscribers") == 2);
    // 20 MB: more than the socket buffers of the stalled peer hold.
    const FRAMES: u64 = 400;
    const LEN: usize = 50_000;
    let received = Arc::new(AtomicUsize::new(0));
    let abort = Arc::new(AtomicBool::new(false));
    let sender = paced_sender(
        upstream,
        FRAMES,
        LEN,
        32,
        Arc::clone(&received),
        Arc::clone(&abort),
    );
    for i in 0..FRAMES {
        let Some(got) = try_next_frame(&sub, PACED_WAIT) else {
            abort.store(true, Relaxed);
            panic!(
                "the normal consumer stalled at frame {i}; relay stderr: {}",
                relay.daemon.stderr_now()
            );
        };
        assert_frame(&got, i, LEN, "the normal consumer");
        received.fetch_add(1, Relaxed);
    }
    let upstream = sender.join().expect("sender");
    let c = relay.wait_stats(Duration::from_secs(10), |c| {
        c.get("evicted") == 1 && c.get("subscribers") == 1
    });
    println!("after the stall timeout: {c:?}");
    // The normal consumer is still served.
    let f = frame(FRAMES, 100);
    upstream.send(&f);
    assert_eq!(next_frame(&sub, IO_TIMEOUT), f);
    drop(stalled);
    relay.stop();
}

#[test]
fn two_shards_serve_every_subscriber_every_frame() {
    const SUBS: usize = 6;
    const FRAMES: u64 = 200;
    let upstream = RawPub::ephemeral();
    let mut relay = Relay::start(
        "relay",
        &[
            "--upstream",
            &upstream.endpoint,
            "--shards",
            "2",
            "--stats-interval-s",
            "1",
        ],
    );
    assert_eq!(relay.daemon.ready_field("shards="), "2");
    let subs: Vec<Sub> = (0..SUBS).map(|_| relay.sub()).collect();
    let refs: Vec<&Sub> = subs.iter().collect();
    warm_up_frames(&[&upstream], &refs);
    relay.wait_stats(Duration::from_secs(10), |c| {
        c.get("subscribers") == SUBS as u64
    });
    for i in 0..FRAMES {
        upstream.send(&frame(i, 1000));
    }
    for (s, sub) in subs.iter().enumerate() {
        for i in 0..FRAMES {
            let got = next_frame(sub, IO_TIMEOUT);
            assert_frame(&got, i, 1000, &format!("subscriber {s}"));
        }
        assert_quiet(sub, Duration::from_millis(100), "after the frames");
    }
    let c = relay.stop();
    assert_eq!(c.get("duplicates"), 0, "{c:?}");
    assert!(c.get("sent") >= FRAMES * SUBS as u64, "{c:?}");
}

#[test]
fn the_reference_consumer_and_snoop_read_a_relay_fed_by_a_gateway() {
    let script = reference_consumer();
    let mut gw = Gateway::start(1, &[]);
    let mut relay = Relay::start("relay", &["--upstream", &gw.pub_endpoint]);
    let spawn = |cmd: &mut Command| {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a consumer")
    };
    let mut consumers = [
        spawn(
            Command::new("python3")
                .arg(&script)
                .arg(&relay.pub_endpoint)
                .args(["--count", "3", "--timeout", "15"]),
        ),
        spawn(
            Command::new(env!("CARGO_BIN_EXE_emdr"))
                .args(["snoop", &relay.pub_endpoint])
                .args(["--count", "3", "--timeout-s", "15"]),
        ),
    ];
    // Upload (each upload unique, so the relay drops none as a duplicate) until both have
    // their three messages: they miss those sent before their subscriptions arrived.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0u64;
    while consumers
        .iter_mut()
        .any(|c| c.try_wait().expect("try_wait").is_none())
    {
        if Instant::now() >= deadline {
            for c in &mut consumers {
                let _ = c.kill();
                let _ = c.wait();
            }
            panic!("the consumers did not finish within 20 s");
        }
        n += 1;
        let body = orders_message(&[("test", &n.to_string())], 1, 1, n);
        upload(gw.http, &[], body.as_bytes()).assert_accepted("upload for the consumers");
        std::thread::sleep(Duration::from_millis(100));
    }
    let [python, snoop] = consumers;
    for (name, child, want) in [
        (
            "python",
            python,
            "orders rowsets=1 rows=1 generator=emdr-gateway-tests",
        ),
        (
            "snoop",
            snoop,
            "orders rowsets=1 orders=1 generator=\"emdr-gateway-tests 1\" age=",
        ),
    ] {
        let out = child.wait_with_output().expect("consumer output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name} failed ({}): {stdout} {stderr}",
            out.status
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{name}: one line per message: {stdout}");
        for line in lines {
            assert!(line.starts_with(want), "{name} line {line:?}");
        }
    }
    relay.stop();
    gw.stop();
}

#[test]
fn the_relay_reconnects_to_an_upstream_that_starts_late_and_restarts() {
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut relay = Relay::start("relay", &["--upstream", &ep]);
    let sub = relay.sub();
    std::thread::sleep(Duration::from_secs(1));

    // Frames flow within a bounded time of the upstream appearing.
    let time_to_flow = |upstream: &RawPub, round: u64| -> Duration {
        let start = Instant::now();
        let mut i = 0u64;
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "round {round}: no frame through the relay within 10 s of the upstream binding"
            );
            i += 1;
            upstream.send(&frame(round << 32 | i, 64));
            if let Some(got) = try_next_frame(&sub, Duration::from_millis(20)) {
                assert_eq!(got[..4], (round << 32 | 1).to_be_bytes()[..4]);
                let t = start.elapsed();
                // Drain the rest of this round.
                while try_next_frame(&sub, Duration::from_millis(200)).is_some() {}
                return t;
            }
        }
    };
    let upstream = RawPub::bind_retrying(&ep, Duration::from_secs(5));
    let first = time_to_flow(&upstream, 1);
    println!("upstream started 1 s after the relay: frames flow {first:?} after it bound");
    drop(upstream);
    std::thread::sleep(Duration::from_millis(300));
    let upstream = RawPub::bind_retrying(&ep, Duration::from_secs(5));
    let again = time_to_flow(&upstream, 2);
    println!("upstream restarted on the same port: frames flow again {again:?} after it bound");
    assert!(first < Duration::from_secs(10) && again < Duration::from_secs(10));
    // And the relay still forwards everything after the restart.
    for i in 0..20 {
        upstream.send(&frame(3 << 32 | i, 64));
    }
    for i in 0..20 {
        assert_eq!(next_frame(&sub, IO_TIMEOUT), frame(3 << 32 | i, 64));
    }
    relay.stop();
}

/// Read every pending event of a libzmq socket monitor: (event, endpoint) pairs.
fn monitor_events(mon: &zmq::Socket) -> Vec<(zmq::SocketEvent, String)> {
    let mut events = Vec::new();
    while let Ok(parts) = mon.recv_multipart(zmq::DONTWAIT) {
        let id = u16::from_le_bytes([parts[0][0], parts[0][1]]);
        let ep = String::from_utf8_lossy(parts.get(1).map_or(&[][..], |p| p)).into_owned();
        events.push((zmq::SocketEvent::from_raw(id), ep));
    }
    events
}

#[test]
fn heartbeats_are_answered_and_relays_chain() {
    let upstream = RawPub::ephemeral();
    let mut tier1 = Relay::start(
        "relay",
        &["--upstream", &upstream.endpoint, "--stats-interval-s", "1"],
    );
    // Tier 2 subscribes to tier 1 with heartbeats (FAST_ZMQ: PING every 200 ms, dropped
    // after 1 s without an answer).
    let mut tier2 = Relay::start(
        "relay",
        &["--upstream", &tier1.pub_endpoint, "--stats-interval-s", "1"],
    );
    let sub = tier2.sub();
    // A heartbeating SUB on tier 1 whose connection events the test watches.
    let ctx = zmq::Context::new();
    let hb = ctx.socket(zmq::SUB).expect("SUB");
    hb.set_linger(0).expect("linger");
    hb.set_heartbeat_ivl(200).expect("heartbeat");
    hb.set_heartbeat_timeout(1500).expect("heartbeat");
    hb.set_subscribe(b"").expect("subscribe");
    hb.monitor("inproc://hb-monitor", zmq::SocketEvent::ALL as i32)
        .expect("monitor");
    let mon = ctx.socket(zmq::PAIR).expect("PAIR");
    mon.connect("inproc://hb-monitor").expect("monitor connect");
    hb.connect(&tier1.pub_endpoint).expect("connect");
    let hb_sub = Sub::from_socket(ctx.clone(), hb);
    warm_up_frames(&[&upstream], &[&sub, &hb_sub]);
    let _ = monitor_events(&mon);

    // Silence for over twice the heartbeat timeout: without PONGs from the relay, libzmq
    // would drop the link (and report DISCONNECTED).
    std::thread::sleep(Duration::from_secs(4));
    let events = monitor_events(&mon);
    assert!(
        !events
            .iter()
            .any(|(e, _)| matches!(e, zmq::SocketEvent::DISCONNECTED)),
        "the heartbeating SUB was disconnected during silence: {events:?}"
    );
    // Tier 2 is not monitored: should its link have flapped (a machine stalled past the
    // heartbeat timeout), warm up again, then it must forward everything.
    warm_up_frames(&[&upstream], &[&sub, &hb_sub]);
    let sent: Vec<Vec<u8>> = (0..50).map(|i| frame(9000 + i, 2000)).collect();
    for f in &sent {
        upstream.send(f);
    }
    for (i, f) in sent.iter().enumerate() {
        for (what, s) in [("tier 2", &sub), ("tier 1 (heartbeating SUB)", &hb_sub)] {
            let got = try_next_frame(s, IO_TIMEOUT).unwrap_or_else(|| {
                panic!(
                    "{what}: frame {i} missing; heartbeating SUB events: {:?}; \
                     tier 1 stderr: {}; tier 2 stderr: {}",
                    monitor_events(&mon),
                    tier1.daemon.stderr_now(),
                    tier2.daemon.stderr_now()
                )
            });
            assert_frame(&got, 9000 + i as u64, f.len(), what);
        }
    }
    assert_quiet(&sub, Duration::from_millis(200), "tier 2 after the frames");
    tier2.stop();
    tier1.stop();
}

#[test]
fn a_copy_within_the_window_is_dropped_whatever_the_clock_second() {
    let (a, b) = (RawPub::ephemeral(), RawPub::ephemeral());
    let mut relay = Relay::start(
        "relay",
        &[
            "--upstream",
            &a.endpoint,
            "--upstream",
            &b.endpoint,
            "--dedup-seconds",
            "1",
        ],
    );
    let sub = relay.sub();
    warm_up_frames(&[&a, &b], &[&sub]);
    // Each frame on A, then its copy on B 300 ms later (well within the 1 s window); a new
    // frame every 100 ms for 4 s, so copies straddle several of the relay's second ticks.
    const FRAMES: u64 = 40;
    const LAG: u64 = 3;
    for i in 0..FRAMES + LAG {
        if i < FRAMES {
            a.send(&frame(20_000 + i, 100));
        }
        if i >= LAG {
            b.send(&frame(20_000 + i - LAG, 100));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut copies: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    while let Some(f) = try_next_frame(&sub, Duration::from_millis(500)) {
        let n = u64::from_be_bytes(f[..8].try_into().expect("8 bytes"));
        *copies.entry(n).or_default() += 1;
    }
    let twice: Vec<u64> = copies
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(&n, _)| n - 20_000)
        .collect();
    let c = relay.stop();
    assert_eq!(
        copies.len() as u64,
        FRAMES,
        "every frame once at least: {copies:?}"
    );
    assert!(
        twice.is_empty(),
        "frames forwarded twice although the copy came 300 ms after the first (window 1 s): \
         {twice:?} of {FRAMES}; {c:?}"
    );
}

#[test]
fn a_second_relay_on_a_port_in_use_is_refused() {
    let upstream = RawPub::ephemeral();
    let mut first = Relay::start("relay", &["--upstream", &upstream.endpoint]);
    let second = Relay::try_start(
        "relay",
        &[
            "--upstream",
            &upstream.endpoint,
            "--bind",
            &first.pub_endpoint,
        ],
    );
    if let Ok(mut second) = second {
        let ready = second.daemon.ready_line.clone();
        second.kill9();
        panic!(
            "a second relay started on {} which the first one serves: {ready:?}",
            first.pub_endpoint
        );
    }
    first.stop();
}
