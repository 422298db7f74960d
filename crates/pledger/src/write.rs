//! The commands that sign events: build the body from flags, sign it, and either print the
//! envelope (`--sign-only`) or append it and print what it is known by.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use chrono::Utc;
use ed25519_dalek::SigningKey;
use pledger_core::event::Blake3Hex;
use pledger_core::event::{
    check_origin, AmendmentBody, AreaDefined, AttestationBody, CategoryDefined, Evidence, FulfillmentBody, Genesis,
    KeyAdded, KeyRevoked, Level, MemberAdmitted, MemberKind, Name, Note, PledgeBody, Title, Url, Verdict,
    WithdrawalBody, EVENT_VERSION,
};
use pledger_core::ids::{AreaCode, CategoryCode, FulfillmentId, KeyId, MemberId, PledgeId};
use pledger_core::{Body, Date, Event, Measure, StateView, Unit};
use pledger_log::keys;
use pledger_log::sign::{new_event_id, sign_event, Signer};
use pledger_log::Envelope;
use pledger_store::{Ledger, StoreError};

use crate::cli::{
    AmendArgs, AreaAction, AttestArgs, CategoryAction, FulfillArgs, Global, InitArgs, KeyAction, MemberAction,
    PledgeArgs, SubmitArgs, UnitOverride, ValueArg, WithdrawArgs,
};
use crate::fail::{refused, usage, Failure, Result};

/// Largest file of events or envelopes read by `sign`; `submit` reads line by line.
const MAX_EVENT_FILE: u64 = 1024 * 1024;

pub fn ledger_path(g: &Global) -> Result<&Path> {
    g.ledger.as_deref().ok_or_else(|| usage("no ledger given: pass --ledger DIR or set PLEDGER_LEDGER"))
}

/// The ledger a command works on: the one `pledger serve` holds when the command runs inside
/// it, else opened here — waiting for another process up to `--wait`, unless that process
/// turns out to be a server (then the command fails as in use, and is sent to it).
pub fn open_ledger(g: &Global) -> Result<Opened<'_>> {
    open_with(g, Ledger::open_unless)
}

/// How a ledger is opened here: path, `--wait`, and when to give up waiting.
pub type Opener = fn(&Path, std::time::Duration, &mut dyn FnMut() -> bool) -> pledger_store::Result<Ledger>;

/// [`open_ledger`], opening with `open` when the command does not run inside a server.
pub fn open_with(g: &Global, open: Opener) -> Result<Opened<'_>> {
    match g.served.ledger() {
        Some(served) => Ok(Opened::Served(served?)),
        None => {
            let path = ledger_path(g)?;
            let served = &mut || crate::serve::listening(path);
            Ok(Opened::Own(Box::new(open(path, crate::serve::wait(g), served)?)))
        }
    }
}

/// An open ledger: this process's own, or the server's, lent for one command.
pub enum Opened<'a> {
    Own(Box<Ledger>),
    Served(std::sync::MutexGuard<'a, Ledger>),
}

impl std::ops::Deref for Opened<'_> {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        match self {
            Opened::Own(l) => l,
            Opened::Served(l) => l,
        }
    }
}

impl std::ops::DerefMut for Opened<'_> {
    fn deref_mut(&mut self) -> &mut Ledger {
        match self {
            Opened::Own(l) => l,
            Opened::Served(l) => l,
        }
    }
}

pub fn load_key(g: &Global) -> Result<SigningKey> {
    let path = g.key.as_deref().ok_or_else(|| usage("no key given: pass --key FILE or set PLEDGER_KEY"))?;
    Ok(keys::read_private(path)?)
}

/// Today in the local time of whoever runs the command (through a server: the client's).
pub fn today() -> Date {
    Date(crate::console::today())
}

fn effective(date: &Option<String>) -> Result<Date> {
    match date {
        Some(d) => Ok(Date::parse(d)?),
        None => Ok(today()),
    }
}

/// Who signs: the member given with --as, else the one the ledger records the key for; the
/// origin is the ledger's, or --origin when signing without a ledger.
pub fn signer(g: &Global, ledger: Option<&Ledger>, key: SigningKey) -> Result<Signer> {
    let key_id = keys::key_id(&key.verifying_key());
    let member = match (&g.as_member, ledger) {
        (Some(id), _) => MemberId::parse(id)?,
        (None, Some(l)) => l.view().key_holder(&key_id)?.ok_or_else(|| {
            refused(format!("key {key_id} is not registered in this ledger; a member must add it first"))
        })?,
        (None, None) => return Err(usage("signing without a ledger needs --as ID and --origin ORIGIN")),
    };
    let origin = match (ledger, &g.origin) {
        (Some(l), Some(o)) if o != &l.head().state.origin => {
            return Err(usage(format!("--origin {o} is not this ledger's origin {}", l.head().state.origin)))
        }
        (Some(l), _) => l.head().state.origin.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => return Err(usage("signing without a ledger needs --as ID and --origin ORIGIN")),
    };
    check_origin(&origin)?;
    Ok(Signer { origin, member, key })
}

/// Signs a body with the caller's key and dates; appends it or prints the envelope.
fn write_event(
    g: &Global,
    date: &Option<String>,
    sign_only: bool,
    build: impl FnOnce(Option<&Ledger>) -> Result<Body>,
) -> Result<()> {
    let key = load_key(g)?;
    let effective = effective(date)?;
    let ledger = if sign_only && g.ledger.is_none() { None } else { Some(open_ledger(g)?) };
    let body = build(ledger.as_deref())?;
    let signer = signer(g, ledger.as_deref(), key)?;
    let envelope = signer.sign(Utc::now(), effective, body);
    match ledger {
        Some(_) | None if sign_only => {
            crate::console::outln!("{}", envelope.to_json())?;
            Ok(())
        }
        Some(mut ledger) => {
            let id = append_one(&mut ledger, envelope)?;
            crate::console::outln!("{id}")?;
            Ok(())
        }
        None => Err(usage("no ledger given: pass --ledger DIR or set PLEDGER_LEDGER")),
    }
}

/// Appends one envelope durably; returns what the new entry is known by.
pub fn append_one(ledger: &mut Ledger, envelope: Envelope) -> Result<String> {
    let mut w = ledger.writer();
    let appended = w.append(envelope, Utc::now()).map_err(unwrap_refusal)?;
    w.commit()?;
    Ok(appended.assigned.to_string())
}

/// A refusal of a single write, without the entry number it would have had.
pub fn unwrap_refusal(e: StoreError) -> Failure {
    match e {
        StoreError::Refused { error, .. } => refused(format!("refused: {error}")),
        other => other.into(),
    }
}

pub fn keygen(file: &Path) -> Result<()> {
    let key = keys::generate()?;
    keys::write_keypair(file, &key)?;
    crate::console::outln!("{}", keys::key_id(&key.verifying_key()))?;
    Ok(())
}

fn read_bounded(path: &Path, what: &str) -> Result<Vec<u8>> {
    Ok(pledger_log::input::read(path, MAX_EVENT_FILE, what, pledger_log::input::Source::Any)?)
}

/// Reads areas.csv (header `code,name,level[,parent]`), parents before children.
fn read_areas(path: &Path) -> Result<Vec<AreaDefined>> {
    let bytes = read_bounded(path, "an areas file")?;
    pledger_core::areas_csv::parse(&bytes).map_err(|e| refused(format!("{}:{e}", path.display())))
}

pub fn init(g: &Global, a: &InitArgs) -> Result<()> {
    let path = ledger_path(g)?;
    let origin = g
        .origin
        .clone()
        .ok_or_else(|| usage("init needs --origin, the ledger's name (e.g. hmis.sante.gov.ml/pledges)"))?;
    check_origin(&origin)?;
    let key = load_key(g)?;
    let member = MemberId::parse(&a.org)?;
    let effective = effective(&a.write.date)?;
    let genesis = Body::Genesis(Genesis {
        member: member.clone(),
        name: Name::parse(&a.name)?,
        kind: MemberKind::parse(&a.kind)?,
        public_key: keys::to_event_key(&key.verifying_key()),
        log_key: match &a.log_key {
            Some(p) => public_key(p)?,
            None => keys::to_event_key(&key.verifying_key()),
        },
    });
    let areas = match &a.areas {
        Some(p) => read_areas(p)?,
        None => Vec::new(),
    };
    let signer = Signer { origin, member, key };
    let now = Utc::now();
    let envelopes: Vec<Envelope> = std::iter::once(genesis)
        .chain(areas.into_iter().map(Body::AreaDefined))
        .map(|body| signer.sign(now, effective, body))
        .collect();
    if a.write.sign_only {
        for e in &envelopes {
            crate::console::outln!("{}", e.to_json())?;
        }
        return Ok(());
    }
    let created = !path.exists();
    let mut ledger = Ledger::create(path)?;
    let result = (|| {
        let mut w = ledger.writer();
        for e in envelopes {
            w.append(e, Utc::now())?;
        }
        w.commit()
    })();
    match result {
        Ok(_) => {
            crate::console::outln!("{}", signer.origin)?;
            Ok(())
        }
        Err(e) => {
            drop(ledger);
            // Nothing was acknowledged: leave no half-made ledger behind.
            if created {
                let _ = std::fs::remove_dir_all(path);
            } else if let Ok(dir) = std::fs::read_dir(path) {
                for entry in dir.flatten() {
                    let p = entry.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
            Err(e.into())
        }
    }
}

fn public_key(path: &Path) -> Result<pledger_core::event::PublicKey> {
    Ok(keys::to_event_key(&keys::read_public(path)?))
}

pub fn member(g: &Global, action: &MemberAction) -> Result<()> {
    let MemberAction::Add { id, name, kind, pubkey, convener, write } = action;
    let body = Body::MemberAdmitted(MemberAdmitted {
        member: MemberId::parse(id)?,
        name: Name::parse(name)?,
        kind: MemberKind::parse(kind)?,
        convener: *convener,
        public_key: public_key(pubkey)?,
    });
    write_event(g, &write.date, write.sign_only, |_| Ok(body))
}

pub fn key(g: &Global, action: &KeyAction) -> Result<()> {
    match action {
        KeyAction::Add { id, pubkey, log, write } => {
            let body =
                Body::KeyAdded(KeyAdded { member: MemberId::parse(id)?, public_key: public_key(pubkey)?, log: *log });
            write_event(g, &write.date, write.sign_only, |_| Ok(body))
        }
        KeyAction::Revoke { id, keyid, reason, write } => {
            let body = Body::KeyRevoked(KeyRevoked {
                member: MemberId::parse(id)?,
                key: KeyId::parse(keyid)?,
                reason: reason.as_deref().map(Note::parse).transpose()?,
            });
            write_event(g, &write.date, write.sign_only, |_| Ok(body))
        }
    }
}

pub fn area(g: &Global, action: &AreaAction) -> Result<()> {
    let AreaAction::Add { code, name, level, parent, write } = action;
    let body = Body::AreaDefined(AreaDefined {
        code: AreaCode::parse(code)?,
        name: Name::parse(name)?,
        level: Level::parse(level)?,
        parent: parent.as_deref().map(AreaCode::parse).transpose()?,
    });
    write_event(g, &write.date, write.sign_only, |_| Ok(body))
}

pub fn category(g: &Global, action: &CategoryAction) -> Result<()> {
    let CategoryAction::Add { code, name, write } = action;
    let body = Body::CategoryDefined(CategoryDefined { code: CategoryCode::parse(code)?, name: Name::parse(name)? });
    write_event(g, &write.date, write.sign_only, |_| Ok(body))
}

fn areas(list: &[String]) -> Result<Vec<AreaCode>> {
    list.iter().map(|a| AreaCode::parse(a.trim()).map_err(Failure::from)).collect()
}

pub fn pledge(g: &Global, a: &PledgeArgs) -> Result<()> {
    let amount = match (&a.amount, &a.currency, &a.quantity, &a.unit) {
        (Some(x), Some(cur), None, None) => {
            let unit = Unit::currency(cur)?;
            Measure::new(unit.parse_value(x)?, unit)?
        }
        (None, None, Some(q), Some(u)) => {
            let unit = Unit::count(u)?;
            Measure::new(unit.parse_value(q)?, unit)?
        }
        _ => return Err(usage("a pledge needs --amount X --currency CUR, or --quantity Q --unit U")),
    };
    let body = Body::Pledge(PledgeBody {
        to: MemberId::parse(&a.to)?,
        category: CategoryCode::parse(&a.category)?,
        areas: areas(&a.area)?,
        amount,
        due: Date::parse(&a.due)?,
        title: Title::parse(&a.title)?,
    });
    write_event(g, &a.write.date, a.write.sign_only, |_| Ok(body))
}

/// The unit of a pledge: given on the command line, or read from the ledger.
fn pledge_unit(ledger: Option<&Ledger>, id: PledgeId, given: &UnitOverride) -> Result<Unit> {
    match (&given.currency, &given.unit, ledger) {
        (Some(c), _, _) => Ok(Unit::currency(c)?),
        (None, Some(u), _) => Ok(Unit::count(u)?),
        (None, None, Some(l)) => {
            Ok(l.view().pledge(id)?.ok_or_else(|| refused(format!("refused: unknown pledge {id}")))?.into_owned().unit)
        }
        (None, None, None) => Err(usage("without a ledger, give the pledge's --currency or --unit")),
    }
}

/// A value given as --amount or --quantity, in the pledge's unit.
fn value_in(unit: &Unit, v: &ValueArg) -> Result<Option<Measure>> {
    let text = match (&v.amount, &v.quantity) {
        (Some(x), None) if unit.is_money() => x,
        (None, Some(q)) if !unit.is_money() => q,
        (Some(_), None) => return Err(usage(format!("the pledge counts {unit}: give --quantity, not --amount"))),
        (None, Some(_)) => return Err(usage(format!("the pledge is money in {unit}: give --amount, not --quantity"))),
        _ => return Ok(None),
    };
    Ok(Some(Measure::new(unit.parse_value(text)?, unit.clone())?))
}

pub fn amend(g: &Global, a: &AmendArgs) -> Result<()> {
    let pledge = PledgeId::parse(&a.pledge)?;
    let due = a.due.as_deref().map(Date::parse).transpose()?;
    let title = a.title.as_deref().map(Title::parse).transpose()?;
    let new_areas = a.area.as_deref().map(areas).transpose()?;
    write_event(g, &a.write.date, a.write.sign_only, |ledger| {
        let increase = match &a.increase {
            Some(x) => {
                let unit = pledge_unit(ledger, pledge, &a.unit)?;
                Some(Measure::new(unit.parse_value(x)?, unit)?)
            }
            None => None,
        };
        if due.is_none() && title.is_none() && new_areas.is_none() && increase.is_none() {
            return Err(usage("amend needs at least one of --due, --title, --area, --increase"));
        }
        Ok(Body::Amendment(AmendmentBody { pledge, due, title, areas: new_areas, increase }))
    })
}

/// Largest evidence file hashed: a scanned delivery note, photos, a video of a training.
pub const MAX_EVIDENCE: u64 = 1 << 30;

fn hash_file(path: &Path) -> Result<Blake3Hex> {
    let f = pledger_log::input::open(path, pledger_log::input::Source::Any)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bounded = f.take(MAX_EVIDENCE + 1);
    let mut read = 0u64;
    loop {
        let n = bounded.read(&mut buf).map_err(|e| refused(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > MAX_EVIDENCE {
            return Err(refused(format!(
                "{}: evidence is larger than the {} GiB allowed",
                path.display(),
                MAX_EVIDENCE >> 30
            )));
        }
        h.update(&buf[..n]);
    }
    Ok(Blake3Hex::parse(h.finalize().to_hex().as_str())?)
}

pub fn fulfill(g: &Global, a: &FulfillArgs) -> Result<()> {
    let pledge = PledgeId::parse(&a.pledge)?;
    let blake3 = a.evidence.as_deref().map(hash_file).transpose()?;
    let url = a.url.as_deref().map(Url::parse).transpose()?;
    let note = a.note.as_deref().map(Note::parse).transpose()?;
    let evidence = (blake3.is_some() || url.is_some()).then_some(Evidence { blake3, url });
    write_event(g, &Some(a.date.clone()), a.sign_only, |ledger| {
        let unit = pledge_unit(ledger, pledge, &a.unit)?;
        let amount = value_in(&unit, &a.value)?.ok_or_else(|| {
            usage(format!("fulfill needs --{} (in {unit})", if unit.is_money() { "amount" } else { "quantity" }))
        })?;
        Ok(Body::Fulfillment(FulfillmentBody { pledge, amount, evidence, note }))
    })
}

pub fn attest(g: &Global, a: &AttestArgs) -> Result<()> {
    let body = Body::Attestation(AttestationBody {
        fulfillment: FulfillmentId::parse(&a.fulfillment)?,
        verdict: if a.dispute { Verdict::Disputed } else { Verdict::Confirmed },
        note: a.note.as_deref().map(Note::parse).transpose()?,
    });
    write_event(g, &a.write.date, a.write.sign_only, |_| Ok(body))
}

pub fn withdraw(g: &Global, a: &WithdrawArgs) -> Result<()> {
    let pledge = PledgeId::parse(&a.pledge)?;
    let reason = Note::parse(&a.reason)?;
    write_event(g, &a.write.date, a.write.sign_only, |ledger| {
        let amount = if a.value.amount.is_some() || a.value.quantity.is_some() {
            value_in(&pledge_unit(ledger, pledge, &a.unit)?, &a.value)?
        } else {
            None
        };
        Ok(Body::Withdrawal(WithdrawalBody { pledge, amount, reason }))
    })
}

/// `pledger sign EVENT.json`: completes an event written by hand (id, signing time, key,
/// effective date, origin and signer where missing), checks it, signs it, prints the envelope.
pub fn sign(g: &Global, file: &Path) -> Result<()> {
    let bytes = read_bounded(file, "an event file")?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| refused(format!("{}: malformed JSON: {}", file.display(), pledger_core::event::one_line(&e))))?;
    let obj = value.as_object_mut().ok_or_else(|| refused(format!("{}: an event is a JSON object", file.display())))?;
    let key = load_key(g)?;
    let key_id = keys::key_id(&key.verifying_key());
    let mut fill = |name: &str, v: serde_json::Value| {
        obj.entry(name.to_owned()).or_insert(v);
    };
    fill("v", EVENT_VERSION.into());
    fill("id", new_event_id().to_string().into());
    if let Some(o) = &g.origin {
        fill("origin", o.clone().into());
    }
    if let Some(m) = &g.as_member {
        fill("signer", m.clone().into());
    }
    fill("key", key_id.to_string().into());
    fill("signed_at", pledger_core::event::format_time(&Utc::now()).into());
    fill("effective", today().to_string().into());
    if obj.get("key").and_then(|k| k.as_str()) != Some(key_id.as_str()) {
        return Err(refused(format!("{}: the event names key {} but --key is {key_id}", file.display(), obj["key"])));
    }
    let event = Event::parse(&serde_json::to_vec(&value).unwrap_or_default())
        .map_err(|e| refused(format!("{}: {e}", file.display())))?;
    crate::console::outln!("{}", sign_event(&event, &key).to_json())?;
    Ok(())
}

/// Where an envelope came from, for error messages.
struct Source {
    name: String,
    line: usize,
}

/// Reads envelopes from a file or stdin: one JSON envelope (possibly spread over lines), or
/// JSON Lines of envelopes.
type Envelopes = Box<dyn Iterator<Item = Result<(Source, Envelope)>>>;

fn envelopes(path: &Path) -> Result<Envelopes> {
    let name = path.display().to_string();
    let mut reader: Box<dyn BufRead> = if path == Path::new("-") {
        crate::console::stdin()
    } else {
        let f = pledger_log::input::open(path, pledger_log::input::Source::Any)?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let mut first = Vec::new();
    if !read_envelope_line(&mut reader, &mut first, &name, 1)? {
        return Ok(Box::new(std::iter::empty()));
    }
    // A file whose first line is not a whole JSON object is one envelope written over lines.
    if first.trim_ascii_start().starts_with(b"{")
        && Envelope::parse(&first).is_err()
        && serde_json::from_slice::<serde_json::Value>(&first).is_err()
    {
        let mut all = first;
        all.push(b'\n');
        let mut buf = Vec::new();
        let mut line = 1;
        while read_envelope_line(&mut reader, &mut buf, &name, line + 1)? {
            line += 1;
            all.extend_from_slice(&buf);
            all.push(b'\n');
            if all.len() as u64 > MAX_EVENT_FILE {
                return Err(refused(format!("{name}: envelope larger than {MAX_EVENT_FILE} bytes")));
            }
        }
        let env = Envelope::parse(&all).map_err(|e| refused(format!("{name}: {e}")));
        return Ok(Box::new(std::iter::once(env.map(|e| (Source { name, line: 1 }, e)))));
    }
    let mut pending = Some(first);
    let mut at = 0usize;
    let mut done = false;
    Ok(Box::new(std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        at += 1;
        let line = match pending.take() {
            Some(l) => l,
            None => {
                let mut buf = Vec::new();
                match read_envelope_line(&mut reader, &mut buf, &name, at) {
                    Ok(true) => buf,
                    Ok(false) => return None,
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
        };
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        return Some(
            Envelope::parse(line)
                .map(|e| (Source { name: name.clone(), line: at }, e))
                .map_err(|e| refused(format!("{name}:{at}: {e}"))),
        );
    })))
}

/// Line `line` of a file of envelopes, read through the bound: a line of a gigabyte is refused
/// once its first megabyte is read.
fn read_envelope_line(r: &mut Box<dyn BufRead>, buf: &mut Vec<u8>, name: &str, line: usize) -> Result<bool> {
    match pledger_log::input::read_line(r, buf, MAX_EVENT_FILE as usize) {
        Ok(more) => Ok(more),
        Err(pledger_log::input::Bounded::TooLong) => {
            Err(refused(format!("{name}:{line}: a line longer than {MAX_EVENT_FILE} bytes")))
        }
        Err(pledger_log::input::Bounded::Io(e)) => Err(refused(format!("{name}:{line}: {e}"))),
    }
}

/// `pledger submit`: appends envelopes in groups, each written atomically and flushed; prints
/// each new id once its group is on disk. Stops at the first refused envelope, after making
/// the envelopes before it durable.
pub fn submit(g: &Global, a: &SubmitArgs) -> Result<()> {
    if a.group == 0 {
        return Err(usage("--group must be at least 1"));
    }
    let mut ledger = match (a.create, a.resume) {
        (true, true) if ledger_path(g)?.exists() => open_ledger(g)?,
        (true, _) => Opened::Own(Box::new(Ledger::create(ledger_path(g)?)?)),
        _ => open_ledger(g)?,
    };
    let files: Vec<PathBuf> = a.files.clone();
    let mut out = crate::console::stdout();
    let (group, resume) = (a.group, a.resume);
    let lookup = ledger.key_lookup();
    // A pipeline: a reader thread parses the envelopes and verifies their signatures on every
    // core, a chunk ahead, while this thread applies the rules and commits. It is not joined on
    // a refusal: a reader waiting on an open standard input must not hold the answer back.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk>>(1);
    let reader = std::thread::spawn(move || read_chunks(&files, group, &lookup, &tx));
    let mut w = ledger.writer();
    for msg in rx.iter() {
        let chunk = match msg {
            Ok(chunk) => chunk,
            Err(e) => {
                print_ids(&mut out, &w.commit()?)?;
                return Err(e);
            }
        };
        for (src, env, pre) in chunk {
            if resume && w.holds(&env)? {
                continue;
            }
            if let Err(e) = w.append_preverified(env, Utc::now(), pre) {
                print_ids(&mut out, &w.commit()?)?;
                return Err(match e {
                    StoreError::Refused { error, .. } => {
                        refused(format!("{}:{}: refused: {error}", src.name, src.line))
                    }
                    other => other.into(),
                });
            }
            if w.len() >= group {
                print_ids(&mut out, &w.commit()?)?;
                w = ledger.writer();
            }
        }
    }
    print_ids(&mut out, &w.commit()?)?;
    // The reader has sent everything and ended.
    let _ = reader.join();
    Ok(())
}

/// Envelopes with their signatures checked beforehand where their keys were known.
type Chunk = Vec<(Source, Envelope, pledger_log::check::Preverified)>;

/// Reads the files in chunks — of `group` envelopes from a file; one at a time from standard
/// input, so that a stream is answered as it comes — verifies each chunk's signatures in
/// parallel under the keys already committed, and sends them on; a bad file or line ends the
/// stream with its error, after the chunks before it.
fn read_chunks(
    files: &[PathBuf],
    group: usize,
    lookup: &pledger_store::KeyLookup,
    tx: &std::sync::mpsc::SyncSender<Result<Chunk>>,
) {
    let mut cache = pledger_log::keys::KeyCache::new();
    for file in files {
        let size = if file == Path::new("-") { 1 } else { group.min(100_000) };
        let items = match envelopes(file) {
            Ok(items) => items,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut chunk: Vec<(Source, Envelope)> = Vec::with_capacity(size);
        for item in items {
            match item {
                Ok(x) => chunk.push(x),
                Err(e) => {
                    let _ = tx.send(Ok(preverify(std::mem::take(&mut chunk), lookup, &mut cache)));
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if chunk.len() >= size && tx.send(Ok(preverify(std::mem::take(&mut chunk), lookup, &mut cache))).is_err() {
                return;
            }
        }
        if !chunk.is_empty() && tx.send(Ok(preverify(chunk, lookup, &mut cache))).is_err() {
            return;
        }
    }
}

/// Checks every signature of a chunk strictly, on every core, under the key its key id names
/// in the committed ledger; an envelope whose key is not known yet is left to the append.
fn preverify(
    batch: Vec<(Source, Envelope)>,
    lookup: &pledger_store::KeyLookup,
    cache: &mut pledger_log::keys::KeyCache,
) -> Chunk {
    use rayon::prelude::*;
    let mut known: std::collections::HashMap<String, Option<std::sync::Arc<pledger_log::ed25519::Key>>> =
        Default::default();
    for (_, env) in &batch {
        let Ok((keyid, _)) = env.single_signature() else { continue };
        if !known.contains_key(keyid) {
            let key = KeyId::parse(keyid).ok().and_then(|id| lookup.public_key(&id)).and_then(|pk| cache.get(&pk));
            known.insert(keyid.to_owned(), key);
        }
    }
    batch
        .into_par_iter()
        .map(|(src, env)| {
            let pre = env.single_signature().ok().and_then(|(keyid, sig)| {
                let key = known.get(keyid)?.as_ref()?;
                Some((*key.verifying_key(), key.verify(&env.signed_bytes(), &sig)))
            });
            (src, env, pre)
        })
        .collect()
}

fn print_ids(out: &mut impl std::io::Write, done: &[pledger_store::Appended]) -> Result<()> {
    for a in done {
        writeln!(out, "{}", a.assigned)?;
    }
    out.flush()?;
    Ok(())
}
