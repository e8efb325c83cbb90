//! Fuzz target: the whole per-upload job, `engine::Pipeline::process`, on arbitrary bytes.
//!
//! Input layout: byte 0 chooses the request's headers and configuration, the rest is the body.
//! - bits 0-2: `Content-Encoding` (none, gzip, deflate, GZIP, x-gzip, identity, " Deflate ",
//!   or an unsupported one);
//! - bits 3-5: `Content-Type` (none, JSON, urlencoded form with or without a charset,
//!   multipart with the boundary `XyZ` or `"b"`, multipart without a boundary, text/plain);
//! - bit 6: a salt and a client IP are set, so the uploader tag is appended;
//! - bit 7: small limits (1 MiB inflated, depth 8, 64 rows, 8 rowsets), to reach them fast.
//!
//! Checked, beyond "no panic, no hang, no overflow":
//! - a rejection has a listed code, a 400/413/415 status and a non-empty one-line message;
//! - the same upload on the same (reused) pipeline gives the same outcome, byte for byte;
//! - an accepted upload's frame is a zlib stream (0x78 header) that inflates to exactly
//!   `Pipeline::json`, whose length `Accepted` reports;
//! - that JSON is accepted again, as a bare body and as the frame itself (a sniffed zlib
//!   body), parses to the same message and re-encodes to identical bytes: canonical output is a fixed point.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use engine::uudif::UploadKey;
use engine::{Limits, Pipeline, PipelineConfig, Reject, Upload};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

const ENCODINGS: [Option<&[u8]>; 8] = [
    None,
    Some(b"gzip"),
    Some(b"deflate"),
    Some(b"GZIP"),
    Some(b"x-gzip"),
    Some(b"identity"),
    Some(b" Deflate "),
    Some(b"br"),
];

const TYPES: [Option<&[u8]>; 8] = [
    None,
    Some(b"application/json"),
    Some(b"application/x-www-form-urlencoded"),
    Some(b"application/x-www-form-urlencoded; charset=UTF-8"),
    Some(b"multipart/form-data; boundary=XyZ"),
    Some(b"multipart/form-data; boundary=\"b\""),
    Some(b"multipart/form-data"),
    Some(b"text/plain"),
];

fn config(small: bool, salted: bool) -> PipelineConfig {
    let limits = if small {
        Limits {
            inflated_bytes_max: 1 << 20,
            json_depth_max: 8,
            rows_max: 64,
            rowsets_max: 8,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    PipelineConfig {
        limits,
        ip_key_salt: salted.then(|| b"fuzz salt".to_vec()),
        ..PipelineConfig::default()
    }
}

fn check_reject(r: &Reject) {
    let text = r.to_string();
    assert!(!text.trim().is_empty(), "{r:?}: empty message");
    assert!(!text.contains(['\n', '\r']), "{r:?}: {text:?}");
    assert!(Reject::CODES.contains(&r.code()), "{r:?}: unlisted code");
    assert!(matches!(r.status(), 400 | 413 | 415), "{r:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let salted = head & 0x40 != 0;
    let upload = Upload {
        body,
        content_encoding: ENCODINGS[usize::from(head & 7)],
        content_type: TYPES[usize::from(head >> 3 & 7)],
        client_ip: salted.then_some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
    };
    let mut p = Pipeline::new(config(head & 0x80 != 0, salted)).expect("valid config");
    let mut frame = Vec::new();
    let first = p.process(&upload, NOW, &mut frame);

    // Determinism on a reused pipeline.
    let mut frame_again = Vec::new();
    let second = p.process(&upload, NOW, &mut frame_again);
    assert_eq!(first, second, "same upload, same pipeline, another outcome");

    let accepted = match first {
        Ok(a) => a,
        Err(r) => {
            check_reject(&r);
            return;
        }
    };
    assert_eq!(
        frame, frame_again,
        "same upload, same pipeline, another frame"
    );

    // The frame is zlib and holds exactly the canonical JSON.
    assert_eq!(frame.first(), Some(&0x78), "zlib header");
    assert_eq!(accepted.frame_bytes, frame.len());
    let json = p.json().to_vec();
    assert_eq!(accepted.json_bytes, json.len());
    let mut inflated = vec![0u8; json.len()];
    let n = libdeflater::Decompressor::new()
        .zlib_decompress(&frame, &mut inflated)
        .expect("the frame inflates");
    assert_eq!(&inflated[..n], &json[..], "frame content");
    let mut message = p.message().clone();
    if let (Some(salt), Some(ip)) = (&p.config().ip_key_salt, upload.client_ip) {
        // The tag is an ordinary upload key of the published message.
        let key = engine::tag::uploader_key(salt, ip);
        message.upload_keys.push(UploadKey {
            name: "EMDR".into(),
            key: String::from_utf8(key.to_vec()).expect("hex"),
        });
    }

    // Canonical output is a fixed point: as plain JSON, and as the frame itself.
    let mut q = Pipeline::new(PipelineConfig::default()).expect("valid config");
    for (what, again) in [("json", &json[..]), ("frame", &frame[..])] {
        let mut out = Vec::new();
        if let Err(r) = q.process(&Upload::body(again), NOW, &mut out) {
            panic!(
                "canonical {what} rejected ({}): {r}\n{}",
                r.code(),
                String::from_utf8_lossy(&json)
            );
        }
        assert_eq!(q.message(), &message, "{what}: parse(y) != parse(x)");
        assert!(
            q.json() == &json[..],
            "{what}: encode(parse(y)) != y\n y: {}\n y': {}",
            String::from_utf8_lossy(&json),
            String::from_utf8_lossy(q.json())
        );
    }
});
