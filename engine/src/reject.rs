//! Rejections: why an upload was refused, as a small `Copy` value.
//!
//! Every way an upload can be wrong is one variant here. A rejection carries three faces:
//! a stable reason code ([`Reject::code`]) that names a counter, the HTTP status the gateway
//! answers with ([`Reject::status`]), and a one-line message ([`Display`](std::fmt::Display))
//! that is sent back to the uploader and says which field, rowset or row was wrong and how.
//!
//! The type is `Copy` and allocation-free so that the hot path can return it cheaply; the
//! positions it carries (rowset, row, column, byte offset) are plain integers, and the few
//! strings it quotes from the input are cut to a short inline buffer ([`Snippet`]).

use std::fmt;

use crate::uudif::Column;

/// A short, inline copy of a piece of the input (an unknown column name, a bad timestamp),
/// cut to [`Snippet::CAP`] bytes on a character boundary so that a rejection stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    len: u8,
    cut: bool,
    bytes: [u8; Snippet::CAP],
}

impl Snippet {
    /// The most bytes of input a rejection quotes.
    pub const CAP: usize = 40;

    /// Copy at most [`Snippet::CAP`] bytes of `s`, never splitting a character.
    pub fn new(s: &str) -> Snippet {
        let mut end = s.len().min(Self::CAP);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; Self::CAP];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Snippet {
            len: end as u8,
            cut: end < s.len(),
            bytes,
        }
    }

    /// The quoted text (possibly cut).
    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `&str` up to a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"")?;
        for c in self.as_str().chars() {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else {
                write!(f, "{c}")?;
            }
        }
        write!(f, "{}\"", if self.cut { "…" } else { "" })
    }
}

/// The compression formats an upload may arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Zlib,
    Deflate,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Gzip => "gzip",
            Format::Zlib => "zlib",
            Format::Deflate => "raw deflate",
        })
    }
}

/// A top-level key of a UUDIF message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    ResultType,
    UploadKeys,
    Generator,
    Columns,
    Rowsets,
}

impl Key {
    /// The key as it is spelt in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Key::ResultType => "resultType",
            Key::UploadKeys => "uploadKeys",
            Key::Generator => "generator",
            Key::Columns => "columns",
            Key::Rowsets => "rowsets",
        }
    }
}

/// A key of a rowset object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsetKey {
    GeneratedAt,
    RegionId,
    TypeId,
    Rows,
}

impl RowsetKey {
    /// The key as it is spelt in JSON.
    pub fn name(self) -> &'static str {
        match self {
            RowsetKey::GeneratedAt => "generatedAt",
            RowsetKey::RegionId => "regionID",
            RowsetKey::TypeId => "typeID",
            RowsetKey::Rows => "rows",
        }
    }
}

/// What a value should have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A JSON integer, a float with no fraction, or a string holding an integer.
    Integer,
    /// A finite JSON number or numeric string.
    Number,
    /// A JSON `true` or `false`.
    Boolean,
    /// An ISO 8601 timestamp string with a UTC offset.
    Timestamp,
    /// A string.
    String,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
    /// An object or `null`.
    ObjectOrNull,
    /// An integer or `null`.
    IntegerOrNull,
    /// An order range: -1, 0 to 40, or 32767.
    Range,
    /// A value that fits a signed 64-bit integer.
    InRange,
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Want::Integer => "an integer",
            Want::Number => "a finite number",
            Want::Boolean => "a JSON boolean (true or false)",
            Want::Timestamp => "an ISO 8601 timestamp with a UTC offset",
            Want::String => "a string",
            Want::Array => "an array",
            Want::Object => "an object",
            Want::ObjectOrNull => "an object or null",
            Want::IntegerOrNull => "an integer or null",
            Want::Range => "-1 (station), 0 (system), 1 to 40 (jumps) or 32767 (region)",
            Want::InRange => "an integer between -2^63 and 2^63-1",
        })
    }
}

/// Why a timestamp string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeProblem {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fff]±HH:MM`.
    Syntax,
    /// Well formed, but without a UTC offset: the time is ambiguous.
    NoOffset,
    /// A month, day, hour, minute, second or offset out of its range.
    OutOfRange,
}

/// Where in the message a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A top-level key.
    Top(Key),
    /// The `i`-th entry of `uploadKeys`.
    UploadKey(u32),
    /// A field (`name` or `key`) of the `i`-th entry of `uploadKeys`.
    UploadKeyField(u32, &'static str),
    /// The `generator` object.
    Generator,
    /// A field (`name` or `version`) of the `generator` object.
    GeneratorField(&'static str),
    /// The `i`-th entry of `columns`.
    Column(u32),
    /// The `i`-th entry of `rowsets`.
    RowsetItem(u32),
    /// A key of the `i`-th rowset.
    Rowset(u32, RowsetKey),
    /// A row: rowset index, row index.
    Row(u32, u32),
    /// A value of a row: rowset index, row index, column.
    Cell(u32, u32, Column),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Place::Top(key) => write!(f, "\"{}\"", key.name()),
            Place::UploadKey(i) => write!(f, "uploadKeys[{i}]"),
            Place::UploadKeyField(i, field) => write!(f, "uploadKeys[{i}].{field}"),
            Place::Generator => write!(f, "\"generator\""),
            Place::GeneratorField(field) => write!(f, "generator.{field}"),
            Place::Column(i) => write!(f, "columns[{i}]"),
            Place::RowsetItem(i) => write!(f, "rowsets[{i}]"),
            Place::Rowset(i, key) => write!(f, "rowsets[{i}].{}", key.name()),
            Place::Row(rs, row) => write!(f, "rowsets[{rs}].rows[{row}]"),
            Place::Cell(rs, row, col) => {
                write!(f, "rowsets[{rs}].rows[{row}] column \"{}\"", col.name())
            }
        }
    }
}

/// Why an upload was refused. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    // ---- 415 ----
    /// A `Content-Encoding` other than gzip, deflate or identity.
    UnsupportedEncoding,

    // ---- 413 ----
    /// The body as received is larger than `body_bytes_max`.
    BodyTooLarge { max: usize },
    /// The body inflates (or, uncompressed, is) larger than `inflated_bytes_max`.
    InflatedTooLarge { max: usize },

    // ---- 400: the body ----
    /// No bytes at all (or only white space).
    EmptyBody,
    /// The body claims or looks like a compression format but does not decode as it.
    Undecodable(Format),
    /// A form body without a non-empty `data` field.
    FormMissingData,
    /// A form body whose `data` field has a broken `%XX` escape.
    FormBadEscape,
    /// A multipart body that does not follow RFC 7578 (the reason says how).
    BadMultipart(&'static str),

    // ---- 400: JSON ----
    /// The JSON is not UTF-8; `offset` is the first bad byte.
    NotUtf8 { offset: usize },
    /// The JSON ends before its value does.
    JsonTruncated,
    /// The JSON is not well formed at this position.
    JsonSyntax { line: usize, column: usize },
    /// A number too large for any numeric type.
    NumberTooLarge { line: usize, column: usize },
    /// Arrays and objects nested deeper than `json_depth_max`.
    TooDeep { max: usize },
    /// The top level is not a JSON object.
    NotAnObject,

    // ---- 400: UUDIF structure ----
    /// A required top-level key is absent.
    MissingKey(Key),
    /// A key given twice in one object (JSON leaves the meaning to the reader: we refuse).
    DuplicateKey(Place),
    /// `resultType` is neither `orders` nor `history`.
    BadResultType(Snippet),
    /// A value of the wrong type.
    WrongType { place: Place, want: Want },
    /// A rowset lacks a required key.
    RowsetMissingKey { rowset: u32, key: RowsetKey },
    /// A column name that the result type does not have.
    UnknownColumn { index: u32, name: Snippet },
    /// A column name given twice.
    DuplicateColumn { index: u32, column: Column },
    /// A required column is absent from `columns`.
    MissingColumn(Column),
    /// More names in `columns` than a row may hold values (`row_values_max`).
    TooManyColumns { max: usize },
    /// More rowsets than `rowsets_max`.
    TooManyRowsets { max: usize },
    /// More rows in the whole message than `rows_max`.
    TooManyRows { max: usize },
    /// A row of more values than `row_values_max`.
    RowTooLong { rowset: u32, row: u32, max: usize },
    /// A row with fewer values than `columns`.
    RowTooShort {
        rowset: u32,
        row: u32,
        len: u32,
        want: u32,
    },
    /// Two rowsets for one (regionID, typeID).
    DuplicateRowset {
        rowset: u32,
        first: u32,
        region_id: Option<i64>,
        type_id: i64,
    },
    /// A timestamp that is not a valid UTC-anchored ISO 8601 time.
    BadTimestamp {
        place: Place,
        problem: TimeProblem,
        text: Snippet,
    },
}

impl Reject {
    /// The HTTP status the gateway answers with.
    pub fn status(&self) -> u16 {
        match self {
            Reject::UnsupportedEncoding => 415,
            Reject::BodyTooLarge { .. } | Reject::InflatedTooLarge { .. } => 413,
            _ => 400,
        }
    }

    /// A stable `snake_case` reason code: the label of the rejection counter. Never renamed.
    pub fn code(&self) -> &'static str {
        match self {
            Reject::UnsupportedEncoding => "unsupported_encoding",
            Reject::BodyTooLarge { .. } => "body_too_large",
            Reject::InflatedTooLarge { .. } => "inflated_too_large",
            Reject::EmptyBody => "empty_body",
            Reject::Undecodable(_) => "undecodable",
            Reject::FormMissingData => "form_missing_data",
            Reject::FormBadEscape => "form_bad_escape",
            Reject::BadMultipart(_) => "bad_multipart",
            Reject::NotUtf8 { .. } => "not_utf8",
            Reject::JsonTruncated => "json_truncated",
            Reject::JsonSyntax { .. } => "json_syntax",
            Reject::NumberTooLarge { .. } => "number_too_large",
            Reject::TooDeep { .. } => "too_deep",
            Reject::NotAnObject => "not_an_object",
            Reject::MissingKey(_) => "missing_key",
            Reject::DuplicateKey(_) => "duplicate_key",
            Reject::BadResultType(_) => "bad_result_type",
            Reject::WrongType { .. } => "wrong_type",
            Reject::RowsetMissingKey { .. } => "rowset_missing_key",
            Reject::UnknownColumn { .. } => "unknown_column",
            Reject::DuplicateColumn { .. } => "duplicate_column",
            Reject::MissingColumn(_) => "missing_column",
            Reject::TooManyColumns { .. } => "too_many_columns",
            Reject::TooManyRowsets { .. } => "too_many_rowsets",
            Reject::TooManyRows { .. } => "too_many_rows",
            Reject::RowTooLong { .. } => "row_too_long",
            Reject::RowTooShort { .. } => "row_too_short",
            Reject::DuplicateRowset { .. } => "duplicate_rowset",
            Reject::BadTimestamp { .. } => "bad_timestamp",
        }
    }

    /// Every reason code, for pre-registering counters.
    pub const CODES: &'static [&'static str] = &[
        "unsupported_encoding",
        "body_too_large",
        "inflated_too_large",
        "empty_body",
        "undecodable",
        "form_missing_data",
        "form_bad_escape",
        "bad_multipart",
        "not_utf8",
        "json_truncated",
        "json_syntax",
        "number_too_large",
        "too_deep",
        "not_an_object",
        "missing_key",
        "duplicate_key",
        "bad_result_type",
        "wrong_type",
        "rowset_missing_key",
        "unknown_column",
        "duplicate_column",
        "missing_column",
        "too_many_columns",
        "too_many_rowsets",
        "too_many_rows",
        "row_too_long",
        "row_too_short",
        "duplicate_rowset",
        "bad_timestamp",
    ];
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reject::UnsupportedEncoding => f.write_str(
                "unsupported Content-Encoding: send gzip or deflate (zlib or raw), or none",
            ),
            Reject::BodyTooLarge { max } => {
                write!(f, "request body exceeds the limit of {max} bytes")
            }
            Reject::InflatedTooLarge { max } => {
                write!(f, "decompressed body exceeds the limit of {max} bytes")
            }
            Reject::EmptyBody => f.write_str("empty body: POST a UUDIF JSON message"),
            Reject::Undecodable(format) => write!(
                f,
                "body is not valid {format} data: it is corrupt or truncated, or its Content-Encoding is wrong"
            ),
            Reject::FormMissingData => f.write_str(
                "form body has no non-empty \"data\" field: put the UUDIF JSON in a field named data",
            ),
            Reject::FormBadEscape => {
                f.write_str("form field \"data\" has a broken %XX escape")
            }
            Reject::BadMultipart(why) => write!(f, "malformed multipart/form-data body: {why}"),
            Reject::NotUtf8 { offset } => {
                write!(f, "JSON is not valid UTF-8 (first bad byte at offset {offset})")
            }
            Reject::JsonTruncated => f.write_str("JSON ends before the message does (truncated?)"),
            Reject::JsonSyntax { line, column } => {
                write!(f, "malformed JSON at line {line} column {column}")
            }
            Reject::NumberTooLarge { line, column } => write!(
                f,
                "number too large to represent at line {line} column {column}"
            ),
            Reject::TooDeep { max } => {
                write!(f, "JSON nests arrays and objects deeper than {max} levels")
            }
            Reject::NotAnObject => f.write_str("the message must be a JSON object"),
            Reject::MissingKey(key) => {
                write!(f, "message lacks the required key \"{}\"", key.name())
            }
            Reject::DuplicateKey(place) => {
                write!(f, "{place} is given twice: give each key once")
            }
            Reject::BadResultType(text) => write!(
                f,
                "\"resultType\" is {text}: it must be \"orders\" or \"history\""
            ),
            Reject::WrongType { place, want } => write!(f, "{place} must be {want}"),
            Reject::RowsetMissingKey { rowset, key } => {
                write!(f, "rowsets[{rowset}] lacks the required key \"{}\"", key.name())
            }
            Reject::UnknownColumn { index, name } => write!(
                f,
                "columns[{index}] is {name}, which is not a column of this resultType"
            ),
            Reject::DuplicateColumn { index, column } => write!(
                f,
                "columns[{index}] repeats the column \"{}\"",
                column.name()
            ),
            Reject::MissingColumn(column) => {
                write!(f, "\"columns\" lacks the required column \"{}\"", column.name())
            }
            Reject::TooManyColumns { max } => {
                write!(f, "\"columns\" names more than {max} columns")
            }
            Reject::TooManyRowsets { max } => {
                write!(f, "message has more than {max} rowsets")
            }
            Reject::TooManyRows { max } => write!(f, "message has more than {max} rows"),
            Reject::RowTooLong { rowset, row, max } => {
                write!(f, "rowsets[{rowset}].rows[{row}] has more than {max} values")
            }
            Reject::RowTooShort {
                rowset,
                row,
                len,
                want,
            } => write!(
                f,
                "rowsets[{rowset}].rows[{row}] has {len} values but \"columns\" names {want}"
            ),
            Reject::DuplicateRowset {
                rowset,
                first,
                region_id,
                type_id,
            } => {
                write!(f, "rowsets[{rowset}] repeats rowsets[{first}]: both are for regionID ")?;
                match region_id {
                    Some(r) => write!(f, "{r}")?,
                    None => f.write_str("null")?,
                }
                write!(f, " and typeID {type_id}")
            }
            Reject::BadTimestamp {
                place,
                problem,
                text,
            } => match problem {
                TimeProblem::Syntax => write!(
                    f,
                    "{place} is {text}: expected an ISO 8601 time like 2011-10-22T15:46:00+00:00"
                ),
                TimeProblem::NoOffset => write!(
                    f,
                    "{place} is {text}, which has no UTC offset: add +00:00 (or Z) for UTC"
                ),
                TimeProblem::OutOfRange => {
                    write!(f, "{place} is {text}, which is not a real date and time")
                }
            },
        }
    }
}

impl std::error::Error for Reject {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let mut codes = Reject::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reject::CODES.len());
        for r in [
            Reject::EmptyBody,
            Reject::TooDeep { max: 3 },
            Reject::BadTimestamp {
                place: Place::Top(Key::Rowsets),
                problem: TimeProblem::Syntax,
                text: Snippet::new("x"),
            },
        ] {
            assert!(Reject::CODES.contains(&r.code()));
        }
    }

    #[test]
    fn snippet_cuts_on_a_char_boundary() {
        let long = "é".repeat(30); // 60 bytes
        let s = Snippet::new(&long);
        assert_eq!(s.as_str(), "é".repeat(20));
        assert_eq!(s.to_string(), format!("\"{}…\"", "é".repeat(20)));
        assert_eq!(Snippet::new("a\nb").to_string(), "\"a\\u{a}b\"");
    }

    #[test]
    fn messages_are_one_line_and_specific() {
        let r = Reject::WrongType {
            place: Place::Cell(2, 7, Column::Bid),
            want: Want::Boolean,
        };
        assert_eq!(
            r.to_string(),
            "rowsets[2].rows[7] column \"bid\" must be a JSON boolean (true or false)"
        );
        assert_eq!(r.status(), 400);
        assert_eq!(Reject::InflatedTooLarge { max: 10 }.status(), 413);
        assert_eq!(Reject::UnsupportedEncoding.status(), 415);
        assert!(!r.to_string().contains('\n'));
    }
}
