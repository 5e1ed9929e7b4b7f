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

use super::items::{Interner, Items, StrInterner, Values};
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

/// Baskets collected from `(basket_id, item)` rows, as flat (basket, item)
/// id pairs: no allocation per basket while reading.
#[derive(Debug)]
pub struct PairBaskets {
    function: &'static str,
    ids: Items,
    pub items: Items,
    basket_of: Vec<u32>,
    item_of: Vec<u32>,
}

impl PairBaskets {
    pub fn new(function: &'static str, id_type: KeyType, item_type: KeyType) -> Self {
        PairBaskets {
            function,
            ids: id_type.interner(),
            items: item_type.interner(),
            basket_of: Vec::new(),
            item_of: Vec::new(),
        }
    }

    fn add(&mut self, ids: &Keys, items: &Keys) -> Result<()> {
        for i in 0..ids_len(ids) {
            if ids.is_null(i) || items.is_null(i) {
                continue;
            }
            let b = intern(self.function, &mut self.ids, ids, i)?;
            let item = intern(self.function, &mut self.items, items, i)?;
            self.basket_of.push(b);
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

    /// The item ids of each basket, by basket id (a counting sort of the
    /// pairs; each basket allocated once at its size).
    pub fn baskets(&self) -> Vec<Vec<u32>> {
        let mut sizes = vec![0usize; self.ids.len()];
        for &b in &self.basket_of {
            sizes[b as usize] += 1;
        }
        let mut baskets: Vec<Vec<u32>> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (&b, &i) in self.basket_of.iter().zip(&self.item_of) {
            baskets[b as usize].push(i);
        }
        baskets
    }

    /// The partial state, compact: the distinct basket ids and items once
    /// each, then every basket's length and its items as local ids, so the
    /// final merge interns each distinct value once instead of every pair.
    pub fn state(&self) -> Vec<ScalarValue> {
        let baskets = self.baskets();
        let ids = values_array(&interned_values(&self.ids), 0..self.ids.len() as u32);
        let items = values_array(&interned_values(&self.items), 0..self.items.len() as u32);
        let lengths = UInt32Array::from_iter_values(baskets.iter().map(|b| b.len() as u32));
        let pairs = UInt32Array::from_iter_values(baskets.iter().flatten().copied());
        vec![
            list_scalar(ids),
            list_scalar(items),
            list_scalar(Arc::new(lengths)),
            list_scalar(Arc::new(pairs)),
        ]
    }

    /// Merge partial states (rows of the four list columns of [`Self::state`]).
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
            let mut at = 0usize;
            for (local, &len) in lengths.iter().enumerate() {
                let b = intern(self.function, &mut self.ids, &ids, local)?;
                let end = at + len as usize;
                let basket = pairs.get(at..end).ok_or_else(|| {
                    UdfError::data(
                        self.function,
                        "partial state is inconsistent (basket lengths exceed items)",
                    )
                })?;
                for &i in basket {
                    self.basket_of.push(b);
                    self.item_of.push(global[i as usize]);
                }
                at = end;
            }
        }
        Ok(())
    }

    pub fn heap_size(&self) -> usize {
        self.basket_of.len() * 8 + (self.ids.len() + self.items.len()) * 48
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
    pub baskets: Vec<Vec<u32>>,
    pairs: usize,
}

impl ListBaskets {
    pub fn new(function: &'static str, item_type: KeyType) -> Self {
        ListBaskets {
            function,
            item_type,
            items: item_type.interner(),
            baskets: Vec::new(),
            pairs: 0,
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
            self.pairs += basket.len();
            self.baskets.push(basket);
        }
        Ok(())
    }

    /// The partial state: the baskets as one list of lists.
    pub fn state(&self) -> Vec<ScalarValue> {
        let values = values_array(
            &interned_values(&self.items),
            self.baskets.iter().flatten().copied(),
        );
        let field = Arc::new(Field::new_list_field(self.item_type.data_type(), true));
        let inner = ListArray::new(
            field,
            OffsetBuffer::from_lengths(self.baskets.iter().map(Vec::len)),
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
        self.pairs * 4 + self.baskets.len() * 32 + self.items.len() * 48
    }
}
