//! The commands that sign events: build the body from flags, sign it here with the caller's key,
//! and either print the envelope (`--sign-only`) or append it and print what it is known by.
//! The ledger — opened here or held by its server — says what signing needs (the origin, the
//! member the key signs as, a pledge's unit); the key never leaves this process.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use chrono::Utc;
use ed25519_dalek::SigningKey;
use pledger_app::service::{Answer, Request};
use pledger_app::write::{Appended, Items, Source, SubmitOptions};
use pledger_core::event::Blake3Hex;
use pledger_core::event::{
    check_origin, AmendmentBody, AreaDefined, AttestationBody, CategoryDefined, Evidence, FulfillmentBody, Genesis,
    IatiOrgAdded, KeyAdded, KeyRevoked, Level, MemberAdmitted, MemberKind, Name, Note, OrgRef, PledgeBody,
    ReversalBody, Title, Tranche, Url, Verdict, WithdrawalBody, EVENT_VERSION,
};
use pledger_core::ids::{AreaCode, CategoryCode, FulfillmentId, KeyId, MemberId, PledgeId};
use pledger_core::{Body, Date, Event, Measure, Unit};
use pledger_log::keys;
use pledger_log::sign::{new_event_id, sign_event, Signer};
use pledger_log::Envelope;

use crate::cli::{
    AmendArgs, AreaAction, AttestArgs, CategoryAction, FulfillArgs, Global, InitArgs, KeyAction, MemberAction,
    PledgeArgs, RemoteOpts, ReverseArgs, SubmitArgs, UnitOverride, ValueArg, WithdrawArgs, WriteOpts,
};
use crate::fail::{input, usage, Failure, Result};
use crate::session::{ledger_path, unexpected, Open, Session};
use crate::signing::{effective, load_key, today};

/// Largest file of events or envelopes read by `sign`, and longest line `submit` reads.
const MAX_EVENT_FILE: u64 = 1024 * 1024;

/// Units of pledges, as the ledger says them.
type Units = BTreeMap<PledgeId, Unit>;

/// What signing for the ledger at hand needs: who signs, for which origin, and the units of
/// `pledges` — asked of the ledger, or, signing with no ledger, taken from --as and --origin.
fn context(
    g: &Global,
    session: Option<&mut Session>,
    key: &SigningKey,
    pledges: Vec<PledgeId>,
) -> Result<(Signer, Units)> {
    let Some(session) = session else {
        let (Some(member), Some(origin)) = (&g.as_member, &g.origin) else {
            return Err(usage("signing without a ledger needs --as ID and --origin ORIGIN"));
        };
        check_origin(origin)?;
        let signer = Signer { origin: origin.clone(), member: MemberId::parse(member)?, key: key.clone() };
        return Ok((signer, Units::new()));
    };
    let request = Request::Context {
        key: keys::to_event_key(&key.verifying_key()),
        as_member: g.as_member.clone(),
        origin: g.origin.clone(),
        pledges,
    };
    match session.ask_one(request)? {
        Answer::Context { context, units } => Ok((
            Signer { origin: context.origin, member: context.member, key: key.clone() },
            units.into_iter().collect(),
        )),
        other => Err(unexpected(other)),
    }
}

/// Signs a body with the caller's key and dates; appends it or prints the envelope. `pledges`
/// are those whose units `build` needs from the ledger.
fn write_event(
    g: &Global,
    how: &WriteOpts,
    pledges: Vec<PledgeId>,
    build: impl FnOnce(&Units, bool) -> Result<Body>,
) -> Result<()> {
    write_with(g, &how.date, how.sign_only, &how.remote, pledges, build)
}

/// [`write_event`], its options given one by one.
fn write_with(
    g: &Global,
    date: &Option<String>,
    sign_only: bool,
    remote: &RemoteOpts,
    pledges: Vec<PledgeId>,
    build: impl FnOnce(&Units, bool) -> Result<Body>,
) -> Result<()> {
    let key = load_key(g)?;
    let effective = effective(date)?;
    let mut session = if sign_only && g.ledger.is_none() && remote.remote.is_none() {
        None
    } else {
        Some(Session::reach(g, Some(remote), Open::Normal)?)
    };
    let (signer, units) = context(g, session.as_mut(), &key, pledges)?;
    let body = build(&units, session.is_some())?;
    let envelope = signer.sign(Utc::now(), effective, body);
    match session {
        _ if sign_only => {
            crate::console::outln!("{}", envelope.to_json())?;
        }
        Some(mut session) => {
            let id = append_one(&mut session, &envelope)?;
            crate::console::outln!("{id}")?;
        }
        None => return Err(usage("no ledger given: pass --ledger DIR or set PLEDGER_LEDGER")),
    }
    Ok(())
}

/// Appends one envelope durably; returns what the new entry is known by.
pub fn append_one(session: &mut Session, envelope: &Envelope) -> Result<String> {
    match session.ask_one(Request::Append { envelope: envelope.to_json() })? {
        Answer::Durable(done) => done.first().map(|a| a.id.clone()).ok_or_else(|| usage("nothing was appended")),
        other => Err(unexpected(other)),
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
    pledger_app::areas_csv::parse(&bytes).map_err(|e| input(format!("{}:{e}", path.display())))
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
    let effective = effective(&a.date)?;
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
    if a.sign_only {
        for e in &envelopes {
            crate::console::outln!("{}", e.to_json())?;
        }
        return Ok(());
    }
    pledger_app::write::create(path, envelopes)?;
    crate::console::outln!("{}", signer.origin)?;
    Ok(())
}

fn public_key(path: &Path) -> Result<pledger_core::event::PublicKey> {
    Ok(keys::to_event_key(&keys::read_public(path)?))
}

pub fn member(g: &Global, action: &MemberAction) -> Result<()> {
    match action {
        MemberAction::Add { id, name, kind, pubkey, convener, iati_org, write } => {
            let body = Body::MemberAdmitted(MemberAdmitted {
                member: MemberId::parse(id)?,
                name: Name::parse(name)?,
                kind: MemberKind::parse(kind)?,
                convener: *convener,
                public_key: public_key(pubkey)?,
                iati_orgs: iati_org.iter().map(|o| OrgRef::parse(o)).collect::<std::result::Result<_, _>>()?,
            });
            write_event(g, write, Vec::new(), |_, _| Ok(body))
        }
        MemberAction::IatiOrg { id, iati_org, write } => {
            let body =
                Body::IatiOrgAdded(IatiOrgAdded { member: MemberId::parse(id)?, iati_org: OrgRef::parse(iati_org)? });
            write_event(g, write, Vec::new(), |_, _| Ok(body))
        }
    }
}

pub fn key(g: &Global, action: &KeyAction) -> Result<()> {
    match action {
        KeyAction::Add { id, pubkey, log, write } => {
            let body =
                Body::KeyAdded(KeyAdded { member: MemberId::parse(id)?, public_key: public_key(pubkey)?, log: *log });
            write_event(g, write, Vec::new(), |_, _| Ok(body))
        }
        KeyAction::Revoke { id, keyid, reason, write } => {
            let body = Body::KeyRevoked(KeyRevoked {
                member: MemberId::parse(id)?,
                key: KeyId::parse(keyid)?,
                reason: reason.as_deref().map(Note::parse).transpose()?,
            });
            write_event(g, write, Vec::new(), |_, _| Ok(body))
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
    write_event(g, write, Vec::new(), |_, _| Ok(body))
}

pub fn category(g: &Global, action: &CategoryAction) -> Result<()> {
    let CategoryAction::Add { code, name, write } = action;
    let body = Body::CategoryDefined(CategoryDefined { code: CategoryCode::parse(code)?, name: Name::parse(name)? });
    write_event(g, write, Vec::new(), |_, _| Ok(body))
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
    let tranches = a
        .tranche
        .iter()
        .map(|t| {
            let (date, value) = t
                .split_once(':')
                .ok_or_else(|| usage(format!("--tranche {t:?}: give DATE:AMOUNT, e.g. 2015-03-31:4000000")))?;
            let unit = amount.unit.clone();
            Ok(Tranche { due: Date::parse(date.trim())?, amount: Measure::new(unit.parse_value(value.trim())?, unit)? })
        })
        .collect::<Result<Vec<_>>>()?;
    let body = Body::Pledge(PledgeBody {
        to: MemberId::parse(&a.to)?,
        category: CategoryCode::parse(&a.category)?,
        areas: areas(&a.area)?,
        amount,
        due: Date::parse(&a.due)?,
        title: Title::parse(&a.title)?,
        tranches,
    });
    write_event(g, &a.write, Vec::new(), |_, _| Ok(body))
}

/// The unit of a pledge: given on the command line, or the ledger's.
fn pledge_unit(units: &Units, has_ledger: bool, id: PledgeId, given: &UnitOverride) -> Result<Unit> {
    match (&given.currency, &given.unit) {
        (Some(c), _) => Ok(Unit::currency(c)?),
        (None, Some(u)) => Ok(Unit::count(u)?),
        (None, None) if has_ledger => units
            .get(&id)
            .cloned()
            .ok_or_else(|| Failure::new(pledger_app::Kind::NotFound, format!("refused: unknown pledge {id}"))),
        (None, None) => Err(usage("without a ledger, give the pledge's --currency or --unit")),
    }
}

/// The pledges whose units the ledger must say: those of a value given without its unit.
fn units_needed(id: PledgeId, value_given: bool, given: &UnitOverride) -> Vec<PledgeId> {
    if value_given && given.currency.is_none() && given.unit.is_none() {
        vec![id]
    } else {
        Vec::new()
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
    let needed = units_needed(pledge, a.increase.is_some(), &a.unit);
    write_event(g, &a.write, needed, |units, has_ledger| {
        let increase = match &a.increase {
            Some(x) => {
                let unit = pledge_unit(units, has_ledger, pledge, &a.unit)?;
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
        let n = bounded.read(&mut buf).map_err(|e| input(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > MAX_EVIDENCE {
            return Err(input(format!(
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
    let needed = units_needed(pledge, true, &a.unit);
    write_with(g, &Some(a.date.clone()), a.sign_only, &a.remote, needed, |units, has_ledger| {
        let unit = pledge_unit(units, has_ledger, pledge, &a.unit)?;
        let amount = value_in(&unit, &a.value)?.ok_or_else(|| {
            usage(format!("fulfill needs --{} (in {unit})", if unit.is_money() { "amount" } else { "quantity" }))
        })?;
        Ok(Body::Fulfillment(FulfillmentBody { pledge, amount, beyond: a.beyond, evidence, note }))
    })
}

pub fn attest(g: &Global, a: &AttestArgs) -> Result<()> {
    let bodies: Vec<(String, AttestationBody)> = match &a.file {
        Some(path) => {
            let bytes = pledger_log::input::read(
                path,
                pledger_app::attestations_csv::MAX_BYTES as u64,
                "a file of verdicts",
                pledger_log::input::Source::Any,
            )?;
            let name = path.display().to_string();
            pledger_app::attestations_csv::parse(&bytes)
                .map_err(|e| input(format!("{name}:{e}")))?
                .into_iter()
                .map(|(line, body)| (format!("{name}:{line} ({})", body.fulfillment), body))
                .collect()
        }
        None => {
            let verdict = if a.dispute { Verdict::Disputed } else { Verdict::Confirmed };
            let note = a.note.as_deref().map(Note::parse).transpose()?;
            let mut seen = std::collections::BTreeSet::new();
            let mut bodies = Vec::new();
            for id in &a.fulfillments {
                let fulfillment = FulfillmentId::parse(id)?;
                if !seen.insert(fulfillment) {
                    return Err(usage(format!("{fulfillment} is given twice")));
                }
                bodies.push((fulfillment.to_string(), AttestationBody { fulfillment, verdict, note: note.clone() }));
            }
            bodies
        }
    };
    if let [(_, body)] = &bodies[..] {
        let body = Body::Attestation(body.clone());
        return write_event(g, &a.write, Vec::new(), |_, _| Ok(body));
    }
    write_events(g, &a.write, bodies.into_iter().map(|(n, b)| (n, Body::Attestation(b))).collect())
}

/// Signs `bodies` and appends them in one durable group — all, or none if one is refused (named
/// by its name) — printing each one's id; with --sign-only, prints the envelopes as JSON Lines.
fn write_events(g: &Global, how: &WriteOpts, bodies: Vec<(String, Body)>) -> Result<()> {
    use std::io::Write;
    let key = load_key(g)?;
    let effective = effective(&how.date)?;
    let mut session = if how.sign_only && g.ledger.is_none() && how.remote.remote.is_none() {
        None
    } else {
        Some(Session::reach(g, Some(&how.remote), Open::Normal)?)
    };
    let (signer, _) = context(g, session.as_mut(), &key, Vec::new())?;
    let now = Utc::now();
    let envelopes: Vec<(String, Envelope)> =
        bodies.into_iter().map(|(name, body)| (name, signer.sign(now, effective, body))).collect();
    match session {
        _ if how.sign_only => {
            let mut out = crate::console::stdout();
            for (_, e) in &envelopes {
                writeln!(out, "{}", e.to_json())?;
            }
            out.flush()?;
        }
        Some(mut session) => {
            let request =
                Request::AppendAll { envelopes: envelopes.iter().map(|(n, e)| (n.clone(), e.to_json())).collect() };
            match session.ask_one(request)? {
                Answer::Durable(done) => {
                    let mut out = crate::console::stdout();
                    print_ids(&mut out, &done)?;
                }
                other => return Err(unexpected(other)),
            }
        }
        None => return Err(usage("no ledger given: pass --ledger DIR or set PLEDGER_LEDGER")),
    }
    Ok(())
}

pub fn withdraw(g: &Global, a: &WithdrawArgs) -> Result<()> {
    let pledge = PledgeId::parse(&a.pledge)?;
    let reason = Note::parse(&a.reason)?;
    let valued = a.value.amount.is_some() || a.value.quantity.is_some();
    let needed = units_needed(pledge, valued, &a.unit);
    write_event(g, &a.write, needed, |units, has_ledger| {
        let amount = if valued { value_in(&pledge_unit(units, has_ledger, pledge, &a.unit)?, &a.value)? } else { None };
        Ok(Body::Withdrawal(WithdrawalBody { pledge, amount, reason }))
    })
}

pub fn reverse(g: &Global, a: &ReverseArgs) -> Result<()> {
    let fulfillment = FulfillmentId::parse(&a.fulfillment)?;
    let reason = Note::parse(&a.reason)?;
    // The amount is in the unit of the fulfillment's pledge: asked of the ledger unless given.
    let unit = match (&a.unit.currency, &a.unit.unit) {
        (Some(c), _) => Unit::currency(c)?,
        (None, Some(u)) => Unit::count(u)?,
        (None, None) => {
            let mut session = Session::reach(g, Some(&a.write.remote), Open::Normal)?;
            match session.ask_one(Request::Show { id: fulfillment.to_string(), today: today() })? {
                Answer::Shown(pledger_app::read::Shown::Pledge(p)) => p.status.measure(),
                other => return Err(unexpected(other)),
            }
        }
    };
    let amount = value_in(&unit, &a.value)?.ok_or_else(|| {
        usage(format!("reverse needs --{} (in {unit})", if unit.is_money() { "amount" } else { "quantity" }))
    })?;
    write_event(g, &a.write, Vec::new(), |_, _| Ok(Body::Reversal(ReversalBody { fulfillment, amount, reason })))
}

/// `pledger sign EVENT.json`: completes an event written by hand (id, signing time, key,
/// effective date, origin and signer where missing), checks it, signs it, prints the envelope.
pub fn sign(g: &Global, file: &Path) -> Result<()> {
    let bytes = read_bounded(file, "an event file")?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| input(format!("{}: malformed JSON: {}", file.display(), pledger_core::event::one_line(&e))))?;
    let obj = value.as_object_mut().ok_or_else(|| input(format!("{}: an event is a JSON object", file.display())))?;
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
        return Err(input(format!("{}: the event names key {} but --key is {key_id}", file.display(), obj["key"])));
    }
    let bytes = serde_json::to_vec(&value).expect("a JSON value serializes");
    let event = Event::parse(&bytes).map_err(|e| input(format!("{}: {e}", file.display())))?;
    crate::console::outln!("{}", sign_event(&event, &key).to_json())?;
    Ok(())
}

/// Envelopes from a file or stdin: one JSON envelope (possibly spread over lines), or JSON
/// Lines of envelopes — each line read through the bound, and only when the envelopes are
/// wanted (a stream's first line may come much later).
fn envelopes(path: &Path) -> Result<Items> {
    let name = path.display().to_string();
    let reader: Box<dyn BufRead + Send> = if path == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = pledger_log::input::open(path, pledger_log::input::Source::Any)?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    Ok(Box::new(Envelopes { name, reader, at: 0, started: false, done: false }))
}

/// The envelopes of one file, read as they are asked for.
struct Envelopes {
    name: String,
    reader: Box<dyn BufRead + Send>,
    /// The line last read.
    at: usize,
    started: bool,
    done: bool,
}

impl Envelopes {
    fn fail(&mut self, message: String) -> Option<pledger_app::Result<(Source, Envelope)>> {
        self.done = true;
        Some(Err(pledger_app::Error::Input(message)))
    }

    /// The rest of a file that is one envelope written over lines, `first` its first line.
    fn whole(&mut self, first: Vec<u8>) -> Option<pledger_app::Result<(Source, Envelope)>> {
        let mut all = first;
        all.push(b'\n');
        let mut buf = Vec::new();
        loop {
            match read_envelope_line(&mut self.reader, &mut buf, &self.name, self.at + 1) {
                Ok(true) => {}
                Ok(false) => break,
                Err(f) => return self.fail(f.message),
            }
            self.at += 1;
            all.extend_from_slice(&buf);
            all.push(b'\n');
            if all.len() as u64 > MAX_EVENT_FILE {
                let message = format!("{}: envelope larger than {MAX_EVENT_FILE} bytes", self.name);
                return self.fail(message);
            }
        }
        self.done = true;
        let name = self.name.clone();
        Some(
            Envelope::parse(&all)
                .map(|e| (Source { name: name.clone(), line: 1 }, e))
                .map_err(|e| pledger_app::Error::input(format!("{name}: {e}"))),
        )
    }
}

impl Iterator for Envelopes {
    type Item = pledger_app::Result<(Source, Envelope)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let mut line = Vec::new();
            match read_envelope_line(&mut self.reader, &mut line, &self.name, self.at + 1) {
                Ok(true) => self.at += 1,
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(f) => return self.fail(f.message),
            }
            // A file whose first line is not a whole JSON object is one envelope written over
            // lines.
            if !self.started {
                self.started = true;
                if line.trim_ascii_start().starts_with(b"{")
                    && Envelope::parse(&line).is_err()
                    && serde_json::from_slice::<serde_json::Value>(&line).is_err()
                {
                    return self.whole(line);
                }
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            let at = self.at;
            return Some(
                Envelope::parse(trimmed)
                    .map(|e| (Source { name: self.name.clone(), line: at }, e))
                    .map_err(|e| pledger_app::Error::input(format!("{}:{at}: {e}", self.name))),
            );
        }
    }
}

/// Line `line` of a file of envelopes, read through the bound: a line of a gigabyte is refused
/// once its first megabyte is read.
fn read_envelope_line(mut r: &mut dyn BufRead, buf: &mut Vec<u8>, name: &str, line: usize) -> Result<bool> {
    match pledger_log::input::read_line(&mut r, buf, MAX_EVENT_FILE as usize) {
        Ok(more) => Ok(more),
        Err(pledger_log::input::Bounded::TooLong) => {
            Err(input(format!("{name}:{line}: a line longer than {MAX_EVENT_FILE} bytes")))
        }
        Err(pledger_log::input::Bounded::Io(e)) => Err(input(format!("{name}:{line}: {e}"))),
    }
}

/// `pledger submit`: appends envelopes in groups, each written atomically and flushed; prints
/// each new id once its group is on disk. Stops at the first refused envelope, after making
/// the envelopes before it durable.
pub fn submit(g: &Global, a: &SubmitArgs) -> Result<()> {
    if a.group == 0 {
        return Err(usage("--group must be at least 1"));
    }
    let remote = a.remote.remote.is_some();
    if remote && (a.create || a.resume) {
        return Err(usage("--create and --resume work on a ledger at hand, not over --remote"));
    }
    let path = if remote { Path::new("") } else { ledger_path(g)? };
    let created = a.create && !(a.resume && path.exists());
    let made = created && !path.exists();
    let mut session = if created {
        Session::Own(Box::new(pledger_store::Ledger::create(path)?))
    } else {
        Session::reach(g, Some(&a.remote), Open::Normal)?
    };
    // Files are read as the envelopes are appended: a stream (stdin) one envelope at a time, so
    // that each is answered as it comes.
    let files: Vec<PathBuf> = a.files.clone();
    let streamed = files.iter().any(|f| f == Path::new("-"));
    let mut opened = files.into_iter().map(|f| envelopes(&f));
    let first = match opened.next() {
        Some(items) => items?,
        None => return Err(usage("submit needs a file of envelopes (or - for stdin)")),
    };
    let rest = opened.map(|r| match r {
        Ok(items) => items,
        Err(f) => Box::new(std::iter::once(Err(pledger_app::Error::Input(f.message)))),
    });
    let items: Items = Box::new(first.chain(rest.flatten()));
    let options = SubmitOptions { group: a.group, resume: a.resume, chunk: if streamed { 1 } else { a.group } };
    let mut out = crate::console::stdout();
    let mut wrote = 0usize;
    let counter = crate::progress::counter("submitting", g.quiet || streamed);
    let mut print = |part: Answer| -> Result<()> {
        if let Answer::Durable(done) = part {
            print_ids(&mut out, &done)?;
            wrote += done.len();
            counter.set_position(wrote as u64);
        }
        Ok(())
    };
    let request = Request::Submit { options, envelopes: Vec::new(), input: true };
    let result = session.ask(request, Some(items), &mut print);
    counter.finish_and_clear();
    if result.is_err() && made && wrote == 0 {
        // Nothing was acknowledged: leave no empty ledger behind.
        drop(session);
        pledger_app::write::remove_made(path, true);
    }
    result.map(|_| ())
}

fn print_ids(out: &mut impl std::io::Write, done: &[Appended]) -> Result<()> {
    for a in done {
        writeln!(out, "{}", a.id)?;
    }
    out.flush()?;
    Ok(())
}
