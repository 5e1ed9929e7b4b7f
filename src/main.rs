//! The `crmlake` command line. See `crmlake --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crmlake::error::{CrmlakeError, Result};
use crmlake::output::{print_batches, write_parquet_file, OutputFormat};
use crmlake::session::{base_session, lake_session, SessionOptions, DEFAULT_LAKE};

#[derive(Debug, Parser)]
#[command(
    name = "crmlake",
    version,
    about = "Customer analytics inside a SQL engine (Apache DataFusion)"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run SQL over the lake: an interactive shell, or -c / -f statements.
    Sql {
        /// Lake root: a path or a file://, memory://, s3://, gs://, az:// URL
        /// [default: data/lake, when that folder exists].
        #[arg(long)]
        lake: Option<String>,
        /// SQL to run (several statements separated by ';'); may be repeated.
        #[arg(short = 'c', long = "command")]
        commands: Vec<String>,
        /// File of SQL statements to run; may be repeated.
        #[arg(short = 'f', long = "file")]
        files: Vec<PathBuf>,
        /// How to print the last result.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Write the last result to this Parquet file instead of printing it.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Print each statement's rows and elapsed time (planning and
        /// execution, not printing) to stderr.
        #[arg(long)]
        timing: bool,
        /// Run the queries on a Ballista cluster: the scheduler's df://host:port.
        #[arg(long, value_name = "df://HOST:PORT")]
        cluster: Option<String>,
    },
    /// Run a batch job file.
    Run {
        /// The job file (TOML).
        job: PathBuf,
        /// Partition date of this run (default: today, UTC).
        #[arg(long)]
        run_date: Option<chrono::NaiveDate>,
        /// Override the job's lake.
        #[arg(long)]
        lake: Option<String>,
        /// Override the job's output root.
        #[arg(long)]
        out: Option<String>,
        /// Plan every step without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// If another run holds the output root's lock, wait for it instead
        /// of exiting 1.
        #[arg(long)]
        wait: bool,
        /// Run every step's query on a Ballista cluster: the scheduler's
        /// df://host:port. Lake and output must be reachable from the executors.
        #[arg(long, value_name = "df://HOST:PORT")]
        cluster: Option<String>,
        /// Keep running: run the job again every interval (30s, 5m, 1h)
        /// when new files arrived in its incremental inputs; SIGTERM stops
        /// after the current run.
        #[arg(long, value_name = "INTERVAL")]
        every: Option<String>,
        /// Do not write the run report (OUT/_runs/<run_id>.html).
        #[arg(long)]
        no_report: bool,
    },
    /// Run the bundled demo job on the sample lake; output in ./out.
    Demo {
        /// The run date; default: the last day of the lake's transactions.
        #[arg(long)]
        run_date: Option<chrono::NaiveDate>,
        #[arg(long)]
        lake: Option<String>,
        #[arg(long)]
        out: Option<String>,
        /// Do not write the run report (OUT/_runs/<run_id>.html).
        #[arg(long)]
        no_report: bool,
    },
    /// Build a run's report again from its manifest and committed outputs:
    /// OUT/_runs/<run_id>.html and OUT/_runs/run_date=D/report.html.
    Report {
        /// The output root (a path or URL).
        out: String,
        /// The run (default: the latest run in OUT).
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Write a synthetic lake drawn from known BG/NBD, Gamma-Gamma and basket parameters.
    Generate {
        /// Number of customers.
        #[arg(long)]
        customers: u64,
        /// Random seed: the same seed gives the same lake.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output folder (created; must not already hold a lake).
        #[arg(long)]
        out: PathBuf,
        /// Number of distinct products.
        #[arg(long, default_value_t = 500)]
        items: usize,
        /// BG/NBD parameters "r,alpha,a,b" (alpha per day).
        #[arg(long)]
        bgnbd: Option<String>,
        /// Gamma-Gamma parameters "p,q,gamma".
        #[arg(long)]
        gamma_gamma: Option<String>,
        /// Customers per Parquet file.
        #[arg(long, default_value_t = 1_000_000)]
        customers_per_file: u64,
    },
    /// Print every crmlake SQL function with its signature and an example.
    Functions,
    /// Run a cluster scheduler (Apache DataFusion Ballista) that knows crmlake's functions.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port for clients and executors.
        #[arg(long, default_value_t = crmlake::cluster::DEFAULT_SCHEDULER_PORT)]
        port: u16,
        /// Host name that executors and clients use to reach this scheduler.
        #[arg(long, default_value = "localhost")]
        external_host: String,
        /// Seconds without a heartbeat after which an executor is dead and its
        /// work is redone elsewhere.
        #[arg(long, default_value_t = 180)]
        executor_timeout_seconds: u64,
    },
    /// Run a cluster executor that registers with a scheduler and runs crmlake's functions.
    Executor {
        /// The scheduler to register with.
        #[arg(
            long,
            value_name = "df://HOST:PORT",
            default_value = "df://localhost:50050"
        )]
        scheduler: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Host name the scheduler and other executors use to reach this one
        /// [default: the bind address].
        #[arg(long)]
        external_host: Option<String>,
        /// Arrow Flight port (results and shuffle data are fetched here).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (the scheduler launches tasks here).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once [default: the number of cores].
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Folder for shuffle files and spills [default: a new temporary folder].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler (keep it below the
        /// scheduler's --executor-timeout-seconds).
        #[arg(long, default_value_t = 60)]
        heartbeat_seconds: u64,
    },
}

fn cluster_address(text: Option<String>) -> Result<Option<crmlake::cluster::SchedulerAddress>> {
    text.map(|t| crmlake::cluster::SchedulerAddress::parse("--cluster", &t))
        .transpose()
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Commands::Sql {
            lake,
            commands,
            files,
            format,
            output,
            timing,
            cluster,
        } => {
            let cluster = cluster_address(cluster)?;
            let lake = lake.or_else(|| {
                let exists = std::path::Path::new(DEFAULT_LAKE).is_dir();
                if !exists {
                    log::warn!("no --lake given and no '{DEFAULT_LAKE}' folder here: starting without lake tables");
                }
                exists.then(|| DEFAULT_LAKE.to_string())
            });
            let opts = SessionOptions {
                lake,
                cluster,
                ..Default::default()
            };
            let (ctx, _) = lake_session(&opts).await?;
            if commands.is_empty() && files.is_empty() {
                if output.is_some() {
                    return Err(CrmlakeError::user(
                        "-o needs statements to run: give -c or -f",
                    ));
                }
                return crmlake::shell::run_shell(&ctx).await;
            }
            let mut last = None;
            for (i, sql) in commands.iter().enumerate() {
                let source = if commands.len() > 1 {
                    format!("-c #{}", i + 1)
                } else {
                    "-c".into()
                };
                if let Some(r) = crmlake::sql::run_script(&ctx, sql, &source, timing).await? {
                    last = Some(r);
                }
            }
            for file in &files {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    CrmlakeError::user(format!("cannot read SQL file '{}': {e}", file.display()))
                })?;
                if let Some(r) =
                    crmlake::sql::run_script(&ctx, &text, &file.display().to_string(), timing)
                        .await?
                {
                    last = Some(r);
                }
            }
            let Some(result) = last else { return Ok(()) };
            match output {
                Some(path) => {
                    let rows = write_parquet_file(&path, &result.schema, &result.batches)?;
                    eprintln!("wrote {rows} rows to {}", path.display());
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    print_batches(&mut lock, &result.schema, &result.batches, format)?;
                    lock.flush().map_err(|e| CrmlakeError::io("stdout", e))?;
                }
            }
            Ok(())
        }
        Commands::Run {
            job,
            run_date,
            lake,
            out,
            dry_run,
            wait,
            cluster,
            every,
            no_report,
        } => {
            let cluster = cluster_address(cluster)?;
            let job = crmlake::job::load_job(&job)?;
            let opts = crmlake::job::RunOptions {
                run_date,
                lake,
                out,
                dry_run,
                wait,
                cluster,
                abandon: None,
                no_report,
            };
            if let Some(every) = every {
                let interval = crmlake::job::every::parse_interval(&every)?;
                if dry_run || wait {
                    return Err(crmlake::error::CrmlakeError::user(
                        "--every cannot be combined with --dry-run or --wait",
                    ));
                }
                return crmlake::job::every::run_every(&job, &opts, interval).await;
            }
            let report = crmlake::job::run_job(&job, &opts).await?;
            print!("{}", report.summary());
            report.failed_checks().map_or(Ok(()), Err)
        }
        Commands::Demo {
            run_date,
            lake,
            out,
            no_report,
        } => {
            let job = crmlake::job::parse_job(crmlake::job::DEMO_JOB, "jobs/demo.toml")?;
            let run_date = match run_date {
                Some(d) => d,
                None => {
                    let lake = crmlake::job::lake_location(&job, lake.as_deref());
                    crmlake::job::last_transaction_day(&lake).await?
                }
            };
            let opts = crmlake::job::RunOptions {
                run_date: Some(run_date),
                lake,
                out,
                dry_run: false,
                wait: false,
                cluster: None,
                abandon: None,
                no_report,
            };
            let report = crmlake::job::run_job(&job, &opts).await?;
            print!("{}", report.summary());
            report.failed_checks().map_or(Ok(()), Err)
        }
        Commands::Report { out, run_id } => {
            let started = std::time::Instant::now();
            let report = crmlake::report::rebuild(&out, run_id.as_deref()).await?;
            println!(
                "run {} report: {} ({} KiB in {:.2}s)",
                report.run_id,
                report.written.join(" and "),
                report.html.len() / 1024,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Commands::Generate {
            customers,
            seed,
            out,
            items,
            bgnbd,
            gamma_gamma,
            customers_per_file,
        } => {
            let mut opts = crmlake::generate::GenerateOptions::new(customers, seed, out);
            opts.items = items;
            opts.customers_per_file = customers_per_file;
            if let Some(b) = bgnbd {
                opts.bgnbd = crmlake::generate::parse_bgnbd(&b)?;
            }
            if let Some(g) = gamma_gamma {
                opts.gamma_gamma = crmlake::generate::parse_gamma_gamma(&g)?;
            }
            let started = std::time::Instant::now();
            let truth = crmlake::generate::generate(&opts)?;
            eprintln!(
                "wrote {} customers, {} orders, {} transaction rows in {} file(s) to {} in {:.1}s",
                truth.customers,
                truth.counts.orders,
                truth.counts.transaction_rows,
                truth.counts.files,
                opts.out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Commands::Functions => {
            // A session proves every listed function really registers.
            let ctx = base_session(&SessionOptions::default())?;
            let state = ctx.state();
            for e in crmlake_udfs::catalog() {
                let found = match e.kind {
                    crmlake_udfs::FunctionKind::Scalar => {
                        state.scalar_functions().contains_key(e.name)
                    }
                    crmlake_udfs::FunctionKind::Aggregate => {
                        state.aggregate_functions().contains_key(e.name)
                    }
                    crmlake_udfs::FunctionKind::Table => {
                        state.table_functions().contains_key(e.name)
                    }
                };
                if !found {
                    return Err(CrmlakeError::Internal(format!(
                        "function '{}' is listed but not registered",
                        e.name
                    )));
                }
            }
            print!("{}", crmlake::shell::functions_text());
            Ok(())
        }
        Commands::Scheduler {
            bind,
            port,
            external_host,
            executor_timeout_seconds,
        } => {
            let opts = crmlake::cluster::scheduler::SchedulerOptions {
                bind_host: bind,
                port,
                external_host,
                executor_timeout_seconds,
            };
            crmlake::cluster::scheduler::run_scheduler(&opts).await
        }
        Commands::Executor {
            scheduler,
            bind,
            external_host,
            port,
            grpc_port,
            concurrent_tasks,
            work_dir,
            heartbeat_seconds,
        } => {
            let scheduler = crmlake::cluster::SchedulerAddress::parse("--scheduler", &scheduler)?;
            let mut opts = crmlake::cluster::executor::ExecutorOptions::new(scheduler);
            opts.bind_host = bind;
            opts.external_host = external_host;
            opts.port = port;
            opts.grpc_port = grpc_port;
            opts.concurrent_tasks = concurrent_tasks;
            opts.work_dir = work_dir;
            opts.heartbeat_seconds = heartbeat_seconds;
            crmlake::cluster::executor::run_executor(&opts).await
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .format_target(false)
        .init();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("crmlake: internal error (please report): {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crmlake: internal error: cannot start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // A panic is a bug of ours: the hook above printed it; exit 2, not a crash.
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(cli))))
            .unwrap_or_else(|_| {
                Err(CrmlakeError::Internal(
                    "crmlake panicked (see above)".into(),
                ))
            });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: DataFusion and TOML messages span several.
            let text = e.to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("crmlake: {}", line.join(" "));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
