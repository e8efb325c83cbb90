//! `emdr snoop`: read a feed and print one line per message, for operators checking that a
//! gateway, announcer or relay is delivering, and how fresh its data is.
//!
//! Each message is decoded the way a consumer would (zlib, or plain JSON from a relay run with
//! `--decompress`) and then parsed and validated by the engine, so a line also certifies that
//! the message is a valid UUDIF message.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::body::{BodyDecoder, Encoding};
use engine::uudif::{Message, Parser};
use engine::Limits;

use crate::config::SnoopArgs;

/// One summary line: type, rowsets, rows, generator, age of the newest `generatedAt`.
pub fn summary_line(msg: &Message, frame_bytes: usize, now: i64) -> String {
    let generator = msg.generator.as_ref().map_or_else(
        || "EMDR".to_string(),
        |g| format!("{} {}", g.name, g.version),
    );
    let age = msg
        .rowsets
        .iter()
        .map(|r| r.generated_at)
        .max()
        .map_or_else(|| "-".to_string(), |t| format!("{}s", now - t));
    let rows = match msg.result_type {
        engine::ResultType::Orders => "orders",
        engine::ResultType::History => "rows",
    };
    format!(
        "{} rowsets={} {rows}={} generator={:?} age={age} bytes={frame_bytes}",
        msg.result_type.name(),
        msg.rowsets.len(),
        msg.row_count(),
        generator,
    )
}

/// Run the reader until `--count` messages or the timeout.
pub fn run(args: &SnoopArgs) -> Result<(), String> {
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).map_err(|e| e.to_string())?;
    sub.set_subscribe(b"").map_err(|e| e.to_string())?;
    if args.timeout_s > 0 {
        let ms = i32::try_from(args.timeout_s * 1000).unwrap_or(i32::MAX);
        sub.set_rcvtimeo(ms).map_err(|e| e.to_string())?;
    }
    sub.connect(&args.endpoint)
        .map_err(|e| format!("cannot connect to {}: {e}", args.endpoint))?;
    let limits = Limits::default();
    let mut decoder = BodyDecoder::new();
    let mut parser = Parser::new();
    let mut msg = Message::default();
    let mut out = std::io::stdout().lock();
    let mut seen = 0u64;
    while args.count == 0 || seen < args.count {
        let parts = match sub.recv_multipart(0) {
            Ok(p) => p,
            Err(zmq::Error::EAGAIN) => {
                return Err(format!(
                    "no message for {} s after {seen} messages",
                    Duration::from_secs(args.timeout_s).as_secs()
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        seen += 1;
        let [frame] = parts.as_slice() else {
            let _ = writeln!(
                out,
                "message of {} frames (not an EMDR message)",
                parts.len()
            );
            continue;
        };
        let decoded = decoder
            .decode(frame, Encoding::Deflate, None, &limits)
            .and_then(|json| parser.parse(json, &limits, &mut msg).map(|()| json));
        let line = match decoded {
            Ok(json) if args.json => String::from_utf8_lossy(json).into_owned(),
            Ok(_) => summary_line(&msg, frame.len(), unix_now()),
            Err(e) => format!("invalid message ({} bytes): {e}", frame.len()),
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
