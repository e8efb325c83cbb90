//! Smoke run of the relay benchmark with tiny parameters, so that `cargo test` executes the
//! same code as `cargo run --release -p perf --bin relay` and the benchmark cannot rot.
//! It checks what must hold whatever the machine: the frames are real EMDR frames (they
//! inflate to the pipeline's canonical JSON for their id), every row is there, every
//! subscriber received unique frames in the measured interval, nothing arrived corrupted, the
//! relay delivered no duplicate while the proxy, hearing two upstreams, did, and the counts
//! add up (per subscriber, and the relay's own counters).

use std::time::Duration;

use engine::synth::{self, Rng, Shape};
use engine::{Pipeline, PipelineConfig, Upload};
use libdeflater::Decompressor;
use perf::relay_bench::{self, FrameSet, Params, Server, ID_FIRST};

fn tiny() -> Params {
    Params {
        subscribers: vec![1, 2],
        shards: vec![1, 2],
        proxy_io_threads: vec![1],
        upstreams: 2,
        bases: 8,
        orders_per_message: 20,
        window_frames: 64,
        hwm: 10_000,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        drain_idle: Duration::from_millis(200),
        ..Params::default()
    }
}

#[test]
fn frames_inflate_to_the_pipelines_canonical_json_for_their_id() {
    let now = 1_700_000_000;
    let set = FrameSet::build(4, 30, 77, now).expect("frames build");
    let mut pipeline = Pipeline::new(PipelineConfig::default()).expect("default config");
    let mut inflate = Decompressor::new();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in [
        ID_FIRST,
        ID_FIRST + 1,
        ID_FIRST + 5,
        ID_FIRST + 123_456_789,
        9_999_999_999_999,
    ] {
        let frame = set.frame(id);
        assert!(seen.insert(frame.clone()), "frame {id} is not unique");
        assert_eq!(set.identify(&frame), Some(id));
        let mut damaged = frame.clone();
        let last = damaged.len() - 10;
        damaged[last] ^= 1;
        assert_eq!(set.identify(&damaged), None, "a damaged frame passes");
        let mut json = vec![0; 1 << 20];
        let n = inflate
            .zlib_decompress(&frame, &mut json)
            .expect("a valid zlib stream with a right adler32");
        json.truncate(n);
        assert_eq!(synth::upload_key_of(&json), Some(id));
        let body = synth::message_json(
            &mut Rng::new(set.seed + set.base_of(id) as u64),
            Shape::orders(1, 30),
            now,
            Some(id),
        );
        pipeline
            .process(&Upload::body(&body), now, &mut out)
            .expect("accepted");
        assert!(
            json == pipeline.json(),
            "frame {id} does not inflate to the canonical JSON"
        );
    }
    // About as large as the pipeline's own frame (one stream at the same level).
    let ratio = set.frame_bytes_avg / set.pipeline_frame_bytes_avg;
    assert!((0.9..1.2).contains(&ratio), "frame size ratio {ratio}");
}

#[test]
fn tiny_run_has_every_row_and_consistent_counts() {
    let p = tiny();
    let report = relay_bench::run(&p).expect("the benchmark runs");
    assert_eq!(
        report.rows.len(),
        p.subscribers.len() * (p.shards.len() + p.proxy_io_threads.len())
    );
    for row in &report.rows {
        let what = format!("{} subs={}", row.server.label(), row.subscribers);
        assert_eq!(row.per_subscriber.len(), row.subscribers, "{what}");
        assert!(
            row.published_unique > 0 && row.offered_per_s > 0.0,
            "{what}"
        );
        assert_eq!(row.corrupt, 0, "{what}: corrupted frames");
        let mut drops = 0;
        let mut duplicates = 0;
        for s in &row.per_subscriber {
            assert!(
                s.measured_unique > 0,
                "{what}: a subscriber got nothing: {s:?}"
            );
            assert!(s.probes > 0, "{what}: {s:?}");
            assert!(s.unique <= row.published_unique, "{what}: {s:?}");
            assert!(
                s.unique <= s.frames && s.measured_unique <= s.measured_frames,
                "{what}"
            );
            assert!(
                s.measured_frames <= s.frames && s.measured_bytes <= s.bytes,
                "{what}"
            );
            assert!(s.measured_unique <= s.unique, "{what}");
            drops += row.published_unique - s.unique;
            duplicates += s.frames - s.unique;
        }
        assert_eq!(row.drops, drops, "{what}");
        assert_eq!(row.duplicates, duplicates, "{what}");
        let c = &row.cpu;
        for v in [c.server_pct, c.bench_pct, c.others_pct, c.server_us_per_msg] {
            assert!(v.is_finite() && v >= 0.0, "{what}: {c:?}");
        }
        assert!(c.server_pct <= c.bench_pct + 1e-9, "{what}: {c:?}");
        let m = row.msgs_per_s;
        assert!(
            m.min > 0.0 && m.min <= m.avg && m.avg <= m.max,
            "{what}: {m:?}"
        );
        match row.server {
            Server::Emdr { .. } => {
                assert_eq!(row.duplicates, 0, "{what}: the relay delivered duplicates");
                let c = row
                    .relay
                    .as_ref()
                    .expect("emdr rows carry the relay's counters");
                assert_eq!(
                    c.received,
                    c.forwarded
                        + c.duplicates_dropped
                        + c.multipart_dropped
                        + c.undecodable_dropped,
                    "{what}: {c:?}"
                );
                assert!(
                    c.duplicates_dropped > 0,
                    "{what}: nothing de-duplicated: {c:?}"
                );
                assert_eq!(
                    c.multipart_dropped + c.undecodable_dropped,
                    0,
                    "{what}: {c:?}"
                );
                // Every frame a subscriber counted went through the relay once.
                for s in &row.per_subscriber {
                    assert!(s.frames <= c.forwarded, "{what}: {s:?} {c:?}");
                }
                assert!(report.ratio(row, 1).is_some(), "{what}: no ratio");
            }
            Server::Proxy { .. } => {
                assert!(row.relay.is_none());
                assert!(
                    row.duplicates > 0,
                    "{what}: two upstreams but no duplicate delivered: is the second one live?"
                );
            }
        }
    }
    assert!(report.target_met().is_some());
    let table = report.table();
    assert!(table.contains("emdr relay shards=2") && table.contains("libzmq proxy"));
    assert!(table.contains("target:"));
    let json = report.json();
    assert!(json.starts_with('{') && json.ends_with('}'));
    assert_eq!(json.matches("\"server\":").count(), report.rows.len());
}

#[test]
fn open_loop_rate_paces_the_publishers_and_repeats_report_the_median() {
    let p = Params {
        subscribers: vec![1],
        shards: vec![1],
        proxy_io_threads: vec![],
        rate_per_s: Some(1000.0),
        repeats: 2,
        ..tiny()
    };
    let report = relay_bench::run(&p).expect("runs");
    assert_eq!(report.rows.len(), 1);
    let row = &report.rows[0];
    // 1000/s for warm-up + duration (0.4 s): about 400 frames, never thousands.
    assert!(
        (200..=600).contains(&row.published_unique),
        "published {}",
        row.published_unique
    );
    assert_eq!(row.duplicates, 0);
    assert!(row.per_subscriber[0].unique > 0);
    assert_eq!(row.repeat_avgs.len(), 2);
    assert!(row.repeat_avgs.contains(&row.msgs_per_s.avg));
    assert!(
        report.target_met().is_none(),
        "no proxy row to compare with"
    );
    assert!(report.table().contains("of each run"));
}
