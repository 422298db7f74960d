//! Documentation generated from the command line's own definitions: shell completions and man
//! pages, so they never disagree with `--help`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::fail::{input, Failure, Result};

/// The command line as clap parses it, with each command's examples after its help.
pub fn command() -> clap::Command {
    with_examples(Cli::command(), "")
}

fn with_examples(mut cmd: clap::Command, path: &str) -> clap::Command {
    let examples = examples(path);
    if !examples.is_empty() && !path.is_empty() {
        let text: Vec<String> = examples.iter().map(|(what, line)| format!("  # {what}\n  {line}")).collect();
        cmd = cmd.after_help(format!("Examples:\n{}", text.join("\n\n")));
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in subs {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |sub| with_examples(sub, &sub_path));
    }
    cmd
}

/// Prints the completion script for `shell`: it calls pledger back at each Tab, so that member,
/// pledge and fulfillment ids and area and category codes are offered from the ledger.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    crate::complete::write_registration(shell, &mut std::io::stdout().lock())
        .map_err(|e| Failure::new(pledger_app::Kind::Storage, format!("cannot write the completion script: {e}")))
}

/// Writes `pledger.1` and a page per command and subcommand (`pledger-import-iati.1`); prints
/// the files written.
pub fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    let mut cmd = command();
    cmd.build();
    write_pages(&cmd, "pledger", dir)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let page = cmd.clone().name(name.to_owned());
    let man = clap_mangen::Man::new(page.clone());
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if page.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if page.has_subcommands() {
        man.render_subcommands_section(&mut roff)?;
    }
    let path = name.strip_prefix("pledger").unwrap_or(name).replace('-', " ");
    let examples = examples(path.trim());
    if !examples.is_empty() {
        roff.extend_from_slice(b".SH EXAMPLES\n");
        for (what, command) in examples {
            roff.extend_from_slice(
                format!(".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n", roman(what), roman(command)).as_bytes(),
            );
        }
    }
    roff.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for (code, meaning) in EXIT_STATUS {
        roff.extend_from_slice(format!(".TP\n.B {code}\n{}\n", roman(meaning)).as_bytes());
    }
    roff.extend_from_slice(
        format!(".SH \"SEE ALSO\"\n{}\n", roman("README.md, docs/guide.md and docs/format.md of pledger")).as_bytes(),
    );
    if page.get_version().is_some() {
        man.render_version_section(&mut roff)?;
    }
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff).map_err(|e| input(format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

/// Text for roff: backslashes escaped, and a line never read as a request.
fn roman(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What each exit status means, for every command.
pub const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done: the command did what it says (for verify, everything checked out)."),
    ("1", "Refused or failed: the ledger's rules refused the event, the input was bad, or verification found a fault; one line on stderr says which. The ledger is left as it was."),
    ("2", "Usage: an unknown command or option, or a missing argument."),
    ("3", "verify --bundle: the bundle is consistent but anchored to nothing you trust (no --log-key, --checkpoint or --witness)."),
    ("75", "In use: another process holds the ledger, or its server is busy, past --wait seconds; try again."),
];

/// Examples of a command, by its path below `pledger` ("" for pledger itself): what it does,
/// then the command line.
pub fn examples(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        "" => &[
            ("A demonstration ledger (Mali, 2014-2016), kept to explore:", "pledger --ledger demo-ledger demo"),
            ("Which pledges became deliveries:", "pledger --ledger demo-ledger status"),
            ("Verify everything, as an auditor:", "pledger --ledger demo-ledger verify"),
        ],
        "keygen" => &[("A key for the ministry (dns.key, private; dns.key.pub, to hand out):", "pledger keygen dns.key")],
        "init" => &[(
            "Found a ledger, as its first convener, with the areas of a CSV file:",
            "pledger --key dns.key --origin hmis.sante.gov.ml/pledges --ledger ledger init --org dns --name \"Direction Nationale de la Santé\" --areas areas.csv",
        )],
        "member add" => &[(
            "Admit a partner with its public key:",
            "pledger --key dns.key member add psi --name \"PSI Mali\" --kind implementer --pubkey psi.key.pub",
        )],
        "pledge" => &[
            (
                "Pledge 120 laptops for two regions:",
                "pledger --key psi.key pledge --to dns --category equipment --area ML-3,ML-BKO --quantity 120 --unit laptops --due 2014-12-31 --title \"Laptops for district health officers\"",
            ),
            (
                "Pledge money in two tranches:",
                "pledger --key usaid.key pledge --to dns --category training --area ML --amount 12000000 --currency XOF --due 2015-09-30 --title \"Data managers' training\" --tranche 2015-03-31:4000000 --tranche 2015-09-30:8000000",
            ),
        ],
        "fulfill" => &[(
            "Claim delivery of 80 of the laptops, with a file as evidence:",
            "pledger --key psi.key fulfill P-000001 --quantity 80 --date 2014-10-20 --evidence receipt.pdf --note \"First batch, Sikasso\"",
        )],
        "attest" => &[
            ("Confirm a delivery, as its beneficiary:", "pledger --key dns.key attest F-000001 --confirm"),
            ("Dispute one, saying why:", "pledger --key dns.key attest F-000002 --dispute --note \"20 laptops missing\""),
            ("Verdicts of a spreadsheet (id,verdict,note), all or none:", "pledger --key dns.key attest --file verdicts.csv"),
        ],
        "withdraw" => &[(
            "Withdraw 10 laptops of a pledge:",
            "pledger --key psi.key withdraw P-000001 --quantity 10 --reason \"Budget revision\"",
        )],
        "status" => &[
            ("Every pledge, fitted to the terminal:", "pledger status"),
            ("The ten pledges most overdue:", "pledger status --state overdue --sort late --limit 10"),
            ("PSI's pledges in Sikasso, for a spreadsheet:", "pledger status --org psi --area ML-3 --format csv > psi-sikasso.csv"),
            ("What the ledger said at a checkpoint of 412 entries:", "pledger status --at 412"),
        ],
        "scorecard" => &[
            ("Who kept their word by the end of 2015:", "pledger scorecard --as-of 2015-12-31"),
            ("For a program:", "pledger scorecard --format json"),
        ],
        "coverage" => &[("The regions of Mali, covered, promised or gaps:", "pledger coverage --area ML")],
        "timeline" => &[("Month by month, one partner's pledges:", "pledger timeline --org psi")],
        "show" => &[("One pledge and everything that happened to it:", "pledger show P-000012")],
        "log" => &[("The entries from the 100th, as JSON Lines:", "pledger log --from 100 --format json")],
        "members" => &[("The members, their keys and IATI organisations:", "pledger members")],
        "verify" => &[
            ("Verify a ledger at hand:", "pledger --ledger ledger verify"),
            (
                "Verify a bundle against the log key you were given:",
                "pledger verify --bundle ledger.jsonl --log-key \"$(cat log.vkey)\"",
            ),
            ("Verify a proof with no ledger:", "pledger verify --proof proof.json --checkpoint checkpoint.txt --log-key dns.key.pub"),
        ],
        "export" => &[("A bundle to hand to an auditor:", "pledger export ledger.jsonl")],
        "checkpoint" => &[
            ("Sign a checkpoint of the head with the log key:", "pledger --key dns.key checkpoint"),
            ("The log's verifier key, for partners and auditors:", "pledger checkpoint --vkey > log.vkey"),
        ],
        "sign" => &[("Sign an event written as JSON, offline:", "pledger --key psi.key sign event.json > envelope.json")],
        "submit" => &[("Append envelopes signed elsewhere:", "pledger submit deliveries.jsonl")],
        "import iati" => &[
            ("See what an IATI file would record, recording nothing:", "pledger --key usaid.key import iati usaid.xml --dry-run"),
            ("Record it, and keep the lines not recorded:", "pledger --key usaid.key import iati usaid.xml --format csv > outcome.csv"),
        ],
        "report" => &[("The HTML report to mail to partners:", "pledger report --html report.html")],
        "serve" => &[
            ("Keep the ledger open for the commands run on this machine:", "pledger serve --quiet &"),
            ("Serve partners over HTTP (behind a TLS proxy):", "pledger serve --http 127.0.0.1:8417"),
            (
                "Or let the first command start a server that stops after 10 idle minutes:",
                "export PLEDGER_SERVE_ON_USE=600",
            ),
        ],
        "prove inclusion" => &[("Prove a delivery is in the log:", "pledger prove inclusion F-000001 > proof.json")],
        "monitor" => &[(
            "Follow a served log, auditing every new entry:",
            "pledger monitor https://pledges.sante.gov.ml --log-key \"$(cat log.vkey)\" --state monitor --follow",
        )],
        "witness cosign" => &[(
            "Cosign a checkpoint consistent with the last one cosigned:",
            "pledger --key witness.key --ledger ledger witness cosign cp.txt --state witness-state",
        )],
        "publish" => &[("The log as static files (C2SP tlog-tiles):", "pledger --key dns.key publish /var/www/pledges")],
        "completions" => &[("Completions for bash:", "pledger completions bash > /etc/bash_completion.d/pledger")],
        "man" => &[("Install the man pages:", "pledger man /usr/local/share/man/man1")],
        _ => &[],
    }
}
