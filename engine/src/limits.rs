//! Named, validated limits on everything an upload can make the engine do.
//!
//! Each limit has its unit in its name. The defaults admit the largest real uploads (a
//! region-wide dump of 30,000 orders is about 3 MB of JSON, and a few hundred kB gzipped) with
//! a wide margin, and refuse what no uploader sends: they bound the memory one upload can make
//! a shard hold, and the CPU one upload can make it spend.

use std::fmt;

/// The engine's limits. Build with [`Limits::default`] and adjust; call [`Limits::validate`]
/// once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The body as received (compressed or not), in bytes.
    pub body_bytes_max: usize,
    /// The body after decompression (the JSON, or the form around it), in bytes. A
    /// decompression bomb is stopped after producing this much.
    pub inflated_bytes_max: usize,
    /// Rowsets in one message.
    pub rowsets_max: usize,
    /// Rows in one message, over all its rowsets.
    pub rows_max: usize,
    /// Values in one row (a row longer than `columns` has its extra values ignored, but they
    /// are still read).
    pub row_values_max: usize,
    /// Nesting depth of JSON arrays and objects, counting the top-level object as 1.
    pub json_depth_max: usize,
}

impl Limits {
    /// The top of `json_depth_max`: the JSON parser's own recursion guard sits above it.
    pub const JSON_DEPTH_CEILING: usize = 128;
    /// The smallest `json_depth_max` that admits a UUDIF message
    /// (message → rowsets → rowset → rows → row).
    pub const JSON_DEPTH_FLOOR: usize = 5;

    /// Check the limits are coherent; say which one is not.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let positive = [
            ("body_bytes_max", self.body_bytes_max),
            ("inflated_bytes_max", self.inflated_bytes_max),
            ("rowsets_max", self.rowsets_max),
            ("rows_max", self.rows_max),
            ("row_values_max", self.row_values_max),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(LimitsError(format!("{name} must be at least 1")));
            }
        }
        if self.inflated_bytes_max > u32::MAX as usize || self.body_bytes_max > u32::MAX as usize {
            return Err(LimitsError(
                "body_bytes_max and inflated_bytes_max must be below 4 GiB".into(),
            ));
        }
        if !(Self::JSON_DEPTH_FLOOR..=Self::JSON_DEPTH_CEILING).contains(&self.json_depth_max) {
            return Err(LimitsError(format!(
                "json_depth_max must be between {} and {}",
                Self::JSON_DEPTH_FLOOR,
                Self::JSON_DEPTH_CEILING
            )));
        }
        if self.row_values_max < 11 {
            return Err(LimitsError(
                "row_values_max must be at least 11 (the order columns)".into(),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: 16 << 20,
            inflated_bytes_max: 64 << 20,
            rowsets_max: 50_000,
            rows_max: 500_000,
            row_values_max: 64,
            json_depth_max: 16,
        }
    }
}

/// A limit out of its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsError(pub String);

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn zero_and_out_of_range_limits_are_named() {
        let l = Limits {
            rows_max: 0,
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().0.contains("rows_max"));
        let l = Limits {
            json_depth_max: 2,
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().0.contains("json_depth_max"));
    }
}
