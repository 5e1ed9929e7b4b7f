//! The plan behind the `frequent_itemsets` and `association_rules` table
//! functions: their rows stream out in batches.
//!
//! A mining call's output can be far larger than its input (35 million
//! rules from Online Retail's 500k lines at min_support 0.002). Written as
//! SQL over the aggregate (`association_rules_agg`), the rows leave the
//! aggregate as one list that DataFusion unnests whole: every rule is
//! materialised as Arrow rows twice before the first one is read. Here the
//! table function returns a [`MiningTable`], whose scan is a [`MiningExec`]
//! over the planned input: it reads every input partition into baskets (a
//! task per partition, as partial aggregates would), mines once, keeps the
//! result in its compact form (the itemsets, or the rules' 40-byte heads and
//! item ids) and builds one batch of `batch_size` rows at a time, only the
//! columns the query reads. Its memory (baskets, then the mined result) is
//! reserved from the session's pool.
//!
//! The same call as SQL over the aggregate is kept as the table's
//! definition ([`TableProvider::get_table_definition`]): a Ballista cluster
//! cannot ship a custom plan node, so a cluster session registers the
//! functions through [`crate::table_input::AsView`], which plans that SQL as
//! a view; the Python bindings run that SQL too.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{cast, col, Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PhysicalExpr, PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::accumulate::{coerce_basket_id, coerce_item, KeyType, PairBaskets};
use super::agg_sql::Output;
use super::items::prepare;
use super::output_rows::{itemsets, rules};
use super::rules::Rules;
use super::{check_fraction, mine, rules_of, Mined, MiningOptions};
use crate::memory::resize;
use crate::table_input::{self, check_columns, quote_literal, Args, ColumnKind};

/// The columns every mining table function needs.
pub const INPUT_COLUMNS: [(&str, ColumnKind); 2] =
    [("basket_id", ColumnKind::Key), ("item", ColumnKind::Key)];

/// A checked call of a mining table function.
#[derive(Debug, Clone)]
pub struct MiningCall {
    pub function: &'static str,
    pub output: Output,
    /// The input as SQL (a table name or a parenthesised query).
    pub input_sql: String,
    /// `basket_id` and `item` of the input, cast to the types they are read as.
    input: LogicalPlan,
    id_type: KeyType,
    item_type: KeyType,
    min_support: f64,
    min_confidence: f64,
    options_text: String,
    options: MiningOptions,
}

impl MiningCall {
    /// Check the input and the literal arguments of `function` (options at
    /// the last argument, `min_confidence` before them for rules).
    pub fn new(
        function: &'static str,
        output: Output,
        state: &SessionState,
        args: &Args,
    ) -> Result<Self> {
        let rules = output == Output::Rules;
        let input_sql = args.input_sql(0)?;
        let input = table_input::plan(
            function,
            state,
            &format!("SELECT * FROM {input_sql} AS input"),
        )?;
        check_columns(function, input.schema(), &INPUT_COLUMNS)?;
        let id_type = coerce_basket_id(
            function,
            input
                .schema()
                .field_with_unqualified_name("basket_id")?
                .data_type(),
        )?;
        let item_type = coerce_item(
            function,
            "input",
            input
                .schema()
                .field_with_unqualified_name("item")?
                .data_type(),
        )?;
        let input = LogicalPlanBuilder::from(input)
            .project(vec![
                cast(col("basket_id"), id_type.clone()).alias("basket_id"),
                cast(col("item"), item_type.clone()).alias("item"),
            ])?
            .build()?;
        let min_support = check_fraction(function, "min_support", args.number(1)?, false)?;
        let (min_confidence, options_at) = if rules {
            let c = check_fraction(function, "min_confidence", args.number(2)?, true)?;
            (c, 3)
        } else {
            (0.0, 2)
        };
        let options_text = if args.has(options_at) {
            args.string(options_at)?
        } else {
            String::new()
        };
        // Checked here so that a bad key is reported at planning, with the
        // table function's name.
        let options = MiningOptions::parse(function, &options_text, rules, 0)?;
        Ok(MiningCall {
            function,
            output,
            input_sql,
            input,
            id_type: KeyType::of(&id_type),
            item_type: KeyType::of(&item_type),
            min_support,
            min_confidence,
            options_text,
            options,
        })
    }

    /// The arguments after `item` of the aggregate behind the function, as
    /// SQL literals.
    pub fn literals(&self) -> String {
        let mut out = format!("{:?}", self.min_support);
        if self.output == Output::Rules {
            out.push_str(&format!(", {:?}", self.min_confidence));
        }
        out.push_str(&format!(", {}", quote_literal(&self.options_text)));
        out
    }

    fn schema(&self) -> Schema {
        match self.output {
            Output::Itemsets => itemsets::schema(self.item_type),
            Output::Rules => rules::schema(self.item_type),
        }
    }
}

/// The table a mining table function returns: a view of one scan of a
/// [`MiningScan`], named after the whole call; `definition` is the same call
/// as SQL over the aggregate.
///
/// The name matters: DataFusion tells table scans apart by name and schema,
/// not by provider, so two calls with different arguments in one query
/// would otherwise be taken for the same table (DataFusion 55's own
/// `generate_series(1, 3)` and `generate_series(1, 5)` as two scalar
/// subqueries of one query both count 3).
#[derive(Debug)]
pub struct MiningTable {
    scan: Arc<MiningScan>,
    plan: LogicalPlan,
    definition: String,
}

impl MiningTable {
    pub fn new(call: MiningCall, definition: String) -> Result<Self> {
        let name = format!("{}({}, {})", call.function, call.input_sql, call.literals());
        let scan = Arc::new(MiningScan {
            schema: Arc::new(call.schema()),
            call: Arc::new(call),
        });
        let source = provider_as_source(Arc::clone(&scan) as Arc<dyn TableProvider>);
        let plan = LogicalPlanBuilder::scan(TableReference::bare(name), source, None)?.build()?;
        Ok(MiningTable {
            scan,
            plan,
            definition,
        })
    }
}

#[async_trait]
impl TableProvider for MiningTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.scan.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        Some(Cow::Borrowed(&self.plan))
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.definition)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.scan.scan(state, projection, filters, limit).await
    }
}

/// The scan under a [`MiningTable`].
#[derive(Debug)]
pub struct MiningScan {
    call: Arc<MiningCall>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for MiningScan {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    /// Filters are left to DataFusion (applied above the scan) and the
    /// limit too: a limit cannot save the mining, only the rows built.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = state.create_physical_plan(&self.call.input).await?;
        let columns = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        Ok(Arc::new(MiningExec::new(
            Arc::clone(&self.call),
            columns,
            &self.schema,
            input,
        )?))
    }
}

/// Mines its input (every partition) and streams the rows out.
#[derive(Debug)]
pub struct MiningExec {
    call: Arc<MiningCall>,
    /// The output columns produced, as indices into the function's schema.
    columns: Vec<usize>,
    schema: SchemaRef,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl MiningExec {
    fn new(
        call: Arc<MiningCall>,
        columns: Vec<usize>,
        full: &Schema,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Self> {
        let schema = Arc::new(full.project(&columns)?);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(MiningExec {
            call,
            columns,
            schema,
            input,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for MiningExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let c = &self.call;
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "MiningExec: {}({})", c.function, c.literals())
            }
            DisplayFormatType::TreeRender => write!(f, "{}", c.function),
        }
    }
}

impl ExecutionPlan for MiningExec {
    fn name(&self) -> &str {
        "MiningExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// Every input partition is read (by its own task); repartitioning
    /// would only interleave runs of a basket id.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "MiningExec has one input, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(MiningExec {
            call: Arc::clone(&self.call),
            columns: self.columns.clone(),
            schema: Arc::clone(&self.schema),
            input: children.swap_remove(0),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "MiningExec has one output partition, asked for {partition}"
            )));
        }
        let call = Arc::clone(&self.call);
        let input = Arc::clone(&self.input);
        let columns = self.columns.clone();
        let schema = Arc::clone(&self.schema);
        let batch_rows = context.session_config().batch_size().max(1);
        let mut reservation = MemoryConsumer::new(call.function).register(context.memory_pool());
        let mined = async move {
            let baskets = collect(&call, input, context, &mut reservation).await?;
            let found = Found::mine(&call, baskets, &mut reservation)?;
            Ok::<_, DataFusionError>((found, reservation))
        };
        let out_schema = Arc::clone(&schema);
        let rows = futures::stream::once(mined)
            .map_ok(move |(found, reservation)| {
                let (columns, schema) = (columns.clone(), Arc::clone(&schema));
                let n = found.len();
                futures::stream::iter((0..n).step_by(batch_rows).map(move |start| {
                    // Held until the last batch is built.
                    let _held = &reservation;
                    found.batch(start..(start + batch_rows).min(n), &columns, &schema)
                }))
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, rows)))
    }
}

/// Read every partition of `input` into baskets, one task per partition,
/// and merge them as the aggregate's final step merges partial states;
/// `reservation` holds the merged baskets.
async fn collect(
    call: &MiningCall,
    input: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    reservation: &mut MemoryReservation,
) -> Result<PairBaskets> {
    let partitions = input.output_partitioning().partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let mut stream = input.execute(p, Arc::clone(&context))?;
        let (function, id_type, item_type) = (call.function, call.id_type, call.item_type);
        let mut reservation = MemoryConsumer::new(function).register(context.memory_pool());
        tasks.push(SpawnedTask::spawn(async move {
            let mut baskets = PairBaskets::new(function, id_type, item_type);
            while let Some(batch) = stream.next().await {
                baskets.update(batch?.columns())?;
                resize(
                    &mut reservation,
                    function,
                    "collect the baskets",
                    baskets.heap_size(),
                )?;
            }
            Ok::<_, DataFusionError>((baskets, reservation))
        }));
    }
    let mut all = PairBaskets::new(call.function, call.id_type, call.item_type);
    for task in tasks {
        let (mut part, held) = task
            .join_unwind()
            .await
            .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))??;
        let state = part
            .state()
            .iter()
            .map(|v| v.to_array())
            .collect::<Result<Vec<ArrayRef>>>()?;
        drop(part);
        all.merge(&state)?;
        drop(state);
        drop(held);
        resize(
            reservation,
            call.function,
            "collect the baskets",
            all.heap_size(),
        )?;
    }
    Ok(all)
}

/// What a call found, in its compact form.
#[derive(Debug)]
enum Found {
    Itemsets(Mined, KeyType),
    Rules(Mined, Rules, KeyType),
}

impl Found {
    /// Mine `baskets` as `call` asks; `reservation`, holding the baskets
    /// while they are mined, then holds the result.
    fn mine(
        call: &MiningCall,
        baskets: PairBaskets,
        reservation: &mut MemoryReservation,
    ) -> Result<Found> {
        let f = call.function;
        let prepared = prepare(
            &baskets.items,
            baskets.baskets(),
            call.options.max_basket_items,
        );
        drop(baskets);
        let mined = mine(f, prepared, call.min_support, &call.options)?;
        let found = match call.output {
            Output::Itemsets => Found::Itemsets(mined, call.item_type),
            Output::Rules => {
                let (rules, _) = rules_of(f, &mined, call.min_confidence, &call.options);
                Found::Rules(mined, rules, call.item_type)
            }
        };
        resize(reservation, f, "hold the mined rows", found.heap_size())?;
        Ok(found)
    }

    fn len(&self) -> usize {
        match self {
            Found::Itemsets(m, _) => m.itemsets.len(),
            Found::Rules(_, r, _) => r.len(),
        }
    }

    fn heap_size(&self) -> usize {
        let mined = |m: &Mined| {
            let s = &m.itemsets;
            s.items.capacity() * 4
                + s.offsets.capacity() * 8
                + s.counts.capacity() * 8
                + m.values.heap_size()
        };
        match self {
            Found::Itemsets(m, _) => mined(m),
            Found::Rules(m, r, _) => mined(m) + r.heap_size(),
        }
    }

    /// The rows at `range`, only `columns`.
    fn batch(
        &self,
        range: Range<usize>,
        columns: &[usize],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|&c| match self {
                Found::Itemsets(m, item) => itemsets::column(m, range.clone(), *item, c),
                Found::Rules(m, r, item) => rules::column(m, r, range.clone(), *item, c),
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(range.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            arrays,
            &options,
        )?)
    }
}
