//! `pledger-bench`: generates a realistic signed ledger and measures pledger on it — bulk submit,
//! single durable writes, verify (ledger and bundle), rebuild, head queries in-process and as
//! processes, `--at` and `--as-of` queries, bytes on disk, peak memory — each beside the raw
//! limit measured in the same run (exact Ed25519 verification on every core, sled inserts with a
//! flush per 1,000, blake3 and serde_json over the same bytes). Prints a Markdown report.
//!
//! `cargo run --release -p pledger-bench -- run --events 1000000`

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use pledger_bench::measure::{generate, run, Only};

/// The allocator pledger itself uses, so that in-process figures compare with the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "pledger-bench", about = "Generate realistic ledgers and measure pledger on them")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write N signed envelopes (envelopes.jsonl) and the keys of two members into DIR.
    Generate {
        n: u64,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Kill `pledger submit` with SIGKILL at random moments, --kills times, checking after each
    /// kill that nothing acknowledged was lost and that the ledger verifies.
    Crash {
        /// Submit through `pledger serve`, and kill the server instead.
        #[arg(long)]
        served: bool,
        #[arg(long, default_value_t = 200)]
        kills: u64,
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        /// Kill within this many milliseconds of the start.
        #[arg(long, default_value_t = 1500)]
        max_ms: u64,
        #[arg(long, default_value_t = 10)]
        rebuild_every: u64,
        #[arg(long, value_name = "DIR")]
        work: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        pledger: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure pledger over HTTP on a ledger of --events events (built in --work, or reused from
    /// it): writes by 1, 8 and 64 clients beside bulk submit, a monitor catching up, tile reads.
    Http {
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Envelopes written per batched figure, and by bulk submit.
        #[arg(long, default_value_t = 20_000)]
        writes: usize,
        /// Single-envelope writes per figure.
        #[arg(long, default_value_t = 2_000)]
        singles: usize,
        /// Seconds each read figure runs.
        #[arg(long, default_value_t = 5.0)]
        read_secs: f64,
        #[arg(long, value_name = "DIR")]
        work: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        pledger: Option<PathBuf>,
    },
    /// Measure everything on a ledger of --events events; print the report.
    Run {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Where to build, kept for --reuse (default: a new temporary directory, removed afterwards).
        #[arg(long, value_name = "DIR")]
        work: Option<PathBuf>,
        /// The pledger binary (default: the one beside this one).
        #[arg(long, value_name = "FILE")]
        pledger: Option<PathBuf>,
        /// Samples per latency figure.
        #[arg(long, default_value_t = 30)]
        samples: usize,
        /// Reuse the ledger already built in --work: measure only the queries and writes.
        #[arg(long, requires = "work")]
        reuse: bool,
        /// With --reuse: only the head queries in-process (for profiles and quick comparisons).
        #[arg(long, requires = "reuse")]
        in_process: bool,
        /// With --in-process: only the queries whose name contains this text.
        #[arg(long, requires = "in_process", value_name = "TEXT")]
        figure: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Generate { n, out, seed } => generate(n, &out, seed).map(|_| ()),
        Cmd::Run { events, work, pledger, samples, reuse, in_process, figure } => {
            let only = if in_process {
                Only::InProcess(figure)
            } else if reuse {
                Only::Queries
            } else {
                Only::All
            };
            run(events, work, pledger, samples, only).map(|_| ())
        }
        Cmd::Http { events, writes, singles, read_secs, work, pledger } => {
            let plan = pledger_bench::net::Plan { events, writes, singles, read_secs, work, pledger };
            pledger_bench::net::run(&plan).map(|_| ())
        }
        Cmd::Crash { served, kills, events, max_ms, rebuild_every, work, pledger, seed } => {
            let bin = pledger.unwrap_or_else(|| std::env::current_exe().unwrap_or_default().with_file_name("pledger"));
            let work =
                work.unwrap_or_else(|| std::env::temp_dir().join(format!("pledger-crash-{}", std::process::id())));
            let start = Instant::now();
            let plan = pledger_bench::crash::Plan { kills, events, max_ms, rebuild_every, seed, served };
            pledger_bench::crash::run(&bin, &work, &plan).map(|s| {
                println!("| kills | of which mid-write | acknowledged events | lost | failed verifications | rebuilds | rebuild mismatches | ledgers | time |");
                println!("|---|---|---|---|---|---|---|---|---|");
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
                    s.kills, s.kills_mid_write, s.acknowledged, s.lost, s.failed_verifications, s.rebuilds,
                    s.rebuild_mismatches, s.ledgers, start.elapsed().as_secs_f64()
                );
                for f in &s.failures {
                    println!("failure: {f}");
                }
                let _ = std::fs::remove_dir_all(&work);
            })
        }
    };
    if let Err(e) = result {
        eprintln!("pledger-bench: {e}");
        std::process::exit(1);
    }
}
