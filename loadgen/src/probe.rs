//! The slow-joiner handshake, before the clock starts.
//!
//! A ZeroMQ SUB that has just connected misses what its PUB sends until the subscription has
//! travelled upstream (the "slow joiner"), and a relay's upstream link is no faster. So after
//! `--sub-settle`, the run sends *probe* uploads (HTTP mode: one per target over a plain
//! blocking connection; relay mode: one frame) every [`PROBE_INTERVAL`] until every
//! subscriber has seen at least one, or gives up after `--sub-timeout` with the list of the
//! silent subscribers. Probes are flagged in the ledger and never enter a figure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::feed::Feed;
use crate::http_load::Target;
use crate::ledger::{self, Ledger};
use crate::payload::Payloads;
use crate::Clock;

/// Time between two rounds of probes.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Bound on each probe's write and answer.
const PROBE_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Send one upload over a fresh blocking connection; return the status and body.
pub fn post(
    target: &Target,
    payloads: &Payloads,
    body: u32,
    key: u64,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut req = target.prefix.clone();
    payloads.write_request(body, key, &mut req);
    let mut s = TcpStream::connect_timeout(&target.addr, PROBE_IO_TIMEOUT)
        .with_context(|| format!("cannot connect to {}", target.url))?;
    s.set_read_timeout(Some(PROBE_IO_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_IO_TIMEOUT))?;
    s.write_all(&req)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("{} closed the connection without answering", target.url);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = resp.parse(&buf)? {
            let length = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            if buf.len() >= head + length {
                return Ok((resp.code.unwrap_or(0), buf[head..head + length].to_vec()));
            }
        }
        if buf.len() > 1 << 20 {
            bail!("{} answered more than 1 MiB", target.url);
        }
    }
}

/// Send probes with `send_round` until every subscriber of `feed` has seen one.
pub fn until_seen(
    feed: &Feed,
    timeout: Duration,
    mut send_round: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    let mut rounds = 0;
    loop {
        send_round()?;
        rounds += 1;
        let next = Instant::now() + PROBE_INTERVAL;
        while Instant::now() < next {
            if feed.all_keyed() {
                return Ok(rounds);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if Instant::now() >= deadline {
            bail!(
                "subscribers {:?} saw no probe within {:?}: is each --sub the feed the targets publish to?",
                feed.silent(),
                timeout
            );
        }
    }
}

/// HTTP probes: one upload to every target per round; each must be accepted.
pub fn http(
    feed: &Feed,
    targets: &[Target],
    payloads: &Payloads,
    ledger: &Ledger,
    clock: Clock,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let body = payloads.smallest();
    until_seen(feed, timeout, || {
        for t in targets {
            let seq = ledger
                .issue(clock.now_ns(), body, ledger::PROBE | ledger::SENT)
                .context("the id space is exhausted by probes")?;
            let (code, text) = post(t, payloads, body, ledger.key(seq))?;
            if code != 200 || text != b"1" {
                bail!(
                    "{} refused a probe upload: {code} {}",
                    t.url,
                    String::from_utf8_lossy(&text)
                );
            }
            ledger.mark(seq, ledger::ACCEPTED);
        }
        Ok(())
    })
}
