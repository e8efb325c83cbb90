//! Helpers of the loadgen's black-box tests: the `emdr-loadgen` binary run with a deadline,
//! the sink as a child process, a fake gateway (HTTP in, `engine::Pipeline`, ZeroMQ PUB out,
//! with knobs to drop or duplicate messages) and a fake relay (SUB bind in, PUB bind out).
//!
//! Invariants every test relies on: everything listens on 127.0.0.1 with ephemeral ports
//! (`:0`, `tcp://127.0.0.1:*`), read back from ready lines or sockets; every wait is bounded
//! (a run that overstays [`RUN_TIMEOUT`] is killed and fails the test); child processes are
//! killed when their guard drops.
// Each test crate uses a different part of this module. And like the #[test] functions that
// call them (clippy.toml: allow-unwrap-in-tests), these helpers may unwrap: a panic here is a
// failed test, which is what we want.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use engine::{Pipeline, PipelineConfig, Upload};
use sonic_rs::{JsonValueTrait, Value};

/// Bound on one generator run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a ready line.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_emdr-loadgen")
}

/// What a finished run left.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit status; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Run the generator with `line` (arguments separated by spaces) to its end, bounded by
/// [`RUN_TIMEOUT`].
pub fn loadgen(line: &str) -> Run {
    let args: Vec<&str> = line.split_whitespace().collect();
    let mut child = Command::new(bin())
        .args(&args)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emdr-loadgen");
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "emdr-loadgen {args:?} ran longer than {RUN_TIMEOUT:?}; stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn reader(r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(r).read_to_string(&mut s);
        s
    })
}

/// A child process killed on drop.
pub struct Daemon {
    child: Child,
    pub ready: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `cmd` and wait (bounded) for its first stdout line.
pub fn daemon(mut cmd: Command) -> Daemon {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    let ready = match rx.recv_timeout(START_TIMEOUT) {
        Ok(l) => l,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no ready line: {e:?}");
        }
    };
    Daemon { child, ready }
}

/// The value of `key=` in a ready line.
pub fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .to_string()
}

/// The sink, started and ready; its upload URL.
pub fn sink() -> (Daemon, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["sink", "--listen", "127.0.0.1:0"]);
    let d = daemon(cmd);
    assert!(
        d.ready.starts_with("emdr-loadgen sink listening: "),
        "{}",
        d.ready
    );
    let url = format!("http://{}/upload/", field(&d.ready, "http="));
    (d, url)
}

/// A file path unique to this test.
pub fn temp_json(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "emdr-loadgen-test-{}-{name}.json",
        std::process::id()
    ))
}

/// The JSON file a run wrote.
pub fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the --json file");
    let _ = std::fs::remove_file(path);
    sonic_rs::from_str(&text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

pub fn num(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

/// Assert the keys every --json file must have; the latency objects must be filled in when
/// `with_http` / `with_e2e` (else they may be null).
pub fn assert_required_keys(v: &Value, with_http: bool, with_e2e: bool) {
    for k in [
        "orders_per_s",
        "uploads_per_s",
        "sent",
        "accepted",
        "rejected",
        "published",
        "duplicated",
        "lost",
    ] {
        num(v, k);
    }
    for lat in ["http_latency_ms", "e2e_latency_ms"] {
        let o = v.get(lat).unwrap_or_else(|| panic!("no {lat}"));
        let wanted = if lat == "http_latency_ms" {
            with_http
        } else {
            with_e2e
        };
        if !wanted {
            assert!(o.is_null() || o.is_object());
            continue;
        }
        assert!(o.is_object(), "{lat} is {o}");
        for p in ["p50", "p99", "p999", "max"] {
            num(o, p);
        }
    }
}

/// How a fake gateway misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Do not publish every Nth accepted upload.
    pub drop_every: Option<u64>,
    /// Publish every frame twice.
    pub duplicate: bool,
}

/// A fake gateway: HTTP/1.1 keep-alive and pipelining on a std listener, the real engine
/// pipeline, a ZeroMQ PUB. Threads are left to end with the test process.
pub struct FakeGateway {
    pub url: String,
    pub pub_endpoint: String,
    pub accepted: Arc<AtomicU64>,
    _ctx: zmq::Context,
}

impl FakeGateway {
    pub fn start(faults: Faults) -> FakeGateway {
        let ctx = zmq::Context::new();
        let sock = ctx.socket(zmq::PUB).unwrap();
        sock.set_sndhwm(1_000_000).unwrap();
        sock.bind("tcp://127.0.0.1:*").unwrap();
        let pub_endpoint = sock.get_last_endpoint().unwrap().unwrap();
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while let Ok(frame) = rx.recv() {
                n += 1;
                if faults.drop_every.is_some_and(|k| n % k == 0) {
                    continue;
                }
                sock.send(&frame[..], 0).unwrap();
                if faults.duplicate {
                    sock.send(&frame[..], 0).unwrap();
                }
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let acc = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (tx, acc) = (tx.clone(), acc.clone());
                std::thread::spawn(move || serve(s, tx, acc));
            }
        });
        FakeGateway {
            url: format!("http://{addr}/upload/"),
            pub_endpoint,
            accepted,
            _ctx: ctx,
        }
    }
}

fn serve(mut s: TcpStream, tx: mpsc::Sender<Vec<u8>>, accepted: Arc<AtomicU64>) {
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut pipeline = Pipeline::new(PipelineConfig::default()).unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            let Ok(httparse::Status::Complete(head)) = req.parse(&buf[start..]) else {
                break;
            };
            let h = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| h.value.to_vec())
            };
            let length: usize = h("content-length")
                .and_then(|v| String::from_utf8(v).ok()?.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() - start < head + length {
                break;
            }
            let (ce, ct) = (h("content-encoding"), h("content-type"));
            let body = &buf[start + head..start + head + length];
            let upload = Upload {
                body,
                content_encoding: ce.as_deref(),
                content_type: ct.as_deref(),
                client_ip: None,
            };
            let mut frame = Vec::new();
            match pipeline.process(&upload, 1_700_000_000, &mut frame) {
                Ok(_) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
                    let _ = tx.send(frame);
                }
                Err(r) => {
                    let msg = r.to_string();
                    out.extend_from_slice(
                        format!(
                            "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{msg}",
                            msg.len()
                        )
                        .as_bytes(),
                    );
                }
            }
            start += head + length;
        }
        buf.drain(..start);
        if !out.is_empty() {
            if s.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// A fake relay: SUB bound for publishers that connect, PUB bound for subscribers; forwards
/// every frame byte for byte.
pub struct FakeRelay {
    pub sub_bind: String,
    pub pub_bind: String,
    _ctx: zmq::Context,
}

impl FakeRelay {
    pub fn start() -> FakeRelay {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_rcvhwm(1_000_000).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.bind("tcp://127.0.0.1:*").unwrap();
        let publ = ctx.socket(zmq::PUB).unwrap();
        publ.set_sndhwm(1_000_000).unwrap();
        publ.bind("tcp://127.0.0.1:*").unwrap();
        let sub_bind = sub.get_last_endpoint().unwrap().unwrap();
        let pub_bind = publ.get_last_endpoint().unwrap().unwrap();
        std::thread::spawn(move || {
            let mut msg = zmq::Message::new();
            while sub.recv(&mut msg, 0).is_ok() {
                let _ = publ.send(&msg[..], 0);
            }
        });
        FakeRelay {
            sub_bind,
            pub_bind,
            _ctx: ctx,
        }
    }
}

/// `target/{release,debug}/emdr` beside this crate, if built (the newest of the two).
pub fn emdr_binary() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    ["release", "debug"]
        .iter()
        .map(|p| root.join(p).join("emdr"))
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}
