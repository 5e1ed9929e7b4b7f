//! Baskets from Arrow arrays, for the market basket aggregates: argument type
//! checks, collecting `(basket_id, item)` rows or basket lists into baskets of
//! item ids, the partial state that merges across partitions, and item values
//! back into Arrow arrays.
//!
//! Items are carried as BIGINT (any integer type) or VARCHAR (any string
//! type); basket ids as BIGINT (integers) or VARCHAR (anything else plain).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListArray, StringArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
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
/// VARCHAR; anything else is an error naming the argument.
pub fn coerce_item(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
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

/// The type a basket id is read as: integers as BIGINT, any other plain type
/// as VARCHAR.
pub fn coerce_basket_id(function: &'static str, t: &DataType) -> Result<DataType> {
    match t {
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

/// The type a list of items is read as (`LIST<BIGINT>` or `LIST<VARCHAR>`).
pub fn coerce_item_list(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
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

/// Read access to a BIGINT or VARCHAR column.
enum Keys<'a> {
    Int(&'a Int64Array),
    Str(&'a StringArray),
}

impl<'a> Keys<'a> {
    fn new(array: &'a dyn Array) -> Keys<'a> {
        match array.data_type() {
            DataType::Int64 => Keys::Int(array.as_primitive::<Int64Type>()),
            _ => Keys::Str(array.as_string::<i32>()),
        }
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Keys::Int(a) => a.is_null(i),
            Keys::Str(a) => a.is_null(i),
        }
    }
}

/// The id of row `i` of `keys` in `items`.
fn intern(function: &'static str, items: &mut Items, keys: &Keys, i: usize) -> Result<u32> {
    match (items, keys) {
        (Items::Int(m), Keys::Int(a)) => Ok(m.intern(&a.value(i))),
        (Items::Str(m), Keys::Str(a)) => Ok(m.intern(a.value(i))),
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

    fn len(&self) -> usize {
        match self {
            RunIds::Int(v) => v.len(),
            RunIds::Str(s) => s.len(),
        }
    }

    /// Whether run `r`'s key equals row `i` of `keys` (false on a type
    /// mismatch, which `push` reports).
    fn equals(&self, r: usize, keys: &Keys, i: usize) -> bool {
        match (self, keys) {
            (RunIds::Int(v), Keys::Int(a)) => v[r] == a.value(i),
            (RunIds::Str(s), Keys::Str(a)) => s.get(r as u32) == a.value(i),
            _ => false,
        }
    }

    fn same(&self, r: usize, q: usize) -> bool {
        match self {
            RunIds::Int(v) => v[r] == v[q],
            RunIds::Str(s) => s.get(r as u32) == s.get(q as u32),
        }
    }

    /// Appends row `i` of `keys` as a new run's key; returns its hash.
    fn push(
        &mut self,
        function: &'static str,
        keys: &Keys,
        i: usize,
        h: &FixedState,
    ) -> Result<u64> {
        match (self, keys) {
            (RunIds::Int(v), Keys::Int(a)) => {
                v.push(a.value(i));
                Ok(h.hash_one(a.value(i)))
            }
            (RunIds::Str(s), Keys::Str(a)) => {
                s.push(a.value(i));
                Ok(h.hash_one(a.value(i)))
            }
            _ => Err(UdfError::data(function, "basket ids changed type between batches").into()),
        }
    }

    /// The keys of runs `runs`, as an Arrow array.
    fn array(&self, runs: &[u32]) -> ArrayRef {
        match self {
            RunIds::Int(v) => Arc::new(Int64Array::from_iter_values(
                runs.iter().map(|&r| v[r as usize]),
            )),
            RunIds::Str(s) => Arc::new(StringArray::from_iter_values(
                runs.iter().map(|&r| s.get(r)),
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

/// Baskets collected from `(basket_id, item)` rows, as flat (run, item) id
/// pairs: no allocation per basket while reading.
///
/// Basket ids are not looked up in a hash table row by row (that was the
/// largest cost on a million-basket lake: a table too large for the cache,
/// probed for every row). Rows are taken in runs of equal basket id (the
/// rows of an order are usually stored together), each run keeping its id
/// and the id's hash; runs of the same basket (rows apart, or from other
/// partitions' states) are joined once, at the end, by sorting the runs by
/// hash and comparing the ids of equal hashes.
#[derive(Debug)]
pub struct PairBaskets {
    function: &'static str,
    ids: RunIds,
    hashes: Vec<u64>,
    hasher: FixedState,
    pub items: Items,
    run_of: Vec<u32>,
    item_of: Vec<u32>,
}

/// Runs joined into baskets: the basket of each run, and each basket's
/// first run in hash order (basket `k` has the `k`-th smallest hash).
struct Joined {
    basket_of_run: Vec<u32>,
    first_run: Vec<u32>,
}

impl PairBaskets {
    pub fn new(function: &'static str, id_type: KeyType, item_type: KeyType) -> Self {
        PairBaskets {
            function,
            ids: RunIds::new(id_type),
            hashes: Vec::new(),
            hasher: FixedState::with_seed(0x6261_736b_6574),
            items: item_type.interner(),
            run_of: Vec::new(),
            item_of: Vec::new(),
        }
    }

    /// The run of row `i` of `ids`: the last run if it has that id, else a
    /// new one.
    fn run_for(&mut self, ids: &Keys, i: usize) -> Result<u32> {
        let last = self.ids.len();
        if last > 0 && self.ids.equals(last - 1, ids, i) {
            return Ok((last - 1) as u32);
        }
        self.new_run(ids, i)
    }

    /// Starts a run with the id of row `i` of `ids`; returns its number.
    fn new_run(&mut self, ids: &Keys, i: usize) -> Result<u32> {
        let h = self.ids.push(self.function, ids, i, &self.hasher)?;
        self.hashes.push(h);
        Ok((self.hashes.len() - 1) as u32)
    }

    fn add(&mut self, ids: &Keys, items: &Keys) -> Result<()> {
        for i in 0..ids_len(ids) {
            if ids.is_null(i) || items.is_null(i) {
                continue;
            }
            let run = self.run_for(ids, i)?;
            let item = intern(self.function, &mut self.items, items, i)?;
            self.run_of.push(run);
            self.item_of.push(item);
        }
        Ok(())
    }

    /// Add a batch of rows: `values` = [basket_id, item, ...].
    pub fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(
            &Keys::new(values[0].as_ref()),
            &Keys::new(values[1].as_ref()),
        )
    }

    /// Runs with the same basket id joined: runs sorted by hash (a stable
    /// sort, which also merges the already sorted runs of merged states
    /// quickly), and within a hash, by id.
    fn join(&self) -> Joined {
        let mut order: Vec<(u64, u32)> = self
            .hashes
            .iter()
            .enumerate()
            .map(|(r, &h)| (h, r as u32))
            .collect();
        order.sort_by_key(|&(h, _)| h);
        let mut basket_of_run = vec![0u32; order.len()];
        let mut first_run = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let h = order[start].0;
            let end = start + order[start..].iter().take_while(|x| x.0 == h).count();
            // The baskets started in this hash (almost always one).
            let from = first_run.len();
            for &(_, r) in &order[start..end] {
                let known = first_run[from..]
                    .iter()
                    .position(|&f: &u32| self.ids.same(f as usize, r as usize));
                basket_of_run[r as usize] = match known {
                    Some(k) => (from + k) as u32,
                    None => {
                        first_run.push(r);
                        (first_run.len() - 1) as u32
                    }
                };
            }
            start = end;
        }
        Joined {
            basket_of_run,
            first_run,
        }
    }

    /// Every basket's length and all baskets' items one after another (a
    /// counting sort of the pairs), baskets in hash order.
    fn flat(&self, joined: &Joined) -> (Vec<u32>, Vec<u32>) {
        let basket = |&r: &u32| joined.basket_of_run[r as usize] as usize;
        let mut lengths = vec![0u32; joined.first_run.len()];
        for r in &self.run_of {
            lengths[basket(r)] += 1;
        }
        let mut next: Vec<usize> = lengths
            .iter()
            .scan(0usize, |at, &n| {
                let start = *at;
                *at += n as usize;
                Some(start)
            })
            .collect();
        let mut pairs = vec![0u32; self.run_of.len()];
        for (r, &i) in self.run_of.iter().zip(&self.item_of) {
            let at = &mut next[basket(r)];
            pairs[*at] = i;
            *at += 1;
        }
        (lengths, pairs)
    }

    /// The item ids of each distinct basket.
    pub fn baskets(&self) -> Baskets {
        let (lengths, pairs) = self.flat(&self.join());
        Baskets::from_lengths(&lengths, pairs)
    }

    /// The partial state, compact: each distinct basket id and item once,
    /// then every basket's length and its items as local ids. Baskets go in
    /// hash order, so the final merge's sort finds them already sorted.
    pub fn state(&self) -> Vec<ScalarValue> {
        let joined = self.join();
        let (lengths, pairs) = self.flat(&joined);
        let ids = self.ids.array(&joined.first_run);
        let items = values_array(&interned_values(&self.items), 0..self.items.len() as u32);
        vec![
            list_scalar(ids),
            list_scalar(items),
            list_scalar(Arc::new(UInt32Array::from(lengths))),
            list_scalar(Arc::new(UInt32Array::from(pairs))),
        ]
    }

    /// Merge partial states (rows of the four list columns of [`Self::state`]):
    /// each incoming basket becomes a run, joined with the others at the end.
    pub fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states[..4].iter().map(|a| a.as_list::<i32>()).collect();
        for row in 0..lists[0].len() {
            if lists.iter().any(|l| l.is_null(row)) {
                continue;
            }
            let (ids, items) = (lists[0].value(row), lists[1].value(row));
            let (lengths, pairs) = (lists[2].value(row), lists[3].value(row));
            let (ids, items) = (Keys::new(ids.as_ref()), Keys::new(items.as_ref()));
            let global: Vec<u32> = (0..ids_len(&items))
                .map(|i| intern(self.function, &mut self.items, &items, i))
                .collect::<Result<_>>()?;
            let lengths = lengths.as_primitive::<UInt32Type>().values();
            let pairs = pairs.as_primitive::<UInt32Type>().values();
            if lengths.len() > ids_len(&ids) {
                return Err(UdfError::data(
                    self.function,
                    "partial state is inconsistent (more baskets than basket ids)",
                )
                .into());
            }
            let mut at = 0usize;
            for (local, &len) in lengths.iter().enumerate() {
                let run = self.new_run(&ids, local)?;
                let end = at + len as usize;
                let basket = pairs.get(at..end).ok_or_else(|| {
                    UdfError::data(
                        self.function,
                        "partial state is inconsistent (basket lengths exceed items)",
                    )
                })?;
                for &i in basket {
                    let item = global.get(i as usize).copied().ok_or_else(|| {
                        UdfError::data(
                            self.function,
                            "partial state is inconsistent (an item id past the items)",
                        )
                    })?;
                    self.run_of.push(run);
                    self.item_of.push(item);
                }
                at = end;
            }
        }
        Ok(())
    }

    pub fn heap_size(&self) -> usize {
        self.run_of.capacity() * 4
            + self.item_of.capacity() * 4
            + self.hashes.capacity() * 8
            + self.ids.heap_size()
            + self.items.len() * 48
    }
}

fn ids_len(k: &Keys) -> usize {
    match k {
        Keys::Int(a) => a.len(),
        Keys::Str(a) => a.len(),
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

    /// Add a column of baskets (NULL rows left out, NULL items skipped).
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
            self.baskets.push(basket);
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
    fn state_arrays(p: &PairBaskets) -> Vec<ArrayRef> {
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
            let parts: Vec<PairBaskets> = rows
                .chunks(n.div_ceil(3))
                .map(|chunk| {
                    let mut p = PairBaskets::new("test", KeyType::Str, KeyType::Int);
                    p.update(&batch(chunk)).unwrap();
                    p
                })
                .collect();
            let mut last = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            let states: Vec<Vec<ArrayRef>> = parts.iter().map(state_arrays).collect();
            for s in &states {
                last.merge(s).unwrap();
            }
            assert_eq!(canonical(&last), want, "case {case}, merged states");
            // A merged state merged again gives the same baskets.
            let mut again = PairBaskets::new("test", KeyType::Str, KeyType::Int);
            again.merge(&state_arrays(&last)).unwrap();
            assert_eq!(canonical(&again), want, "case {case}, state of a merge");
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
        p.hashes.iter_mut().for_each(|h| *h = 7);
        assert_eq!(canonical(&p), vec![vec![1, 3], vec![2, 5], vec![4]]);
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
