//! ZMTP 3.0 (RFC 23), the PUB side: enough of ZeroMQ's wire protocol for a shard to serve
//! subscribers itself. Sans-IO: bytes in, frames out.
//!
//! Why not a libzmq PUB socket for fan-out: libzmq owns its own I/O threads and queues, so it
//! cannot run on our pinned shards, cannot share a port across shards, and drops a slow
//! subscriber's messages without telling anyone. Serving the protocol from the shards lets
//! every shard accept subscribers on the same port (SO_REUSEPORT), keep a bounded queue per
//! subscriber, and count every drop. Any libzmq (4.x) or pyzmq SUB connects unchanged.
//!
//! What is implemented: the 64-byte greeting with the NULL mechanism (we advertise 3.0, so
//! libzmq peers send subscriptions as messages `\x01topic` / `\x00topic`; the 3.1 SUBSCRIBE
//! and CANCEL commands are understood too), the READY command with `Socket-Type`, PING/PONG,
//! and single-part messages out. Peers older than ZMTP 3 (libzmq 3.x and before) are refused.

use std::fmt;

/// Greeting length, both ways.
pub const GREETING_LEN: usize = 64;

/// Our greeting: ZMTP 3.0, NULL mechanism, not as-server (NULL ignores it).
pub fn greeting() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3; // major
    g[11] = 0; // minor
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// A protocol violation by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZmtpError {
    /// Not a ZMTP 3 greeting (an old libzmq, or not ZeroMQ at all).
    BadGreeting,
    /// A security mechanism other than NULL.
    UnsupportedMechanism,
    /// The peer is not a SUB/XSUB socket.
    WrongSocketType,
    /// A frame larger than we accept from subscribers.
    FrameTooLarge,
    /// A malformed command or metadata.
    BadCommand,
}

impl fmt::Display for ZmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZmtpError::BadGreeting => "not a ZMTP 3 greeting",
            ZmtpError::UnsupportedMechanism => "only the NULL security mechanism is supported",
            ZmtpError::WrongSocketType => "only SUB and XSUB sockets may connect",
            ZmtpError::FrameTooLarge => "frame too large",
            ZmtpError::BadCommand => "malformed command",
        })
    }
}

impl std::error::Error for ZmtpError {}

/// Check the peer's greeting; returns its minor version.
pub fn check_greeting(peer: &[u8; GREETING_LEN]) -> Result<u8, ZmtpError> {
    if peer[0] != 0xff || peer[9] & 1 != 1 || peer[10] < 3 {
        return Err(ZmtpError::BadGreeting);
    }
    let mech = &peer[12..32];
    let name_end = mech.iter().position(|&b| b == 0).unwrap_or(mech.len());
    if &mech[..name_end] != b"NULL" {
        return Err(ZmtpError::UnsupportedMechanism);
    }
    Ok(peer[11])
}

const FLAG_MORE: u8 = 1;
const FLAG_LONG: u8 = 2;
const FLAG_COMMAND: u8 = 4;

/// Append a frame header for a body of `len` bytes.
fn push_header(out: &mut Vec<u8>, flags: u8, len: usize) {
    if len <= 255 {
        out.push(flags);
        out.push(len as u8);
    } else {
        out.push(flags | FLAG_LONG);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Append the header of a single-part message of `len` bytes (the body follows).
pub fn push_message_header(out: &mut Vec<u8>, len: usize) {
    push_header(out, 0, len);
}

/// Append a command frame.
fn push_command(out: &mut Vec<u8>, name: &[u8], data: &[u8]) {
    push_header(out, FLAG_COMMAND, 1 + name.len() + data.len());
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(data);
}

/// Append our READY command.
pub fn push_ready(out: &mut Vec<u8>, socket_type: &str) {
    let mut props = Vec::with_capacity(32);
    props.push(11);
    props.extend_from_slice(b"Socket-Type");
    props.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    props.extend_from_slice(socket_type.as_bytes());
    push_command(out, b"READY", &props);
}

/// Append a PONG answering a PING whose context is `context`.
pub fn push_pong(out: &mut Vec<u8>, context: &[u8]) {
    push_command(out, b"PONG", context);
}

/// One frame from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Message { more: bool, body: &'a [u8] },
    Command { name: &'a [u8], data: &'a [u8] },
}

/// Decode a frame at the start of `buf`: `Ok(None)` until it is complete; otherwise the frame
/// and the bytes it took.
pub fn decode_frame(buf: &[u8], max_len: usize) -> Result<Option<(Frame<'_>, usize)>, ZmtpError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    let (len, at) = if flags & FLAG_LONG != 0 {
        let Some(b) = buf.get(1..9) else {
            return Ok(None);
        };
        let mut be = [0u8; 8];
        be.copy_from_slice(b);
        (u64::from_be_bytes(be), 9)
    } else {
        match buf.get(1) {
            Some(&l) => (u64::from(l), 2),
            None => return Ok(None),
        }
    };
    if len > max_len as u64 {
        return Err(ZmtpError::FrameTooLarge);
    }
    let len = len as usize;
    let Some(body) = buf.get(at..at + len) else {
        return Ok(None);
    };
    let frame = if flags & FLAG_COMMAND != 0 {
        let (&nlen, rest) = body.split_first().ok_or(ZmtpError::BadCommand)?;
        let nlen = usize::from(nlen);
        if rest.len() < nlen {
            return Err(ZmtpError::BadCommand);
        }
        Frame::Command {
            name: &rest[..nlen],
            data: &rest[nlen..],
        }
    } else {
        Frame::Message {
            more: flags & FLAG_MORE != 0,
            body,
        }
    };
    Ok(Some((frame, at + len)))
}

/// The `Socket-Type` property of a READY command's metadata.
pub fn ready_socket_type(data: &[u8]) -> Result<&[u8], ZmtpError> {
    let mut rest = data;
    let mut socket_type = None;
    while !rest.is_empty() {
        let (&nlen, r) = rest.split_first().ok_or(ZmtpError::BadCommand)?;
        let nlen = usize::from(nlen);
        let name = r.get(..nlen).ok_or(ZmtpError::BadCommand)?;
        let vlen_bytes = r.get(nlen..nlen + 4).ok_or(ZmtpError::BadCommand)?;
        let vlen = u32::from_be_bytes([vlen_bytes[0], vlen_bytes[1], vlen_bytes[2], vlen_bytes[3]])
            as usize;
        let value = r
            .get(nlen + 4..nlen + 4 + vlen)
            .ok_or(ZmtpError::BadCommand)?;
        if name.eq_ignore_ascii_case(b"Socket-Type") {
            socket_type = Some(value);
        }
        rest = &r[nlen + 4 + vlen..];
    }
    socket_type.ok_or(ZmtpError::BadCommand)
}

/// A subscriber's topic prefixes. Consumers of the feed subscribe to `""` (everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    prefixes: Vec<Vec<u8>>,
}

/// Most distinct prefixes one subscriber may hold: a bound on what it makes us keep.
pub const SUBSCRIPTIONS_MAX: usize = 256;

impl Subscriptions {
    /// Apply a subscription change; returns false if the peer holds too many already.
    pub fn apply(&mut self, subscribe: bool, topic: &[u8]) -> bool {
        if subscribe {
            if self.prefixes.len() >= SUBSCRIPTIONS_MAX {
                return false;
            }
            self.prefixes.push(topic.to_vec());
        } else if let Some(i) = self.prefixes.iter().position(|p| p == topic) {
            self.prefixes.swap_remove(i);
        }
        true
    }

    /// Whether a message is wanted.
    pub fn matches(&self, msg: &[u8]) -> bool {
        self.prefixes.iter().any(|p| msg.starts_with(p))
    }

    /// A subscription change carried by a frame, if it is one: (subscribe?, topic).
    pub fn change<'a>(frame: &Frame<'a>) -> Option<(bool, &'a [u8])> {
        match *frame {
            Frame::Message { body, .. } => match body.split_first() {
                Some((1, topic)) => Some((true, topic)),
                Some((0, topic)) => Some((false, topic)),
                _ => None,
            },
            Frame::Command { name, data } if name == b"SUBSCRIBE" => Some((true, data)),
            Frame::Command { name, data } if name == b"CANCEL" => Some((false, data)),
            Frame::Command { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_greeting_is_one_we_accept() {
        let g = greeting();
        assert_eq!(g.len(), 64);
        assert_eq!(check_greeting(&g), Ok(0));
        let mut old = g;
        old[10] = 2;
        assert_eq!(check_greeting(&old), Err(ZmtpError::BadGreeting));
        let mut curve = g;
        curve[12..17].copy_from_slice(b"CURVE");
        assert_eq!(check_greeting(&curve), Err(ZmtpError::UnsupportedMechanism));
    }

    #[test]
    fn frames_short_long_and_partial() {
        let mut out = Vec::new();
        push_message_header(&mut out, 3);
        out.extend_from_slice(b"abc");
        let body = vec![7u8; 300];
        push_message_header(&mut out, body.len());
        out.extend_from_slice(&body);
        let (f, n) = decode_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Message {
                more: false,
                body: b"abc"
            }
        );
        let (f, m) = decode_frame(&out[n..], 1 << 20).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Message {
                more: false,
                body: &body
            }
        );
        assert_eq!(n + m, out.len());
        for cut in 0..out.len() - m {
            if cut < n {
                assert_eq!(decode_frame(&out[..cut], 1 << 20).unwrap(), None);
            }
        }
        assert_eq!(decode_frame(&out[n..], 100), Err(ZmtpError::FrameTooLarge));
    }

    #[test]
    fn ready_round_trips_and_names_the_socket_type() {
        let mut out = Vec::new();
        push_ready(&mut out, "SUB");
        let (f, _) = decode_frame(&out, 1024).unwrap().unwrap();
        let Frame::Command { name, data } = f else {
            panic!("not a command: {f:?}")
        };
        assert_eq!(name, b"READY");
        assert_eq!(ready_socket_type(data), Ok(&b"SUB"[..]));
        assert_eq!(
            ready_socket_type(&data[..data.len() - 1]),
            Err(ZmtpError::BadCommand)
        );
    }

    #[test]
    fn subscriptions_by_message_and_by_command() {
        let mut s = Subscriptions::default();
        assert!(!s.matches(b"x"));
        let sub = Frame::Message {
            more: false,
            body: b"\x01",
        };
        let (on, topic) = Subscriptions::change(&sub).unwrap();
        s.apply(on, topic);
        assert!(s.matches(b"anything"));
        let cancel = Frame::Command {
            name: b"CANCEL",
            data: b"",
        };
        let (on, topic) = Subscriptions::change(&cancel).unwrap();
        s.apply(on, topic);
        assert!(!s.matches(b"anything"));
        s.apply(true, b"ab");
        assert!(s.matches(b"abc") && !s.matches(b"b"));
        for _ in 0..SUBSCRIPTIONS_MAX {
            s.apply(true, b"z");
        }
        assert!(!s.apply(true, b"y"));
    }
}
