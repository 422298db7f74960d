//! Shell completion that knows the ledger: member ids, pledge and fulfillment ids, area and
//! category codes, each with its name or title beside it where the shell shows one.
//!
//! The script `pledger completions SHELL` prints is clap_complete's dynamic registration: at
//! each Tab the shell runs `pledger` again with `PLEDGER_COMPLETE` set and the words typed so
//! far, and [`run_if_asked`] answers with the candidates, before any other parsing. Values come
//! from the ledger of the words typed (`--ledger DIR`, else `PLEDGER_LEDGER`), read as any query
//! reads it — through its server when one serves it. A completion never fails aloud: a ledger
//! that cannot be read offers nothing for its values, and the shell falls back to what it would
//! do anyway.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use pledger_app::query::QueryRequest;
use pledger_app::service::{Answer, Request};

use crate::cli::Global;
use crate::session::{Open, Session};

/// The variable the shell sets when it asks for candidates.
const VAR: &str = "PLEDGER_COMPLETE";

/// The longest log read for fulfillment ids: beyond it, they are not offered (a history that
/// long is not read at a keystroke).
const MAX_LOG_READ: u64 = 50_000;

/// How long a completion waits for a ledger another process holds.
const WAIT: Duration = Duration::from_millis(300);

/// Answers the shell and exits, when the shell is asking (`PLEDGER_COMPLETE` set, to the
/// name of a shell); else returns.
pub fn run_if_asked() {
    clap_complete::CompleteEnv::with_factory(crate::docs::command).var(VAR).complete();
}

/// Writes the registration script for `shell`: the shell then calls this binary back for
/// candidates — by name when it was run from the `PATH`, else by its full path.
pub fn write_registration(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let arg0 = std::env::args_os().next().map(PathBuf::from).unwrap_or_else(|| "pledger".into());
    let completer = if arg0.components().count() > 1 { std::env::current_exe().unwrap_or(arg0) } else { arg0 };
    let completer = completer.to_string_lossy();
    let adapter: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::PowerShell => &Powershell,
        clap_complete::Shell::Zsh => &Zsh,
        other => {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, format!("no completion for {other}")));
        }
    };
    adapter.write_registration(VAR, "pledger", "pledger", &completer, out)
}

/// The ledger directory named by the words being completed, else by `PLEDGER_LEDGER`.
fn ledger_dir() -> Option<PathBuf> {
    // The shell runs `pledger -- pledger WORDS…`: the words follow the first `--`.
    let words: Vec<OsString> = std::env::args_os().skip_while(|a| a != "--").skip(1).collect();
    let mut found = None;
    for (i, w) in words.iter().enumerate() {
        let Some(w) = w.to_str() else { continue };
        if w == "--ledger" {
            found = words.get(i + 1).map(PathBuf::from);
        } else if let Some(dir) = w.strip_prefix("--ledger=") {
            found = Some(PathBuf::from(dir));
        }
    }
    found.or_else(|| std::env::var_os("PLEDGER_LEDGER").map(PathBuf::from)).filter(|d| d.is_dir())
}

/// The answer of the ledger to `request`, or none if it cannot be had at once.
fn ask(request: Request) -> Option<(Session, Answer)> {
    let g = Global {
        ledger: Some(ledger_dir()?),
        key: None,
        as_member: None,
        origin: None,
        wait: WAIT.as_secs_f64(),
        quiet: true,
    };
    let mut session = Session::open(&g, Open::Normal).ok()?;
    let answer = session.ask_one(request).ok()?;
    Some((session, answer))
}

fn candidate(value: impl Into<String>, help: &str) -> CompletionCandidate {
    // A title may be 300 characters: the shell shows a line, so a short one.
    let mut short: String = help.chars().take(60).collect();
    if help.chars().nth(60).is_some() {
        short.push('…');
    }
    CompletionCandidate::new(value.into()).help(Some(short.into()))
}

fn member_candidates() -> Vec<CompletionCandidate> {
    match ask(Request::Members) {
        Some((_, Answer::Members(members))) => members.iter().map(|m| candidate(&m.id, &m.name)).collect(),
        _ => Vec::new(),
    }
}

fn pledge_candidates() -> Vec<CompletionCandidate> {
    let today = crate::signing::today();
    match ask(Request::Status { query: QueryRequest::default(), today }) {
        Some((_, Answer::Statuses(rows))) => {
            rows.rows.iter().map(|p| candidate(p.id.to_string(), p.title.as_str())).collect()
        }
        _ => Vec::new(),
    }
}

fn fulfillment_candidates() -> Vec<CompletionCandidate> {
    let Some((mut session, Answer::Head(head))) = ask(Request::Head) else { return Vec::new() };
    if head.size > MAX_LOG_READ {
        return Vec::new();
    }
    let mut out = Vec::new();
    let _ = session.ask(Request::Log { from: 0 }, None, &mut |part| {
        if let Answer::Entry(e) = part {
            if e.kind == "fulfillment" {
                out.push(candidate(e.id.clone(), &e.summary));
            }
        }
        Ok(())
    });
    out
}

/// Area codes with their names, and category codes, as coverage lists them.
fn coverage() -> Option<Vec<pledger_core::projection::AreaCoverage>> {
    let today = crate::signing::today();
    match ask(Request::Coverage { query: QueryRequest::default(), today }) {
        Some((_, Answer::Coverage(rows))) => Some(rows.rows),
        _ => None,
    }
}

fn area_candidates() -> Vec<CompletionCandidate> {
    coverage().unwrap_or_default().iter().map(|a| candidate(a.code.as_str(), a.name.as_str())).collect()
}

fn category_candidates() -> Vec<CompletionCandidate> {
    let areas = coverage().unwrap_or_default();
    let Some(first) = areas.first() else { return Vec::new() };
    first.categories.iter().map(|c| CompletionCandidate::new(c.category.as_str())).collect()
}

/// Completes a member id.
pub fn members() -> ArgValueCandidates {
    ArgValueCandidates::new(member_candidates)
}

/// Completes a pledge id.
pub fn pledges() -> ArgValueCandidates {
    ArgValueCandidates::new(pledge_candidates)
}

/// Completes a fulfillment id.
pub fn fulfillments() -> ArgValueCandidates {
    ArgValueCandidates::new(fulfillment_candidates)
}

/// Completes any id `show` and `prove` take: pledges and fulfillments.
pub fn records() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let mut all = pledge_candidates();
        all.extend(fulfillment_candidates());
        all
    })
}

/// Completes an area code.
pub fn areas() -> ArgValueCandidates {
    ArgValueCandidates::new(area_candidates)
}

/// Completes a category code.
pub fn categories() -> ArgValueCandidates {
    ArgValueCandidates::new(category_candidates)
}
