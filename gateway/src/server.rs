//! One gateway shard: its HTTP listener, its connections, its pipeline, its ring.
//!
//! Runs on one pinned glommio executor. The shard binds the HTTP port itself (SO_REUSEPORT:
//! the kernel spreads connections over the shards), serves every connection it accepts from
//! start to end, and runs each upload through its own [`Pipeline`] (no await inside, so the
//! `RefCell` is never borrowed across a suspension). Finished frames go into the shard's ring
//! to the publisher; when the ring is full, the connection waits on it, and so the shard stops
//! reading from its connections: back-pressure, not drops.
//!
//! A connection handles keep-alive and pipelined requests: responses to requests already in
//! the read buffer are batched and written when the buffer runs dry. Every wait is bounded:
//! `idle_timeout` between requests, `header_timeout` from a request's first byte to the end of
//! its head, `body_timeout` for the body, `write_timeout` on every write. A shard holds at
//! most `connections_max` connections; the next one is closed at once, and counted.
//!
//! Shutdown: when the stop flag rises, the shard stops accepting, idle connections close,
//! connections in the middle of a request finish it (answered with `Connection: close`), and
//! the shard returns once none is left, closing its ring so the publisher can drain and exit.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{Pipeline, PipelineConfig, Upload};
use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Semaphore;
use shards::ring::RingSender;

use crate::client_ip::{client_ip, Cidr};
use crate::http::{self, BodyFraming, ChunkedDecoder, Head, HttpError, HttpLimits, Method};
use crate::metrics::{Registry, ShardStats};

/// Bytes asked of the socket per read, at least.
const READ_CHUNK_BYTES: usize = 16 << 10;
/// Bytes asked of the socket per read, at most (for large bodies of known length).
const READ_CHUNK_MAX_BYTES: usize = 1 << 20;
/// A read buffer larger than this after a request is given back to the allocator.
const RETAIN_BUFFER_BYTES: usize = 1 << 20;
/// How often a shard looks at the process-wide stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Everything a shard is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http: HttpLimits,
    pub pipeline: PipelineConfig,
    pub trusted_proxies: Vec<Cidr>,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    /// Open connections per shard.
    pub connections_max: usize,
    /// How long a stopping shard waits for requests in flight.
    pub shutdown_timeout: Duration,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Upload,
    Health,
    Metrics,
    NotFound,
    /// A known path with the wrong method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
}

/// The path of a request target: an absolute-form target (`http://host/path`, RFC 9112
/// §3.2.2) is reduced to its path.
fn target_path(target: &[u8]) -> &[u8] {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            return rest
                .iter()
                .position(|&c| c == b'/')
                .map_or(&b"/"[..], |i| &rest[i..]);
        }
    }
    target
}

/// Route a request (wire contract §2; the paths are accepted with or without the slash).
pub fn route(method: Method, target: &[u8]) -> Route {
    let path = target_path(target);
    let path = path.strip_suffix(b"/").unwrap_or(path);
    let (allow, route) = match path {
        b"/upload" | b"/upload/unified" => ("POST", Route::Upload),
        b"/health_check" => ("GET, HEAD", Route::Health),
        b"/metrics" => ("GET, HEAD", Route::Metrics),
        _ => return Route::NotFound,
    };
    let ok = match route {
        Route::Upload => method == Method::Post,
        _ => matches!(method, Method::Get | Method::Head),
    };
    if ok {
        route
    } else {
        Route::MethodNotAllowed(allow)
    }
}

/// Rises once, when the shard should stop; wakes every waiter.
struct Stop {
    set: Cell<bool>,
    // A semaphore with no permits: closing it wakes all tasks waiting on it, and a waiter
    // that gives up (its read finished first) is removed from the list.
    sem: Semaphore,
}

impl Stop {
    fn new() -> Stop {
        Stop {
            set: Cell::new(false),
            sem: Semaphore::new(0),
        }
    }
    fn trigger(&self) {
        self.set.set(true);
        self.sem.close();
    }
    fn is_set(&self) -> bool {
        self.set.get()
    }
    async fn wait(&self) {
        if !self.is_set() {
            let _ = self.sem.acquire(1).await;
        }
    }
}

struct Shard {
    config: Arc<ServerConfig>,
    pipeline: RefCell<Pipeline>,
    ring: RingSender,
    stats: Arc<ShardStats>,
    registry: Arc<Registry>,
    stop: Stop,
    open: Cell<usize>,
}

/// Bind the HTTP listener of a shard (SO_REUSEPORT is set by glommio). Call on the shard's
/// executor.
pub fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::other(e.to_string()))
}

/// Serve until `stop_flag` rises and every connection has finished. Call on the shard's
/// executor.
pub async fn run(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    ring: RingSender,
    stats: Arc<ShardStats>,
    registry: Arc<Registry>,
    stop_flag: Arc<AtomicBool>,
) -> Result<(), String> {
    let pipeline = Pipeline::new(config.pipeline.clone()).map_err(|e| e.to_string())?;
    let shard = Rc::new(Shard {
        config,
        pipeline: RefCell::new(pipeline),
        ring,
        stats,
        registry,
        stop: Stop::new(),
        open: Cell::new(0),
    });
    let watcher = Rc::clone(&shard);
    glommio::spawn_local(async move {
        while !stop_flag.load(Relaxed) {
            glommio::timer::sleep(STOP_POLL).await;
        }
        watcher.stop.trigger();
    })
    .detach();

    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shard.stop.wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                shard.stats.connections_accepted.fetch_add(1, Relaxed);
                if shard.open.get() >= shard.config.connections_max {
                    shard.stats.connections_refused.fetch_add(1, Relaxed);
                    drop(stream);
                    continue;
                }
                glommio::spawn_local(serve(stream, Rc::clone(&shard))).detach();
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Some(Err(_)) => glommio::timer::sleep(Duration::from_millis(10)).await,
        }
    }
    drop(listener);
    let deadline = Instant::now() + shard.config.shutdown_timeout;
    while shard.open.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    shard.ring.close();
    Ok(())
}

/// Why a read stopped.
enum Read {
    Data(usize),
    TimedOut,
    Stopped,
}

/// Bytes read from a connection. The backing vector is zero-filled once, as it grows, and
/// never again: `filled` marks the end of what was read. (Growing a `Vec` for each read and
/// truncating it after re-zeroed up to a megabyte per read of a large body.)
struct ReadBuf {
    data: Vec<u8>,
    filled: usize,
}

impl ReadBuf {
    fn new() -> ReadBuf {
        ReadBuf {
            data: Vec::new(),
            filled: 0,
        }
    }

    /// The bytes read.
    fn bytes(&self) -> &[u8] {
        &self.data[..self.filled]
    }

    fn len(&self) -> usize {
        self.filled
    }

    fn clear(&mut self) {
        self.filled = 0;
    }

    /// Room for the next read: `want` bytes, within the per-read bounds.
    fn spare(&mut self, want: usize) -> &mut [u8] {
        let end = self.filled + want.clamp(READ_CHUNK_BYTES, READ_CHUNK_MAX_BYTES);
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        &mut self.data[self.filled..end]
    }
}

/// Read at least one byte onto the end of `buf`, until `deadline`; when `stop` is given, also
/// give up when the shard stops (only idle connections are interrupted).
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut ReadBuf,
    want: usize,
    deadline: Instant,
    stop: Option<&Stop>,
) -> io::Result<Read> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(Read::TimedOut);
    }
    let spare = buf.spare(want);
    let read = async { stream.read(spare).await.map(Read::Data) };
    let timer = async {
        glommio::timer::sleep(deadline - now).await;
        Ok(Read::TimedOut)
    };
    let result = match stop {
        Some(stop) => {
            let stopped = async {
                stop.wait().await;
                Ok(Read::Stopped)
            };
            future::or(read, future::or(timer, stopped)).await
        }
        None => future::or(read, timer).await,
    };
    if let Ok(Read::Data(n)) = &result {
        buf.filled += n;
    }
    result
}

/// Per-connection buffers.
struct Conn {
    /// Bytes read and not yet consumed start at `start`.
    buf: ReadBuf,
    start: usize,
    /// Responses not yet written.
    out: Vec<u8>,
    /// A chunked body, decoded.
    body: Vec<u8>,
}

async fn serve(mut stream: TcpStream, shard: Rc<Shard>) {
    shard.open.set(shard.open.get() + 1);
    shard.stats.connections_open.fetch_add(1, Relaxed);
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shard.config.write_timeout));
    let mut conn = Conn {
        buf: ReadBuf::new(),
        start: 0,
        out: Vec::new(),
        body: Vec::new(),
    };
    let _ = serve_requests(&mut stream, &shard, &mut conn, peer).await;
    if !conn.out.is_empty() {
        let _ = stream.write_all(&conn.out).await;
    }
    let _ = stream.close().await;
    shard.stats.connections_open.fetch_sub(1, Relaxed);
    shard.open.set(shard.open.get() - 1);
}

/// Answer an HTTP-level error and end the connection.
fn http_error(conn: &mut Conn, shard: &Shard, e: HttpError) {
    shard.stats.http_errors.fetch_add(1, Relaxed);
    if let HttpError::BodyTooLarge { limit } = e {
        // The same refusal as the engine's, made earlier: count it under the same reason.
        shard
            .stats
            .reject(&engine::Reject::BodyTooLarge { max: limit });
    }
    http::write_response(
        &mut conn.out,
        e.status(),
        &[],
        e.to_string().as_bytes(),
        false,
    );
}

async fn serve_requests(
    stream: &mut TcpStream,
    shard: &Shard,
    conn: &mut Conn,
    peer: Option<IpAddr>,
) -> io::Result<()> {
    let cfg = &*shard.config;
    loop {
        // 1. A complete head.
        let mut head_deadline: Option<Instant> = None;
        let head = loop {
            match http::parse_head(&conn.buf.bytes()[conn.start..], &cfg.http) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(e) => {
                    http_error(conn, shard, e);
                    return Ok(());
                }
            }
            if !conn.out.is_empty() {
                stream.write_all(&conn.out).await?;
                conn.out.clear();
            }
            let idle = conn.start == conn.buf.len();
            if idle {
                if shard.stop.is_set() {
                    return Ok(());
                }
                if conn.buf.data.len() > RETAIN_BUFFER_BYTES {
                    conn.buf = ReadBuf::new();
                    conn.body = Vec::new();
                }
                conn.buf.clear();
                conn.start = 0;
            }
            let deadline = match (idle, head_deadline) {
                (true, _) => Instant::now() + cfg.idle_timeout,
                (false, Some(d)) => d,
                (false, None) => *head_deadline.insert(Instant::now() + cfg.header_timeout),
            };
            let stop = idle.then_some(&shard.stop);
            match read_some(stream, &mut conn.buf, READ_CHUNK_BYTES, deadline, stop).await? {
                Read::Data(0) | Read::Stopped => return Ok(()),
                Read::Data(_) => {
                    if idle {
                        head_deadline = Some(Instant::now() + cfg.header_timeout);
                    }
                }
                Read::TimedOut if idle => return Ok(()),
                Read::TimedOut => {
                    shard.stats.request_timeouts.fetch_add(1, Relaxed);
                    shard.stats.http_errors.fetch_add(1, Relaxed);
                    let msg = b"request head not received in time";
                    http::write_response(&mut conn.out, 408, &[], msg, false);
                    return Ok(());
                }
            }
        };
        shard.stats.http_requests.fetch_add(1, Relaxed);
        let route = route(
            head.method,
            head.path_bytes(&conn.buf.bytes()[conn.start..]),
        );
        let has_body = !matches!(head.framing, BodyFraming::None | BodyFraming::Length(0));
        if has_body && route != Route::Upload {
            // Not worth reading: answer and close rather than drain it.
            answer(conn, shard, &head, route, false);
            return Ok(());
        }

        // 2. The body.
        if head.expect_continue && has_body {
            conn.out.extend_from_slice(http::CONTINUE);
            stream.write_all(&conn.out).await?;
            conn.out.clear();
        }
        let body_deadline = Instant::now() + cfg.body_timeout;
        let body_at = conn.start + head.head_len;
        let (body_range, consumed, chunked) = match head.framing {
            BodyFraming::None => (body_at..body_at, head.head_len, false),
            BodyFraming::Length(n) => {
                while conn.buf.len() < body_at + n {
                    let want = body_at + n - conn.buf.len();
                    match read_some(stream, &mut conn.buf, want, body_deadline, None).await? {
                        Read::Data(0) => return Ok(()),
                        Read::Data(_) => {}
                        Read::TimedOut | Read::Stopped => {
                            body_timed_out(conn, shard);
                            return Ok(());
                        }
                    }
                }
                (body_at..body_at + n, head.head_len + n, false)
            }
            BodyFraming::Chunked => {
                conn.body.clear();
                let mut decoder = ChunkedDecoder::new();
                let mut at = body_at;
                loop {
                    match decoder.decode(&conn.buf.bytes()[at..], &mut conn.body, &cfg.http) {
                        Ok((used, done)) => {
                            at += used;
                            if done {
                                break;
                            }
                        }
                        Err(e) => {
                            http_error(conn, shard, e);
                            return Ok(());
                        }
                    }
                    match read_some(stream, &mut conn.buf, READ_CHUNK_BYTES, body_deadline, None)
                        .await?
                    {
                        Read::Data(0) => return Ok(()),
                        Read::Data(_) => {}
                        Read::TimedOut | Read::Stopped => {
                            body_timed_out(conn, shard);
                            return Ok(());
                        }
                    }
                }
                (0..conn.body.len(), at - conn.start, true)
            }
        };

        // 3. The answer.
        let keep_alive = head.keep_alive && !shard.stop.is_set();
        if route == Route::Upload {
            let request = &conn.buf.bytes()[conn.start..];
            let body = if chunked {
                &conn.body[body_range]
            } else {
                &conn.buf.bytes()[body_range]
            };
            shard
                .stats
                .body_bytes_received
                .fetch_add(body.len() as u64, Relaxed);
            let client = match (&cfg.pipeline.ip_key_salt, peer) {
                (Some(_), Some(peer)) => Some(client_ip(
                    peer,
                    head.x_forwarded_for_bytes(request),
                    &cfg.trusted_proxies,
                )),
                _ => None,
            };
            let upload = Upload {
                body,
                content_encoding: head.content_encoding_bytes(request),
                content_type: head.content_type_bytes(request),
                client_ip: client,
            };
            let mut frame = Vec::new();
            let processed = shard
                .pipeline
                .borrow_mut()
                .process(&upload, unix_now(), &mut frame);
            match processed {
                Ok(accepted) => {
                    let rows = accepted.rows as u64;
                    match accepted.result_type {
                        engine::ResultType::Orders => &shard.stats.orders_accepted,
                        engine::ResultType::History => &shard.stats.history_rows_accepted,
                    }
                    .fetch_add(rows, Relaxed);
                    shard.stats.uploads_accepted.fetch_add(1, Relaxed);
                    if shard.ring.send(frame).await.is_ok() {
                        shard.stats.frames_queued.fetch_add(1, Relaxed);
                        respond(conn, &head, 200, &[], b"1", keep_alive);
                    } else {
                        shard.stats.frames_dropped.fetch_add(1, Relaxed);
                        let msg = b"the feed is unavailable; try again later";
                        respond(conn, &head, 503, &[], msg, keep_alive);
                    }
                }
                Err(reject) => {
                    shard.stats.reject(&reject);
                    let msg = reject.to_string();
                    respond(
                        conn,
                        &head,
                        reject.status(),
                        &[],
                        msg.as_bytes(),
                        keep_alive,
                    );
                }
            }
        } else {
            answer(conn, shard, &head, route, keep_alive);
        }
        conn.start += consumed;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn body_timed_out(conn: &mut Conn, shard: &Shard) {
    shard.stats.request_timeouts.fetch_add(1, Relaxed);
    shard.stats.http_errors.fetch_add(1, Relaxed);
    http::write_response(
        &mut conn.out,
        408,
        &[],
        b"request body not received in time",
        false,
    );
}

fn respond(
    conn: &mut Conn,
    head: &Head,
    status: u16,
    extra: &[(&str, &str)],
    body: &[u8],
    ka: bool,
) {
    http::write_response_for_version(&mut conn.out, head.minor_version, status, extra, body, ka);
    if head.method == Method::Head {
        // The headers a GET would have (Content-Length included), without the body.
        conn.out.truncate(conn.out.len() - body.len());
    }
}

/// Answer the routes that are not uploads.
fn answer(conn: &mut Conn, shard: &Shard, head: &Head, route: Route, keep_alive: bool) {
    match route {
        Route::Health => {
            let body = format!("emdr {}", engine::VERSION);
            respond(conn, head, 200, &[], body.as_bytes(), keep_alive);
        }
        Route::Metrics => {
            let body = shard.registry.render();
            let ct = [("Content-Type", "text/plain; version=0.0.4")];
            respond(conn, head, 200, &ct, body.as_bytes(), keep_alive);
        }
        Route::NotFound => {
            shard.stats.http_errors.fetch_add(1, Relaxed);
            let msg = b"not found: POST UUDIF messages to /upload/";
            respond(conn, head, 404, &[], msg, keep_alive);
        }
        Route::MethodNotAllowed(allow) => {
            shard.stats.http_errors.fetch_add(1, Relaxed);
            let msg = format!("method not allowed: use {allow}");
            respond(
                conn,
                head,
                405,
                &[("Allow", allow)],
                msg.as_bytes(),
                keep_alive,
            );
        }
        Route::Upload => unreachable!("uploads are answered by serve_requests"),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_slashes() {
        for p in ["/upload/", "/upload", "/upload/unified/", "/upload/unified"] {
            assert_eq!(route(Method::Post, p.as_bytes()), Route::Upload, "{p}");
            assert_eq!(
                route(Method::Get, p.as_bytes()),
                Route::MethodNotAllowed("POST"),
                "{p}"
            );
        }
        assert_eq!(route(Method::Get, b"/health_check/"), Route::Health);
        assert_eq!(route(Method::Head, b"/health_check"), Route::Health);
        assert_eq!(
            route(Method::Post, b"/health_check/"),
            Route::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(route(Method::Get, b"/"), Route::NotFound);
        assert_eq!(route(Method::Post, b"/uploads/"), Route::NotFound);
        assert_eq!(route(Method::Post, b"/upload//"), Route::NotFound);
        assert_eq!(
            route(Method::Post, b"http://emdr.test/upload/"),
            Route::Upload
        );
        assert_eq!(
            route(Method::Get, b"HTTPS://x:80/health_check"),
            Route::Health
        );
        assert_eq!(route(Method::Get, b"http://x"), Route::NotFound);
    }
}
