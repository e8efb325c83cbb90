//! Canonical output (wire contract §4): the JSON every consumer reads, and its zlib frame.
//!
//! `version` is `"0.1"`; `currentTime` is the caller's `now`; every timestamp is
//! `YYYY-MM-DDTHH:MM:SS+00:00`; `columns` is the full canonical list of the result type and
//! every row follows it; rowsets and rows keep their input order; unknown IDs are `null`.
//! Numbers are written in their shortest round-trip form (ryu), integers as integers. The
//! writer is a pure function of the message, `now` and the tag, so encoding one parsed message
//! twice yields the same bytes, and a canonical message parses back to itself (tested).

use crate::time::{self, UnixSeconds};
use crate::uudif::{HistoryRow, Message, Order, ResultType};

/// Bytes of JSON written per order, roughly: used to reserve the output buffer once.
const ORDER_JSON_BYTES: usize = 128;

fn push_str_escaped(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[inline]
fn push_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
fn push_num(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite(), "the parser admits finite numbers only");
    out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
}

#[inline]
fn push_opt_id(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => push_int(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

#[inline]
fn push_time(out: &mut Vec<u8>, t: UnixSeconds) {
    out.push(b'"');
    out.extend_from_slice(&time::format(t));
    out.push(b'"');
}

fn push_order(out: &mut Vec<u8>, o: &Order) {
    out.push(b'[');
    push_num(out, o.price);
    for v in [
        o.vol_remaining,
        o.range,
        o.order_id,
        o.vol_entered,
        o.min_volume,
    ] {
        out.push(b',');
        push_int(out, v);
    }
    out.extend_from_slice(if o.bid { b",true," } else { b",false," });
    push_time(out, o.issue_date);
    out.push(b',');
    push_int(out, o.duration);
    out.push(b',');
    push_int(out, o.station_id);
    out.push(b',');
    push_opt_id(out, o.solar_system_id);
    out.push(b']');
}

fn push_history(out: &mut Vec<u8>, h: &HistoryRow) {
    out.push(b'[');
    push_time(out, h.date);
    out.push(b',');
    push_int(out, h.orders);
    out.push(b',');
    push_int(out, h.quantity);
    for v in [h.low, h.high, h.average] {
        out.push(b',');
        push_num(out, v);
    }
    out.push(b']');
}

/// The generator written for uploads that named none.
pub const DEFAULT_GENERATOR_NAME: &str = "EMDR";

/// Append the canonical JSON of `msg` to `out`. `tag`, when given, is appended to
/// `uploadKeys` as `{"name":"EMDR","key":tag}`.
pub fn write_json(msg: &Message, now: UnixSeconds, tag: Option<&str>, out: &mut Vec<u8>) {
    out.reserve(512 + msg.row_count() * ORDER_JSON_BYTES);
    out.extend_from_slice(b"{\"resultType\":\"");
    out.extend_from_slice(msg.result_type.name().as_bytes());
    out.extend_from_slice(b"\",\"version\":\"0.1\",\"uploadKeys\":[");
    let tag_key = tag.map(|key| (DEFAULT_GENERATOR_NAME, key));
    let keys = msg
        .upload_keys
        .iter()
        .map(|k| (k.name.as_str(), k.key.as_str()))
        .chain(tag_key);
    for (i, (name, key)) in keys.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        push_str_escaped(out, name);
        out.extend_from_slice(b",\"key\":");
        push_str_escaped(out, key);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"generator\":{\"name\":");
    match &msg.generator {
        Some(g) => {
            push_str_escaped(out, &g.name);
            out.extend_from_slice(b",\"version\":");
            push_str_escaped(out, &g.version);
        }
        None => {
            push_str_escaped(out, DEFAULT_GENERATOR_NAME);
            out.extend_from_slice(b",\"version\":");
            push_str_escaped(out, crate::VERSION);
        }
    }
    out.extend_from_slice(b"},\"currentTime\":");
    push_time(out, now);
    out.extend_from_slice(b",\"columns\":[");
    for (i, c) in msg.result_type.columns().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(c.name().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"],\"rowsets\":[");
    let mut row = 0;
    for (i, rs) in msg.rowsets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"generatedAt\":");
        push_time(out, rs.generated_at);
        out.extend_from_slice(b",\"regionID\":");
        push_opt_id(out, rs.region_id);
        out.extend_from_slice(b",\"typeID\":");
        push_int(out, rs.type_id);
        out.extend_from_slice(b",\"rows\":[");
        for r in 0..rs.rows {
            if r > 0 {
                out.push(b',');
            }
            match msg.result_type {
                ResultType::Orders => push_order(out, &msg.orders[row + r]),
                ResultType::History => push_history(out, &msg.history[row + r]),
            }
        }
        row += rs.rows;
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = Vec::new();
        push_str_escaped(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
        let back: String = sonic_rs::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn numbers_are_shortest_round_trip() {
        let mut out = Vec::new();
        for v in [8999.0, 11499.99, 0.1, 1e30, 123456789.123] {
            out.clear();
            push_num(&mut out, v);
            let s = std::str::from_utf8(&out).unwrap();
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
        }
        out.clear();
        push_num(&mut out, 11499.99);
        assert_eq!(out, b"11499.99");
    }
}
