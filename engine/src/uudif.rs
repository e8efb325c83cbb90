//! UUDIF: the message model, and parsing with validation (wire contract §3).
//!
//! [`Parser::parse`] reads JSON bytes into a [`Message`] in one pass of sonic-rs driven by
//! hand-written serde seeds, then validates. Rows arrive before we may know `columns` or
//! `resultType` (JSON objects are unordered), so each row's values are first kept as
//! [`Cell`]s (16-byte, `Copy`, strings as offsets into the input) in one flat buffer, and
//! converted to typed [`Order`]s or [`HistoryRow`]s once the whole object is read. All buffers
//! live in the [`Parser`] and the [`Message`] and are reused: a warmed-up parser does not
//! allocate per order.
//!
//! Rules enforced (each maps to one [`Reject`]): the required keys; `resultType`; `columns`
//! known for the result type, without repeats, holding every required column (all but the
//! nullable `solarSystemID`) in any order; rowsets with `generatedAt`, `typeID` and `rows`;
//! value coercions (integers from integral floats or strings, numbers from numeric strings,
//! booleans only as JSON booleans, timestamps only with a UTC offset); `regionID` and
//! `solarSystemID` of `null` or `0` meaning unknown; no two rowsets for one
//! (`regionID`, `typeID`); the limits on rowsets, rows, row length and nesting depth.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::reject::{Key, Place, Reject, RowsetKey, Snippet, Want};
use crate::time::{self, UnixSeconds};
use crate::Limits;

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultType {
    #[default]
    Orders,
    History,
}

impl ResultType {
    /// As spelt in `resultType`.
    pub fn name(self) -> &'static str {
        match self {
            ResultType::Orders => "orders",
            ResultType::History => "history",
        }
    }

    /// The canonical column list of this result type, in canonical order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            ResultType::Orders => &Column::ORDERS,
            ResultType::History => &Column::HISTORY,
        }
    }
}

/// A column of either result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Price,
    VolRemaining,
    Range,
    OrderId,
    VolEntered,
    MinVolume,
    Bid,
    IssueDate,
    Duration,
    StationId,
    SolarSystemId,
    Date,
    Orders,
    Quantity,
    Low,
    High,
    Average,
}

impl Column {
    /// Order columns, canonical order.
    pub const ORDERS: [Column; 11] = [
        Column::Price,
        Column::VolRemaining,
        Column::Range,
        Column::OrderId,
        Column::VolEntered,
        Column::MinVolume,
        Column::Bid,
        Column::IssueDate,
        Column::Duration,
        Column::StationId,
        Column::SolarSystemId,
    ];
    /// History columns, canonical order.
    pub const HISTORY: [Column; 6] = [
        Column::Date,
        Column::Orders,
        Column::Quantity,
        Column::Low,
        Column::High,
        Column::Average,
    ];

    /// As spelt in `columns`.
    pub fn name(self) -> &'static str {
        match self {
            Column::Price => "price",
            Column::VolRemaining => "volRemaining",
            Column::Range => "range",
            Column::OrderId => "orderID",
            Column::VolEntered => "volEntered",
            Column::MinVolume => "minVolume",
            Column::Bid => "bid",
            Column::IssueDate => "issueDate",
            Column::Duration => "duration",
            Column::StationId => "stationID",
            Column::SolarSystemId => "solarSystemID",
            Column::Date => "date",
            Column::Orders => "orders",
            Column::Quantity => "quantity",
            Column::Low => "low",
            Column::High => "high",
            Column::Average => "average",
        }
    }

    /// A column may be left out of `columns` only if it is nullable.
    pub fn required(self) -> bool {
        self != Column::SolarSystemId
    }
}

/// One market order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Order {
    pub price: f64,
    pub vol_remaining: i64,
    pub range: i64,
    pub order_id: i64,
    pub vol_entered: i64,
    pub min_volume: i64,
    pub bid: bool,
    pub issue_date: UnixSeconds,
    pub duration: i64,
    pub station_id: i64,
    pub solar_system_id: Option<i64>,
}

/// One day of price history.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HistoryRow {
    pub date: UnixSeconds,
    pub orders: i64,
    pub quantity: i64,
    pub low: f64,
    pub high: f64,
    pub average: f64,
}

/// A rowset's header; its rows are the next `rows` entries of the message's row list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rowset {
    pub generated_at: UnixSeconds,
    pub region_id: Option<i64>,
    pub type_id: i64,
    pub rows: usize,
}

/// An `uploadKeys` entry, passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub name: String,
    pub key: String,
}

/// The `generator` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    pub name: String,
    pub version: String,
}

impl Generator {
    /// What an upload with `"generator": null` or `{}` is published with: this engine.
    pub fn engine_default() -> Generator {
        Generator {
            name: crate::encode::DEFAULT_GENERATOR_NAME.to_string(),
            version: crate::VERSION.to_string(),
        }
    }
}

/// A parsed, validated message: everything canonical output needs, nothing else.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub result_type: ResultType,
    pub upload_keys: Vec<UploadKey>,
    /// The generator; an upload's `null` or `{}` is parsed as
    /// [`Generator::engine_default`]. `None` (only in a hand-built message) is written as it.
    pub generator: Option<Generator>,
    pub rowsets: Vec<Rowset>,
    /// The rows of all rowsets, in order, when `result_type` is orders.
    pub orders: Vec<Order>,
    /// The rows of all rowsets, in order, when `result_type` is history.
    pub history: Vec<HistoryRow>,
}

impl Message {
    /// Empty the message, keeping its buffers.
    pub fn clear(&mut self) {
        self.result_type = ResultType::Orders;
        self.upload_keys.clear();
        self.generator = None;
        self.rowsets.clear();
        self.orders.clear();
        self.history.clear();
    }

    /// Rows over all rowsets.
    pub fn row_count(&self) -> usize {
        match self.result_type {
            ResultType::Orders => self.orders.len(),
            ResultType::History => self.history.len(),
        }
    }
}

/// A JSON value as read from a row, before its column is known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// A string without escapes: byte offset and length in the input.
    Str(u32, u32),
    /// A string with escapes, unescaped into the parser's side buffer.
    Esc(u32, u32),
    /// An array or object (already skipped): never a valid value.
    Nested,
}

/// Reusable parsing buffers. One per shard.
#[derive(Debug, Default)]
pub struct Parser {
    cells: Vec<Cell>,
    /// Values per row, over all rowsets.
    row_lens: Vec<u32>,
    escaped: String,
    column_cells: Vec<Cell>,
    columns: Vec<Column>,
    dedup: Vec<(Option<i64>, i64, u32)>,
}

impl Parser {
    /// A parser with empty buffers.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parse and validate `json` into `msg` (which is cleared first).
    pub fn parse(&mut self, json: &[u8], limits: &Limits, msg: &mut Message) -> Result<(), Reject> {
        msg.clear();
        self.cells.clear();
        self.row_lens.clear();
        self.escaped.clear();
        self.column_cells.clear();
        self.columns.clear();
        let text = std::str::from_utf8(json).map_err(|e| Reject::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut st = State {
            json: text,
            base: text.as_ptr() as usize,
            limits,
            p: self,
            msg,
            reject: None,
            place: Place::Top(Key::Rowsets),
            want: Want::Object,
            seen: [false; 5],
        };
        let mut de = sonic_rs::Deserializer::from_str(text);
        let parsed = TopSeed { st: &mut st }
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(st
                .reject
                .unwrap_or_else(|| map_json_error(&e, text, st.place, st.want)));
        }
        let seen = st.seen;
        for (i, key) in [
            Key::ResultType,
            Key::UploadKeys,
            Key::Generator,
            Key::Columns,
            Key::Rowsets,
        ]
        .into_iter()
        .enumerate()
        {
            if !seen[i] {
                return Err(Reject::MissingKey(key));
            }
        }
        self.resolve_columns(text, msg.result_type)?;
        self.convert_rows(text, msg)?;
        self.check_duplicate_rowsets(&msg.rowsets)
    }

    fn resolve_columns(&mut self, text: &str, rt: ResultType) -> Result<(), Reject> {
        let known = rt.columns();
        for (i, cell) in self.column_cells.iter().enumerate() {
            let place = Place::Column(i as u32);
            let name = cell_str(text, &self.escaped, *cell).ok_or(Reject::WrongType {
                place,
                want: Want::String,
            })?;
            let Some(&col) = known.iter().find(|c| c.name() == name) else {
                return Err(Reject::UnknownColumn {
                    index: i as u32,
                    name: Snippet::new(name),
                });
            };
            if self.columns.contains(&col) {
                return Err(Reject::DuplicateColumn {
                    index: i as u32,
                    column: col,
                });
            }
            self.columns.push(col);
        }
        if let Some(&missing) = known
            .iter()
            .find(|c| c.required() && !self.columns.contains(c))
        {
            return Err(Reject::MissingColumn(missing));
        }
        Ok(())
    }

    fn convert_rows(&mut self, text: &str, msg: &mut Message) -> Result<(), Reject> {
        let ncols = self.columns.len();
        let mut cell_at = 0usize;
        let mut row_at = 0usize;
        match msg.result_type {
            ResultType::Orders => msg.orders.reserve(self.row_lens.len()),
            ResultType::History => msg.history.reserve(self.row_lens.len()),
        }
        for (rs, rowset) in msg.rowsets.iter().enumerate() {
            for row in 0..rowset.rows {
                let len = self.row_lens[row_at] as usize;
                if len < ncols {
                    return Err(Reject::RowTooShort {
                        rowset: rs as u32,
                        row: row as u32,
                        len: len as u32,
                        want: ncols as u32,
                    });
                }
                let cells = &self.cells[cell_at..cell_at + ncols];
                let v = Values {
                    text,
                    escaped: &self.escaped,
                    rowset: rs as u32,
                    row: row as u32,
                };
                match msg.result_type {
                    ResultType::Orders => msg.orders.push(v.order(&self.columns, cells)?),
                    ResultType::History => msg.history.push(v.history(&self.columns, cells)?),
                }
                cell_at += len;
                row_at += 1;
            }
        }
        Ok(())
    }

    fn check_duplicate_rowsets(&mut self, rowsets: &[Rowset]) -> Result<(), Reject> {
        if rowsets.len() < 2 {
            return Ok(());
        }
        self.dedup.clear();
        self.dedup.extend(
            rowsets
                .iter()
                .enumerate()
                .map(|(i, r)| (r.region_id, r.type_id, i as u32)),
        );
        self.dedup.sort_unstable();
        let mut worst: Option<(u32, u32, Option<i64>, i64)> = None;
        for pair in self.dedup.windows(2) {
            let ((ra, ta, ia), (rb, tb, ib)) = (pair[0], pair[1]);
            if ra == rb && ta == tb && worst.is_none_or(|w| ib < w.0) {
                worst = Some((ib, ia, ra, ta));
            }
        }
        match worst {
            // Report the earliest repeat, against the first rowset it repeats.
            Some((rowset, _, region_id, type_id)) => {
                let first = self
                    .dedup
                    .iter()
                    .find(|d| d.0 == region_id && d.1 == type_id)
                    .map_or(0, |d| d.2);
                Err(Reject::DuplicateRowset {
                    rowset,
                    first,
                    region_id,
                    type_id,
                })
            }
            None => Ok(()),
        }
    }
}

/// Text of a string cell; `None` if the cell is not a string.
fn cell_str<'t>(text: &'t str, escaped: &'t str, cell: Cell) -> Option<&'t str> {
    match cell {
        Cell::Str(off, len) => text.get(off as usize..(off + len) as usize),
        Cell::Esc(off, len) => escaped.get(off as usize..(off + len) as usize),
        _ => None,
    }
}

/// Converts the cells of one row (or one rowset's header) to typed values.
struct Values<'t> {
    text: &'t str,
    escaped: &'t str,
    rowset: u32,
    row: u32,
}

const I64_BOUND: f64 = 9_223_372_036_854_775_808.0; // 2^63

impl Values<'_> {
    fn integer(&self, cell: Cell, place: Place) -> Result<i64, Reject> {
        let wrong = |want| Reject::WrongType { place, want };
        match cell {
            Cell::I64(v) => Ok(v),
            Cell::U64(v) => i64::try_from(v).map_err(|_| wrong(Want::InRange)),
            Cell::F64(f) if f.fract() == 0.0 => {
                if (-I64_BOUND..I64_BOUND).contains(&f) {
                    Ok(f as i64)
                } else {
                    Err(wrong(Want::InRange))
                }
            }
            Cell::Str(..) | Cell::Esc(..) => cell_str(self.text, self.escaped, cell)
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or(wrong(Want::Integer)),
            _ => Err(wrong(Want::Integer)),
        }
    }

    /// `null` and `0` are "unknown".
    fn optional_id(&self, cell: Cell, place: Place) -> Result<Option<i64>, Reject> {
        match cell {
            Cell::Null => Ok(None),
            _ => match self.integer(cell, place) {
                Ok(0) => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(Reject::WrongType {
                    place,
                    want: Want::IntegerOrNull,
                }),
            },
        }
    }

    fn number(&self, cell: Cell, place: Place) -> Result<f64, Reject> {
        let v = match cell {
            Cell::I64(v) => v as f64,
            Cell::U64(v) => v as f64,
            Cell::F64(f) => f,
            Cell::Str(..) | Cell::Esc(..) => cell_str(self.text, self.escaped, cell)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN),
            _ => f64::NAN,
        };
        if v.is_finite() {
            // -0.0 would be written "-0.0"; it means 0.
            Ok(if v == 0.0 { 0.0 } else { v })
        } else {
            Err(Reject::WrongType {
                place,
                want: Want::Number,
            })
        }
    }

    fn boolean(&self, cell: Cell, place: Place) -> Result<bool, Reject> {
        match cell {
            Cell::Bool(b) => Ok(b),
            _ => Err(Reject::WrongType {
                place,
                want: Want::Boolean,
            }),
        }
    }

    fn timestamp(&self, cell: Cell, place: Place) -> Result<UnixSeconds, Reject> {
        let s = cell_str(self.text, self.escaped, cell).ok_or(Reject::WrongType {
            place,
            want: Want::Timestamp,
        })?;
        time::parse(s).map_err(|problem| Reject::BadTimestamp {
            place,
            problem,
            text: Snippet::new(s),
        })
    }

    fn cell(&self, col: Column) -> Place {
        Place::Cell(self.rowset, self.row, col)
    }

    fn order(&self, columns: &[Column], cells: &[Cell]) -> Result<Order, Reject> {
        let mut o = Order::default();
        for (&col, &cell) in columns.iter().zip(cells) {
            let p = self.cell(col);
            match col {
                Column::Price => o.price = self.number(cell, p)?,
                Column::VolRemaining => o.vol_remaining = self.integer(cell, p)?,
                Column::Range => {
                    o.range = self.integer(cell, p)?;
                    if !matches!(o.range, -1..=40 | 32767) {
                        return Err(Reject::WrongType {
                            place: p,
                            want: Want::Range,
                        });
                    }
                }
                Column::OrderId => o.order_id = self.integer(cell, p)?,
                Column::VolEntered => o.vol_entered = self.integer(cell, p)?,
                Column::MinVolume => o.min_volume = self.integer(cell, p)?,
                Column::Bid => o.bid = self.boolean(cell, p)?,
                Column::IssueDate => o.issue_date = self.timestamp(cell, p)?,
                Column::Duration => o.duration = self.integer(cell, p)?,
                Column::StationId => o.station_id = self.integer(cell, p)?,
                Column::SolarSystemId => o.solar_system_id = self.optional_id(cell, p)?,
                _ => unreachable!("history column {col:?} in an orders message"),
            }
        }
        Ok(o)
    }

    fn history(&self, columns: &[Column], cells: &[Cell]) -> Result<HistoryRow, Reject> {
        let mut h = HistoryRow::default();
        for (&col, &cell) in columns.iter().zip(cells) {
            let p = self.cell(col);
            match col {
                Column::Date => h.date = self.timestamp(cell, p)?,
                Column::Orders => h.orders = self.integer(cell, p)?,
                Column::Quantity => h.quantity = self.integer(cell, p)?,
                Column::Low => h.low = self.number(cell, p)?,
                Column::High => h.high = self.number(cell, p)?,
                Column::Average => h.average = self.number(cell, p)?,
                _ => unreachable!("order column {col:?} in a history message"),
            }
        }
        Ok(h)
    }
}

/// Turn a sonic-rs error that no seed explained into a rejection.
fn map_json_error(e: &sonic_rs::Error, text: &str, place: Place, want: Want) -> Reject {
    use sonic_rs::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Eof => Reject::JsonTruncated,
        Category::Syntax | Category::Io => {
            let msg = e.to_string();
            if msg.contains("bigger than the maximum") || msg.contains("must be finite") {
                Reject::NumberTooLarge { line, column }
            } else if msg.contains("layers deep") {
                Reject::TooDeep {
                    max: Limits::JSON_DEPTH_CEILING,
                }
            } else {
                Reject::JsonSyntax { line, column }
            }
        }
        // A value that a seed did not accept: a type mismatch at the place being read.
        _ if text.trim_start().starts_with('{') => Reject::WrongType { place, want },
        _ => Reject::NotAnObject,
    }
}

/// Parse-time state shared by all seeds.
struct State<'p, 'de> {
    json: &'de str,
    base: usize,
    limits: &'p Limits,
    p: &'p mut Parser,
    msg: &'p mut Message,
    /// The precise reason, when a seed refused something.
    reject: Option<Reject>,
    /// The value being read now, and what it should be: for type mismatches.
    place: Place,
    want: Want,
    /// Which required top-level keys were present (in `Key` order).
    seen: [bool; 5],
}

impl<'de> State<'_, 'de> {
    fn fail<E: de::Error>(&mut self, r: Reject) -> E {
        self.reject = Some(r);
        E::custom("rejected")
    }

    fn expect(&mut self, place: Place, want: Want) {
        self.place = place;
        self.want = want;
    }

    fn too_deep<E: de::Error>(&mut self, depth: usize) -> Result<(), E> {
        if depth > self.limits.json_depth_max {
            let max = self.limits.json_depth_max;
            Err(self.fail(Reject::TooDeep { max }))
        } else {
            Ok(())
        }
    }

    /// A string cell: borrowed strings become offsets into the input.
    fn str_cell(&mut self, s: &str, borrowed: bool) -> Cell {
        let ptr = s.as_ptr() as usize;
        if borrowed && ptr >= self.base && ptr + s.len() <= self.base + self.json.len() {
            Cell::Str((ptr - self.base) as u32, s.len() as u32)
        } else {
            let off = self.p.escaped.len() as u32;
            self.p.escaped.push_str(s);
            Cell::Esc(off, s.len() as u32)
        }
    }

    fn values(&self, rowset: u32) -> Values<'_> {
        Values {
            text: self.json,
            escaped: &self.p.escaped,
            rowset,
            row: 0,
        }
    }
}

/// Reads any one value as a [`Cell`], skipping (and depth-checking) arrays and objects.
struct CellSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_, '_, 'de> {
    type Value = Cell;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_, '_, 'de> {
    type Value = Cell;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::U64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell, E> {
        Ok(self.st.str_cell(v, true))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell, E> {
        Ok(self.st.str_cell(v, false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
        Skip {
            st: self.st,
            depth: self.depth,
        }
        .visit_seq(seq)?;
        Ok(Cell::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
        Skip {
            st: self.st,
            depth: self.depth,
        }
        .visit_map(map)?;
        Ok(Cell::Nested)
    }
}

/// Skips one value, refusing nesting deeper than the limit. `depth` is the depth the value
/// itself would have if it is a container.
struct Skip<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Skip<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.st.too_deep(self.depth)?;
        let depth = self.depth + 1;
        while seq
            .next_element_seed(Skip {
                st: &mut *self.st,
                depth,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.st.too_deep(self.depth)?;
        let depth = self.depth + 1;
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Skip {
                st: &mut *self.st,
                depth,
            })?;
        }
        Ok(())
    }
}

/// Reads an object key as the index of a known name, or `None` for an unknown key.
struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

const TOP_KEYS: &[&str] = &[
    "resultType",
    "uploadKeys",
    "generator",
    "columns",
    "rowsets",
];
const ROWSET_KEYS: &[&str] = &["generatedAt", "regionID", "typeID", "rows"];

/// depth 1: the message object.
struct TopSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a UUDIF object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.st;
        const KEYS: [Key; 5] = [
            Key::ResultType,
            Key::UploadKeys,
            Key::Generator,
            Key::Columns,
            Key::Rowsets,
        ];
        while let Some(key) = map.next_key_seed(KeySeed(TOP_KEYS))? {
            if let Some(k) = key {
                if st.seen[k] {
                    return Err(st.fail(Reject::DuplicateKey(Place::Top(KEYS[k]))));
                }
            }
            match key {
                Some(0) => {
                    st.expect(Place::Top(Key::ResultType), Want::String);
                    let cell = map.next_value_seed(CellSeed {
                        st: &mut *st,
                        depth: 2,
                    })?;
                    st.msg.result_type = match cell_str(st.json, &st.p.escaped, cell) {
                        Some("orders") => ResultType::Orders,
                        Some("history") => ResultType::History,
                        Some(other) => {
                            let r = Reject::BadResultType(Snippet::new(other));
                            return Err(st.fail(r));
                        }
                        None => {
                            let r = Reject::WrongType {
                                place: Place::Top(Key::ResultType),
                                want: Want::String,
                            };
                            return Err(st.fail(r));
                        }
                    };
                }
                Some(1) => {
                    st.expect(Place::Top(Key::UploadKeys), Want::Array);
                    map.next_value_seed(UploadKeysSeed { st: &mut *st })?;
                }
                Some(2) => {
                    st.expect(Place::Generator, Want::ObjectOrNull);
                    map.next_value_seed(GeneratorSeed { st: &mut *st })?;
                }
                Some(3) => {
                    st.expect(Place::Top(Key::Columns), Want::Array);
                    map.next_value_seed(ColumnsSeed { st: &mut *st })?;
                }
                Some(4) => {
                    st.expect(Place::Top(Key::Rowsets), Want::Array);
                    map.next_value_seed(RowsetsSeed { st: &mut *st })?;
                }
                _ => map.next_value_seed(Skip {
                    st: &mut *st,
                    depth: 2,
                })?,
            }
            if let Some(k) = key {
                st.seen[k] = true;
            }
        }
        Ok(())
    }
}

/// depth 2: `uploadKeys`.
struct UploadKeysSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
}

impl<'de> DeserializeSeed<'de> for UploadKeysSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for UploadKeysSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        loop {
            let i = st.msg.upload_keys.len() as u32;
            st.expect(Place::UploadKey(i), Want::Object);
            if seq
                .next_element_seed(NamePairSeed { st: &mut *st, i })?
                .is_none()
            {
                return Ok(());
            }
        }
    }
}

/// depth 3: one `{"name","key"}` object.
struct NamePairSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    i: u32,
}

impl<'de> DeserializeSeed<'de> for NamePairSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NamePairSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (st, i) = (self.st, self.i);
        let mut fields: [Option<String>; 2] = [None, None];
        const NAMES: [&str; 2] = ["name", "key"];
        while let Some(k) = map.next_key_seed(KeySeed(&NAMES))? {
            let Some(k) = k else {
                map.next_value_seed(Skip {
                    st: &mut *st,
                    depth: 4,
                })?;
                continue;
            };
            let place = Place::UploadKeyField(i, NAMES[k]);
            st.expect(place, Want::String);
            let cell = map.next_value_seed(CellSeed {
                st: &mut *st,
                depth: 4,
            })?;
            match cell_str(st.json, &st.p.escaped, cell) {
                Some(s) => fields[k] = Some(s.to_owned()),
                None => {
                    let r = Reject::WrongType {
                        place,
                        want: Want::String,
                    };
                    return Err(st.fail(r));
                }
            }
        }
        let [name, key] = fields;
        match (name, key) {
            (Some(name), Some(key)) => {
                st.msg.upload_keys.push(UploadKey { name, key });
                Ok(())
            }
            (None, _) => Err(st.fail(Reject::WrongType {
                place: Place::UploadKeyField(i, "name"),
                want: Want::String,
            })),
            (_, None) => Err(st.fail(Reject::WrongType {
                place: Place::UploadKeyField(i, "key"),
                want: Want::String,
            })),
        }
    }
}

/// depth 2: `generator`, an object or null.
struct GeneratorSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
}

impl<'de> DeserializeSeed<'de> for GeneratorSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GeneratorSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.st.msg.generator = Some(Generator::engine_default());
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.st;
        let mut fields: [Option<String>; 2] = [None, None];
        const NAMES: [&str; 2] = ["name", "version"];
        while let Some(k) = map.next_key_seed(KeySeed(&NAMES))? {
            let Some(k) = k else {
                map.next_value_seed(Skip {
                    st: &mut *st,
                    depth: 3,
                })?;
                continue;
            };
            let place = Place::GeneratorField(NAMES[k]);
            st.expect(place, Want::String);
            let cell = map.next_value_seed(CellSeed {
                st: &mut *st,
                depth: 3,
            })?;
            match (cell, cell_str(st.json, &st.p.escaped, cell)) {
                (Cell::Null, _) => {}
                (_, Some(s)) => fields[k] = Some(s.to_owned()),
                (_, None) => {
                    let r = Reject::WrongType {
                        place,
                        want: Want::String,
                    };
                    return Err(st.fail(r));
                }
            }
        }
        st.msg.generator = match fields {
            [None, None] => Some(Generator::engine_default()),
            [name, version] => Some(Generator {
                name: name.unwrap_or_default(),
                version: version.unwrap_or_default(),
            }),
        };
        Ok(())
    }
}

/// depth 2: `columns`, kept as cells until `resultType` is known.
struct ColumnsSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
}

impl<'de> DeserializeSeed<'de> for ColumnsSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ColumnsSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        st.p.column_cells.clear();
        loop {
            let i = st.p.column_cells.len();
            if i >= st.limits.row_values_max {
                // More names than a row may hold values: no row could satisfy them.
                let max = st.limits.row_values_max;
                return Err(st.fail(Reject::TooManyColumns { max }));
            }
            st.expect(Place::Column(i as u32), Want::String);
            match seq.next_element_seed(CellSeed {
                st: &mut *st,
                depth: 3,
            })? {
                Some(cell) => st.p.column_cells.push(cell),
                None => return Ok(()),
            }
        }
    }
}

/// depth 2: `rowsets`.
struct RowsetsSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
}

impl<'de> DeserializeSeed<'de> for RowsetsSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsetsSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        st.msg.rowsets.clear();
        loop {
            let i = st.msg.rowsets.len() as u32;
            st.expect(Place::RowsetItem(i), Want::Object);
            let Some(rowset) = seq.next_element_seed(RowsetSeed { st: &mut *st, i })? else {
                return Ok(());
            };
            if st.msg.rowsets.len() >= st.limits.rowsets_max {
                let max = st.limits.rowsets_max;
                return Err(st.fail(Reject::TooManyRowsets { max }));
            }
            st.msg.rowsets.push(rowset);
        }
    }
}

/// depth 3: one rowset object.
struct RowsetSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    i: u32,
}

impl<'de> DeserializeSeed<'de> for RowsetSeed<'_, '_, 'de> {
    type Value = Rowset;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Rowset, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowsetSeed<'_, '_, 'de> {
    type Value = Rowset;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rowset object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rowset, A::Error> {
        let (st, i) = (self.st, self.i);
        let mut cells: [Option<Cell>; 3] = [None; 3];
        let mut rows: Option<usize> = None;
        const KEYS: [RowsetKey; 4] = [
            RowsetKey::GeneratedAt,
            RowsetKey::RegionId,
            RowsetKey::TypeId,
            RowsetKey::Rows,
        ];
        let mut seen = [false; 4];
        while let Some(k) = map.next_key_seed(KeySeed(ROWSET_KEYS))? {
            if let Some(k) = k {
                if std::mem::replace(&mut seen[k], true) {
                    return Err(st.fail(Reject::DuplicateKey(Place::Rowset(i, KEYS[k]))));
                }
            }
            match k {
                Some(3) => {
                    st.expect(Place::Rowset(i, RowsetKey::Rows), Want::Array);
                    rows = Some(map.next_value_seed(RowsSeed { st: &mut *st, i })?);
                }
                Some(k) => {
                    let key = [
                        RowsetKey::GeneratedAt,
                        RowsetKey::RegionId,
                        RowsetKey::TypeId,
                    ][k];
                    st.expect(Place::Rowset(i, key), Want::Integer);
                    cells[k] = Some(map.next_value_seed(CellSeed {
                        st: &mut *st,
                        depth: 4,
                    })?);
                }
                None => map.next_value_seed(Skip {
                    st: &mut *st,
                    depth: 4,
                })?,
            }
        }
        let missing = |key| Reject::RowsetMissingKey { rowset: i, key };
        let converted = (|| {
            let v = st.values(i);
            let generated_at = cells[0].ok_or(missing(RowsetKey::GeneratedAt))?;
            let type_id = cells[2].ok_or(missing(RowsetKey::TypeId))?;
            let rows = rows.ok_or(missing(RowsetKey::Rows))?;
            let place = |key| Place::Rowset(i, key);
            Ok(Rowset {
                generated_at: v.timestamp(generated_at, place(RowsetKey::GeneratedAt))?,
                region_id: match cells[1] {
                    Some(c) => v.optional_id(c, place(RowsetKey::RegionId))?,
                    None => None,
                },
                type_id: v.integer(type_id, place(RowsetKey::TypeId))?,
                rows,
            })
        })();
        converted.map_err(|r| st.fail(r))
    }
}

/// depth 4: a rowset's `rows`; returns how many rows it held.
struct RowsSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    i: u32,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_, 'de> {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_, 'de> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let (st, i) = (self.st, self.i);
        let mut n = 0usize;
        loop {
            if st.p.row_lens.len() >= st.limits.rows_max {
                // One more row would be over the limit, if there is one.
                st.expect(Place::Rowset(i, RowsetKey::Rows), Want::Array);
                let more = seq
                    .next_element_seed(Skip {
                        st: &mut *st,
                        depth: 5,
                    })?
                    .is_some();
                if more {
                    let max = st.limits.rows_max;
                    return Err(st.fail(Reject::TooManyRows { max }));
                }
                return Ok(n);
            }
            st.expect(Place::Row(i, n as u32), Want::Array);
            match seq.next_element_seed(RowSeed {
                st: &mut *st,
                i,
                row: n as u32,
            })? {
                Some(len) => st.p.row_lens.push(len),
                None => return Ok(n),
            }
            n += 1;
        }
    }
}

/// depth 5: one row; its values go to the flat cell buffer. Returns its length.
struct RowSeed<'s, 'p, 'de> {
    st: &'s mut State<'p, 'de>,
    i: u32,
    row: u32,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, 'de> {
    type Value = u32;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_, 'de> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u32, A::Error> {
        let st = self.st;
        let mut n = 0usize;
        while let Some(cell) = seq.next_element_seed(CellSeed {
            st: &mut *st,
            depth: 6,
        })? {
            if n >= st.limits.row_values_max {
                let (rowset, row, max) = (self.i, self.row, st.limits.row_values_max);
                return Err(st.fail(Reject::RowTooLong { rowset, row, max }));
            }
            st.p.cells.push(cell);
            n += 1;
        }
        Ok(n as u32)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reject::TimeProblem;

    pub(crate) fn parse(json: &str) -> Result<Message, Reject> {
        let mut p = Parser::new();
        let mut m = Message::default();
        p.parse(json.as_bytes(), &Limits::default(), &mut m)?;
        Ok(m)
    }

    const HEAD: &str = r#""resultType":"orders","version":"0.1","uploadKeys":[],"generator":null,"currentTime":"2011-10-22T15:46:00+00:00""#;
    const COLS: &str = r#""columns":["price","volRemaining","range","orderID","volEntered","minVolume","bid","issueDate","duration","stationID","solarSystemID"]"#;

    fn orders_with_row(row: &str) -> String {
        format!(
            r#"{{{HEAD},{COLS},"rowsets":[{{"generatedAt":"2011-10-22T15:43:00+00:00","regionID":10000065,"typeID":11134,"rows":[{row}]}}]}}"#
        )
    }

    const ROW: &str =
        r#"8999,1,32767,2363806077,1,1,false,"2011-12-03T08:10:59+00:00",90,60008692,30005038"#;

    #[test]
    fn a_plain_order_parses() {
        let m = parse(&orders_with_row(&format!("[{ROW}]"))).unwrap();
        assert_eq!(m.result_type, ResultType::Orders);
        assert_eq!(m.rowsets.len(), 1);
        assert_eq!(m.rowsets[0].region_id, Some(10000065));
        assert_eq!(
            m.orders[0],
            Order {
                price: 8999.0,
                vol_remaining: 1,
                range: 32767,
                order_id: 2363806077,
                vol_entered: 1,
                min_volume: 1,
                bid: false,
                issue_date: time::parse("2011-12-03T08:10:59Z").unwrap(),
                duration: 90,
                station_id: 60008692,
                solar_system_id: Some(30005038),
            }
        );
    }

    #[test]
    fn columns_in_any_order_and_without_the_nullable_one() {
        let json = format!(
            r#"{{{HEAD},"columns":["orderID","bid","price","volRemaining","range","volEntered","minVolume","issueDate","duration","stationID"],
            "rowsets":[{{"generatedAt":"2011-10-22T15:43:00Z","regionID":1,"typeID":2,"rows":[[7,true,"1.5","3",0,4.0,1,"2011-12-03 08:10:59+0100",90,60008692,"extra ignored"]]}}]}}"#
        );
        let o = parse(&json).unwrap().orders[0];
        assert_eq!(
            (o.order_id, o.bid, o.price, o.vol_remaining),
            (7, true, 1.5, 3)
        );
        assert_eq!(o.vol_entered, 4);
        assert_eq!(o.solar_system_id, None);
        assert_eq!(time::to_string(o.issue_date), "2011-12-03T07:10:59+00:00");
    }

    #[test]
    fn keys_in_any_order_with_rowsets_before_columns() {
        let json = format!(
            r#"{{"rowsets":[{{"rows":[[{ROW}]],"typeID":11134,"generatedAt":"2011-10-22T15:43:00+00:00"}}],{COLS},"generator":{{"name":"x","version":"1"}},"uploadKeys":[{{"key":"k","name":"n","extra":[1]}}],"resultType":"orders","unknown":{{"a":[1,2]}}}}"#
        );
        let m = parse(&json).unwrap();
        assert_eq!(m.orders.len(), 1);
        assert_eq!(m.rowsets[0].region_id, None);
        assert_eq!(
            m.upload_keys,
            vec![UploadKey {
                name: "n".into(),
                key: "k".into()
            }]
        );
        assert_eq!(m.generator.unwrap().name, "x");
    }

    #[test]
    fn null_and_zero_ids_are_unknown() {
        let row = r#"[1,1,0,5,1,1,true,"2011-12-03T08:10:59Z",90,60008692,0],[1,1,0,6,1,1,true,"2011-12-03T08:10:59Z",90,60008692,null]"#;
        let json = orders_with_row(row).replace("10000065", "0");
        let m = parse(&json).unwrap();
        assert_eq!(m.rowsets[0].region_id, None);
        assert!(m.orders.iter().all(|o| o.solar_system_id.is_none()));
    }

    fn reject_of(row: &str) -> Reject {
        parse(&orders_with_row(row)).unwrap_err()
    }

    #[test]
    fn value_coercions_and_their_limits() {
        // bid must be a real boolean.
        for bid in [r#""false""#, "0", "null"] {
            let row = format!(r#"[1,1,0,5,1,1,{bid},"2011-12-03T08:10:59Z",90,1,null]"#);
            assert_eq!(
                reject_of(&row),
                Reject::WrongType {
                    place: Place::Cell(0, 0, Column::Bid),
                    want: Want::Boolean
                }
            );
        }
        // Integers: no fraction, in range, numeric strings only.
        for (vol, want) in [
            ("1.5", Want::Integer),
            (r#""1.5""#, Want::Integer),
            (r#""x""#, Want::Integer),
            ("true", Want::Integer),
            ("1e30", Want::InRange),
            ("18446744073709551615", Want::InRange),
        ] {
            let row = format!(r#"[1,{vol},0,5,1,1,true,"2011-12-03T08:10:59Z",90,1,null]"#);
            assert_eq!(
                reject_of(&row),
                Reject::WrongType {
                    place: Place::Cell(0, 0, Column::VolRemaining),
                    want
                },
                "{vol}"
            );
        }
        // Prices: finite numbers or numeric strings.
        for price in [r#""NaN""#, r#""inf""#, r#""""#, "null", "[1]"] {
            let row = format!(r#"[{price},1,0,5,1,1,true,"2011-12-03T08:10:59Z",90,1,null]"#);
            assert!(
                matches!(
                    reject_of(&row),
                    Reject::WrongType {
                        want: Want::Number,
                        ..
                    }
                ),
                "{price}"
            );
        }
        // Range values.
        let row = r#"[1,1,41,5,1,1,true,"2011-12-03T08:10:59Z",90,1,null]"#;
        assert!(matches!(
            reject_of(row),
            Reject::WrongType {
                want: Want::Range,
                ..
            }
        ));
    }

    #[test]
    fn timestamps_must_carry_an_offset() {
        let row = r#"[1,1,0,5,1,1,true,"2011-12-03T08:10:59",90,1,null]"#;
        assert!(matches!(
            reject_of(row),
            Reject::BadTimestamp {
                place: Place::Cell(0, 0, Column::IssueDate),
                problem: TimeProblem::NoOffset,
                ..
            }
        ));
        let json = orders_with_row("").replace("2011-10-22T15:43:00+00:00", "yesterday");
        assert!(matches!(
            parse(&json).unwrap_err(),
            Reject::BadTimestamp {
                place: Place::Rowset(0, RowsetKey::GeneratedAt),
                problem: TimeProblem::Syntax,
                ..
            }
        ));
    }

    #[test]
    fn short_rows_are_refused_and_long_rows_trimmed() {
        let row = r#"[1,1,0,5,1,1,true,"2011-12-03T08:10:59Z",90,1]"#;
        assert_eq!(
            reject_of(row),
            Reject::RowTooShort {
                rowset: 0,
                row: 0,
                len: 10,
                want: 11
            }
        );
        let long = r#"[1,1,0,5,1,1,true,"2011-12-03T08:10:59Z",90,1,null,"x",[1],{"y":2}]"#;
        assert_eq!(parse(&orders_with_row(long)).unwrap().orders.len(), 1);
    }

    #[test]
    fn duplicate_rowsets_are_refused_empty_ones_kept() {
        let rs = |r: &str, t: &str, rows: &str| {
            format!(
                r#"{{"generatedAt":"2011-10-22T15:43:00Z","regionID":{r},"typeID":{t},"rows":[{rows}]}}"#
            )
        };
        let msg = |sets: &[String]| format!(r#"{{{HEAD},{COLS},"rowsets":[{}]}}"#, sets.join(","));
        let ok = msg(&[rs("1", "2", ""), rs("1", "3", ""), rs("2", "2", "")]);
        let m = parse(&ok).unwrap();
        assert_eq!(m.rowsets.len(), 3);
        assert!(m.orders.is_empty());
        let dup = msg(&[rs("1", "2", ""), rs("5", "5", ""), rs("1", "2.0", "")]);
        assert_eq!(
            parse(&dup).unwrap_err(),
            Reject::DuplicateRowset {
                rowset: 2,
                first: 0,
                region_id: Some(1),
                type_id: 2
            }
        );
        // null and 0 are the same unknown region.
        let dup = msg(&[rs("null", "2", ""), rs("0", "2", "")]);
        assert!(matches!(
            parse(&dup).unwrap_err(),
            Reject::DuplicateRowset { rowset: 1, .. }
        ));
    }

    #[test]
    fn structure_errors_are_specific() {
        let full = orders_with_row(&format!("[{ROW}]"));
        for (key, k) in [
            ("resultType", Key::ResultType),
            ("uploadKeys", Key::UploadKeys),
            ("generator", Key::Generator),
            ("columns", Key::Columns),
            ("rowsets", Key::Rowsets),
        ] {
            let renamed = full.replace(&format!("\"{key}\""), "\"zz\"");
            assert_eq!(parse(&renamed).unwrap_err(), Reject::MissingKey(k), "{key}");
        }
        assert_eq!(parse("[1]").unwrap_err(), Reject::NotAnObject);
        assert_eq!(parse("\"x\"").unwrap_err(), Reject::NotAnObject);
        assert!(matches!(
            parse(&full.replace("\"orders\"", "\"trades\"")).unwrap_err(),
            Reject::BadResultType(_)
        ));
        assert_eq!(
            parse(&full.replace("\"uploadKeys\":[]", "\"uploadKeys\":{}")).unwrap_err(),
            Reject::WrongType {
                place: Place::Top(Key::UploadKeys),
                want: Want::Array
            }
        );
        assert_eq!(
            parse(&full.replace("\"generator\":null", "\"generator\":5")).unwrap_err(),
            Reject::WrongType {
                place: Place::Generator,
                want: Want::ObjectOrNull
            }
        );
        assert_eq!(
            parse(&full.replace("\"uploadKeys\":[]", "\"uploadKeys\":[{\"name\":\"a\"}]"))
                .unwrap_err(),
            Reject::WrongType {
                place: Place::UploadKeyField(0, "key"),
                want: Want::String
            }
        );
        assert!(matches!(
            parse(&full.replace("\"bid\"", "\"colour\"")).unwrap_err(),
            Reject::UnknownColumn { index: 6, .. }
        ));
        assert_eq!(
            parse(&full.replace("\"bid\"", "\"price\"")).unwrap_err(),
            Reject::DuplicateColumn {
                index: 6,
                column: Column::Price
            }
        );
        assert_eq!(
            parse(&full.replace("\"bid\",", "")).unwrap_err(),
            Reject::MissingColumn(Column::Bid)
        );
        assert_eq!(
            parse(&full.replace("\"typeID\"", "\"type\"")).unwrap_err(),
            Reject::RowsetMissingKey {
                rowset: 0,
                key: RowsetKey::TypeId
            }
        );
        assert_eq!(
            parse(&full.replace("\"rows\":[[", "\"rows\":[{\"a\":1},[")).unwrap_err(),
            Reject::WrongType {
                place: Place::Row(0, 0),
                want: Want::Array
            }
        );
    }

    #[test]
    fn json_errors_are_located() {
        let full = orders_with_row(&format!("[{ROW}]"));
        assert_eq!(
            parse(&full[..full.len() - 3]).unwrap_err(),
            Reject::JsonTruncated
        );
        assert!(matches!(
            parse(&full.replace("],[", "],,[").replace("]]", "]],")).unwrap_err(),
            Reject::JsonSyntax { line: 1, .. }
        ));
        assert!(matches!(
            parse(&format!("{full} trailing")).unwrap_err(),
            Reject::JsonSyntax { .. }
        ));
        let mut p = Parser::new();
        let mut m = Message::default();
        let bad = b"{\"resultType\":\"\xff\"}";
        assert_eq!(
            p.parse(bad, &Limits::default(), &mut m),
            Err(Reject::NotUtf8 { offset: 15 })
        );
        let huge = full.replace("8999", &"9".repeat(400));
        assert!(matches!(
            parse(&huge).unwrap_err(),
            Reject::NumberTooLarge { line: 1, .. }
        ));
    }

    #[test]
    fn nesting_is_bounded_everywhere() {
        let full = orders_with_row(&format!("[{ROW}]"));
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        for at in [
            full.replace("\"version\":\"0.1\"", &format!("\"version\":{}", deep(100))),
            full.replace("30005038", &format!("30005038,{}", deep(100))),
            full.replace(
                "\"uploadKeys\":[]",
                &format!(
                    "\"uploadKeys\":[{{\"name\":\"a\",\"key\":\"b\",\"x\":{}}}]",
                    deep(100)
                ),
            ),
            format!("{{\"x\":{}}}", deep(5000)),
        ] {
            assert!(
                matches!(parse(&at).unwrap_err(), Reject::TooDeep { .. }),
                "{}",
                &at[..80]
            );
        }
    }

    #[test]
    fn limits_on_counts() {
        let limits = Limits {
            rows_max: 2,
            rowsets_max: 1,
            ..Limits::default()
        };
        let mut p = Parser::new();
        let mut m = Message::default();
        let three = orders_with_row(&vec![format!("[{ROW}]"); 3].join(","));
        assert_eq!(
            p.parse(three.as_bytes(), &limits, &mut m),
            Err(Reject::TooManyRows { max: 2 })
        );
        let two = orders_with_row(&vec![format!("[{ROW}]"); 2].join(","));
        assert_eq!(p.parse(two.as_bytes(), &limits, &mut m), Ok(()));
        let sets = two.replace(
            "]]}]",
            "]]},{\"generatedAt\":\"2011-10-22T15:43:00Z\",\"typeID\":9,\"rows\":[]}]",
        );
        assert_eq!(
            p.parse(sets.as_bytes(), &limits, &mut m),
            Err(Reject::TooManyRowsets { max: 1 })
        );
    }

    #[test]
    fn escaped_strings_are_read() {
        let json = orders_with_row(&format!("[{ROW}]")).replace("\"price\"", "\"pr\\u0069ce\"");
        assert_eq!(parse(&json).unwrap().orders[0].price, 8999.0);
    }
}
