//! The command line (docs/guide.md, docs/man), as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::complete;

#[derive(Parser, Debug)]
#[command(
    name = "pledger",
    version,
    arg_required_else_help = true,
    about = "A tamper-evident, event-sourced commitment ledger: partners sign pledges, fulfillments and \
             withdrawals; beneficiaries attest deliveries; auditors verify it all offline.",
    after_help = "Exit codes: 0 ok, 1 refused or failed, 2 usage, 3 a bundle verified but anchored to nothing you trust (no --log-key, --checkpoint or --witness), 75 ledger in use.\n\
                  Docs: README.md (tour), docs/guide.md, docs/format.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The ledger's directory.
    #[arg(long, global = true, env = "PLEDGER_LEDGER", value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// Your private key (PKCS#8 PEM), for commands that sign.
    #[arg(long, global = true, env = "PLEDGER_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The member you sign as; by default the member the ledger records your key for.
    #[arg(long = "as", global = true, env = "PLEDGER_AS", value_name = "ID", add = complete::members())]
    pub as_member: Option<String>,
    /// The ledger's origin: its name for `init` (e.g. hmis.sante.gov.ml/pledges); for
    /// --sign-only, the ledger the event is meant for when no ledger is at hand.
    #[arg(long, global = true, env = "PLEDGER_ORIGIN", value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Seconds to wait for a ledger another process has open, or for its server to be free,
    /// before giving up.
    #[arg(long, global = true, default_value_t = 10.0, value_name = "SECS")]
    pub wait: f64,
    /// No progress output.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a new Ed25519 key: FILE (private, mode 0600) and FILE.pub; prints the key id.
    Keygen {
        /// Where to write the private key; the public key goes to FILE.pub.
        file: PathBuf,
    },
    /// Create a ledger: its genesis admits you (the convener) with --key.
    Init(InitArgs),
    /// Admit a member (conveners only).
    Member {
        #[command(subcommand)]
        action: MemberAction,
    },
    /// Add or revoke a member's key.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Define an area (conveners only).
    Area {
        #[command(subcommand)]
        action: AreaAction,
    },
    /// Define a category (conveners only).
    Category {
        #[command(subcommand)]
        action: CategoryAction,
    },
    /// Pledge something to a member; prints the pledge's id (P-000001).
    Pledge(PledgeArgs),
    /// Amend your pledge: due date, title, areas, or an increase.
    Amend(AmendArgs),
    /// Claim delivery of part or all of your pledge; prints the fulfillment's id (F-000001).
    Fulfill(FulfillArgs),
    /// Confirm or dispute a delivery made to you (or, as an auditor, to anyone).
    Attest(AttestArgs),
    /// Withdraw what is still undelivered of your pledge, or part of it.
    Withdraw(WithdrawArgs),
    /// Reverse part or all of a fulfillment you claimed (a refund, a cancelled payment); the
    /// fulfillment stays in the history.
    Reverse(ReverseArgs),
    /// Sign an event written as JSON, offline; prints the envelope.
    Sign {
        /// The event as JSON (see docs/format.md); - reads standard input.
        file: PathBuf,
    },
    /// Append envelopes signed elsewhere (files of one envelope or JSON Lines; - for stdin).
    Submit(SubmitArgs),
    /// Show one pledge, fulfillment or event (P-000001, F-000002, a sequence number, an event id).
    Show {
        /// P-000001, F-000002, a sequence number or an event id.
        #[arg(add = complete::records())]
        id: String,
        /// How to print: table (the default), json or csv.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Ask the ledger served over HTTP at URL.
        #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
        remote: Option<String>,
    },
    /// The log's entries, oldest first.
    Log {
        /// The first entry to print, by sequence number.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        from: u64,
        /// How to print: table (the default), json or csv.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Ask the ledger served over HTTP at URL.
        #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
        remote: Option<String>,
    },
    /// The members and their keys.
    Members {
        /// How to print: table (the default), json or csv.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Ask the ledger served over HTTP at URL.
        #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
        remote: Option<String>,
    },
    /// Every pledge: pledged, withdrawn, claimed, confirmed, outstanding, due date, state.
    Status(StatusArgs),
    /// Every member as a pledger: follow-through, claimed rate, withdrawn share, timeliness, sums.
    Scorecard(QueryArgs),
    /// Who does what where: per area (rolled up) and category, covered, promised or a gap.
    Coverage(QueryArgs),
    /// Month by month: members, pledged, confirmed deliveries, withdrawals, what fell due, running totals.
    Timeline(QueryArgs),
    /// Recompute the tree, the state and the projections from the entries.
    Rebuild,
    /// Rewrite the ledger into a fresh database of the same keys: half the disk of a ledger written before 2026-12-06
    ///
    /// Every key is copied into a new database beside the ledger, read back and compared with the
    /// original, and the copy is swapped in by one atomic exchange of the two directories: a
    /// compaction stopped at any moment leaves the ledger whole. Needs the ledger to itself (not
    /// while `pledger serve` holds it) and free space for the copy. See docs/guide.md.
    Compact,
    /// Sign a checkpoint of the ledger's head with the log key (--key), keep it and print it.
    Checkpoint {
        /// Print the log's C2SP verifier key instead (what auditors and witnesses pin).
        #[arg(long)]
        vkey: bool,
        /// Add the cosignatures of this cosigned checkpoint (from `witness cosign`) to the kept one.
        #[arg(long, value_name = "FILE", conflicts_with = "vkey")]
        add: Option<PathBuf>,
    },
    /// Verify everything from the raw entries: every signature, every rule, every leaf, the root,
    /// the checkpoints, and every key the ledger stores beside them. With --bundle, a bundle and
    /// no ledger; with --proof, one proof.
    Verify(VerifyArgs),
    /// Print an inclusion or consistency proof, as JSON.
    Prove {
        #[command(subcommand)]
        what: ProveWhat,
    },
    /// Write an export bundle: every entry, the keys, every checkpoint — enough to verify offline.
    Export {
        /// Where to write the bundle (JSON Lines; see docs/format.md).
        file: PathBuf,
    },
    /// Publish the log as files any static web server serves (C2SP tlog-tiles: the latest kept
    /// checkpoint, its tiles and entry bundles), writing only what DIR lacks, the checkpoint last.
    /// With --key (the log key), a checkpoint of the head is signed and kept first, so that the
    /// head is what is published.
    Publish {
        /// The directory the web server serves (created if missing).
        dir: PathBuf,
    },
    /// Follow a log served over HTTP (or published as files): check each checkpoint under the
    /// log key, prove it consistent with the last one seen, audit every new entry; name a
    /// rollback, a split view or the first bad entry.
    Monitor(MonitorArgs),
    /// Act as a witness: cosign checkpoints that are consistent with the last one you cosigned.
    Witness {
        #[command(subcommand)]
        action: WitnessAction,
    },
    /// Import what partners already publish: IATI activity files (commitments become pledges,
    /// disbursements and expenditures fulfillments), signed with your key. See docs/iati.md.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Write a self-contained HTML report: money per member, follow-through, pledged, claimed and
    /// confirmed over time, the coverage map, overdue pledges, every pledge, and the checkpoint
    /// it shows.
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell): commands, options,
    /// and the ledger's member, pledge and fulfillment ids and area and category codes.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (pledger.1 and one per command) into DIR.
    Man {
        /// Where to write them.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Keep the ledger open and answer the commands run on it from other processes, until
    /// stopped (Ctrl-C or SIGTERM): a query then takes milliseconds instead of the open's
    /// fraction of a second. See docs/guide.md, "Serving a ledger".
    Serve(ServeArgs),
    /// Build the founding story (Mali, 2014–2016) as signed events and print it.
    ///
    /// With --ledger DIR (a new directory) the ledger is kept there; otherwise it is built in a
    /// temporary directory and removed.
    Demo,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Also serve the ledger over HTTP at this address (HOST:PORT; a port alone, or :PORT, is on
    /// 127.0.0.1): writes with receipts, the log as tlog-tiles, the projections. Needs the log
    /// key as --key, which signs the checkpoints of the receipts. See docs/network.md.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// A witness to submit each new checkpoint to, as URL=VKEY (its add-checkpoint prefix and
    /// its verifier key); repeatable. /checkpoint then serves the checkpoint they all cosigned.
    #[arg(long, value_name = "URL=VKEY", requires = "http")]
    pub witness: Vec<String>,
    /// Connections the HTTP server holds at once; the next is answered 503 at once.
    #[arg(long, default_value_t = 512, value_name = "N", requires = "http")]
    pub max_connections: usize,
    /// Largest body of a write over HTTP, in bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES", requires = "http")]
    pub max_body: usize,
    /// Seconds a client has to send a request's head and body.
    #[arg(long, default_value_t = 30, value_name = "SECS", requires = "http")]
    pub read_timeout: u64,
    /// Stop after SECS seconds without a request (as a server started on first use does, see
    /// PLEDGER_SERVE_ON_USE); by default, serve until stopped.
    #[arg(long, value_name = "SECS", conflicts_with = "http", value_parser = idle_secs)]
    pub idle: Option<u64>,
}

/// `--idle`: a whole number of seconds, 1 or more.
fn idle_secs(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("give a whole number of seconds, 1 or more".into()),
    }
}

#[derive(Subcommand, Debug)]
pub enum ImportSource {
    /// An IATI activity file (versions 1.0x and 2.0x). Importing it again changes nothing.
    Iati(IatiArgs),
}

#[derive(Args, Debug)]
pub struct IatiArgs {
    /// The IATI activity file (XML).
    pub file: PathBuf,
    /// The beneficiary of the pledges; by default the ledger's founding convener.
    #[arg(long, value_name = "ID", add = complete::members())]
    pub to: Option<String>,
    /// Only what goes to this country (ISO 3166-1 alpha-2, e.g. ML): its share of
    /// multi-country activities, its transactions. By default the ledger's country, when its
    /// areas hold one.
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// Every country's activities, on a ledger of one country too.
    #[arg(long, conflicts_with = "country")]
    pub all_countries: bool,
    /// Only the activities this organisation reports (an IATI organisation identifier
    /// registered to you: `member iati-org`); by default every one of yours the file holds.
    /// Repeatable.
    #[arg(long, value_name = "REF")]
    pub reporting_org: Vec<String>,
    /// The language titles are taken in (xml:lang, e.g. en or fr); by default each activity's
    /// own language, else its first title.
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
    /// Only define the areas and categories the file needs (a convener does this first).
    #[arg(long, conflicts_with = "dry_run")]
    pub define_only: bool,
    /// Check everything against the ledger's rules and report, but record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to print the outcome: table (the default: a summary and the reconciliation), json,
    /// or csv (one row per event recorded and per line not recorded).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Where to write the report.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    #[command(flatten)]
    pub when: When,
    /// Fetch the report of the ledger served over HTTP at URL.
    #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
}

/// Which state of the ledger a query or report shows.
#[derive(Args, Debug, Clone, Default)]
pub struct When {
    /// The ledger as it stood with its first N entries (a checkpoint's size): what it knew then.
    #[arg(long, value_name = "N")]
    pub at: Option<u64>,
    /// What had happened by this effective date, as known now; overdue is judged on it.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// What a query looks at, and when.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Only this member's pledges (for status: made or received).
    #[arg(long, value_name = "ID", add = complete::members())]
    pub org: Option<String>,
    /// Only pledges covering this area or an area inside it.
    #[arg(long, value_name = "CODE", add = complete::areas())]
    pub area: Option<String>,
    #[command(flatten)]
    pub when: When,
    /// How to print: table (the default), json or csv.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Ask the ledger served over HTTP at URL (`pledger serve --http`).
    #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Verify this export bundle instead of a ledger.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// A checkpoint you kept: the ledger must be consistent with it (repeatable).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Vec<PathBuf>,
    /// Verify this proof (from `prove`) against --checkpoint, with no ledger.
    #[arg(long, value_name = "FILE")]
    pub proof: Option<PathBuf>,
    /// The log key you trust: a public key file, or the log's verifier key (`checkpoint --vkey`).
    #[arg(long, value_name = "KEY")]
    pub log_key: Option<String>,
    /// Require a cosignature by this witness on the latest checkpoint (its verifier key; repeatable).
    #[arg(long, value_name = "VKEY")]
    pub witness: Vec<String>,
    /// Check each signature with ed25519-dalek's own verify_strict, the reference
    /// implementation, instead of pledger's faster exact check of the same equation: the same
    /// verdict, in about half again as long.
    #[arg(long, conflicts_with = "proof")]
    pub strict: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProveWhat {
    /// That an entry is in the tree (by default the tree of the latest checkpoint).
    Inclusion {
        /// P-000001 and the like, a sequence number, or an event id.
        #[arg(add = complete::records())]
        id: String,
        /// The size of the tree to prove it in; by default the latest checkpoint's.
        #[arg(long, value_name = "N")]
        size: Option<u64>,
    },
    /// That the tree of OLD entries is a prefix of the tree of NEW (by default the latest checkpoint's).
    Consistency {
        /// The size of the older tree (a checkpoint you kept).
        old: u64,
        /// The size of the newer tree; by default the latest checkpoint's.
        new: Option<u64>,
    },
}

#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// The log's address: a `pledger serve --http` server, or a static copy from `publish`.
    pub url: String,
    /// The log key you trust: a public key file, or the log's verifier key.
    #[arg(long, value_name = "KEY")]
    pub log_key: String,
    /// Where the monitor keeps what it has seen and audited (a directory).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Keep following: a round every --interval seconds, until stopped or something is wrong.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between rounds with --follow.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub interval: f64,
}

#[derive(Subcommand, Debug)]
pub enum WitnessAction {
    /// Cosign CHECKPOINT with --key if it is consistent with the last one cosigned; print it.
    Cosign {
        /// The log's signed checkpoint (a file, as `pledger checkpoint` prints it).
        checkpoint: PathBuf,
        /// Where the witness remembers what it cosigned.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// The witness's name in its signature lines; by default witness-KEYID.
        #[arg(long)]
        name: Option<String>,
        /// The log key to trust the first time (a public key file or verifier key); later the remembered one.
        #[arg(long, value_name = "KEY")]
        log_key: Option<String>,
        /// Take the consistency proof from this bundle instead of --ledger.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
    },
    /// Answer C2SP tlog-witness's POST /add-checkpoint over HTTP at ADDR, for the logs whose
    /// keys --log gives; cosign with --key.
    Serve {
        /// HOST:PORT (a port alone is on 127.0.0.1).
        #[arg(long, value_name = "ADDR")]
        http: String,
        /// Where the witness remembers what it cosigned.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// A log to witness: its verifier key (`pledger checkpoint --vkey`); repeatable.
        #[arg(long = "log", value_name = "VKEY", required = true)]
        logs: Vec<String>,
        /// The witness's name in its signature lines; by default witness-KEYID.
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the witness's verifier key (for `verify --witness`).
    Vkey {
        /// The witness's name in its signature lines; by default witness-KEYID.
        #[arg(long)]
        name: Option<String>,
    },
}

/// How a command prints its answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns fitted to the terminal (`COLUMNS`, else 80 when there is none): for
    /// people, also when piped or written to a file.
    Table,
    /// JSON Lines, one object per row: for programs. Amounts in minor units.
    Json,
    /// CSV (RFC 4180) with a header row: for spreadsheets. Amounts in major units.
    Csv,
}

/// `pledger status`: a query, and which pledges to show in which order.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// Only pledges in this state (repeatable).
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Vec<StateFilter>,
    /// The order of the rows.
    #[arg(long, value_enum, default_value_t = StatusSort::Pledge, value_name = "ORDER")]
    pub sort: StatusSort,
    /// At most N rows (after --state and --sort).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// A pledge's state, as `--state` names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    /// Nothing claimed yet, not yet due.
    Open,
    /// Some delivery claimed, not yet due.
    Partial,
    /// Past its due date and not all claimed.
    Overdue,
    /// Everything not withdrawn claimed delivered, not all confirmed.
    Claimed,
    /// Some delivery disputed by an attester.
    Disputed,
    /// Confirmed deliveries cover what was not withdrawn.
    Fulfilled,
    /// Everything pledged was withdrawn.
    Withdrawn,
}

impl StateFilter {
    pub fn is(self, s: pledger_core::projection::PledgeState) -> bool {
        use pledger_core::projection::PledgeState as S;
        matches!(
            (self, s),
            (StateFilter::Open, S::Open)
                | (StateFilter::Partial, S::Partial)
                | (StateFilter::Overdue, S::Overdue)
                | (StateFilter::Claimed, S::Claimed)
                | (StateFilter::Disputed, S::Disputed)
                | (StateFilter::Fulfilled, S::Fulfilled)
                | (StateFilter::Withdrawn, S::Withdrawn)
        )
    }
}

/// The order of `pledger status`'s rows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusSort {
    /// By pledge id: the order they were made in.
    Pledge,
    /// Soonest due first.
    Due,
    /// Latest first (days late, met late or overdue).
    Late,
    /// Largest first, unit by unit.
    Pledged,
    /// Most still outstanding first, unit by unit.
    Outstanding,
    /// By pledger.
    Pledger,
}

/// How a write is dated and where it goes.
#[derive(Args, Debug)]
pub struct WriteOpts {
    /// The effective date of what the event records (YYYY-MM-DD); today by default.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Print the signed envelope instead of appending it (offline signing).
    #[arg(long)]
    pub sign_only: bool,
    #[command(flatten)]
    pub remote: RemoteOpts,
}

/// Where a write goes when the ledger is served over HTTP on another machine.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteOpts {
    /// Write to the ledger served at URL (`pledger serve --http`): sign here, post, and check the
    /// receipt — its checkpoint under the log key, the entry's inclusion proof — before printing
    /// the id. See docs/network.md.
    #[arg(long, env = "PLEDGER_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
    /// The log key receipts must be signed by (a public key file or the log's verifier key); by
    /// default the one pinned at first contact with URL, and refused if it ever changes.
    #[arg(long, value_name = "KEY", requires = "remote")]
    pub log_key: Option<String>,
    /// Keep each receipt in DIR, as EVENT-ID.json (the event id): what holds the operator to the write.
    #[arg(long, value_name = "DIR", requires = "remote")]
    pub receipts: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Your organisation's member id.
    #[arg(long, value_name = "ID")]
    pub org: String,
    /// Your organisation's name.
    #[arg(long)]
    pub name: String,
    /// Your organisation's kind.
    #[arg(long, default_value = "government")]
    pub kind: String,
    /// The public key that will sign the ledger's checkpoints; by default the key given with --key.
    #[arg(long, value_name = "FILE")]
    pub log_key: Option<PathBuf>,
    /// Areas to define at once: a CSV file with header code,name,level,parent.
    #[arg(long, value_name = "FILE")]
    pub areas: Option<PathBuf>,
    /// The effective date of the genesis (YYYY-MM-DD); today by default.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Print the signed envelopes instead of making the ledger (offline signing).
    #[arg(long)]
    pub sign_only: bool,
}

#[derive(Subcommand, Debug)]
pub enum MemberAction {
    /// Admit a member with its first public key.
    Add {
        /// The member's id: short, lower case (dns, unicef, who-mali).
        id: String,
        /// The member's name as people read it.
        #[arg(long)]
        name: String,
        /// government, donor, implementer, auditor or other.
        #[arg(long)]
        kind: String,
        /// The member's public key file (FILE.pub of its `pledger keygen FILE`).
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// The member may admit members and define areas and categories.
        #[arg(long)]
        convener: bool,
        /// An IATI organisation identifier the member publishes under (reporting-org/@ref):
        /// `import iati` takes only its activities. Repeatable.
        #[arg(long, value_name = "REF")]
        iati_org: Vec<String>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Register one more IATI organisation identifier a member publishes under (conveners only).
    IatiOrg {
        /// The member's id.
        #[arg(add = complete::members())]
        id: String,
        /// The identifier (reporting-org/@ref), e.g. XM-DAC-41114.
        #[arg(value_name = "REF")]
        iati_org: String,
        #[command(flatten)]
        write: WriteOpts,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyAction {
    /// Add a public key to a member.
    Add {
        /// The member's id.
        #[arg(add = complete::members())]
        id: String,
        /// The new public key file (FILE.pub of `pledger keygen FILE`).
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// Make it the ledger's log key, which signs checkpoints (a convener's key, added by a convener).
        #[arg(long)]
        log: bool,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Revoke a member's key: it signs nothing recorded after this.
    Revoke {
        /// The member's id.
        #[arg(add = complete::members())]
        id: String,
        /// The key's id, as `pledger members` lists it.
        keyid: String,
        /// Why, in words (a lost laptop, a departed officer).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        write: WriteOpts,
    },
}

#[derive(Subcommand, Debug)]
pub enum AreaAction {
    /// Define an area.
    Add {
        /// The area's code (ML, ML-3, ML-3-KTL).
        code: String,
        /// The area's name.
        #[arg(long)]
        name: String,
        /// country, region, district or facility.
        #[arg(long)]
        level: String,
        /// The area it lies in (a country has none).
        #[arg(long, value_name = "CODE", add = complete::areas())]
        parent: Option<String>,
        #[command(flatten)]
        write: WriteOpts,
    },
}

#[derive(Subcommand, Debug)]
pub enum CategoryAction {
    /// Define a category.
    Add {
        /// The category's code (software, training, connectivity).
        code: String,
        /// The category's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        write: WriteOpts,
    },
}

/// An amount of money or a quantity, as given on the command line.
#[derive(Args, Debug)]
#[group(required = false, multiple = false)]
pub struct ValueArg {
    /// Money, in the currency's units (12500.50).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub amount: Option<String>,
    /// A whole count, in the pledge's unit.
    #[arg(long, value_name = "Q", allow_hyphen_values = true)]
    pub quantity: Option<String>,
}

#[derive(Args, Debug)]
pub struct PledgeArgs {
    /// The beneficiary's member id.
    #[arg(long, value_name = "ID", add = complete::members())]
    pub to: String,
    /// What kind of support, as a category the ledger defines (training, equipment…).
    #[arg(long, add = complete::categories())]
    pub category: String,
    /// Areas covered, comma-separated.
    #[arg(long, value_name = "A[,A]", required = true, value_delimiter = ',', add = complete::areas())]
    pub area: Vec<String>,
    /// Money pledged, in the currency's units (12500.50), with --currency.
    #[arg(long, value_name = "X", conflicts_with_all = ["quantity", "unit"], requires = "currency", allow_hyphen_values = true)]
    pub amount: Option<String>,
    /// ISO 4217 code (XOF, USD, EUR).
    #[arg(long, value_name = "CUR", requires = "amount")]
    pub currency: Option<String>,
    /// A whole count pledged (120), with --unit.
    #[arg(long, value_name = "Q", requires = "unit", allow_hyphen_values = true)]
    pub quantity: Option<String>,
    /// What the quantity counts (laptops, sessions).
    #[arg(long, value_name = "U", requires = "quantity")]
    pub unit: Option<String>,
    /// The date by which all of it is to be delivered (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub due: String,
    /// What is pledged, in words (1-300 characters).
    #[arg(long)]
    pub title: String,
    /// One part of a schedule: an amount (or quantity) due by a date, e.g. 2015-03-31:4000000.
    /// Repeatable, in date order; the tranches add up to the amount, each due by --due.
    #[arg(long, value_name = "DATE:X")]
    pub tranche: Vec<String>,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Args, Debug)]
pub struct AmendArgs {
    /// Your pledge (P-000001).
    #[arg(add = complete::pledges())]
    pub pledge: String,
    /// The new due date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub due: Option<String>,
    /// Add this much to the pledge, in its unit.
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub increase: Option<String>,
    /// Replace the areas covered, comma-separated.
    #[arg(long, value_name = "A[,A]", value_delimiter = ',', add = complete::areas())]
    pub area: Option<Vec<String>>,
    /// The new title, in words (1-300 characters).
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub unit: UnitOverride,
    #[command(flatten)]
    pub write: WriteOpts,
}

/// The pledge's unit, for --sign-only without a ledger (otherwise read from the ledger).
#[derive(Args, Debug)]
pub struct UnitOverride {
    /// The pledge's currency (only needed with --sign-only and no ledger).
    #[arg(long, value_name = "CUR", conflicts_with = "unit")]
    pub currency: Option<String>,
    /// The pledge's unit (only needed with --sign-only and no ledger).
    #[arg(long, value_name = "U")]
    pub unit: Option<String>,
}

#[derive(Args, Debug)]
pub struct FulfillArgs {
    /// Your pledge (P-000001).
    #[arg(add = complete::pledges())]
    pub pledge: String,
    #[command(flatten)]
    pub value: ValueArg,
    /// The delivery date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub date: String,
    /// A file proving delivery; its blake3 hash is recorded.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// A URL where the evidence of delivery can be seen.
    #[arg(long)]
    pub url: Option<String>,
    /// What was delivered, in words (up to 4,000 characters).
    #[arg(long)]
    pub note: Option<String>,
    /// The delivery goes beyond what the pledge leaves undelivered (or the pledge was
    /// withdrawn): the excess is recorded and shown as delivered beyond the pledge.
    #[arg(long)]
    pub beyond: bool,
    #[command(flatten)]
    pub unit: UnitOverride,
    /// Print the signed envelope instead of appending it (offline signing).
    #[arg(long)]
    pub sign_only: bool,
    #[command(flatten)]
    pub remote: RemoteOpts,
}

#[derive(Args, Debug)]
pub struct AttestArgs {
    /// The fulfillments (F-000001 …), each given the verdict: all recorded in one durable
    /// group, or none if one is refused.
    #[arg(required_unless_present = "file", value_name = "ID", add = complete::fulfillments())]
    pub fulfillments: Vec<String>,
    /// Verdicts from a CSV file with the columns id, verdict (confirm or dispute) and
    /// optionally note: all recorded in one durable group, or none if one is refused.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fulfillments", "confirm", "dispute", "note"])]
    pub file: Option<PathBuf>,
    /// The delivery happened as claimed.
    #[arg(long, conflicts_with = "dispute", required_unless_present_any = ["dispute", "file"])]
    pub confirm: bool,
    /// The delivery did not happen as claimed.
    #[arg(long)]
    pub dispute: bool,
    /// Why, in words (up to 4,000 characters).
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// Your pledge (P-000001).
    #[arg(add = complete::pledges())]
    pub pledge: String,
    /// How much to withdraw; by default all that is still undelivered.
    #[command(flatten)]
    pub value: ValueArg,
    /// Why, in words (up to 4,000 characters).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub unit: UnitOverride,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Args, Debug)]
pub struct ReverseArgs {
    /// The fulfillment (F-000001).
    #[arg(add = complete::fulfillments())]
    pub fulfillment: String,
    #[command(flatten)]
    pub value: ValueArg,
    /// Why, in words (a refund, a cancelled payment, a corrected report).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub unit: UnitOverride,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// Files of envelopes: one JSON envelope, or one per line. - reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Envelopes written and flushed together.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub group: usize,
    /// Create the ledger (a new directory) from envelopes that begin with its genesis.
    #[arg(long)]
    pub create: bool,
    /// Skip envelopes already recorded exactly as given (to resume an interrupted submit).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub remote: RemoteOpts,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every option and argument of every command says what it is for.
    #[test]
    fn every_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if a.get_help().is_none() && !["help", "version"].contains(&a.get_id().as_str()) {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "pledger", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }
}
