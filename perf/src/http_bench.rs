//! The gateway side by side with the conventional fast server: the same engine behind
//! emdr's shards and behind may_minihttp, the same load and cores, in one run.
//!
//! Both servers do the whole job per upload: HTTP framing, `engine::Pipeline::process`
//! (gunzip, parse, validate, encode, zlib) and handing the frame to a ZeroMQ PUB socket.
//! - **emdr**: `gateway::daemon` with N pinned shards, each with its own pipeline and ring
//!   into the publisher shard.
//! - **may_minihttp**: N may worker threads; a pipeline per worker thread (the pipeline never
//!   yields, so a coroutine cannot move mid-call); frames go through a bounded crossbeam
//!   channel to one publisher thread owning the PUB socket: the conventional design.
//!
//! The load: `connections` keep-alive connections, each a client thread sending a request and
//! waiting for its answer (closed loop), cycling through pre-built gzip bodies of realistic
//! 100-order uploads. Latency is measured per request into an HdrHistogram. Every response
//! must be `200` with body `1`; anything else is counted as an error.

use std::cell::RefCell;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::synth::{self, Rng, Shape};
use engine::{Pipeline, PipelineConfig, Upload};
use hdrhistogram::Histogram;
use libdeflater::{CompressionLvl, Compressor};

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Server cores: emdr shards, may workers.
    pub shards: usize,
    /// Client connections (one thread each).
    pub connections: usize,
    /// Orders per upload.
    pub orders_per_upload: usize,
    /// Distinct bodies cycled by the clients.
    pub bodies: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            shards: 1,
            connections: 8,
            orders_per_upload: 100,
            bodies: 256,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
        }
    }
}

/// What one server did under the load.
#[derive(Debug, Clone)]
pub struct Figures {
    pub server: &'static str,
    pub uploads: u64,
    pub errors: u64,
    pub uploads_per_s: f64,
    pub orders_per_s: f64,
    /// Latency percentiles in microseconds: p50, p90, p99, p99.9, max.
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// Pre-built HTTP requests: 100-order uploads, gzip'd as EVEMon sends them.
pub fn build_requests(params: &Params) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(0x5eed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut gz = Compressor::new(CompressionLvl::new(6).expect("level 6 exists"));
    (0..params.bodies)
        .map(|i| {
            let json = synth::message_json(
                &mut rng,
                Shape::orders(1, params.orders_per_upload),
                now,
                Some(i as u64),
            );
            let mut body = vec![0; gz.gzip_compress_bound(json.len())];
            let n = gz
                .gzip_compress(&json, &mut body)
                .expect("the bound is large enough");
            body.truncate(n);
            let mut req = format!(
                "POST /upload/ HTTP/1.1\r\nHost: bench\r\nContent-Encoding: gzip\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(&body);
            req
        })
        .collect()
}

/// Read one response; true if it is `200` with body `1`.
fn read_response(r: &mut io::BufReader<TcpStream>, line: &mut String) -> io::Result<bool> {
    line.clear();
    r.read_line(line)?;
    let ok_status = line.starts_with("HTTP/1.1 200");
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(ok_status && body == b"1")
}

/// Drive `addr` with the load; returns the figures of the measured interval.
pub fn load(server: &'static str, addr: SocketAddr, requests: &[Vec<u8>], p: &Params) -> Figures {
    let requests = Arc::new(requests.to_vec());
    let start = Instant::now() + p.warmup;
    let end = start + p.duration;
    let threads: Vec<_> = (0..p.connections)
        .map(|c| {
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || -> (Histogram<u64>, u64, u64) {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                    .expect("valid histogram bounds");
                let (mut ok, mut errors) = (0u64, 0u64);
                let Ok(stream) = TcpStream::connect(addr) else {
                    return (hist, 0, 1);
                };
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(mut w) = stream.try_clone() else {
                    return (hist, 0, 1);
                };
                let mut r = io::BufReader::new(stream);
                let mut line = String::new();
                let mut i = c * 7919;
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let req = &requests[i % requests.len()];
                    i += 1;
                    let answered = w
                        .write_all(req)
                        .and_then(|()| read_response(&mut r, &mut line));
                    let done = Instant::now();
                    if sent < start {
                        continue;
                    }
                    match answered {
                        Ok(true) => {
                            ok += 1;
                            let us = done.duration_since(sent).as_micros() as u64;
                            let _ = hist.record(us.max(1));
                        }
                        Ok(false) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (hist, ok, errors)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let (mut uploads, mut errors) = (0, 0);
    for t in threads {
        let (h, ok, err) = t.join().expect("client thread");
        hist.add(h).expect("same bounds");
        uploads += ok;
        errors += err;
    }
    let secs = p.duration.as_secs_f64();
    Figures {
        server,
        uploads,
        errors,
        uploads_per_s: uploads as f64 / secs,
        orders_per_s: (uploads * p.orders_per_upload as u64) as f64 / secs,
        p50_us: hist.value_at_quantile(0.50),
        p90_us: hist.value_at_quantile(0.90),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
    }
}

/// Run the load against emdr's gateway (shards), then stop it.
pub fn run_emdr(requests: &[Vec<u8>], p: &Params) -> Result<Figures, String> {
    use clap::Parser as _;
    let shards = p.shards.to_string();
    let cli = gateway::config::Cli::try_parse_from([
        "emdr",
        "--http",
        "127.0.0.1:0",
        "--pub-bind",
        "tcp://127.0.0.1:*",
        "--shards",
        &shards,
    ])
    .map_err(|e| e.to_string())?;
    let cores = shards::available_cores();
    let config = cli.gateway.into_config(cores.len())?;
    let stop = Arc::new(AtomicBool::new(false));
    let gw = gateway::daemon::start(config, &cores, Arc::clone(&stop))?;
    let figures = load("emdr shards", gw.http, requests, p);
    stop.store(true, Relaxed);
    let registry = gw.wait()?;
    let published = registry.publisher.frames_published.load(Relaxed);
    if published < figures.uploads {
        return Err(format!(
            "emdr published {published} frames for {} accepted uploads",
            figures.uploads
        ));
    }
    Ok(figures)
}

thread_local! {
    static PIPELINE: RefCell<Option<Pipeline>> = const { RefCell::new(None) };
}

/// The may_minihttp service: the same pipeline, frames to a publisher thread.
#[derive(Clone)]
struct MaySvc {
    frames: crossbeam::channel::Sender<Vec<u8>>,
}

impl may_minihttp::HttpService for MaySvc {
    fn call(
        &mut self,
        req: may_minihttp::Request,
        rsp: &mut may_minihttp::Response,
    ) -> io::Result<()> {
        let header = |name: &str| {
            req.headers()
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.to_vec())
        };
        let (ce, ct) = (header("content-encoding"), header("content-type"));
        let mut body = Vec::new();
        req.body().read_to_end(&mut body)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let upload = Upload {
            body: &body,
            content_encoding: ce.as_deref(),
            content_type: ct.as_deref(),
            client_ip: None,
        };
        let mut frame = Vec::new();
        let result = PIPELINE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let pipeline = slot.get_or_insert_with(|| {
                Pipeline::new(PipelineConfig::default()).expect("the default config is valid")
            });
            pipeline.process(&upload, now, &mut frame)
        });
        match result {
            Ok(_) => {
                if self.frames.send(frame).is_err() {
                    rsp.status_code(503, "Service Unavailable");
                    rsp.body("publisher gone");
                } else {
                    rsp.body("1");
                }
            }
            Err(_) => {
                rsp.status_code(400, "Bad Request");
                rsp.body("rejected");
            }
        }
        Ok(())
    }
}

/// Run the load against the may_minihttp baseline. Its runtime cannot be stopped, so this
/// runs last in a process.
pub fn run_may_minihttp(requests: &[Vec<u8>], p: &Params) -> Result<Figures, String> {
    may::config().set_workers(p.shards).set_stack_size(0x10000);
    let (tx, rx) = crossbeam::channel::bounded::<Vec<u8>>(4096);
    let ctx = zmq::Context::new();
    let _publisher = std::thread::spawn(move || {
        let sock = ctx.socket(zmq::PUB).expect("PUB socket");
        let _ = sock.set_sndhwm(20_000);
        sock.bind("tcp://127.0.0.1:*").expect("bind PUB");
        let mut n = 0u64;
        while let Ok(frame) = rx.recv() {
            if sock.send(&frame[..], zmq::DONTWAIT).is_ok() {
                n += 1;
            }
        }
        n
    });
    // may_minihttp binds itself: find a free port first.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?;
    let _server = may_minihttp::HttpServer(MaySvc { frames: tx })
        .start(addr)
        .map_err(|e| format!("may_minihttp cannot listen on {addr}: {e}"))?;
    std::thread::sleep(Duration::from_millis(200));
    let figures = load("may_minihttp", addr, requests, p);
    Ok(figures)
}

/// The table, one row per server, with the ratio to the baseline.
pub fn table(rows: &[Figures]) -> String {
    let mut out = String::from(
        "server          uploads/s   orders/s  errors  p50 ms  p90 ms  p99 ms p99.9 ms  max ms\n",
    );
    for f in rows {
        out.push_str(&format!(
            "{:<14} {:>10.0} {:>10.0} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>8.2} {:>7.2}\n",
            f.server,
            f.uploads_per_s,
            f.orders_per_s,
            f.errors,
            f.p50_us as f64 / 1e3,
            f.p90_us as f64 / 1e3,
            f.p99_us as f64 / 1e3,
            f.p999_us as f64 / 1e3,
            f.max_us as f64 / 1e3,
        ));
    }
    if let [a, b, ..] = rows {
        if b.uploads_per_s > 0.0 {
            out.push_str(&format!(
                "ratio {} / {}: {:.2}x uploads/s\n",
                a.server,
                b.server,
                a.uploads_per_s / b.uploads_per_s
            ));
        }
    }
    out
}
