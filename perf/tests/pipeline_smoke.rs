//! Smoke run of the pipeline benchmark with tiny parameters, so that `cargo test` executes
//! the same code as `cargo run --release -p perf --bin pipeline` and the benchmark cannot rot.
//! It checks what the figures must satisfy whatever the machine: every requested cell is
//! there, rates are positive and finite, and the frames the benchmark produced are real zlib
//! frames of canonical JSON holding the right number of rows.

use std::time::Duration;

use engine::synth::Shape;
use engine::ResultType;
use libdeflater::Decompressor;
use perf::pipeline::{self, Params};
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

fn tiny() -> Params {
    Params {
        shapes: vec![
            Shape::orders(1, 10),
            Shape::orders(2, 50),
            Shape::history(1, 30),
        ],
        levels: vec![1, 6],
        cell_time: Duration::from_millis(3),
        repeats: 3,
        messages_per_shape: 5,
        zlib_only_shape: Shape::orders(1, 20),
        zlib_only_levels: vec![1, 9, 12],
        ..Params::default()
    }
}

#[test]
fn tiny_run_covers_every_cell_with_sane_figures() {
    let params = tiny();
    let report = pipeline::run(&params).expect("the benchmark runs");
    assert_eq!(report.rows.len(), params.shapes.len() * params.levels.len());
    for shape in &params.shapes {
        for &level in &params.levels {
            let row = report
                .rows
                .iter()
                .find(|r| {
                    r.result_type == shape.result_type
                        && r.rowsets == shape.rowsets
                        && r.orders_per_message == shape.rows()
                        && r.zlib_level == level
                })
                .unwrap_or_else(|| panic!("no row for {shape:?} at level {level}"));
            assert_eq!(row.messages, 5);
            for v in [
                row.orders_per_s,
                row.input_mb_per_s,
                row.feed_bytes_per_order,
                row.floor_orders_per_s,
                row.input_bytes_per_order,
                row.upload_bytes_per_order,
            ] {
                assert!(v.is_finite() && v > 0.0, "{row:?}");
            }
            assert!(row.spread.is_finite() && row.spread >= 0.0, "{row:?}");
            // Compression must shrink what consumers read, and the input MB/s must agree
            // with orders/s and the message size.
            assert!(
                row.feed_bytes_per_order < row.input_bytes_per_order,
                "{row:?}"
            );
            let implied = row.orders_per_s * row.input_bytes_per_order / 1e6;
            assert!((implied / row.input_mb_per_s - 1.0).abs() < 0.2, "{row:?}");

            let mut json = vec![0u8; 1 << 20];
            let n = Decompressor::new()
                .zlib_decompress(&row.sample_frame, &mut json)
                .expect("a published frame is zlib");
            let v: sonic_rs::Value = sonic_rs::from_slice(&json[..n]).expect("frame is JSON");
            let rowsets = v["rowsets"].as_array().expect("rowsets array");
            assert_eq!(rowsets.len(), shape.rowsets);
            let rows: usize = rowsets
                .iter()
                .map(|rs| rs["rows"].as_array().expect("rows array").len())
                .sum();
            assert_eq!(rows, shape.rows());
            let want = match shape.result_type {
                ResultType::Orders => "orders",
                ResultType::History => "history",
            };
            assert_eq!(v["resultType"].as_str(), Some(want));
        }
    }
    assert_eq!(report.zlib_only.len(), 3);
    let sizes: Vec<f64> = report.zlib_only.iter().map(|z| z.bytes_per_order).collect();
    assert!(sizes.iter().all(|&b| b > 0.0));
    assert!(
        sizes[2] <= sizes[0],
        "level 12 is no larger than level 1: {sizes:?}"
    );
    assert_eq!(report.phases.len(), params.shapes.len());
    for ph in &report.phases {
        for v in [
            ph.decompress_ns,
            ph.parse_ns,
            ph.encode_ns,
            ph.compress_ns,
            ph.pipeline_ns,
        ] {
            assert!(v.is_finite() && v > 0.0, "{ph:?}");
        }
    }
}

#[test]
fn json_report_is_one_object_with_every_result() {
    let params = Params {
        shapes: vec![Shape::orders(1, 10), Shape::history(1, 7)],
        levels: vec![2],
        cell_time: Duration::from_millis(1),
        repeats: 1,
        messages_per_shape: 2,
        zlib_only_levels: vec![],
        phase_level: None,
        ..Params::default()
    };
    let report = pipeline::run(&params).expect("the benchmark runs");
    let text = report.to_json();
    let v: sonic_rs::Value = sonic_rs::from_str(&text).expect("valid JSON");
    assert_eq!(
        v["default_level"].as_u64(),
        Some(u64::from(engine::pipeline::DEFAULT_ZLIB_LEVEL))
    );
    let results = v["results"].as_array().expect("results array");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["orders_per_message"].as_u64(), Some(10));
    assert_eq!(results[0]["zlib_level"].as_u64(), Some(2));
    assert_eq!(results[1]["result_type"].as_str(), Some("history"));
    assert_eq!(results[1]["orders_per_message"].as_u64(), Some(7));
    for r in results.iter() {
        for key in [
            "orders_per_s",
            "input_mb_per_s",
            "feed_bytes_per_order",
            "floor_orders_per_s",
        ] {
            assert!(r[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {text}");
        }
    }
    assert!(report.table().contains("floor"));
}

#[test]
fn bad_parameters_are_refused() {
    for params in [
        Params {
            levels: vec![13],
            ..tiny()
        },
        Params {
            repeats: 0,
            ..tiny()
        },
        Params {
            shapes: vec![Shape::orders(3, 0)],
            ..tiny()
        },
        Params {
            shapes: vec![Shape::history(1, engine::synth::HISTORY_DAYS_MAX + 1)],
            ..tiny()
        },
    ] {
        assert!(pipeline::run(&params).is_err(), "{params:?}");
    }
}
