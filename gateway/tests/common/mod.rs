//! Helpers shared by the gateway's black-box tests: a [`Daemon`] guard that runs the real
//! `emdr` binary (wrapped as a [`Gateway`] on ephemeral loopback ports, or as a [`Relay`] for
//! `emdr relay` / `emdr announcer`, whose counter lines it parses), a raw HTTP/1.1 client over
//! `std::net::TcpStream` (so a test controls keep-alive, pipelining, chunking, `Expect` and
//! HTTP/1.0 byte for byte), a ZeroMQ SUB that checks each published message is one zlib frame,
//! a raw ZeroMQ PUB ([`RawPub`]) to feed a relay bytes the test chooses, and checks of the
//! canonical output of wire contract §4.
//!
//! Invariants every test relies on:
//! * Nothing here uses a fixed port: daemons bind `127.0.0.1:0` and `tcp://127.0.0.1:*`, and
//!   the ports are read from their ready lines, so tests run in parallel. The one exception is
//!   a daemon restarted on the same ports ([`free_port`]), which is retried while they are busy.
//! * Every wait is bounded: socket reads and writes have timeouts, the ready line and the exit
//!   are awaited with deadlines, and a [`Daemon`] that is dropped while still running is
//!   SIGKILLed, so a failing test never leaves a process behind.
//! * Frames are inflated with flate2 (miniz_oxide), not the gateway's libdeflate, so a bug
//!   shared by the gateway's compressor and decompressor cannot hide itself.
//!
//! Each test crate under `tests/` includes this module with `mod common;` and uses a different
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// Bound on every socket read and write, and on waiting for one message.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the gateway's start-up (the ready line) and on its exit after SIGTERM.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

pub const ORDER_COLUMNS: [&str; 11] = [
    "price",
    "volRemaining",
    "range",
    "orderID",
    "volEntered",
    "minVolume",
    "bid",
    "issueDate",
    "duration",
    "stationID",
    "solarSystemID",
];
pub const HISTORY_COLUMNS: [&str; 6] = ["date", "orders", "quantity", "low", "high", "average"];

/// The directory of the project's shared files (`../shared` beside the repository).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"))
}

/// The bytes of a spec fixture; fails the test with a clear message when shared/ is missing.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the fixture {} ({e}): the tests need ../shared beside the repository",
            path.display()
        )
    })
}

pub fn orders_fixture() -> Vec<u8> {
    fixture("uudif-orders-spec.json")
}

pub fn history_fixture() -> Vec<u8> {
    fixture("uudif-history-spec.json")
}

// ---------------------------------------------------------------------------------------------
// Processes: any `emdr` daemon, and the gateway.
// ---------------------------------------------------------------------------------------------

/// A running `emdr` daemon (gateway, relay or announcer). Dropping it SIGKILLs the process if
/// it is still running, so a failing test never leaves one behind; use [`Daemon::stop`] to
/// check a clean shutdown. Its stderr is collected as it is written, so a test can read the
/// periodic counter lines of a process that is still running.
pub struct Daemon {
    child: Child,
    status: Option<ExitStatus>,
    /// `gateway`, `relay` or `announcer`: the word after `emdr` in its ready line.
    kind: String,
    /// The first line it printed on stdout.
    pub ready_line: String,
    stderr_text: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

/// Send `sig` to process `pid`.
#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches no memory of this process. The pid is
    // that of our own child, which is not yet reaped (callers check), so it cannot have been
    // reused by another process.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

impl Daemon {
    /// Run `emdr ARGS` and wait (bounded) for a ready line starting `emdr KIND listening: `.
    /// On failure (it exits first, or stays silent) the process is killed and the error
    /// carries its stderr, so a caller can retry (e.g. a port not yet released).
    pub fn try_spawn(kind: &str, args: &[String]) -> Result<Daemon, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emdr"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the emdr binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr_text);
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so that the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        let mut d = Daemon {
            child,
            status: None,
            kind: kind.to_string(),
            ready_line: String::new(),
            stderr_text,
            stderr_reader: Some(stderr_reader),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.starts_with(&format!("emdr {kind} listening: ")) => {
                d.ready_line = line;
                Ok(d)
            }
            other => {
                d.kill9();
                Err(format!(
                    "emdr {kind} did not print its ready line ({other:?}); stderr: {:?}",
                    d.stderr()
                ))
            }
        }
    }

    /// [`Daemon::try_spawn`], failing the test on error.
    pub fn spawn(kind: &str, args: &[String]) -> Daemon {
        Daemon::try_spawn(kind, args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM (the process must still be running).
    pub fn sigterm(&mut self) {
        assert!(
            self.poll_exit().is_none(),
            "emdr {} already exited",
            self.kind
        );
        signal(self.pid(), libc::SIGTERM);
    }

    /// SIGKILL (`kill -9`) and reap, if still running.
    pub fn kill9(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// The exit status, if the process has exited.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Wait up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.poll_exit() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the process has written to stderr so far (it may still be running).
    pub fn stderr_now(&self) -> String {
        self.stderr_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything the process wrote to stderr (waits for the pipe to close: call after exit).
    pub fn stderr(&mut self) -> String {
        assert!(self.status.is_some(), "read stderr only after the exit");
        if let Some(h) = self.stderr_reader.take() {
            h.join().expect("stderr reader");
        }
        self.stderr_now()
    }

    /// SIGTERM, then assert a clean exit (status 0) within [`STOP_TIMEOUT`]; returns stderr,
    /// which ends with the shutdown summary.
    pub fn stop(&mut self) -> String {
        self.sigterm();
        self.expect_clean_exit()
    }

    /// Assert the process exits with status 0 within [`STOP_TIMEOUT`] and prints its
    /// `emdr KIND stopped:` summary; returns stderr.
    pub fn expect_clean_exit(&mut self) -> String {
        let status = self.wait_exit(STOP_TIMEOUT);
        let Some(status) = status else {
            panic!(
                "emdr {} did not exit within {STOP_TIMEOUT:?} of SIGTERM",
                self.kind
            );
        };
        let err = self.stderr();
        assert!(
            status.success(),
            "emdr {} exited with {status}; stderr: {err}",
            self.kind
        );
        assert!(
            err.contains(&format!("emdr {} stopped:", self.kind)),
            "no shutdown summary on stderr: {err:?}"
        );
        err
    }

    /// Resident memory now, in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {status}"))
    }

    /// A `key=value` field of the ready line.
    pub fn ready_field(&self, key: &str) -> String {
        self.ready_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the ready line {:?}", self.ready_line))
            .to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A running `emdr` gateway on ephemeral loopback ports.
pub struct Gateway {
    pub daemon: Daemon,
    pub http: SocketAddr,
    pub pub_endpoint: String,
}

impl Gateway {
    /// Start `emdr` with `shards` shards on ephemeral loopback ports, plus `extra` flags, and
    /// wait (bounded) for its ready line.
    pub fn start(shards: usize, extra: &[&str]) -> Gateway {
        let mut args: Vec<String> = ["--http", "127.0.0.1:0", "--pub-bind", "tcp://127.0.0.1:*"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push("--shards".into());
        args.push(shards.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let daemon = Daemon::spawn("gateway", &args);
        let (http, pub_endpoint) = parse_ready_line(&daemon.ready_line, shards);
        Gateway {
            daemon,
            http,
            pub_endpoint,
        }
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Send SIGTERM (the process must still be running).
    pub fn sigterm(&mut self) {
        self.daemon.sigterm();
    }

    /// The exit status, if the process has exited.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        self.daemon.poll_exit()
    }

    /// Wait up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.daemon.wait_exit(timeout)
    }

    /// Everything the process wrote to stderr (waits for the pipe to close: call after exit).
    pub fn stderr(&mut self) -> String {
        self.daemon.stderr()
    }

    /// SIGTERM, then assert a clean exit (status 0) within [`STOP_TIMEOUT`]; returns stderr,
    /// which ends with the shutdown summary.
    pub fn stop(&mut self) -> String {
        self.daemon.stop()
    }

    /// Assert the process exits with status 0 within [`STOP_TIMEOUT`]; returns stderr.
    pub fn expect_clean_exit(&mut self) -> String {
        self.daemon.expect_clean_exit()
    }

    /// The `/metrics` counters, by full name (labels included).
    pub fn metrics(&self) -> Metrics {
        let r = Client::connect(self.http).request(&get("/metrics"));
        assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
        Metrics::parse(&r.text())
    }

    /// A SUB socket connected to this gateway's feed (nothing checked yet; see [`Sub::warm_up`]).
    pub fn sub(&self) -> Sub {
        Sub::connect(&self.pub_endpoint)
    }

    /// A SUB socket that is known to receive: connected, warmed up and drained.
    pub fn ready_sub(&self) -> Sub {
        let sub = self.sub();
        sub.warm_up(self.http);
        sub
    }
}

/// `emdr gateway listening: http=127.0.0.1:PORT pub=tcp://127.0.0.1:PORT2 shards=N`
fn parse_ready_line(line: &str, shards: usize) -> (SocketAddr, String) {
    assert!(
        line.starts_with("emdr gateway listening: "),
        "unexpected ready line {line:?}"
    );
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the ready line {line:?}"))
            .to_string()
    };
    let http: SocketAddr = field("http=")
        .parse()
        .unwrap_or_else(|e| panic!("http= in {line:?}: {e}"));
    assert_ne!(http.port(), 0, "{line}");
    let pub_ep = field("pub=")
        .split(',')
        .next()
        .expect("one endpoint")
        .to_string();
    assert!(
        pub_ep.starts_with("tcp://127.0.0.1:") && !pub_ep.ends_with(":*"),
        "{line}"
    );
    assert_eq!(field("shards="), shards.to_string(), "{line}");
    (http, pub_ep)
}

/// Prometheus text, parsed into `name{labels}` → value.
#[derive(Debug, Clone)]
pub struct Metrics(pub HashMap<String, u64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut map = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("metrics line {line:?}"));
            let value: u64 = value
                .parse()
                .unwrap_or_else(|e| panic!("metrics line {line:?}: {e}"));
            map.insert(name.to_string(), value);
        }
        Metrics(map)
    }

    /// A counter's value; fails the test when it is not exported.
    pub fn get(&self, name: &str) -> u64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("metric {name} not exported; have {:?}", self.0.keys()))
    }

    pub fn rejected(&self, reason: &str) -> u64 {
        self.get(&format!(
            "emdr_uploads_rejected_total{{reason=\"{reason}\"}}"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP.
// ---------------------------------------------------------------------------------------------

/// One HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// Assert this is the success answer of wire contract §2.3: 200 with the body exactly `1`.
    pub fn assert_accepted(&self, what: &str) {
        assert!(
            self.status == 200 && self.body == b"1",
            "{what}: expected 200 \"1\", got {} {:?}",
            self.status,
            self.text()
        );
    }

    /// Assert a rejection: this status and a one-line reason containing `needle`.
    pub fn assert_rejected(&self, status: u16, needle: &str, what: &str) {
        let text = self.text();
        assert_eq!(self.status, status, "{what}: body {text:?}");
        assert!(
            text.contains(needle),
            "{what}: the reason {text:?} should mention {needle:?}"
        );
        assert!(
            !text.trim_end().contains('\n') && !text.is_empty(),
            "{what}: the reason should be one line: {text:?}"
        );
    }
}

/// A raw HTTP/1.1 client connection with its own read buffer.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Why a connection ended, as seen by a reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// A clean EOF.
    Eof,
    /// ECONNRESET or EPIPE: the peer closed with unread data.
    Reset,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Client::from_stream(stream)
    }

    /// Wrap a connected stream, with the usual timeouts.
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the gateway");
    }

    /// Write, reporting errors (the server may have closed the connection).
    pub fn try_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 << 10];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read one response; `Ok(None)` when the connection closed before any byte of it.
    pub fn try_read_response(&mut self) -> io::Result<Option<Response>> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "EOF inside a response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        assert_eq!(version, "HTTP/1.1", "status line {status_line:?}");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let reason = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("header line {l:?}"));
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        let bodiless = status < 200 || status == 204 || status == 304;
        if !bodiless {
            let len: usize = r
                .header("content-length")
                .unwrap_or_else(|| panic!("response without Content-Length: {head:?}"))
                .parse()
                .unwrap_or_else(|e| panic!("Content-Length in {head:?}: {e}"));
            while self.buf.len() < len {
                if self.fill()? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "EOF inside a response body",
                    ));
                }
            }
            r.body = self.buf.drain(..len).collect();
        }
        Ok(Some(r))
    }

    /// Read one response; fails the test on EOF or timeout.
    pub fn read_response(&mut self) -> Response {
        match self.try_read_response() {
            Ok(Some(r)) => r,
            Ok(None) => panic!("the gateway closed the connection instead of answering"),
            Err(e) => panic!("reading a response: {e}"),
        }
    }

    /// Write a request and read its response.
    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.write(raw);
        self.read_response()
    }

    /// Read until the server closes the connection (bounded by `timeout`); returns how it
    /// ended and any bytes that arrived first. Fails the test if it stays open.
    pub fn wait_closed(&mut self, timeout: Duration) -> (Closed, Vec<u8>) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let closed = loop {
            match self.fill() {
                Ok(0) => break Closed::Eof,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    break Closed::Reset
                }
                Err(e) => panic!(
                    "the connection stayed open ({e}); read so far {:?}",
                    self.buf
                ),
            }
        };
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("timeout");
        (closed, std::mem::take(&mut self.buf))
    }

    /// Assert nothing more is readable and the server has closed (EOF or reset).
    pub fn assert_closed(&mut self) {
        let (_, rest) = self.wait_closed(IO_TIMEOUT);
        assert!(
            rest.is_empty(),
            "unexpected bytes before the close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request with a body and `Content-Length`; `headers` go after `Host`.
pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nHost: emdr.test\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

/// A bodiless GET.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: emdr.test\r\n\r\n").into_bytes()
}

/// POST `body` to `/upload/` on a new connection and read the answer.
pub fn upload(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Client::connect(addr).request(&post("/upload/", headers, body))
}

/// Percent-encode everything but the unreserved characters (a `data=` form value).
pub fn urlencode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Compression.
// ---------------------------------------------------------------------------------------------

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

pub fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

/// Inflate a published frame, which must be zlib (RFC 1950) with nothing after it.
pub fn inflate_frame(frame: &[u8]) -> Vec<u8> {
    assert!(frame.len() >= 6, "frame of {} bytes", frame.len());
    assert_eq!(frame[0] & 0x0f, 8, "zlib CM=8 header, got {:02x}", frame[0]);
    assert_eq!(
        (u16::from(frame[0]) << 8 | u16::from(frame[1])) % 31,
        0,
        "zlib FCHECK"
    );
    let mut d = flate2::bufread::ZlibDecoder::new(frame);
    let mut out = Vec::new();
    d.read_to_end(&mut out).expect("the frame is valid zlib");
    assert_eq!(
        d.total_in() as usize,
        frame.len(),
        "bytes after the zlib stream"
    );
    out
}

// ---------------------------------------------------------------------------------------------
// ZeroMQ.
// ---------------------------------------------------------------------------------------------

/// Upload-key name of the warm-up messages; [`Sub::recv`] skips them.
pub const WARMUP_KEY: &str = "emdr-test-warmup";

/// A subscriber to the whole feed.
pub struct Sub {
    _ctx: zmq::Context,
    pub socket: zmq::Socket,
    /// How many warm-up uploads [`Sub::warm_up`] made (each is one accepted upload of one
    /// order, which the gateway's counters include).
    pub warmups: std::cell::Cell<u64>,
}

impl Sub {
    pub fn connect(endpoint: &str) -> Sub {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::SUB).expect("a SUB socket");
        socket.set_linger(0).expect("linger");
        socket.set_rcvhwm(100_000).expect("rcvhwm");
        socket.set_subscribe(b"").expect("subscribe");
        socket.connect(endpoint).expect("connect SUB");
        Sub {
            _ctx: ctx,
            socket,
            warmups: std::cell::Cell::new(0),
        }
    }

    /// Wrap a SUB socket the caller configured itself (it must outlive nothing but `ctx`).
    pub fn from_socket(ctx: zmq::Context, socket: zmq::Socket) -> Sub {
        Sub {
            _ctx: ctx,
            socket,
            warmups: std::cell::Cell::new(0),
        }
    }

    /// One raw message's frames within `timeout`, or `None`.
    pub fn recv_frames(&self, timeout: Duration) -> Option<Vec<Vec<u8>>> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        self.socket.set_rcvtimeo(ms).expect("rcvtimeo");
        match self.socket.recv_multipart(0) {
            Ok(frames) => Some(frames),
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("SUB recv: {e}"),
        }
    }

    /// One message within `timeout`: asserted to be a single zlib frame, inflated and parsed.
    /// Warm-up messages are included.
    pub fn recv_any(&self, timeout: Duration) -> Option<Value> {
        let frames = self.recv_frames(timeout)?;
        assert_eq!(
            frames.len(),
            1,
            "a published message is one frame (§4), got {}",
            frames.len()
        );
        let json = inflate_frame(&frames[0]);
        Some(sonic_rs::from_slice(&json).unwrap_or_else(|e| {
            panic!(
                "the published JSON does not parse ({e}): {}",
                String::from_utf8_lossy(&json)
            )
        }))
    }

    /// The next message that is not a warm-up, within [`IO_TIMEOUT`]; fails the test otherwise.
    pub fn recv(&self) -> Value {
        self.try_recv(IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no message on the feed within {IO_TIMEOUT:?}"))
    }

    /// The next message that is not a warm-up, within `timeout`.
    pub fn try_recv(&self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.recv_any(left.max(Duration::from_millis(1)))?;
            if !is_warmup(&msg) {
                return Some(msg);
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Beat the ZeroMQ slow joiner: POST warm-up uploads until one reaches this socket
    /// (bounded), then drain what else is in flight. After this, every frame the gateway
    /// publishes reaches this socket.
    pub fn warm_up(&self, http: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut n = 0u32;
        loop {
            assert!(
                Instant::now() < deadline,
                "no warm-up message reached the SUB socket in 20 s"
            );
            n += 1;
            self.warmups.set(self.warmups.get() + 1);
            let body = orders_message(&[(WARMUP_KEY, &n.to_string())], 1, 1, 1);
            upload(http, &[], body.as_bytes()).assert_accepted("warm-up upload");
            if let Some(msg) = self.recv_any(Duration::from_millis(100)) {
                assert!(is_warmup(&msg), "unexpected message during warm-up: {msg}");
                break;
            }
        }
        // Drain the warm-ups still in flight; `recv` would skip them anyway.
        while let Some(msg) = self.recv_any(Duration::from_millis(200)) {
            assert!(is_warmup(&msg), "unexpected message during warm-up: {msg}");
        }
    }
}

/// Whether a message is one of [`Sub::warm_up`]'s.
pub fn is_warmup(msg: &Value) -> bool {
    upload_keys(msg).iter().any(|(n, _)| n == WARMUP_KEY)
}

/// The `uploadKeys` of a message as (name, key) pairs.
pub fn upload_keys(msg: &Value) -> Vec<(String, String)> {
    let Some(keys) = msg.get("uploadKeys").and_then(|k| k.as_array()) else {
        panic!("uploadKeys is not an array in {msg}");
    };
    keys.iter()
        .map(|k| {
            let s = |f: &str| {
                k.get(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| panic!("uploadKeys entry {k} lacks {f}"))
                    .to_string()
            };
            (s("name"), s("key"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// UUDIF messages and the canonical output.
// ---------------------------------------------------------------------------------------------

/// An orders message: `rowsets` rowsets of `rows` rows each, distinct orderIDs from
/// `first_order_id`, with the given upload keys.
pub fn orders_message(
    keys: &[(&str, &str)],
    rowsets: usize,
    rows: usize,
    first_order_id: u64,
) -> String {
    let mut s = String::with_capacity(rowsets * rows * 110 + 512);
    s.push_str(r#"{"resultType":"orders","version":"0.1","uploadKeys":["#);
    for (i, (name, key)) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(r#"{{"name":"{name}","key":"{key}"}}"#));
    }
    s.push_str(r#"],"generator":{"name":"emdr-gateway-tests","version":"1"},"#);
    s.push_str(r#""currentTime":"2011-10-22T15:46:00+00:00","columns":["#);
    s.push_str(&quoted_list(&ORDER_COLUMNS));
    s.push_str(r#"],"rowsets":["#);
    let mut order_id = first_order_id;
    for rs in 0..rowsets {
        if rs > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"generatedAt":"2011-10-22T15:43:00+00:00","regionID":10000002,"typeID":{},"rows":["#,
            34 + rs
        ));
        for r in 0..rows {
            if r > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                r#"[{}.25,{},32767,{order_id},100,1,{},"2011-12-03T08:10:59+00:00",90,60003760,30000142]"#,
                1000 + r,
                1 + r % 100,
                r % 2 == 0
            ));
            order_id += 1;
        }
        s.push_str("]}");
    }
    s.push_str("]}");
    s
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `s` is exactly `YYYY-MM-DDTHH:MM:SS+00:00`.
pub fn is_canonical_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 25
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19..=24 => c == b"+00:00"[i - 19],
            _ => c.is_ascii_digit(),
        })
}

/// The result type and row count of a message, after checking it is canonical (§4): version
/// "0.1", the full canonical columns in order, every row that long, every timestamp
/// `YYYY-MM-DDTHH:MM:SS+00:00`.
pub fn check_canonical(msg: &Value) -> (String, usize) {
    let kind = msg
        .get("resultType")
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no resultType in {msg}"))
        .to_string();
    let (want, time_col): (&[&str], usize) = match kind.as_str() {
        "orders" => (&ORDER_COLUMNS, 7),
        "history" => (&HISTORY_COLUMNS, 0),
        other => panic!("resultType {other:?}"),
    };
    assert_eq!(
        msg.get("version").and_then(|v| v.as_str()),
        Some("0.1"),
        "version in {msg}"
    );
    let columns: Vec<&str> = msg
        .get("columns")
        .and_then(|c| c.as_array())
        .unwrap_or_else(|| panic!("no columns in {msg}"))
        .iter()
        .map(|c| c.as_str().expect("a column name"))
        .collect();
    assert_eq!(columns, want, "canonical columns");
    let now = msg
        .get("currentTime")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    assert!(is_canonical_time(now), "currentTime {now:?}");
    let generator = msg.get("generator").expect("generator");
    assert!(
        generator.get("name").and_then(|v| v.as_str()).is_some(),
        "generator {generator}"
    );
    let _ = upload_keys(msg);
    let rowsets = msg
        .get("rowsets")
        .and_then(|r| r.as_array())
        .unwrap_or_else(|| panic!("no rowsets in {msg}"));
    let mut total = 0;
    for rs in rowsets.iter() {
        let at = rs
            .get("generatedAt")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(is_canonical_time(at), "generatedAt {at:?}");
        assert!(rs.get("typeID").and_then(|v| v.as_i64()).is_some(), "{rs}");
        let rows = rs
            .get("rows")
            .and_then(|r| r.as_array())
            .unwrap_or_else(|| panic!("rowset without rows: {rs}"));
        for row in rows.iter() {
            let row = row.as_array().expect("a row is an array");
            assert_eq!(row.len(), want.len(), "row length");
            let t = row
                .get(time_col)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            assert!(is_canonical_time(t), "row timestamp {t:?}");
        }
        total += rows.len();
    }
    (kind, total)
}

/// Hex SHA-1 of `salt` followed by `ip` (the uploader tag of §2.5).
pub fn ip_key(salt: &str, ip: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(salt.as_bytes());
    h.update(ip.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Relays, announcers and raw ZeroMQ publishers.
// ---------------------------------------------------------------------------------------------

/// Short ZeroMQ reconnect and heartbeat intervals, so that fault tests run fast.
pub const FAST_ZMQ: [&str; 8] = [
    "--reconnect-ivl-ms",
    "50",
    "--reconnect-ivl-max-ms",
    "200",
    "--heartbeat-ivl-ms",
    "200",
    "--heartbeat-timeout-ms",
    "1000",
];

/// A loopback port that was free a moment ago (bind port 0, read it, close it), for a daemon
/// that must be restarted on the same port.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// The `key=value` counters of a relay's summary line (`received=1 forwarded=1 ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub HashMap<String, u64>);

impl Counters {
    pub fn parse(line: &str) -> Counters {
        Counters(
            line.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
                .collect(),
        )
    }

    /// A counter; fails the test when the line lacks it.
    pub fn get(&self, name: &str) -> u64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no {name}= in the summary {:?}", self.0))
    }
}

/// A running `emdr relay` or `emdr announcer`.
pub struct Relay {
    pub daemon: Daemon,
    /// `relay` or `announcer`.
    pub kind: &'static str,
    /// Where subscribers connect (`tcp://127.0.0.1:PORT`).
    pub pub_endpoint: String,
    /// The SUB socket's bound endpoints (announcers: where gateways connect).
    pub sub_endpoints: Vec<String>,
}

impl Relay {
    /// Start `emdr KIND ARGS` with [`FAST_ZMQ`] and loopback defaults where `args` gives none
    /// (a flag may be given once only):
    /// `--bind tcp://127.0.0.1:0`, `--shards 1`, and for an announcer `--sub-bind
    /// 'tcp://127.0.0.1:*'` (never its 0.0.0.0:8049 default).
    pub fn try_start(kind: &'static str, args: &[&str]) -> Result<Relay, String> {
        let has = |flag: &str| args.contains(&flag);
        let mut all: Vec<String> = vec![kind.to_string()];
        for pair in FAST_ZMQ.chunks(2) {
            if !has(pair[0]) {
                all.extend(pair.iter().map(|s| s.to_string()));
            }
        }
        if !has("--bind") {
            all.extend(["--bind".into(), "tcp://127.0.0.1:0".into()]);
        }
        if !has("--shards") {
            all.extend(["--shards".into(), "1".into()]);
        }
        if kind == "announcer" && !has("--sub-bind") {
            all.extend(["--sub-bind".into(), "tcp://127.0.0.1:*".into()]);
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let daemon = Daemon::try_spawn(kind, &all)?;
        let pub_endpoint = daemon
            .ready_field("pub=")
            .split(',')
            .next()
            .expect("one endpoint")
            .to_string();
        assert!(
            pub_endpoint.starts_with("tcp://127.0.0.1:") && !pub_endpoint.ends_with(":0"),
            "{}",
            daemon.ready_line
        );
        let sub_endpoints = daemon
            .ready_field("sub=")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Relay {
            daemon,
            kind,
            pub_endpoint,
            sub_endpoints,
        })
    }

    /// [`Relay::try_start`], failing the test on error.
    pub fn start(kind: &'static str, args: &[&str]) -> Relay {
        Relay::try_start(kind, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The announcer's SUB endpoint, where gateways connect.
    pub fn sub_endpoint(&self) -> &str {
        self.sub_endpoints
            .first()
            .unwrap_or_else(|| panic!("no SUB bind in {:?}", self.daemon.ready_line))
    }

    /// A SUB socket on this relay's feed (not warmed up).
    pub fn sub(&self) -> Sub {
        Sub::connect(&self.pub_endpoint)
    }

    /// The latest periodic counter line (`--stats-interval-s`), if one was printed.
    pub fn stats(&self) -> Option<Counters> {
        let prefix = format!("emdr {}: ", self.kind);
        self.daemon
            .stderr_now()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix).map(Counters::parse))
    }

    /// Wait (bounded) for a periodic counter line that satisfies `want`.
    pub fn wait_stats(&self, timeout: Duration, want: impl Fn(&Counters) -> bool) -> Counters {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.stats().filter(|c| want(c)) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "emdr {}: no wanted stats line within {timeout:?}; stderr: {}",
                self.kind,
                self.daemon.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, assert a clean exit, and return the final counters.
    pub fn stop(&mut self) -> Counters {
        let err = self.daemon.stop();
        let prefix = format!("emdr {} stopped: ", self.kind);
        err.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(Counters::parse))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {err:?}"))
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.daemon.kill9();
    }
}

/// A raw ZeroMQ PUB socket owned by the test: an upstream whose bytes the test controls.
pub struct RawPub {
    _ctx: zmq::Context,
    pub socket: zmq::Socket,
    /// The bound endpoint, port resolved.
    pub endpoint: String,
}

impl RawPub {
    /// Bind a PUB socket to `endpoint` (e.g. `tcp://127.0.0.1:*`).
    pub fn try_bind(endpoint: &str) -> zmq::Result<RawPub> {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::PUB)?;
        socket.set_linger(0)?;
        socket.set_sndhwm(100_000)?;
        socket.bind(endpoint)?;
        let endpoint = socket
            .get_last_endpoint()?
            .unwrap_or_else(|_| endpoint.to_string());
        Ok(RawPub {
            _ctx: ctx,
            socket,
            endpoint,
        })
    }

    /// A PUB socket on an ephemeral loopback port.
    pub fn ephemeral() -> RawPub {
        RawPub::try_bind("tcp://127.0.0.1:*").expect("bind a PUB socket")
    }

    /// Bind `endpoint`, retrying (bounded) while the port is still held by a closed socket.
    pub fn bind_retrying(endpoint: &str, timeout: Duration) -> RawPub {
        let deadline = Instant::now() + timeout;
        loop {
            match RawPub::try_bind(endpoint) {
                Ok(p) => return p,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("bind {endpoint}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot bind {endpoint} within {timeout:?}: {e}"),
            }
        }
    }

    /// Publish one single-frame message.
    pub fn send(&self, frame: &[u8]) {
        self.socket.send(frame, 0).expect("PUB send");
    }

    /// Publish one multi-part message.
    pub fn send_parts(&self, parts: &[&[u8]]) {
        self.socket.send_multipart(parts, 0).expect("PUB send");
    }
}

/// The JSON prefix of [`warmup_frame`]s (a relay with `--decompress` forwards it as is).
const WARMUP_JSON_PREFIX: &[u8] = b"{\"emdr-test-warmup\":";

/// A unique warm-up frame: zlib of a small JSON object that names `tag`.
pub fn warmup_frame(tag: &str) -> Vec<u8> {
    let mut json = WARMUP_JSON_PREFIX.to_vec();
    json.extend_from_slice(format!("\"{tag}\"}}").as_bytes());
    zlib(&json)
}

/// The tag of a [`warmup_frame`] (as sent, or decompressed by a relay), or `None` for any
/// other frame.
pub fn warmup_tag(frame: &[u8]) -> Option<String> {
    let json = if frame.starts_with(WARMUP_JSON_PREFIX) {
        frame.to_vec()
    } else {
        let mut out = Vec::new();
        flate2::bufread::ZlibDecoder::new(frame)
            .take(4096)
            .read_to_end(&mut out)
            .ok()?;
        out
    };
    let rest = json.strip_prefix(WARMUP_JSON_PREFIX)?;
    let tag = rest.strip_prefix(b"\"")?.strip_suffix(b"\"}")?;
    String::from_utf8(tag.to_vec()).ok()
}

/// Whether a frame is a [`warmup_frame`], as sent or decompressed by a relay.
pub fn is_warmup_frame(frame: &[u8]) -> bool {
    warmup_tag(frame).is_some()
}

/// Beat the slow joiner on every path from each of `pubs` to each of `subs` (through a relay):
/// publish warm-up frames on each PUB until every SUB has received one of them (bounded),
/// then drain the warm-ups in flight. After this, what the PUBs send reaches the SUBs.
pub fn warm_up_frames(pubs: &[&RawPub], subs: &[&Sub]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for (p, publisher) in pubs.iter().enumerate() {
        let mut got = vec![false; subs.len()];
        let mut n = 0u32;
        while got.iter().any(|g| !g) {
            assert!(
                Instant::now() < deadline,
                "warm-up: no frame from PUB {p} reached SUBs {got:?} in 20 s"
            );
            n += 1;
            publisher.send(&warmup_frame(&format!("{p}-{n}")));
            std::thread::sleep(Duration::from_millis(20));
            for (s, sub) in subs.iter().enumerate() {
                while let Some(frames) = sub.recv_frames(Duration::from_millis(1)) {
                    let tag = (frames.len() == 1)
                        .then(|| warmup_tag(&frames[0]))
                        .flatten()
                        .unwrap_or_else(|| panic!("unexpected message during warm-up: {frames:?}"));
                    if tag.starts_with(&format!("{p}-")) {
                        got[s] = true;
                    }
                }
            }
        }
    }
    for sub in subs {
        while let Some(frames) = sub.recv_frames(Duration::from_millis(200)) {
            assert!(
                frames.len() == 1 && is_warmup_frame(&frames[0]),
                "unexpected message during warm-up: {frames:?}"
            );
        }
    }
}

/// The reference consumer `../shared/clients/emdr_consumer.py`, after checking that it and
/// pyzmq are there (failing the test with the fix if not).
pub fn reference_consumer() -> PathBuf {
    let script = shared_dir().join("clients").join("emdr_consumer.py");
    assert!(
        script.is_file(),
        "the reference consumer {} is missing: the tests need ../shared beside the repository",
        script.display()
    );
    let probe = Command::new("python3")
        .args(["-c", "import zmq"])
        .output()
        .expect("python3 must be installed for the consumer test");
    assert!(
        probe.status.success(),
        "python3 cannot import zmq (pip install pyzmq): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    script
}
