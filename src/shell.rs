//! `crmlake sql`: the interactive shell.
//!
//! Built from datafusion-cli's library: its rustyline helper (multi-line input
//! until `;`, highlighting), its statement executor and printer
//! (`datafusion_cli::exec`) and its backslash commands (`\?`, `\d name`, `\h`,
//! `\pset`, `\quiet`, `\i`). The loop here only adds what crmlake users need on
//! top: `\d` lists every table *with its columns*, and `\df` lists crmlake's
//! functions. History is kept in `~/.crmlake_history`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use datafusion_cli::command::{Command, OutputFormat as CliOutputFormat};
use datafusion_cli::exec::exec_from_commands;
use datafusion_cli::helper::CliHelper;
use datafusion_cli::object_storage::instrumented::InstrumentedObjectStoreRegistry;
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};
use rustyline::error::ReadlineError;
use rustyline::Editor;

use crate::error::{CrmlakeError, Result};

/// SQL behind `\d`: every table with its columns and types.
pub const LIST_TABLES_SQL: &str = "SELECT table_name, \
     string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS columns \
     FROM information_schema.columns WHERE table_schema = 'public' \
     GROUP BY table_name ORDER BY table_name";

/// crmlake's functions as a table: name, kind, signature, description, example.
pub fn functions_batch() -> RecordBatch {
    let entries = crmlake_udfs::catalog();
    let col = |f: &dyn Fn(&crmlake_udfs::FunctionEntry) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(entries.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(
        ["name", "kind", "signature", "description", "example"]
            .map(|n| Field::new(n, DataType::Utf8, false))
            .to_vec(),
    ));
    let columns = vec![
        col(&|e| e.name),
        col(&|e| e.kind.as_str()),
        col(&|e| e.signature),
        col(&|e| e.description),
        col(&|e| e.example),
    ];
    // Five non-null Utf8 columns of equal length always make a valid batch.
    RecordBatch::try_new(schema, columns).unwrap_or_else(|e| panic!("functions table: {e}"))
}

/// Plain-text function reference, as `crmlake functions` prints it.
pub fn functions_text() -> String {
    let mut out = String::new();
    for e in crmlake_udfs::catalog() {
        out.push_str(&format!(
            "{}  ({})\n  {}\n  {}\n  example: {}\n\n",
            e.name,
            e.kind.as_str(),
            e.signature,
            e.description,
            e.example
        ));
    }
    out
}

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".crmlake_history"))
}

/// Run the interactive shell until `\q` or end of input.
pub async fn run_shell(ctx: &SessionContext) -> Result<()> {
    let mut print_options = PrintOptions {
        format: PrintFormat::Automatic,
        quiet: false,
        maxrows: MaxRows::Limited(40),
        color: true,
        instrumented_registry: Arc::new(InstrumentedObjectStoreRegistry::new()),
    };
    let dialect = ctx.state().config().options().sql_parser.dialect;
    let mut rl: Editor<CliHelper, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| CrmlakeError::Internal(format!("line editor: {e}")))?;
    rl.set_helper(Some(CliHelper::new(&dialect, print_options.color)));
    if let Some(p) = history_path() {
        let _ = rl.load_history(&p);
    }
    println!(
        "crmlake {} shell: \\? for help, \\d tables, \\df functions, \\q to quit",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match rl.readline("crmlake> ") {
            Ok(line) if line.trim_start().starts_with('\\') => {
                let _ = rl.add_history_entry(line.trim_end());
                let command = line.split_whitespace().collect::<Vec<_>>().join(" ");
                let command = &command[1..];
                match command {
                    "q" => break,
                    "d" => {
                        if let Err(e) = exec_from_commands(ctx, vec![LIST_TABLES_SQL.into()], &print_options).await {
                            eprintln!("{e}");
                        }
                    }
                    "df" => {
                        let batch = functions_batch();
                        let _ = crate::output::print_batches(
                            &mut std::io::stdout(),
                            &batch.schema(),
                            &[batch],
                            crate::output::OutputFormat::Table,
                        );
                    }
                    _ => match command.parse::<Command>() {
                        Ok(Command::OutputFormat(Some(sub))) => match sub.parse::<CliOutputFormat>() {
                            Ok(f) => {
                                if let Err(e) = f.execute(&mut print_options) {
                                    eprintln!("{e}");
                                }
                            }
                            Err(()) => eprintln!("'\\{command}' is not a valid command, \\? lists them"),
                        },
                        Ok(Command::OutputFormat(None)) => println!("Output format is {:?}.", print_options.format),
                        Ok(cmd) => {
                            if let Err(e) = cmd.execute(ctx, &mut print_options).await {
                                eprintln!("{e}");
                            }
                        }
                        Err(()) => eprintln!("'\\{command}' is not a valid command, \\? lists them (and \\df crmlake's functions)"),
                    },
                }
            }
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.trim_end());
                tokio::select! {
                    res = exec_from_commands(ctx, vec![line], &print_options) => {
                        if let Err(e) = res {
                            eprintln!("{e}");
                        }
                    }
                    _ = tokio::signal::ctrl_c() => println!("^C"),
                }
            }
            Err(ReadlineError::Interrupted) => {
                println!("^C");
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CrmlakeError::Internal(format!("reading input: {e}"))),
        }
    }
    if let Some(p) = history_path() {
        let _ = rl.save_history(&p);
    }
    Ok(())
}
