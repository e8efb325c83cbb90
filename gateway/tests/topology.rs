//! The whole redundant topology of wire contract §1 on loopback, under steady load, through
//! crashes: "losing any one daemon of a redundant pair must not interrupt the feed".
//!
//! ```text
//!  loader ──HTTP──► gateway 0 ─┬─► announcer 0 ─┬─► relay 0 ──► consumer 0
//!   (every 20 ms,  gateway 1 ─┴─► announcer 1 ─┴─► relay 1 ──► consumer 1
//!    alternating)        (each gateway publishes to both; each relay subscribes to both)
//! ```
//! Under load: `kill -9` announcer 0; `kill -9` relay 0; restart announcer 0 on the same
//! ports; once it is picked up, `kill -9` announcer 1, so the feed can only continue through
//! the restarted one. Then: the consumer on the surviving relay got every accepted upload
//! exactly once (counted by a unique upload key), and the failover times are printed.
//! Last, the precise pickup time of a restarted announcer: announcer 1 comes back and
//! announcer 0 is killed the moment its ready line is out; the time until uploads reach the
//! surviving consumer again is printed and bounded.
//!
//! Every child process is a guard that SIGKILLs on drop, and the loader and consumer threads
//! stop on drop of [`Threads`], so a failing run leaves nothing behind.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Upload-key name of the load's messages; the key is the upload's sequence number.
const LOAD_KEY: &str = "topology";
/// One upload every this long, alternating between the gateways.
const LOAD_INTERVAL: Duration = Duration::from_millis(20);
/// Pause between two faults.
const PAUSE: Duration = Duration::from_millis(1500);
/// [`FAST_ZMQ`], but a heartbeat timeout that a loaded machine's scheduling hiccups do not
/// reach: a `kill -9` on loopback closes the connections at once, so heartbeats are not what
/// detects it, and a spurious heartbeat drop would lose messages on a link that is meant to
/// be the only one left.
const ZMQ: [&str; 8] = [
    "--reconnect-ivl-ms",
    "50",
    "--reconnect-ivl-max-ms",
    "200",
    "--heartbeat-ivl-ms",
    "500",
    "--heartbeat-timeout-ms",
    "3000",
];
/// Bound on the feed's recovery after a fault.
const RECOVERY_MAX: Duration = Duration::from_secs(10);

/// Arrivals at one consumer: (when, key), and the warm-ups by gateway.
#[derive(Default)]
struct Arrivals {
    load: Vec<(Instant, u64)>,
    warmups: [u64; 2],
}

/// Accepted uploads: key → when the gateway answered 200.
type Accepted = Arc<Mutex<HashMap<u64, Instant>>>;

/// Raises the stop flag of the background threads when dropped (on success or panic).
struct Threads {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        for h in self.handles.drain(..) {
            // A consumer thread's failed assertion fails the test (unless it is failing
            // already).
            if let Err(e) = h.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(e);
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read a consumer's feed into `into` until `stop`.
fn consume(sub: Sub, into: Arc<Mutex<Arrivals>>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Relaxed) {
            let Some(frames) = sub.recv_frames(Duration::from_millis(50)) else {
                continue;
            };
            let at = Instant::now();
            assert_eq!(frames.len(), 1, "one frame per message");
            let msg: sonic_rs::Value =
                sonic_rs::from_slice(&inflate_frame(&frames[0])).expect("the JSON parses");
            let mut a = lock(&into);
            for (name, key) in upload_keys(&msg) {
                if name == LOAD_KEY {
                    a.load.push((at, key.parse().expect("a numeric key")));
                } else if name == WARMUP_KEY {
                    let g = usize::from(key.starts_with("g1-"));
                    a.warmups[g] += 1;
                }
            }
        }
    })
}

/// POST a unique upload every [`LOAD_INTERVAL`], alternating gateways, until `stop`; the
/// keys count up from `first_key`.
fn load(
    gateways: [SocketAddr; 2],
    first_key: u64,
    accepted: Accepted,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = first_key;
        let mut next = Instant::now();
        while !stop.load(Relaxed) {
            let body = orders_message(&[(LOAD_KEY, &n.to_string())], 1, 1, n + 1);
            let r = upload(gateways[(n % 2) as usize], &[], body.as_bytes());
            if r.status == 200 && r.body == b"1" {
                lock(&accepted).insert(n, Instant::now());
            } else {
                eprintln!("upload {n} not accepted: {} {:?}", r.status, r.text());
            }
            n += 1;
            next += LOAD_INTERVAL;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    })
}

/// Start an announcer on fixed ports, retrying while they are not yet free again.
fn start_announcer(sub_port: u16, pub_port: u16) -> Relay {
    let sub_bind = format!("tcp://127.0.0.1:{sub_port}");
    let bind = format!("tcp://127.0.0.1:{pub_port}");
    let mut args = vec![
        "--sub-bind",
        &sub_bind,
        "--bind",
        &bind,
        "--stats-interval-s",
        "1",
    ];
    args.extend(ZMQ);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Relay::try_start("announcer", &args) {
            Ok(a) => {
                assert_eq!(a.sub_endpoint(), sub_bind);
                assert_eq!(a.pub_endpoint, bind);
                return a;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("announcer on {sub_port}/{pub_port} did not start, retrying: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("the announcer cannot start again on its ports within 10 s: {e}"),
        }
    }
}

/// The first arrival at `arrivals` of an upload accepted after `t`, waiting up to
/// [`RECOVERY_MAX`]; returns how long after `t` it arrived.
fn first_arrival_after(arrivals: &Mutex<Arrivals>, accepted: &Accepted, t: Instant) -> Duration {
    let deadline = t + RECOVERY_MAX;
    loop {
        let first = {
            let acc = lock(accepted);
            lock(arrivals)
                .load
                .iter()
                .filter(|(_, k)| acc.get(k).is_some_and(|&a| a > t))
                .map(|&(at, _)| at)
                .min()
        };
        if let Some(at) = first {
            return at.duration_since(t);
        }
        assert!(
            Instant::now() < deadline,
            "no upload accepted after the fault reached the surviving consumer within {RECOVERY_MAX:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The longest silence between two arrivals within `[from, to]`.
fn longest_gap(arrivals: &[(Instant, u64)], from: Instant, to: Instant) -> Duration {
    let mut times: Vec<Instant> = arrivals
        .iter()
        .map(|&(at, _)| at)
        .filter(|&at| at >= from && at <= to)
        .collect();
    times.sort();
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default()
}

#[test]
fn the_feed_survives_losing_an_announcer_and_a_relay() {
    let t0 = Instant::now();
    let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
    let mut announcers: Vec<Relay> = ports.iter().map(|&(s, p)| start_announcer(s, p)).collect();
    let mut gw_args: Vec<&str> = Vec::new();
    for a in &announcers {
        gw_args.extend(["--pub-connect", a.sub_endpoint()]);
    }
    gw_args.extend(ZMQ);
    let mut gateways = [Gateway::start(1, &gw_args), Gateway::start(1, &gw_args)];
    let mut relay_args: Vec<&str> = Vec::new();
    for a in &announcers {
        relay_args.extend(["--upstream", a.pub_endpoint.as_str()]);
    }
    relay_args.extend(["--stats-interval-s", "1"]);
    relay_args.extend(ZMQ);
    let mut relays = [
        Relay::start("relay", &relay_args),
        Relay::start("relay", &relay_args),
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let arrivals = [
        Arc::new(Mutex::new(Arrivals::default())),
        Arc::new(Mutex::new(Arrivals::default())),
    ];
    let mut threads = Threads {
        stop: Arc::clone(&stop),
        handles: Vec::new(),
    };
    for (r, a) in relays.iter().zip(&arrivals) {
        threads
            .handles
            .push(consume(r.sub(), Arc::clone(a), Arc::clone(&stop)));
    }

    // Warm up every path: warm-ups from both gateways at both consumers, both relays
    // subscribed to both announcers, and both relays seeing copies through both (duplicates).
    let warm_deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0u64;
    loop {
        let ready = arrivals
            .iter()
            .all(|a| lock(a).warmups.iter().all(|&w| w > 0))
            && announcers
                .iter()
                .all(|a| a.stats().is_some_and(|c| c.get("subscribers") == 2))
            && relays
                .iter()
                .all(|r| r.stats().is_some_and(|c| c.get("duplicates") > 0));
        if ready {
            break;
        }
        assert!(
            Instant::now() < warm_deadline,
            "the topology did not come up in 20 s: announcers {:?}, relays {:?}",
            announcers.iter().map(Relay::stats).collect::<Vec<_>>(),
            relays.iter().map(Relay::stats).collect::<Vec<_>>()
        );
        let g = (n % 2) as usize;
        let body = orders_message(&[(WARMUP_KEY, &format!("g{g}-{n}"))], 1, 1, 1);
        upload(gateways[g].http, &[], body.as_bytes()).assert_accepted("warm-up");
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    println!("topology up after {:?} ({n} warm-ups)", t0.elapsed());

    let accepted: Accepted = Arc::default();
    let load_stop = Arc::new(AtomicBool::new(false));
    let loader = load(
        [gateways[0].http, gateways[1].http],
        0,
        Arc::clone(&accepted),
        Arc::clone(&load_stop),
    );
    let load_started = Instant::now();
    std::thread::sleep(PAUSE);

    let kill_a0 = Instant::now();
    announcers[0].kill9();
    std::thread::sleep(PAUSE);

    let kill_r0 = Instant::now();
    relays[0].kill9();
    std::thread::sleep(PAUSE);

    let restart_a0 = Instant::now();
    announcers[0] = start_announcer(ports[0].0, ports[0].1);
    let restarted_in = restart_a0.elapsed();
    // Picked up: the surviving relay subscribed again, and frames from the gateways go out
    // through it (its periodic line, once a second).
    announcers[0].wait_stats(RECOVERY_MAX, |c| {
        c.get("subscribers") == 1 && c.get("sent") > 0
    });
    let picked_up = restart_a0.elapsed();
    std::thread::sleep(Duration::from_secs(1));

    let kill_a1 = Instant::now();
    announcers[1].kill9();
    let failover = first_arrival_after(&arrivals[1], &accepted, kill_a1);
    std::thread::sleep(PAUSE);

    load_stop.store(true, Relaxed);
    loader.join().expect("the loader");
    let load_stopped = Instant::now();
    let accepted = lock(&accepted).clone();

    // Drain: wait (bounded) for the tail to reach the surviving consumer, then a little more
    // for any late duplicate.
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let have = lock(&arrivals[1]).load.len();
        if have >= accepted.len() || Instant::now() >= drain_deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));

    let at = |t: Instant| format!("{:.2}s", t.duration_since(load_started).as_secs_f64());
    let survivor = lock(&arrivals[1]).load.clone();
    let gap = |from: Instant| longest_gap(&survivor, from, from + Duration::from_secs(3));
    println!(
        "timeline (from load start): kill -9 announcer 0 at {}, kill -9 relay 0 at {}, \
         announcer 0 restarted at {} (ready line after {restarted_in:?}), kill -9 announcer 1 \
         at {}, load stopped at {}",
        at(kill_a0),
        at(kill_r0),
        at(restart_a0),
        at(kill_a1),
        at(load_stopped)
    );
    println!(
        "restarted announcer 0 seen forwarding to the surviving relay {picked_up:?} after its \
         restart (its stats line, 1 s resolution)"
    );
    println!(
        "after kill -9 of announcer 1 (only the restarted announcer left), the first upload \
         accepted after the kill reached the surviving consumer in {failover:?}"
    );
    println!(
        "longest silence at the surviving consumer in the 3 s after: kill announcer 0 {:?}, \
         kill relay 0 {:?}, restart announcer 0 {:?}, kill announcer 1 {:?} (load: one upload \
         every {LOAD_INTERVAL:?})",
        gap(kill_a0),
        gap(kill_r0),
        gap(restart_a0),
        gap(kill_a1)
    );

    // The surviving consumer: every accepted upload exactly once.
    let mut count: HashMap<u64, usize> = HashMap::new();
    for &(_, k) in &survivor {
        *count.entry(k).or_default() += 1;
    }
    let dups: Vec<(u64, usize)> = count
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(&k, &c)| (k, c))
        .collect();
    let unknown: Vec<u64> = count
        .keys()
        .filter(|k| !accepted.contains_key(k))
        .copied()
        .collect();
    let mut missing: Vec<(u64, String)> = accepted
        .iter()
        .filter(|(k, _)| !count.contains_key(k))
        .map(|(&k, &t)| (k, at(t)))
        .collect();
    missing.sort();
    println!(
        "{} uploads accepted; the surviving consumer got {} messages ({} distinct); \
         {} missing, {} duplicated, {} unknown",
        accepted.len(),
        survivor.len(),
        count.len(),
        missing.len(),
        dups.len(),
        unknown.len()
    );
    assert!(
        accepted.len() > 200,
        "the load ran: {} uploads",
        accepted.len()
    );
    assert!(
        missing.is_empty(),
        "uploads missing at the surviving consumer (key, accepted at): {missing:?}"
    );
    assert!(
        dups.is_empty(),
        "uploads delivered more than once (key, copies): {dups:?}"
    );
    assert!(unknown.is_empty(), "keys never accepted: {unknown:?}");
    assert!(failover < RECOVERY_MAX);

    // The consumer on the relay that died: no duplicates, and everything accepted well before
    // its relay died (including after announcer 0 died) had arrived.
    let dead = lock(&arrivals[0]).load.clone();
    let mut seen = HashMap::new();
    for &(_, k) in &dead {
        assert!(
            seen.insert(k, ()).is_none(),
            "upload {k} twice at the consumer of relay 0"
        );
    }
    let before_r0: Vec<u64> = accepted
        .iter()
        .filter(|(_, &t)| t + Duration::from_millis(200) < kill_r0)
        .map(|(&k, _)| k)
        .filter(|k| !seen.contains_key(k))
        .collect();
    assert!(
        before_r0.is_empty(),
        "relay 0's consumer missed uploads accepted before relay 0 died: {before_r0:?}"
    );

    // Phase 2, the precise time from an announcer's restart to frames flowing through it:
    // announcer 1 (dead) comes back, and the moment its ready line is out, announcer 0, the
    // only one left, is killed; whatever reaches the surviving consumer after that went
    // through the restarted announcer. Uploads accepted before both gateways and the relay
    // have reconnected to it are lost (no announcer could take them): that gap is what is
    // measured, so they are counted, not failed on.
    const PROBE_BASE: u64 = 1 << 32;
    let probes: Accepted = Arc::default();
    let probe_stop = Arc::new(AtomicBool::new(false));
    let prober = load(
        [gateways[0].http, gateways[1].http],
        PROBE_BASE,
        Arc::clone(&probes),
        Arc::clone(&probe_stop),
    );
    std::thread::sleep(Duration::from_millis(500));
    announcers[1] = start_announcer(ports[1].0, ports[1].1);
    let restart_a1 = Instant::now();
    announcers[0].kill9();
    let pickup = first_arrival_after(&arrivals[1], &probes, restart_a1);
    std::thread::sleep(Duration::from_secs(3));
    probe_stop.store(true, Relaxed);
    prober.join().expect("the prober");
    std::thread::sleep(Duration::from_millis(500));
    drop(threads);
    let probes = lock(&probes).clone();
    let mut probe_count: HashMap<u64, usize> = HashMap::new();
    for &(_, k) in lock(&arrivals[1])
        .load
        .iter()
        .filter(|(_, k)| *k >= PROBE_BASE)
    {
        *probe_count.entry(k).or_default() += 1;
    }
    let mut lost: Vec<Duration> = probes
        .iter()
        .filter(|(k, _)| !probe_count.contains_key(k))
        .map(|(_, &t)| t.saturating_duration_since(restart_a1))
        .collect();
    lost.sort();
    let last_lost = lost.last().map_or_else(String::new, |t| {
        format!(", the last accepted {t:?} after the restart")
    });
    println!(
        "announcer 1 restarted and announcer 0 killed at once: the first upload accepted after \
         that reached the surviving consumer through the restarted announcer {pickup:?} after \
         its ready line; {} of {} probe uploads lost in the gap{last_lost}",
        lost.len(),
        probes.len(),
    );
    assert!(pickup < RECOVERY_MAX);
    assert!(
        probe_count.values().all(|&c| c == 1),
        "probe uploads delivered twice: {probe_count:?}"
    );
    assert!(
        lost.last()
            .is_none_or(|&t| t < pickup + Duration::from_secs(2)),
        "uploads lost well after the restarted announcer was picked up: {lost:?}"
    );

    // Clean shutdown of the survivors.
    let c = relays[1].stop();
    println!("surviving relay: {c:?}");
    assert!(
        c.get("duplicates") > 0,
        "the surviving relay dropped copies: {c:?}"
    );
    announcers[1].stop();
    for g in &mut gateways {
        g.stop();
    }
    println!("topology test took {:?}", t0.elapsed());
}
