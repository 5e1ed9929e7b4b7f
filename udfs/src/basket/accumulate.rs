//! Baskets from Arrow arrays, for the market basket aggregates: argument type
//! checks, collecting `(basket_id, item)` rows or basket lists into baskets of
//! item ids, the partial state that merges across partitions, and item values
//! back into Arrow arrays.
//!
//! Items are carried as BIGINT (any integer type but UInt64) or VARCHAR (any
//! string type, and UInt64 as decimal text: its values can pass BIGINT's
//! largest); basket ids as BIGINT (integers but UInt64) or VARCHAR (anything
//! else plain).

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, LargeBinaryArray, ListArray, StringArray,
    StringViewArray, UInt32Array,
};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, UInt32Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use foldhash::fast::FixedState;
use std::hash::BuildHasher;

use super::items::{Baskets, Interner, Items, StrArena, StrInterner, Values};
use crate::error::UdfError;
use crate::lists::list_scalar;

/// How a column of items or basket ids is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Int,
    Str,
}

impl KeyType {
    pub fn of(t: &DataType) -> KeyType {
        if matches!(t, DataType::Int64) {
            KeyType::Int
        } else {
            KeyType::Str
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            KeyType::Int => DataType::Int64,
            KeyType::Str => DataType::Utf8,
        }
    }

    pub fn list_type(self) -> DataType {
        DataType::List(Arc::new(Field::new_list_field(self.data_type(), true)))
    }

    fn of_items(items: &Items) -> KeyType {
        match items {
            Items::Int(_) => KeyType::Int,
            Items::Str(_) => KeyType::Str,
        }
    }

    fn interner(self) -> Items {
        match self {
            KeyType::Int => Items::Int(Interner::default()),
            KeyType::Str => Items::Str(StrInterner::default()),
        }
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// The type an item argument is read as: integers as BIGINT, strings as
/// VARCHAR; UInt64, whose values can pass BIGINT's largest, as its decimal
/// text (VARCHAR), so every value is an item of its own; anything else is an
/// error naming the argument.
pub fn coerce_item(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::UInt64 => Ok(DataType::Utf8),
        t if t.is_integer() => Ok(DataType::Int64),
        t if is_string(t) => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if is_string(v) || v.is_integer() => {
            coerce_item(function, argument, v)
        }
        DataType::Null => Ok(DataType::Utf8),
        other => Err(UdfError::argument(
            function,
            argument,
            format!("items must be integers or strings, got {other}"),
        )
        .into()),
    }
}

/// The type a basket id is read as: integers as BIGINT (UInt64 as text, like
/// items), any other plain type as VARCHAR.
pub fn coerce_basket_id(function: &'static str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::UInt64 => Ok(DataType::Utf8),
        t if t.is_integer() => Ok(DataType::Int64),
        t if t.is_nested() => Err(UdfError::argument(
            function,
            "basket_id",
            format!("must be a plain value (an id), got {t}"),
        )
        .into()),
        _ => Ok(DataType::Utf8),
    }
}

/// The type a list of items is read as: `LIST<BIGINT>`, `LIST<VARCHAR>`,
/// or a list of string views as it comes. Views are not cast because a cast
/// of a list slice converts all of its parent's values: on `array_agg`'s
/// output, handed over in slices of one big list, that made `basket_fit` and
/// `recommend` quadratic (minutes at 10M customers).
pub fn coerce_item_list(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::List(f) if f.data_type() == &DataType::Utf8View => Ok(t.clone()),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Ok(KeyType::of(&coerce_item(function, argument, f.data_type())?).list_type())
        }
        DataType::Null => Ok(KeyType::Str.list_type()),
        other => Err(UdfError::argument(
            function,
            argument,
            format!("must be a list of items (e.g. array_agg(product_id)), got {other}"),
        )
        .into()),
    }
}

/// The valid strings of `values[range]` (a VARCHAR or string-view column),
/// appended to `out`.
pub fn push_strs<'a>(values: &'a dyn Array, range: std::ops::Range<usize>, out: &mut Vec<&'a str>) {
    match values.data_type() {
        DataType::Utf8View => {
            let a = values.as_string_view();
            out.extend(range.filter(|&i| a.is_valid(i)).map(|i| a.value(i)));
        }
        _ => {
            let a = values.as_string::<i32>();
            out.extend(range.filter(|&i| a.is_valid(i)).map(|i| a.value(i)));
        }
    }
}

/// Read access to a BIGINT, VARCHAR or string-view column.
enum Keys<'a> {
    Int(&'a Int64Array),
    Str(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Keys<'a> {
    fn new(array: &'a dyn Array) -> Keys<'a> {
        match array.data_type() {
            DataType::Int64 => Keys::Int(array.as_primitive::<Int64Type>()),
            DataType::Utf8View => Keys::View(array.as_string_view()),
            _ => Keys::Str(array.as_string::<i32>()),
        }
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Keys::Int(a) => a.is_null(i),
            Keys::Str(a) => a.is_null(i),
            Keys::View(a) => a.is_null(i),
        }
    }
}

/// The id of row `i` of `keys` in `items`.
fn intern(function: &'static str, items: &mut Items, keys: &Keys, i: usize) -> Result<u32> {
    match (items, keys) {
        (Items::Int(m), Keys::Int(a)) => Ok(m.intern(&a.value(i))),
        (Items::Str(m), Keys::Str(a)) => Ok(m.intern(a.value(i))),
        (Items::Str(m), Keys::View(a)) => Ok(m.intern(a.value(i))),
        _ => Err(UdfError::data(function, "items changed type between batches").into()),
    }
}

/// Item values at `ids` as an Arrow array.
pub fn values_array(values: &Values, ids: impl Iterator<Item = u32>) -> ArrayRef {
    match values {
        Values::Int(v) => Arc::new(Int64Array::from_iter_values(ids.map(|i| v[i as usize]))),
        Values::Str(v) => {
            // StringArray::from_iter_values needs an exact size; a flattened
            // iterator has none.
            let ids: Vec<u32> = ids.collect();
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|&i| v[i as usize].as_str()),
            ))
        }
    }
}

fn interned_values(items: &Items) -> Values {
    match items {
        Items::Int(m) => Values::Int(m.values().to_vec()),
        Items::Str(m) => Values::Str(m.to_strings()),
    }
}

/// An item id standing for a NULL item while a batch is read.
const NULL_ITEM: u32 = u32::MAX;

/// The ids of a column of items in `items` (assigning new ones), NULL rows
/// as [`NULL_ITEM`], into `out`.
fn intern_column(
    function: &'static str,
    items: &mut Items,
    keys: &Keys,
    out: &mut Vec<u32>,
) -> Result<()> {
    out.clear();
    match (items, keys) {
        (Items::Int(m), Keys::Int(a)) if a.null_count() == 0 => {
            out.extend(a.values().iter().map(|v| m.intern(v)));
        }
        (Items::Str(m), Keys::Str(a)) if a.null_count() == 0 => {
            out.extend(a.iter().map(|v| m.intern(v.unwrap_or_default())));
        }
        (Items::Int(m), Keys::Int(a)) => {
            out.extend(a.iter().map(|v| v.map_or(NULL_ITEM, |v| m.intern(&v))));
        }
        (Items::Str(m), Keys::Str(a)) => {
            out.extend(a.iter().map(|v| v.map_or(NULL_ITEM, |v| m.intern(v))));
        }
        (Items::Str(m), Keys::View(a)) => {
            out.extend(a.iter().map(|v| v.map_or(NULL_ITEM, |v| m.intern(v))));
        }
        _ => return Err(UdfError::data(function, "items changed type between batches").into()),
    }
    Ok(())
}

/// The basket ids of runs of rows, in run order: one key per run.
#[derive(Debug)]
enum RunIds {
    Int(Vec<i64>),
    Str(StrArena),
}

impl RunIds {
    fn new(t: KeyType) -> RunIds {
        match t {
            KeyType::Int => RunIds::Int(Vec::new()),
            KeyType::Str => RunIds::Str(StrArena::default()),
        }
    }

    fn key_type(&self) -> KeyType {
        match self {
            RunIds::Int(_) => KeyType::Int,
            RunIds::Str(_) => KeyType::Str,
        }
    }

    /// How the ids of runs `r` and `q` compare.
    fn cmp(&self, r: usize, q: usize) -> Ordering {
        match self {
            RunIds::Int(v) => v[r].cmp(&v[q]),
            RunIds::Str(s) => s.get(r as u32).cmp(s.get(q as u32)),
        }
    }

    fn hash(&self, r: usize, h: &FixedState) -> u64 {
        match self {
            RunIds::Int(v) => h.hash_one(v[r]),
            RunIds::Str(s) => h.hash_one(s.get(r as u32)),
        }
    }

    /// Appends every id of `keys` (the basket ids of a partial state); returns
    /// whether they strictly ascend.
    fn append(&mut self, function: &'static str, keys: &Keys) -> Result<bool> {
        match (self, keys) {
            (RunIds::Int(v), Keys::Int(a)) => {
                let new = a.values();
                v.extend_from_slice(new);
                Ok(new.windows(2).all(|w| w[0] < w[1]))
            }
            (RunIds::Str(s), Keys::Str(a)) => {
                let mut ascending = true;
                let mut last: Option<&str> = None;
                for id in a.iter() {
                    let id = id.unwrap_or_default();
                    ascending &= last.is_none_or(|l| l < id);
                    last = Some(id);
                    s.push(id);
                }
                Ok(ascending)
            }
            _ => Err(UdfError::data(function, "basket ids changed type between batches").into()),
        }
    }

    /// Every run's key, as an Arrow array.
    fn into_array(self) -> ArrayRef {
        match self {
            RunIds::Int(v) => Arc::new(Int64Array::from(v)),
            RunIds::Str(s) => Arc::new(StringArray::from_iter_values(
                (0..s.len() as u32).map(|r| s.get(r)),
            )),
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            RunIds::Int(v) => v.capacity() * 8,
            RunIds::Str(s) => s.heap_size(),
        }
    }
}

/// The runs one source added: this accumulator's own rows, or one merged
/// partial state.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Its first run (it ends where the next segment begins).
    first: usize,
    /// Whether its runs' basket ids strictly ascend: each run is then a
    /// basket of its own within the segment.
    ascending: bool,
    /// Whether it holds this accumulator's own rows (`update` extends it).
    own: bool,
}

/// Baskets collected from `(basket_id, item)` rows, as runs: rows of equal
/// basket id one after another. No allocation per basket while reading, and
/// no hash table probed per row (that was the largest cost on a
/// million-basket lake: a table too large for the cache).
///
/// Runs of the same basket (rows apart, or in other partitions' states) are
/// joined once, at the end:
/// - when rows come ordered by basket id (as orders are usually written) and
///   the partitions hold ranges of ids, runs are already baskets: the
///   segments are put in id order and the runs at their boundaries joined;
/// - otherwise runs are sorted by the hash of their id, and the ids of equal
///   hashes compared.
#[derive(Debug)]
pub struct PairBaskets {
    function: &'static str,
    ids: RunIds,
    /// Where each run's items start in `item_of`.
    run_start: Vec<usize>,
    pub items: Items,
    /// Every run's items, run after run.
    item_of: Vec<u32>,
    segments: Vec<Segment>,
    /// The item ids of the batch being read (kept between batches).
    scratch: Vec<u32>,
}

impl PairBaskets {
    pub fn new(function: &'static str, id_type: KeyType, item_type: KeyType) -> Self {
        PairBaskets {
            function,
            ids: RunIds::new(id_type),
            run_start: Vec::new(),
            items: item_type.interner(),
            item_of: Vec::new(),
            segments: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn runs(&self) -> usize {
        self.run_start.len()
    }

    /// Where run `r`'s items begin in `item_of` (for `r` = the number of
    /// runs: where the last run ends).
    fn items_from(&self, r: usize) -> usize {
        self.run_start.get(r).copied().unwrap_or(self.item_of.len())
    }

    /// The items of run `r`.
    fn run_items(&self, r: usize) -> &[u32] {
        &self.item_of[self.items_from(r)..self.items_from(r + 1)]
    }

    /// The runs of segment `k`.
    fn segment_runs(&self, k: usize) -> Range<usize> {
        let end = self.segments.get(k + 1).map_or(self.runs(), |s| s.first);
        self.segments[k].first..end
    }

    /// Add a batch of rows: `values` = [basket_id, item, ...]. Rows with a
    /// NULL basket id or item are left out.
    pub fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ids = Keys::new(values[0].as_ref());
        let items = Keys::new(values[1].as_ref());
        let mut item_ids = std::mem::take(&mut self.scratch);
        intern_column(self.function, &mut self.items, &items, &mut item_ids)?;
        let added = self.add_rows(&ids, &item_ids);
        self.scratch = item_ids;
        added
    }

    /// Rows of `ids` with their items' ids: each row extends the last run if
    /// it has the same basket id, else starts a run.
    fn add_rows(&mut self, ids: &Keys, item_ids: &[u32]) -> Result<()> {
        if !self.segments.last().is_some_and(|s| s.own) {
            self.segments.push(Segment {
                first: self.run_start.len(),
                ascending: true,
                own: true,
            });
        }
        let Some(segment) = self.segments.last_mut() else {
            return Ok(());
        };
        let (run_start, item_of) = (&mut self.run_start, &mut self.item_of);
        item_of.reserve(item_ids.len());
        let mut ascending = segment.ascending;
        match (&mut self.ids, ids) {
            (RunIds::Int(v), Keys::Int(a)) => {
                let mut last = (v.len() > segment.first).then(|| v[v.len() - 1]);
                for (row, (&id, &item)) in a.values().iter().zip(item_ids).enumerate() {
                    if item == NULL_ITEM || a.is_null(row) {
                        continue;
                    }
                    if last != Some(id) {
                        ascending &= last.is_none_or(|l| l < id);
                        last = Some(id);
                        v.push(id);
                        run_start.push(item_of.len());
                    }
                    item_of.push(item);
                }
            }
            (RunIds::Str(s), Keys::Str(a)) => {
                let mut last = (s.len() > segment.first).then(|| s.len() as u32 - 1);
                for (row, &item) in item_ids.iter().enumerate() {
                    if item == NULL_ITEM || a.is_null(row) {
                        continue;
                    }
                    let id = a.value(row);
                    if last.is_none_or(|l| s.get(l) != id) {
                        ascending &= last.is_none_or(|l| s.get(l) < id);
                        last = Some(s.push(id));
                        run_start.push(item_of.len());
                    }
                    item_of.push(item);
                }
            }
            _ => {
                return Err(UdfError::data(
                    self.function,
                    "basket ids changed type between batches",
                )
                .into())
            }
        }
        segment.ascending = ascending;
        Ok(())
    }

    /// The baskets: the item ids of each distinct basket id.
    pub fn baskets(&self) -> Baskets {
        match self.segment_order() {
            Some(order) => self.concatenated(&order),
            None => self.joined(|r| self.ids.hash(r, &FixedState::with_seed(BASKET_SEED))),
        }
    }

    /// When every segment's runs ascend and the segments, in order of their
    /// first ids, do not overlap (one may begin with the id the one before
    /// ended with: a basket cut between partitions), that order.
    fn segment_order(&self) -> Option<Vec<usize>> {
        if !self.segments.iter().all(|s| s.ascending) {
            return None;
        }
        let mut order: Vec<usize> = (0..self.segments.len())
            .filter(|&k| !self.segment_runs(k).is_empty())
            .collect();
        order.sort_by(|&a, &b| self.ids.cmp(self.segments[a].first, self.segments[b].first));
        let ordered = order.windows(2).all(|w| {
            let last = self.segment_runs(w[0]).end - 1;
            self.ids.cmp(last, self.segments[w[1]].first) != Ordering::Greater
        });
        ordered.then_some(order)
    }

    /// The segments' runs in `order`, runs of equal id next to each other
    /// joined.
    fn concatenated(&self, order: &[usize]) -> Baskets {
        let mut ids = Vec::with_capacity(self.item_of.len());
        let mut ends = Vec::with_capacity(self.runs());
        let mut previous: Option<usize> = None;
        for &k in order {
            let runs = self.segment_runs(k);
            let at = ids.len();
            let start = self.items_from(runs.start);
            ids.extend_from_slice(&self.item_of[start..self.items_from(runs.end)]);
            for r in runs {
                let run_end = self.items_from(r + 1) - start + at;
                match (previous, ends.last_mut()) {
                    (Some(p), Some(last)) if self.ids.cmp(p, r) == Ordering::Equal => {
                        *last = run_end
                    }
                    _ => ends.push(run_end),
                }
                previous = Some(r);
            }
        }
        Baskets::from_ends(ids, ends)
    }

    /// Runs joined by the hash of their id (`hash` of a run), and within a
    /// hash by id; baskets in hash order.
    fn joined(&self, hash: impl Fn(usize) -> u64) -> Baskets {
        let mut order: Vec<(u64, u32)> = (0..self.runs()).map(|r| (hash(r), r as u32)).collect();
        order.sort_unstable();
        let mut basket_of_run = vec![0u32; order.len()];
        let mut first_run: Vec<u32> = Vec::new();
        for same_hash in order.chunk_by(|a, b| a.0 == b.0) {
            // The baskets started in this hash (almost always one).
            let from = first_run.len();
            for &(_, r) in same_hash {
                let known = first_run[from..]
                    .iter()
                    .position(|&f| self.ids.cmp(f as usize, r as usize) == Ordering::Equal);
                basket_of_run[r as usize] = match known {
                    Some(k) => (from + k) as u32,
                    None => {
                        first_run.push(r);
                        (first_run.len() - 1) as u32
                    }
                };
            }
        }
        // Each basket's place, then every run's items copied to its basket.
        let mut next = vec![0usize; first_run.len() + 1];
        for (r, &b) in basket_of_run.iter().enumerate() {
            next[b as usize + 1] += self.run_items(r).len();
        }
        for b in 1..next.len() {
            next[b] += next[b - 1];
        }
        let ends = next[1..].to_vec();
        let mut ids = vec![0u32; self.item_of.len()];
        for (r, &b) in basket_of_run.iter().enumerate() {
            let items = self.run_items(r);
            let at = &mut next[b as usize];
            ids[*at..*at + items.len()].copy_from_slice(items);
            *at += items.len();
        }
        Baskets::from_ends(ids, ends)
    }

    /// The partial state, taken (the accumulator is left empty): each run's
    /// basket id, the distinct items, each run's length and every run's
    /// items as ids into those items.
    pub fn state(&mut self) -> Vec<ScalarValue> {
        let taken = std::mem::replace(
            self,
            PairBaskets::new(
                self.function,
                self.ids.key_type(),
                KeyType::of_items(&self.items),
            ),
        );
        let lengths: Vec<u32> = (0..taken.runs())
            .map(|r| taken.run_items(r).len() as u32)
            .collect();
        let items = values_array(&interned_values(&taken.items), 0..taken.items.len() as u32);
        let ids = taken.ids.into_array();
        vec![
            list_scalar(ids),
            list_scalar(items),
            list_scalar(Arc::new(UInt32Array::from(lengths))),
            list_scalar(Arc::new(item_bytes(taken.item_of))),
        ]
    }

    /// Merge partial states (rows of the four list columns of [`Self::state`]):
    /// each state's runs become a segment.
    pub fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states[..4].iter().map(|a| a.as_list::<i32>()).collect();
        let inconsistent = |what: &str| -> datafusion::error::DataFusionError {
            UdfError::data(
                self.function,
                format!("partial state is inconsistent ({what})"),
            )
            .into()
        };
        for row in 0..lists[0].len() {
            if lists.iter().any(|l| l.is_null(row)) {
                continue;
            }
            let (ids, items) = (lists[0].value(row), lists[1].value(row));
            let (lengths, pairs) = (lists[2].value(row), lists[3].value(row));
            let (ids, items) = (Keys::new(ids.as_ref()), Keys::new(items.as_ref()));
            let lengths = lengths.as_primitive::<UInt32Type>().values();
            let pairs = pairs.as_binary::<i64>();
            let pairs = match pairs.len() {
                0 => &[][..],
                1 => pairs.value(0),
                _ => return Err(inconsistent("run items in more than one value")),
            };
            if pairs.len() % 4 != 0 {
                return Err(inconsistent("run items are not whole 4-byte ids"));
            }
            let pairs = pairs
                .chunks_exact(4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            if lengths.len() != ids_len(&ids) {
                return Err(inconsistent("run lengths and basket ids differ in number"));
            }
            if lengths.iter().map(|&n| n as usize).sum::<usize>() != pairs.len() {
                return Err(inconsistent("run lengths do not add up to the items"));
            }
            let mut global = std::mem::take(&mut self.scratch);
            intern_column(self.function, &mut self.items, &items, &mut global)?;
            let valid = pairs
                .clone()
                .all(|i| global.get(i as usize).is_some_and(|&g| g != NULL_ITEM));
            if !valid {
                self.scratch = global;
                return Err(inconsistent("an item id past the items"));
            }
            let first = self.runs();
            let ascending = self.ids.append(self.function, &ids)?;
            let mut at = self.item_of.len();
            self.run_start.extend(lengths.iter().map(|&n| {
                let start = at;
                at += n as usize;
                start
            }));
            self.item_of.extend(pairs.map(|i| global[i as usize]));
            self.segments.push(Segment {
                first,
                ascending,
                own: false,
            });
            self.scratch = global;
        }
        Ok(())
    }

    pub fn heap_size(&self) -> usize {
        self.run_start.capacity() * 8
            + self.item_of.capacity() * 4
            + self.scratch.capacity() * 4
            + self.segments.capacity() * std::mem::size_of::<Segment>()
            + self.ids.heap_size()
            + self.items.len() * 48
    }
}

/// Item ids as one binary value of their bytes (native byte order), for
/// the partial state: made without copying, and copied as one block when
/// DataFusion turns the state into an array (a list of `u32` is gathered
/// element by element through an index array as large as the list).
fn item_bytes(ids: Vec<u32>) -> LargeBinaryArray {
    let values = Buffer::from_vec(ids);
    let offsets = OffsetBuffer::new(ScalarBuffer::from(vec![0i64, values.len() as i64]));
    LargeBinaryArray::new(offsets, values, None)
}

/// The seed of basket id hashes.
const BASKET_SEED: u64 = 0x6261_736b_6574;

fn ids_len(k: &Keys) -> usize {
    match k {
        Keys::Int(a) => a.len(),
        Keys::Str(a) => a.len(),
        Keys::View(a) => a.len(),
    }
}

/// Baskets collected from a column of item lists, one basket per row.
#[derive(Debug)]
pub struct ListBaskets {
    function: &'static str,
    item_type: KeyType,
    pub items: Items,
    pub baskets: Baskets,
}

impl ListBaskets {
    pub fn new(function: &'static str, item_type: KeyType) -> Self {
        ListBaskets {
            function,
            item_type,
            items: item_type.interner(),
            baskets: Baskets::default(),
        }
    }

    /// Add a column of baskets (NULL rows left out, NULL items skipped, and
    /// a list left with no item is no basket: the rule of the row-wise
    /// functions, where a basket is the non-NULL items of one basket id).
    pub fn update(&mut self, lists: &ArrayRef) -> Result<()> {
        let lists = lists.as_list::<i32>();
        let values = lists.values();
        let keys = Keys::new(values.as_ref());
        let offsets = lists.value_offsets();
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let mut basket = Vec::with_capacity(end - start);
            for i in start..end {
                if !keys.is_null(i) {
                    basket.push(intern(self.function, &mut self.items, &keys, i)?);
                }
            }
            if !basket.is_empty() {
                self.baskets.push(basket);
            }
        }
        Ok(())
    }

    /// The partial state: the baskets as one list of lists.
    pub fn state(&self) -> Vec<ScalarValue> {
        let values = values_array(
            &interned_values(&self.items),
            self.baskets.ids().iter().copied(),
        );
        let field = Arc::new(Field::new_list_field(self.item_type.data_type(), true));
        let inner = ListArray::new(
            field,
            OffsetBuffer::from_lengths(self.baskets.lengths()),
            values,
            None,
        );
        vec![list_scalar(Arc::new(inner))]
    }

    pub fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let outer = states[0].as_list::<i32>();
        for row in 0..outer.len() {
            if !outer.is_null(row) {
                self.update(&outer.value(row))?;
            }
        }
        Ok(())
    }

    pub fn heap_size(&self) -> usize {
        self.baskets.pairs() * 4 + self.baskets.len() * 8 + self.items.len() * 48
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use std::collections::BTreeMap;

    /// A list of string views is read as it is: no cast, whose cost on a
    /// slice of array_agg's output is the whole output's.
    #[test]
    fn lists_of_string_views_are_not_cast() {
        let views = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8View, true)));
        assert_eq!(
            coerce_item_list("f", "items", &views).ok(),
            Some(views.clone())
        );
        let large = DataType::LargeList(Arc::new(Field::new_list_field(DataType::LargeUtf8, true)));
        assert_eq!(
            coerce_item_list("f", "items", &large).ok(),
            Some(KeyType::Str.list_type())
        );
        // Read from a slice: only the slice's rows are baskets.
        let lists = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Utf8View, true)),
            OffsetBuffer::from_lengths([2, 1, 3]),
            Arc::new(StringViewArray::from_iter_values([
                "a", "b", "c", "a", "b", "d",
            ])),
            None,
        );
        let mut baskets = ListBaskets::new("f", KeyType::Str);
        baskets
            .update(&(Arc::new(lists.slice(1, 2)) as ArrayRef))
            .expect("views read");
        assert_eq!(baskets.baskets.len(), 2);
        assert_eq!(baskets.baskets.pairs(), 4);
    }

    /// Baskets as sorted lists of item values, sorted: comparable whatever
    /// the basket and item numbering.
    fn canonical(p: &PairBaskets) -> Vec<Vec<i64>> {
        let Items::Int(items) = &p.items else {
            panic!("integer items")
        };
        let mut out: Vec<Vec<i64>> = p
            .baskets()
            .iter()
            .map(|b| {
                let mut v: Vec<i64> = b.iter().map(|&i| items.values()[i as usize]).collect();
                v.sort_unstable();
                v
            })
            .collect();
        out.sort();
        out
    }

    /// The same rows grouped with a map.
    fn reference(rows: &[(String, i64)]) -> Vec<Vec<i64>> {
        let mut m: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (b, i) in rows {
            m.entry(b).or_default().push(*i);
        }
        let mut out: Vec<Vec<i64>> = m
            .into_values()
            .map(|mut v| {
                v.sort_unstable();
                v
            })
            .collect();
        out.sort();
        out
    }

    fn batch(rows: &[(String, i64)]) -> Vec<ArrayRef> {
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ]
    }

    /// `state()` of one accumulator as the state arrays of one row.
    fn state_arrays(p: &mut PairBaskets) -> Vec<ArrayRef> {
        p.state()
            .iter()
            .map(|s| s.to_array().expect("a list scalar"))
            .collect()
    }

    #[test]
    fn runs_of_one_basket_apart_or_in_other_partitions_are_joined() {
        let mut rng = crate::segment::kmeans::Rng::new(11);
        for case in 0..60 {
            let n = 1 + case * 7;
            let pool = 1 + case % 9;
            // Rows in random order: a basket's rows are often apart.
            let rows: Vec<(String, i64)> = (0..n)
                .map(|_| (format!("b{}", rng.below(pool)), rng.below(5) as i64))
                .collect();
            let want = reference(&rows);
            let mut one = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            for chunk in rows.chunks(1 + case % 4) {
                one.update(&batch(chunk)).unwrap();
            }
            assert_eq!(canonical(&one), want, "case {case}, one accumulator");
            // Three partitions, their states merged (two in one batch).
            let mut parts: Vec<PairBaskets> = rows
                .chunks(n.div_ceil(3))
                .map(|chunk| {
                    let mut p = PairBaskets::new("test", KeyType::Str, KeyType::Int);
                    p.update(&batch(chunk)).unwrap();
                    p
                })
                .collect();
            let mut last = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            let states: Vec<Vec<ArrayRef>> = parts.iter_mut().map(state_arrays).collect();
            for s in &states {
                last.merge(s).unwrap();
            }
            assert_eq!(canonical(&last), want, "case {case}, merged states");
            // A merged state merged again gives the same baskets.
            let mut again = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            again.merge(&state_arrays(&mut last)).unwrap();
            assert_eq!(canonical(&again), want, "case {case}, state of a merge");
        }
    }

    #[test]
    fn rows_ordered_by_basket_join_at_partition_boundaries() {
        let mut rng = crate::segment::kmeans::Rng::new(5);
        for case in 0..60 {
            let n = 1 + case * 11;
            // Rows ordered by basket id ("b000", "b001", ...), baskets of
            // 1 to 4 rows, so partitions often cut a basket in two.
            let mut rows: Vec<(String, i64)> = Vec::new();
            let mut b = 0;
            while rows.len() < n {
                for _ in 0..1 + rng.below(4) {
                    rows.push((format!("b{b:03}"), rng.below(6) as i64));
                }
                b += 1;
            }
            let want = reference(&rows);
            let parts = 1 + case % 5;
            let mut states: Vec<Vec<ArrayRef>> = rows
                .chunks(rows.len().div_ceil(parts))
                .map(|chunk| {
                    let mut p = PairBaskets::new("test", KeyType::Str, KeyType::Int);
                    p.update(&batch(chunk)).unwrap();
                    state_arrays(&mut p)
                })
                .collect();
            // States arrive in any order.
            let k = case % states.len();
            states.rotate_left(k);
            if case % 2 == 1 {
                states.reverse();
            }
            let mut last = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            for s in &states {
                last.merge(s).unwrap();
            }
            assert!(last.segment_order().is_some(), "case {case}");
            assert_eq!(canonical(&last), want, "case {case}, ordered partitions");
            // Two copies of the same ordered rows overlap: joined by hash.
            let mut twice = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            twice.update(&batch(&rows)).unwrap();
            let copy = state_arrays(&mut twice);
            twice.merge(&copy).unwrap();
            twice.merge(&copy).unwrap();
            if b > 1 {
                assert!(twice.segment_order().is_none(), "case {case}");
            }
            let doubled: Vec<(String, i64)> = rows.iter().chain(&rows).cloned().collect();
            assert_eq!(
                canonical(&twice),
                reference(&doubled),
                "case {case}, overlapping"
            );
        }
    }

    #[test]
    fn equal_hashes_of_different_ids_stay_apart() {
        let rows: Vec<(String, i64)> = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)]
            .iter()
            .map(|&(b, i)| (b.to_string(), i))
            .collect();
        let mut p = PairBaskets::new("test", KeyType::Str, KeyType::Int);
        p.update(&batch(&rows)).unwrap();
        // Every run given the same hash: only the ids tell baskets apart.
        let joined = p.joined(|_| 7);
        let mut got: Vec<Vec<u32>> = joined.iter().map(<[u32]>::to_vec).collect();
        got.sort();
        // Items 1..5 were given ids 0..4 in order.
        assert_eq!(got, vec![vec![0, 2], vec![1, 4], vec![3]]);
    }

    #[test]
    fn inconsistent_partial_states_are_errors() {
        let rows: Vec<(String, i64)> = [("a", 1), ("a", 2), ("b", 3)]
            .iter()
            .map(|&(b, i)| (b.to_string(), i))
            .collect();
        let mut p = PairBaskets::new("test", KeyType::Str, KeyType::Int);
        p.update(&batch(&rows)).unwrap();
        let good = state_arrays(&mut p);
        let with_items = |ids: Vec<u32>| -> Vec<ArrayRef> {
            let mut s = good.clone();
            s[3] = list_scalar(Arc::new(item_bytes(ids))).to_array().unwrap();
            s
        };
        let with_bytes = |bytes: &[u8]| -> Vec<ArrayRef> {
            let mut s = good.clone();
            let b = LargeBinaryArray::from_iter_values([bytes]);
            s[3] = list_scalar(Arc::new(b)).to_array().unwrap();
            s
        };
        let cases = [
            (with_items(vec![0, 1, 7]), "an item id past the items"),
            (with_items(vec![0, 1]), "do not add up"),
            (with_bytes(&[0, 0, 0, 0, 1, 0, 0]), "not whole 4-byte ids"),
        ];
        for (state, want) in cases {
            let mut last = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            let err = last.merge(&state).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let mut last = PairBaskets::new("test", KeyType::Str, KeyType::Int);
        last.merge(&good).unwrap();
        assert_eq!(canonical(&last), vec![vec![1, 2], vec![3]]);
    }

    #[test]
    fn integer_basket_ids_and_type_changes() {
        let mut p = PairBaskets::new("test", KeyType::Int, KeyType::Int);
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            None,
            Some(5),
            Some(6),
            Some(5),
        ]));
        let items: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]));
        p.update(&[ids, items]).unwrap();
        assert_eq!(canonical(&p), vec![vec![1, 3, 5], vec![4]]);
        let err = p.update(&batch(&[("x".to_string(), 1)])).unwrap_err();
        assert!(err.to_string().contains("changed type"), "{err}");
    }
}
