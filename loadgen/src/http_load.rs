//! The HTTP side of a run: glommio executors, each with its share of the connections and of
//! the rate, keeping the offered load open-loop.
//!
//! One executor per `--threads`, pinned when `--pin` says so. Per executor:
//! - the **pacer** computes one intended send time per upload from the rate alone
//!   (`start + k / rate`, or row-weighted: the next upload is due when the previous one's rows
//!   have been "spent"), issues it an id in the [`Ledger`], and queues it on the next
//!   connection in turn. It never waits for an answer: if the server is slow, the queues grow
//!   and the latency, measured from the intended time, shows it (no coordinated omission). A
//!   pacer that falls behind (the machine is busy) sends the overdue uploads at once, still
//!   stamped with their intended times; `send_lag` reports how late the bytes actually left.
//! - per connection a **writer** takes every queued upload, copies its pre-built request
//!   into one buffer, patches the id and checksum in place, and writes the batch with one
//!   call: HTTP/1.1 pipelining, answers come back in order. A per-connection semaphore caps
//!   the requests in flight (`--in-flight-max`); with `--rate max` the writer itself sends
//!   whenever one of its `--pipeline` credits comes back (closed loop).
//! - per connection a **reader** parses answers (httparse, nothing else), pops the oldest
//!   request in flight, records the HTTP latency from its intended time, and marks the
//!   ledger: `200` with body `1` is accepted, anything else rejected.
//!
//! Why this keeps the generator off the critical path: every byte is pre-built, a send is a
//! memcpy, 18 digits and a checksum resumed from a stored prefix state; responses are parsed
//! with one httparse call each; no allocation per upload; one executor drives many connections
//! with io_uring. `emdr-loadgen sink` measures what is left of the headroom.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_lite::io::{ReadHalf, WriteHalf};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;

use crate::cli::Rate;
use crate::ledger::{self, Ledger};
use crate::payload::{Payloads, Picker};
use crate::report::new_histogram;
use crate::{Clock, Phases};

/// Locked memory for each executor's io_uring buffers: under the 8 MiB memlock limit of a
/// non-root user even with several executors.
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;
/// A writer gathers queued uploads into one write up to this many bytes.
const WRITE_BATCH_BYTES: usize = 256 << 10;
/// A write buffer larger than this after a batch is given back.
const RETAIN_WRITE_BYTES: usize = 4 << 20;
/// Read buffer per connection; answers are small (`200 1`, one-line rejections).
const READ_BUF_BYTES: usize = 64 << 10;
/// An answer head plus body larger than this is a protocol error.
const ANSWER_BYTES_MAX: usize = 1 << 20;
/// Readers look at the run's state at least this often.
const READ_POLL: Duration = Duration::from_millis(50);
/// The shortest sleep of a pacer: uploads due within it are sent together (each timed from
/// its intended send time, so the figures stay open-loop).
pub const PACER_TICK: Duration = Duration::from_micros(500);
/// Connecting one connection may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first rejection's text is kept, up to this many bytes.
const REJECTION_TEXT_BYTES: usize = 200;

/// A `--target`: where to connect and the start of every request to it.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// `POST /path HTTP/1.1\r\nHost: host\r\n`.
    pub prefix: Vec<u8>,
}

impl Target {
    /// `http://HOST:PORT/PATH` (no https: uploaders speak plain HTTP to a load balancer).
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .context("the URL must start with http://")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/upload/"),
        };
        if host.is_empty() {
            bail!("no host in the URL");
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {with_port}"))?
            .next()
            .with_context(|| format!("{with_port} has no address"))?;
        Ok(Target {
            url: url.to_string(),
            addr,
            prefix: format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n").into_bytes(),
        })
    }
}

/// What the HTTP side is configured with.
#[derive(Debug, Clone)]
pub struct HttpPlan {
    pub targets: Vec<Target>,
    pub connections: usize,
    pub threads: usize,
    pub pin: Vec<usize>,
    /// `--pipeline`: requests in flight per connection with `--rate max`.
    pub depth: usize,
    pub in_flight_max: usize,
    pub queue_max: usize,
}

/// What one executor measured.
#[derive(Debug)]
pub struct ExecResult {
    /// HTTP latency of measured uploads, µs from the intended send time to the answer.
    pub http_us: Histogram<u64>,
    /// How late measured uploads left, µs from the intended time to the write.
    pub lag_us: Histogram<u64>,
    /// Answers of measured uploads by status code.
    pub statuses: BTreeMap<u16, u64>,
    pub first_rejection: Option<String>,
    /// Connections that failed (closed, reset, protocol error) during the run.
    pub connections_failed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Job {
    seq: u64,
    body: u32,
    intended_ns: u64,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    intended_ns: u64,
    measured: bool,
}

struct Conn {
    target: usize,
    fifo: RefCell<VecDeque<InFlight>>,
    credits: Semaphore,
    dead: Cell<bool>,
    writer_done: Cell<bool>,
    tx: RefCell<Option<LocalSender<Job>>>,
}

impl Conn {
    fn kill(&self) {
        self.dead.set(true);
        self.credits.close();
    }
}

/// Everything an executor's tasks share.
struct Exec {
    plan: Arc<HttpPlan>,
    rate: Rate,
    payloads: Arc<Payloads>,
    ledger: Arc<Ledger>,
    clock: Clock,
    phases: Phases,
    picker: RefCell<Picker>,
    http_us: RefCell<Histogram<u64>>,
    lag_us: RefCell<Histogram<u64>>,
    statuses: RefCell<BTreeMap<u16, u64>>,
    first_rejection: RefCell<Option<String>>,
    failed: Cell<u64>,
    /// Rises at the end of the grace: every wait gives up.
    closing: Cell<bool>,
    /// Without a feed, an upload is done when it is accepted.
    done_on_answer: bool,
}

impl Exec {
    fn record_us(h: &RefCell<Histogram<u64>>, ns: u64) {
        let _ = h.borrow_mut().record((ns / 1000).max(1));
    }

    fn fail(&self, conn: &Conn) {
        if !conn.dead.get() {
            self.failed.set(self.failed.get() + 1);
        }
        conn.kill();
    }

    /// An upload that will never be answered.
    fn lost_answer(&self, seq: u64) {
        self.ledger.mark(seq, ledger::ERROR);
        self.ledger.live.errors.fetch_add(1, Relaxed);
    }

    fn answered(&self, f: InFlight, code: u16, body: &[u8], now_ns: u64) {
        let ok = code == 200 && body == b"1";
        self.ledger.mark(
            f.seq,
            if ok {
                ledger::ACCEPTED
            } else {
                ledger::REJECTED
            },
        );
        let live = &self.ledger.live;
        if ok && self.done_on_answer {
            self.ledger
                .slot(f.seq)
                .done_ns
                .store(now_ns.max(1), Relaxed);
        }
        if ok {
            live.accepted.fetch_add(1, Relaxed);
        } else {
            live.rejected.fetch_add(1, Relaxed);
        }
        if !f.measured {
            return;
        }
        if ok {
            live.accepted_measured.fetch_add(1, Relaxed);
        }
        Self::record_us(&self.http_us, now_ns.saturating_sub(f.intended_ns));
        *self.statuses.borrow_mut().entry(code).or_default() += 1;
        if !ok {
            let mut first = self.first_rejection.borrow_mut();
            if first.is_none() {
                let text = String::from_utf8_lossy(&body[..body.len().min(REJECTION_TEXT_BYTES)]);
                *first = Some(format!("{code} {}", text.trim_end()));
            }
        }
    }
}

/// The running HTTP side.
pub struct Load {
    handles: Vec<glommio::ExecutorJoinHandle<anyhow::Result<ExecResult>>>,
    go: Arc<OnceLock<Phases>>,
    abort: Arc<AtomicBool>,
    finished: Arc<AtomicUsize>,
}

impl Load {
    /// Start the executors and connect every connection; returns once all are connected.
    /// `done_on_answer`: there is no feed, so an accepted upload is done.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        plan: Arc<HttpPlan>,
        rate: Rate,
        payloads: Arc<Payloads>,
        ledger: Arc<Ledger>,
        clock: Clock,
        seed: u64,
        done_on_answer: bool,
    ) -> anyhow::Result<Load> {
        let go: Arc<OnceLock<Phases>> = Arc::new(OnceLock::new());
        let abort = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
        let mut handles = Vec::new();
        for e in 0..plan.threads {
            let placement = if plan.pin.is_empty() {
                Placement::Unbound
            } else {
                Placement::Fixed(plan.pin[e % plan.pin.len()])
            };
            let (plan, payloads, ledger) = (plan.clone(), payloads.clone(), ledger.clone());
            let (go, abort, finished, ready) = (
                go.clone(),
                abort.clone(),
                finished.clone(),
                ready_tx.clone(),
            );
            let h = LocalExecutorBuilder::new(placement)
                .name(&format!("loadgen-{e}"))
                .io_memory(EXECUTOR_IO_MEMORY_BYTES)
                .spawn(move || async move {
                    let r = executor(
                        e,
                        plan,
                        rate,
                        payloads,
                        ledger,
                        clock,
                        seed,
                        done_on_answer,
                        go,
                        abort,
                        ready,
                    )
                    .await;
                    finished.fetch_add(1, Relaxed);
                    r
                })
                .map_err(|e| anyhow::anyhow!("cannot start a glommio executor: {e}"))?;
            handles.push(h);
        }
        drop(ready_tx);
        let load = Load {
            handles,
            go,
            abort,
            finished,
        };
        for _ in 0..plan.threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    load.abort.store(true, Relaxed);
                    return Err(e);
                }
                Err(_) => bail!("a generator executor ended before connecting"),
            }
        }
        Ok(load)
    }

    /// Start sending, with these phases.
    pub fn go(&self, phases: Phases) {
        let _ = self.go.set(phases);
    }

    /// Executors finished so far.
    pub fn finished(&self) -> usize {
        self.finished.load(Relaxed)
    }

    pub fn threads(&self) -> usize {
        self.handles.len()
    }

    /// Stop without sending (set before `go`).
    pub fn abort(&self) {
        self.abort.store(true, Relaxed);
    }

    pub fn join(self) -> anyhow::Result<Vec<ExecResult>> {
        self.handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|e| anyhow::anyhow!("generator executor: {e}"))?
            })
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
async fn executor(
    index: usize,
    plan: Arc<HttpPlan>,
    rate: Rate,
    payloads: Arc<Payloads>,
    ledger: Arc<Ledger>,
    clock: Clock,
    seed: u64,
    done_on_answer: bool,
    go: Arc<OnceLock<Phases>>,
    abort: Arc<AtomicBool>,
    ready: mpsc::Sender<anyhow::Result<()>>,
) -> anyhow::Result<ExecResult> {
    // Connection i belongs to executor i % threads and goes to target i % targets.
    let mine: Vec<usize> = (index..plan.connections).step_by(plan.threads).collect();
    let mut streams = Vec::with_capacity(mine.len());
    for &i in &mine {
        let t = i % plan.targets.len();
        let addr = plan.targets[t].addr;
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                streams.push((t, s));
            }
            Err(e) => {
                let msg =
                    anyhow::anyhow!("cannot connect to {} ({addr}): {e}", plan.targets[t].url);
                let _ = ready.send(Err(msg));
                bail!("connect failed");
            }
        }
    }
    let _ = ready.send(Ok(()));
    drop(ready);
    let phases = loop {
        if let Some(p) = go.get() {
            break *p;
        }
        if abort.load(Relaxed) {
            return Ok(ExecResult {
                http_us: new_histogram(),
                lag_us: new_histogram(),
                statuses: BTreeMap::new(),
                first_rejection: None,
                connections_failed: 0,
            });
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    };
    let max = rate == Rate::Max;
    let ex = Rc::new(Exec {
        plan: plan.clone(),
        rate,
        picker: RefCell::new(Picker::new(
            &payloads,
            seed ^ ((index as u64 + 1) * 0x9e37_79b9),
        )),
        payloads,
        ledger,
        clock,
        phases,
        http_us: RefCell::new(new_histogram()),
        lag_us: RefCell::new(new_histogram()),
        statuses: RefCell::new(BTreeMap::new()),
        first_rejection: RefCell::new(None),
        failed: Cell::new(0),
        closing: Cell::new(false),
        done_on_answer,
    });
    let credits = if max { plan.depth } else { plan.in_flight_max };
    let mut conns = Vec::new();
    let mut tasks = Vec::new();
    for (t, stream) in streams {
        let (tx, rx) = local_channel::new_bounded(plan.queue_max);
        let conn = Rc::new(Conn {
            target: t,
            fifo: RefCell::new(VecDeque::with_capacity(credits.min(4096))),
            credits: Semaphore::new(credits as u64),
            dead: Cell::new(false),
            writer_done: Cell::new(false),
            tx: RefCell::new((!max).then_some(tx)),
        });
        let (r, w) = futures_lite::io::split(stream);
        tasks.push(glommio::spawn_local(writer(
            conn.clone(),
            rx,
            w,
            ex.clone(),
        )));
        tasks.push(glommio::spawn_local(reader(conn.clone(), r, ex.clone())));
        conns.push(conn);
    }
    // At the end of the grace every wait gives up.
    let closer = {
        let (ex, conns) = (ex.clone(), conns.clone());
        glommio::spawn_local(async move {
            let deadline = ex.clock.instant(ex.phases.end_ns + ex.phases.grace_ns);
            let now = std::time::Instant::now();
            if deadline > now {
                glommio::timer::sleep(deadline - now).await;
            }
            ex.closing.set(true);
            for c in &conns {
                c.credits.close();
            }
        })
    };
    if !max {
        pacer(index, &conns, &ex).await;
        for c in &conns {
            c.tx.borrow_mut().take();
        }
    }
    for t in tasks {
        t.await;
    }
    drop(closer);
    Ok(ExecResult {
        http_us: ex.http_us.replace(new_histogram()),
        lag_us: ex.lag_us.replace(new_histogram()),
        statuses: ex.statuses.take(),
        first_rejection: ex.first_rejection.take(),
        connections_failed: ex.failed.get(),
    })
}

/// Issue every upload of this executor's share at its intended time (module docs).
async fn pacer(index: usize, conns: &[Rc<Conn>], ex: &Exec) {
    let threads = ex.plan.threads as f64;
    let ns_per_row_or_upload = match ex.rate {
        Rate::Rows(r) => 1e9 * threads / r,
        Rate::Uploads(u) => 1e9 * threads / u,
        Rate::Max => unreachable!("the pacer runs only at a fixed rate"),
    };
    let per_rows = matches!(ex.rate, Rate::Rows(_));
    let mean_interval = if per_rows {
        ns_per_row_or_upload * ex.payloads.mean_rows()
    } else {
        ns_per_row_or_upload
    };
    // Executors interleave their schedules instead of sending together.
    let mut next = ex.phases.start_ns as f64 + mean_interval * index as f64 / threads;
    let end = ex.phases.end_ns as f64;
    let live = &ex.ledger.live;
    let mut rr = 0usize;
    loop {
        let now = ex.clock.now_ns() as f64;
        while next <= now {
            if next >= end {
                return;
            }
            let intended = next as u64;
            let body = ex.picker.borrow_mut().pick(&ex.payloads);
            let measured = ex.phases.measured(intended);
            let flags = if measured { ledger::MEASURED } else { 0 };
            let Some(seq) = ex.ledger.issue(intended, body, flags) else {
                // The id space is exhausted: nothing more can be matched.
                return;
            };
            live.scheduled.fetch_add(1, Relaxed);
            let job = Job {
                seq,
                body,
                intended_ns: intended,
            };
            let mut queued = false;
            let mut any_alive = false;
            for _ in 0..conns.len() {
                let c = &conns[rr % conns.len()];
                rr = rr.wrapping_add(1);
                if c.dead.get() {
                    continue;
                }
                any_alive = true;
                if let Some(tx) = c.tx.borrow().as_ref() {
                    queued = tx.try_send(job).is_ok();
                }
                break;
            }
            if !queued {
                ex.ledger.mark(seq, ledger::UNSENT);
                live.unsent.fetch_add(1, Relaxed);
            }
            if !any_alive {
                return;
            }
            let rows = ex.payloads.bodies[body as usize].rows as f64;
            next += if per_rows {
                ns_per_row_or_upload * rows
            } else {
                ns_per_row_or_upload
            };
        }
        if next >= end {
            return;
        }
        let wait = next - ex.clock.now_ns() as f64;
        if wait > 0.0 {
            // Sleep at least a tick: uploads due meanwhile go out together, each still timed
            // from its own intended send time. Waking for every upload (10,000 times a second
            // at 1M orders/s) made the pacer a core's worth of executor sleeps and wake-ups,
            // taken from the server under test on a shared machine.
            let ns = (wait as u64).max(PACER_TICK.as_nanos() as u64);
            glommio::timer::sleep(Duration::from_nanos(ns)).await;
        } else {
            future::yield_now().await;
        }
    }
}

/// Append `job`'s request to `out` and put it in flight.
fn stage(ex: &Exec, conn: &Conn, job: Job, out: &mut Vec<u8>) -> InFlight {
    let target = &ex.plan.targets[conn.target];
    let start = out.len();
    out.extend_from_slice(&target.prefix);
    ex.payloads
        .write_request(job.body, ex.ledger.key(job.seq), out);
    let prev = ex.ledger.mark(job.seq, ledger::SENT);
    let f = InFlight {
        seq: job.seq,
        intended_ns: job.intended_ns,
        measured: prev & ledger::MEASURED != 0,
    };
    conn.fifo.borrow_mut().push_back(f);
    let live = &ex.ledger.live;
    live.sent.fetch_add(1, Relaxed);
    live.bytes_sent
        .fetch_add((out.len() - start) as u64, Relaxed);
    f
}

/// Write `out`; record how late its uploads left.
async fn flush(
    ex: &Exec,
    conn: &Conn,
    w: &mut WriteHalf<TcpStream>,
    out: &mut Vec<u8>,
    staged: &mut Vec<InFlight>,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = w.write_all(out).await.is_ok();
    let now = ex.clock.now_ns();
    for f in staged.drain(..) {
        if f.measured {
            Exec::record_us(&ex.lag_us, now.saturating_sub(f.intended_ns));
        }
    }
    out.clear();
    if out.capacity() > RETAIN_WRITE_BYTES {
        *out = Vec::with_capacity(WRITE_BATCH_BYTES);
    }
    if !ok {
        ex.fail(conn);
    }
    ok
}

async fn writer(conn: Rc<Conn>, rx: LocalReceiver<Job>, mut w: WriteHalf<TcpStream>, ex: Rc<Exec>) {
    let mut out = Vec::with_capacity(WRITE_BATCH_BYTES);
    let mut staged = Vec::new();
    if ex.rate == Rate::Max {
        write_closed_loop(&conn, &mut w, &ex, &mut out, &mut staged).await;
    } else {
        'jobs: while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                if conn.dead.get() {
                    ex.lost_answer(job.seq);
                    continue 'jobs;
                }
                // Out of credits: send what is staged, then wait for answers.
                if !matches!(conn.credits.try_acquire(1), Ok(true)) {
                    if !flush(&ex, &conn, &mut w, &mut out, &mut staged).await {
                        ex.lost_answer(job.seq);
                        continue 'jobs;
                    }
                    if conn.credits.acquire(1).await.is_err() {
                        ex.lost_answer(job.seq);
                        continue 'jobs;
                    }
                }
                staged.push(stage(&ex, &conn, job, &mut out));
                if out.len() < WRITE_BATCH_BYTES {
                    if let Some(Some(j)) = future::poll_once(rx.recv()).await {
                        next = Some(j);
                    }
                }
            }
            flush(&ex, &conn, &mut w, &mut out, &mut staged).await;
        }
    }
    conn.writer_done.set(true);
}

/// `--rate max`: send whenever a credit comes back, until the end of the run.
async fn write_closed_loop(
    conn: &Conn,
    w: &mut WriteHalf<TcpStream>,
    ex: &Exec,
    out: &mut Vec<u8>,
    staged: &mut Vec<InFlight>,
) {
    let (live, phases) = (&ex.ledger.live, ex.phases);
    // Wait for the start like the pacer does.
    let start = ex.clock.instant(phases.start_ns);
    let now = std::time::Instant::now();
    if start > now {
        glommio::timer::sleep(start - now).await;
    }
    loop {
        if conn.dead.get() || conn.credits.acquire(1).await.is_err() {
            return;
        }
        let mut n = 1;
        while n < ex.plan.depth && matches!(conn.credits.try_acquire(1), Ok(true)) {
            n += 1;
        }
        let now = ex.clock.now_ns();
        if now >= phases.end_ns {
            return;
        }
        let flags = if phases.measured(now) {
            ledger::MEASURED
        } else {
            0
        };
        for _ in 0..n {
            let body = ex.picker.borrow_mut().pick(&ex.payloads);
            let Some(seq) = ex.ledger.issue(now, body, flags) else {
                return;
            };
            live.scheduled.fetch_add(1, Relaxed);
            let job = Job {
                seq,
                body,
                intended_ns: now,
            };
            staged.push(stage(ex, conn, job, out));
        }
        if !flush(ex, conn, w, out, staged).await {
            return;
        }
    }
}

async fn reader(conn: Rc<Conn>, mut r: ReadHalf<TcpStream>, ex: Rc<Exec>) {
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let (mut start, mut end) = (0usize, 0usize);
    'read: loop {
        if conn.dead.get() || ex.closing.get() {
            break;
        }
        if conn.writer_done.get() && conn.fifo.borrow().is_empty() {
            break;
        }
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end == buf.len() {
                if buf.len() >= ANSWER_BYTES_MAX {
                    ex.fail(&conn);
                    break;
                }
                buf.resize(buf.len() * 2, 0);
            }
        }
        let got = future::or(async { Some(r.read(&mut buf[end..]).await) }, async {
            glommio::timer::sleep(READ_POLL).await;
            None
        })
        .await;
        match got {
            None => continue,
            Some(Ok(0)) | Some(Err(_)) => {
                ex.fail(&conn);
                break;
            }
            Some(Ok(n)) => end += n,
        }
        let now = ex.clock.now_ns();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut resp = httparse::Response::new(&mut headers);
            let head = match resp.parse(&buf[start..end]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    ex.fail(&conn);
                    break 'read;
                }
            };
            let code = resp.code.unwrap_or(0);
            let mut length = 0usize;
            let mut close = false;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(usize::MAX);
                } else if h.name.eq_ignore_ascii_case("connection") {
                    close = h.value.eq_ignore_ascii_case(b"close");
                }
            }
            if length > ANSWER_BYTES_MAX {
                ex.fail(&conn);
                break 'read;
            }
            if end - start < head + length {
                break;
            }
            let body_at = start + head;
            start = body_at + length;
            if (100..200).contains(&code) {
                continue; // an interim answer (100 Continue): the real one follows
            }
            let Some(f) = conn.fifo.borrow_mut().pop_front() else {
                ex.fail(&conn); // an answer to nothing
                break 'read;
            };
            conn.credits.signal(1);
            ex.answered(f, code, &buf[body_at..body_at + length], now);
            if close {
                ex.fail(&conn);
                break 'read;
            }
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
    conn.kill();
    let left: Vec<InFlight> = conn.fifo.borrow_mut().drain(..).collect();
    for f in left {
        ex.lost_answer(f.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("http://127.0.0.1:8080/upload/").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            t.prefix,
            b"POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n".to_vec()
        );
        let t = Target::parse("http://127.0.0.1:9").unwrap();
        assert!(t.prefix.starts_with(b"POST /upload/ "));
        assert!(Target::parse("https://127.0.0.1/").is_err());
        assert!(Target::parse("http:///upload/").is_err());
    }
}
