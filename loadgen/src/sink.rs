//! `emdr-loadgen sink`: an HTTP/1.1 server that reads each request and answers `200 1`.
//!
//! It does no engine work at all (the body is skipped, not even kept), so aiming the generator
//! at it shows how many uploads and orders per second the *generator* can offer on this
//! machine: the ceiling any gateway figure measured with it lives under.
//!
//! `--threads` glommio executors each bind the port with SO_REUSEPORT (the first resolves
//! port 0, the others bind the port it got) and serve their connections: keep-alive,
//! pipelining (answers to every request in the read buffer are written together),
//! `Content-Length` bodies (anything else is answered 411 and closed), a head limit.
//! It runs until SIGINT or SIGTERM, then prints its counts on stderr.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context as _;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use crate::cli::SinkArgs;
use crate::http_load::EXECUTOR_IO_MEMORY_BYTES;

/// The answer to every upload.
pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\n1";
const LENGTH_REQUIRED: &[u8] =
    b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Read buffer per connection.
const READ_BYTES: usize = 64 << 10;
/// A request head may not exceed this.
const HEAD_BYTES_MAX: usize = 64 << 10;

#[derive(Debug, Default)]
pub struct SinkCounts {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
}

/// Run the sink until SIGINT or SIGTERM.
pub fn run(args: &SinkArgs) -> anyhow::Result<()> {
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address like 127.0.0.1:0",
            args.listen
        )
    })?;
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let counts = Arc::new(SinkCounts::default());
    let mut addr = listen;
    let mut handles = Vec::new();
    for i in 0..args.threads {
        let placement = if args.pin.is_empty() {
            Placement::Unbound
        } else {
            Placement::Fixed(args.pin[i % args.pin.len()])
        };
        let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let counts = counts.clone();
        let bind = addr;
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("sink-{i}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let listener = match TcpListener::bind(bind) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot listen on {bind}: {e}")));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr().map_err(|e| e.to_string()));
                loop {
                    match listener.accept().await {
                        Ok(s) => {
                            counts.connections.fetch_add(1, Relaxed);
                            glommio::spawn_local(serve(s, counts.clone())).detach();
                        }
                        Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start a glommio executor: {e}"))?;
        addr = rx
            .recv()
            .context("the sink executor ended")?
            .map_err(anyhow::Error::msg)?;
        handles.push(h);
    }
    println!(
        "emdr-loadgen sink listening: http={addr} threads={}",
        args.threads
    );
    std::io::stdout().flush()?;
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "emdr-loadgen sink stopped: {} requests, {} bytes, {} connections",
        counts.requests.load(Relaxed),
        counts.bytes.load(Relaxed),
        counts.connections.load(Relaxed)
    );
    // The executors serve until the process ends; there is nothing of theirs to flush.
    std::process::exit(0);
}

async fn serve(mut s: TcpStream, counts: Arc<SinkCounts>) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; READ_BYTES];
    let (mut start, mut end) = (0usize, 0usize);
    // Bytes of the current request's body still to skip.
    let mut skip = 0usize;
    let mut out = Vec::with_capacity(4096);
    loop {
        if start == end {
            start = 0;
            end = 0;
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end == buf.len() {
                let _ = s.write_all(BAD_REQUEST).await;
                return;
            }
        }
        let n = match s.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        counts.bytes.fetch_add(n as u64, Relaxed);
        end += n;
        let mut close = false;
        loop {
            if skip > 0 {
                let k = skip.min(end - start);
                skip -= k;
                start += k;
                if skip > 0 {
                    break;
                }
            }
            if start == end {
                break;
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let head = match req.parse(&buf[start..end]) {
                Ok(httparse::Status::Complete(h)) => h,
                Ok(httparse::Status::Partial) if end - start < HEAD_BYTES_MAX => break,
                _ => {
                    out.extend_from_slice(BAD_REQUEST);
                    close = true;
                    break;
                }
            };
            let mut length = None;
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok());
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    length = None;
                    close = true;
                } else if h.name.eq_ignore_ascii_case("connection")
                    && h.value.eq_ignore_ascii_case(b"close")
                {
                    close = true;
                }
            }
            let has_body = req.method != Some("GET") && req.method != Some("HEAD");
            start += head;
            match length {
                Some(l) => skip = l,
                None if has_body => {
                    out.extend_from_slice(LENGTH_REQUIRED);
                    close = true;
                    break;
                }
                None => {}
            }
            counts.requests.fetch_add(1, Relaxed);
            out.extend_from_slice(OK);
            if close {
                break;
            }
        }
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            let _ = s.close().await;
            return;
        }
    }
}
