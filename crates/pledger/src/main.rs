//! `pledger`: the command line. It wires the store, the log and the core together; the meaning
//! of the ledger lives in those crates, not here.

mod cli;
mod complete;
mod console;
mod demo;
mod docs;
mod fail;
mod import;
mod output;
mod progress;
mod project;
mod read;
mod remote;
mod report;
mod serve;
mod session;
mod signing;
mod verify;
mod wire;
mod write;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed pipe (`pledger log | head`) would surface as a write
    // error or a panic in `println!`; like other Unix tools, pledger ends quietly instead. Every
    // acknowledged write is on disk before its id is printed.
    sigpipe::reset();
    // The shell asking for completions (PLEDGER_COMPLETE set): answered here, before anything else.
    complete::run_if_asked();
    let parsed = docs::command().try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // Help and version go to stdout with exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    | clap::error::ErrorKind::MissingSubcommand
            ) && std::env::args_os().len() <= 1 =>
        {
            // `pledger` alone: the commands, on stderr, and a usage status.
            let help = docs::command().render_help();
            eprint!("{help}");
            return ExitCode::from(fail::USAGE);
        }
        Err(e) => {
            eprintln!("pledger: {}", one_line_usage(&e.render().to_string()));
            return ExitCode::from(fail::USAGE);
        }
    };
    ExitCode::from(finish(run(&cli)))
}

/// The exit code of a command's outcome, its failure said in one line on stderr.
fn finish(outcome: Result<(), fail::Failure>) -> u8 {
    match outcome {
        Ok(()) => 0,
        Err(f) => {
            use std::io::Write;
            let _ = writeln!(console::stderr(), "pledger: {}", f.message.replace('\n', " "));
            f.code()
        }
    }
}

/// clap's usage error as one line: the message without the usage block, and where to look.
fn one_line_usage(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines() {
        let l = line.trim();
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        if !l.is_empty() {
            parts.push(l);
        }
    }
    let msg = parts.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    format!("{msg} (see pledger --help)")
}

fn run(cli: &Cli) -> Result<(), fail::Failure> {
    let g = &cli.global;
    match &cli.command {
        Command::Keygen { file } => write::keygen(file),
        Command::Init(a) => write::init(g, a),
        Command::Member { action } => write::member(g, action),
        Command::Key { action } => write::key(g, action),
        Command::Area { action } => write::area(g, action),
        Command::Category { action } => write::category(g, action),
        Command::Pledge(a) => write::pledge(g, a),
        Command::Amend(a) => write::amend(g, a),
        Command::Fulfill(a) => write::fulfill(g, a),
        Command::Attest(a) => write::attest(g, a),
        Command::Withdraw(a) => write::withdraw(g, a),
        Command::Reverse(a) => write::reverse(g, a),
        Command::Sign { file } => write::sign(g, file),
        Command::Submit(a) => write::submit(g, a),
        Command::Show { id, format, remote } => read::show(g, id, *format, remote.as_deref()),
        Command::Log { from, format, remote } => read::log(g, *from, *format, remote.as_deref()),
        Command::Members { format, remote } => read::members(g, *format, remote.as_deref()),
        Command::Status(s) => project::status(g, s),
        Command::Scorecard(q) => project::scorecard(g, q),
        Command::Coverage(q) => project::coverage(g, q),
        Command::Timeline(q) => project::timeline(g, q),
        Command::Rebuild => project::rebuild(g),
        Command::Compact => project::compact(g),
        Command::Checkpoint { vkey, add } => verify::checkpoint(g, *vkey, add.as_deref()),
        Command::Verify(a) => verify::verify(g, a),
        Command::Prove { what } => verify::prove(g, what),
        Command::Export { file } => verify::export(g, file),
        Command::Publish { dir } => verify::publish(g, dir),
        Command::Monitor(a) => verify::monitor(g, a),
        Command::Witness { action } => verify::witness(g, action),
        Command::Import { source: cli::ImportSource::Iati(a) } => import::iati(g, a),
        Command::Report(a) => report::write(g, a),
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man { dir } => docs::man(dir),
        Command::Demo => demo::run(g),
        Command::Serve(a) => serve::serve(g, a),
    }
}
