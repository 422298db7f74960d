//! `pledger demo`: the founding story — Mali moving its health information system to
//! DHIS 2, 2014–2016 — told as real events, each signed by its own member's key, appended to a
//! real ledger. Amounts and dates are plausible, not historical records.

use std::path::{Path, PathBuf};

use chrono::Utc;
use ed25519_dalek::SigningKey;
use pledger_core::event::{
    AmendmentBody, AreaDefined, AttestationBody, FulfillmentBody, Genesis, Level, MemberAdmitted, MemberKind, Name,
    Note, PledgeBody, Title, Verdict, WithdrawalBody,
};
use pledger_core::ids::{AreaCode, CategoryCode, FulfillmentId, MemberId, PledgeId};
use pledger_core::{Body, Date, Measure, Unit};
use pledger_log::keys;
use pledger_log::sign::Signer;
use pledger_log::Envelope;
use pledger_store::Ledger;

use crate::cli::Global;
use crate::fail::{input, Result};

pub const ORIGIN: &str = "hmis.sante.gov.ml/pledges";

/// The members of the story: id, name, kind, convener.
const MEMBERS: [(&str, &str, MemberKind, bool); 10] = [
    ("dns", "Direction Nationale de la Santé", MemberKind::Government, true),
    ("cps", "Cellule de Planification et de Statistique, Santé", MemberKind::Government, false),
    ("measure", "MEASURE Evaluation", MemberKind::Implementer, false),
    ("psi", "PSI Mali (Global Fund principal recipient)", MemberKind::Implementer, false),
    ("usaid", "USAID Mali", MemberKind::Donor, false),
    ("ssgi", "SSGI (USAID partner)", MemberKind::Implementer, false),
    ("assist", "USAID ASSIST", MemberKind::Implementer, false),
    ("unicef", "UNICEF Mali", MemberKind::Donor, false),
    ("oms", "Organisation mondiale de la Santé, Mali", MemberKind::Other, false),
    ("bvg", "Bureau du Vérificateur Général", MemberKind::Auditor, false),
];

/// Mali, its regions (ISO 3166-2:ML) and two districts of Sikasso.
const AREAS: [(&str, &str, Level, Option<&str>); 12] = [
    ("ML", "Mali (niveau central)", Level::Country, None),
    ("ML-1", "Kayes", Level::Region, Some("ML")),
    ("ML-2", "Koulikoro", Level::Region, Some("ML")),
    ("ML-3", "Sikasso", Level::Region, Some("ML")),
    ("ML-4", "Ségou", Level::Region, Some("ML")),
    ("ML-5", "Mopti", Level::Region, Some("ML")),
    ("ML-6", "Tombouctou", Level::Region, Some("ML")),
    ("ML-7", "Gao", Level::Region, Some("ML")),
    ("ML-8", "Kidal", Level::Region, Some("ML")),
    ("ML-BKO", "Bamako", Level::Region, Some("ML")),
    ("ML-3-KTL", "Koutiala", Level::District, Some("ML-3")),
    ("ML-3-KDL", "Kadiolo", Level::District, Some("ML-3")),
];

/// One step of the story: who signs, on which date, what.
pub struct Step {
    pub signer: &'static str,
    pub date: &'static str,
    pub body: Body,
}

fn m(id: &str) -> MemberId {
    MemberId::parse(id).unwrap_or_else(|_| unreachable!("story ids are valid"))
}
fn d(s: &str) -> Date {
    Date::parse(s).unwrap_or_else(|_| unreachable!("story dates are valid"))
}
fn areas(list: &[&str]) -> Vec<AreaCode> {
    list.iter().map(|a| AreaCode::parse(a).unwrap_or_else(|_| unreachable!())).collect()
}
fn money(value: u64, cur: &str) -> Measure {
    Unit::currency(cur).and_then(|u| Measure::new(value, u)).unwrap_or_else(|_| unreachable!())
}
fn count(value: u64, unit: &str) -> Measure {
    Unit::count(unit).and_then(|u| Measure::new(value, u)).unwrap_or_else(|_| unreachable!())
}
fn title(s: &str) -> Title {
    Title::parse(s).unwrap_or_else(|_| unreachable!())
}
fn note(s: &str) -> Option<Note> {
    Some(Note::parse(s).unwrap_or_else(|_| unreachable!()))
}

// A story line reads best as one call with every fact of the pledge in order.
#[allow(clippy::too_many_arguments)]
fn pledge(
    signer: &'static str,
    date: &'static str,
    to: &str,
    cat: &str,
    area: &[&str],
    amount: Measure,
    due: &str,
    t: &str,
) -> Step {
    Step {
        signer,
        date,
        body: Body::Pledge(PledgeBody {
            to: m(to),
            category: CategoryCode::parse(cat).unwrap_or_else(|_| unreachable!()),
            areas: areas(area),
            amount,
            due: d(due),
            title: title(t),
            tranches: Vec::new(),
        }),
    }
}

fn fulfill(signer: &'static str, date: &'static str, p: u64, amount: Measure, n: &str) -> Step {
    Step {
        signer,
        date,
        body: Body::Fulfillment(FulfillmentBody {
            pledge: PledgeId(p),
            amount,
            beyond: false,
            evidence: None,
            note: note(n),
        }),
    }
}

fn attest(signer: &'static str, date: &'static str, f: u64, verdict: Verdict, n: &str) -> Step {
    Step {
        signer,
        date,
        body: Body::Attestation(AttestationBody { fulfillment: FulfillmentId(f), verdict, note: note(n) }),
    }
}

/// The pledges, deliveries, attestations, amendments and withdrawals, in recording order.
/// Pledge and fulfillment numbers follow from that order (P-000001 is the first pledge).
pub fn story() -> Vec<Step> {
    use Verdict::{Confirmed, Disputed};
    vec![
        // 2014: after the PRISM assessment, the ministry moves from DESAM3 to DHIS 2.
        pledge(
            "measure",
            "2014-01-20",
            "dns",
            "software",
            &["ML-4", "ML-5"],
            money(45_000_000, "USD"),
            "2015-06-30",
            "DHIS 2 customisation and roll-out in Ségou and Mopti",
        ),
        pledge(
            "psi",
            "2014-02-10",
            "dns",
            "equipment",
            &["ML-3", "ML-1", "ML-BKO"],
            count(120, "laptops"),
            "2014-12-31",
            "Laptops for district health information officers",
        ),
        // After negotiation, PSI also puts money toward DHIS 2 where MEASURE cannot reach.
        pledge(
            "psi",
            "2014-04-15",
            "dns",
            "software",
            &["ML-6", "ML-7"],
            money(40_000_000, "XOF"),
            "2015-12-31",
            "DHIS 2 roll-out in Tombouctou and Gao",
        ),
        pledge(
            "ssgi",
            "2014-05-05",
            "dns",
            "training",
            &["ML-1", "ML-2"],
            money(30_000_000, "USD"),
            "2015-09-30",
            "DHIS 2 training of data managers in Kayes and Koulikoro",
        ),
        pledge(
            "assist",
            "2014-05-05",
            "dns",
            "training",
            &["ML-3", "ML-BKO"],
            count(36, "training sessions"),
            "2015-06-30",
            "Data quality training sessions in Sikasso and Bamako",
        ),
        pledge(
            "psi",
            "2014-06-01",
            "dns",
            "meetings",
            &["ML"],
            money(18_000_000, "XOF"),
            "2015-12-31",
            "Co-funding of quarterly data review meetings",
        ),
        pledge(
            "dns",
            "2014-06-01",
            "cps",
            "meetings",
            &["ML"],
            money(12_000_000, "XOF"),
            "2015-12-31",
            "Ministry share of quarterly data review meetings",
        ),
        Step {
            signer: "psi",
            date: "2014-07-01",
            body: Body::Amendment(AmendmentBody {
                pledge: PledgeId(3),
                due: None,
                title: None,
                areas: None,
                increase: Some(money(35_000_000, "XOF")),
            }),
        },
        fulfill("measure", "2014-09-15", 1, money(20_000_000, "USD"), "DHIS 2 instance configured; Ségou live"),
        attest("dns", "2014-10-01", 1, Confirmed, "Ségou reports monthly in DHIS 2"),
        fulfill("psi", "2014-10-20", 2, count(80, "laptops"), "First batch delivered to Sikasso and Kayes"),
        attest("dns", "2014-11-05", 2, Confirmed, "80 laptops received and inventoried"),
        fulfill("ssgi", "2014-12-10", 4, money(12_000_000, "USD"), "Kayes data managers trained"),
        attest("dns", "2015-01-08", 3, Confirmed, "Training reports received"),
        fulfill("assist", "2015-02-20", 5, count(20, "training sessions"), "20 sessions in Sikasso"),
        attest("dns", "2015-03-02", 4, Confirmed, "Attendance lists checked"),
        fulfill("psi", "2015-03-30", 2, count(40, "laptops"), "Second batch, Bamako"),
        attest("dns", "2015-04-10", 5, Confirmed, "Received, three months late"),
        // Other partners join in 2015.
        pledge(
            "unicef",
            "2015-01-15",
            "dns",
            "connectivity",
            &["ML-7", "ML-8"],
            money(24_000_000, "XOF"),
            "2015-12-31",
            "3G connectivity for district health offices in Gao and Kidal",
        ),
        pledge(
            "oms",
            "2015-02-01",
            "dns",
            "technical-assistance",
            &["ML-2", "ML"],
            money(8_000_000, "XOF"),
            "2015-10-31",
            "Technical assistance to the DHIS 2 core team",
        ),
        fulfill("measure", "2015-05-25", 1, money(25_000_000, "USD"), "Mopti live on DHIS 2"),
        attest("dns", "2015-06-10", 6, Confirmed, "Mopti completeness above 80%"),
        fulfill("psi", "2015-06-30", 3, money(50_000_000, "XOF"), "Roll-out in Tombouctou and Gao"),
        attest("bvg", "2015-09-15", 7, Confirmed, "Expenditure verified in audit"),
        fulfill("ssgi", "2015-07-15", 4, money(10_000_000, "USD"), "Koulikoro data managers trained"),
        attest("dns", "2015-08-01", 8, Disputed, "Only 3 of 8 districts of Koulikoro were trained"),
        // Kidal: security makes delivery impossible; UNICEF takes Kidal out and withdraws its part.
        Step {
            signer: "unicef",
            date: "2015-08-20",
            body: Body::Amendment(AmendmentBody {
                pledge: PledgeId(8),
                due: None,
                title: Some(title("3G connectivity for district health offices in Gao")),
                areas: Some(areas(&["ML-7"])),
                increase: None,
            }),
        },
        Step {
            signer: "unicef",
            date: "2015-08-20",
            body: Body::Withdrawal(WithdrawalBody {
                pledge: PledgeId(8),
                amount: Some(money(10_000_000, "XOF")),
                reason: Note::parse("Kidal is unreachable for security reasons").unwrap_or_else(|_| unreachable!()),
            }),
        },
        fulfill("unicef", "2015-11-30", 8, money(14_000_000, "XOF"), "Gao district offices connected"),
        attest("dns", "2015-12-15", 9, Confirmed, "Connections tested"),
        fulfill("psi", "2015-09-30", 6, money(9_000_000, "XOF"), "Four review meetings held"),
        attest("dns", "2015-10-10", 10, Confirmed, "Minutes received"),
        fulfill("dns", "2015-12-20", 7, money(12_000_000, "XOF"), "Ministry share paid"),
        attest("cps", "2016-01-10", 11, Confirmed, "Meetings held as planned"),
        fulfill("oms", "2015-09-10", 9, money(3_000_000, "XOF"), "Two missions of a DHIS 2 expert"),
        fulfill("assist", "2016-02-15", 5, count(16, "training sessions"), "16 sessions in Bamako, late"),
        attest("bvg", "2016-03-01", 13, Confirmed, "Sessions verified"),
        fulfill("psi", "2016-03-31", 3, money(25_000_000, "XOF"), "Remaining DHIS 2 roll-out costs"),
        // District level: coaching where the data are produced.
        pledge(
            "assist",
            "2015-04-01",
            "dns",
            "technical-assistance",
            &["ML-3-KTL", "ML-3-KDL"],
            count(8, "coaching visits"),
            "2015-12-31",
            "Coaching of district health information officers in Koutiala and Kadiolo",
        ),
        fulfill("assist", "2015-11-15", 10, count(8, "coaching visits"), "Eight visits, reports attached"),
        attest("dns", "2015-11-30", 15, Confirmed, "Visit reports received from both districts"),
    ]
}

/// The demo's keys: one per member, generated afresh.
pub struct Cast {
    keys: Vec<(MemberId, SigningKey)>,
}

impl Cast {
    pub fn new() -> Result<Self> {
        let keys = MEMBERS.iter().map(|(id, ..)| Ok((m(id), keys::generate()?))).collect::<Result<_>>()?;
        Ok(Cast { keys })
    }

    fn signer(&self, id: &str) -> Signer {
        let key =
            self.keys.iter().find(|(m, _)| m.as_str() == id).map(|(_, k)| k.clone()).unwrap_or_else(|| unreachable!());
        Signer { origin: ORIGIN.to_owned(), member: m(id), key }
    }

    /// Every event of the story, signed: genesis, areas, members, then the story.
    pub fn envelopes(&self) -> Vec<Envelope> {
        let now = Utc::now();
        let start = d("2013-11-04");
        let dns = self.signer("dns");
        let mut out = vec![dns.sign(
            now,
            start,
            Body::Genesis(Genesis {
                member: m("dns"),
                name: Name::parse(MEMBERS[0].1).unwrap_or_else(|_| unreachable!()),
                kind: MemberKind::Government,
                public_key: keys::to_event_key(&dns.key.verifying_key()),
                log_key: keys::to_event_key(&dns.key.verifying_key()),
            }),
        )];
        for (code, name, level, parent) in AREAS {
            out.push(dns.sign(
                now,
                start,
                Body::AreaDefined(AreaDefined {
                    code: AreaCode::parse(code).unwrap_or_else(|_| unreachable!()),
                    name: Name::parse(name).unwrap_or_else(|_| unreachable!()),
                    level,
                    parent: parent.map(|p| AreaCode::parse(p).unwrap_or_else(|_| unreachable!())),
                }),
            ));
        }
        for (id, name, kind, convener) in &MEMBERS[1..] {
            let key = self.signer(id).key.verifying_key();
            out.push(dns.sign(
                now,
                d("2013-12-02"),
                Body::MemberAdmitted(MemberAdmitted {
                    member: m(id),
                    name: Name::parse(name).unwrap_or_else(|_| unreachable!()),
                    kind: *kind,
                    convener: *convener,
                    public_key: keys::to_event_key(&key),
                    iati_orgs: Vec::new(),
                }),
            ));
        }
        for step in story() {
            out.push(self.signer(step.signer).sign(now, d(step.date), step.body));
        }
        out
    }
}

/// Builds the demo ledger at `path` (a new directory).
pub fn build(path: &Path) -> Result<Ledger> {
    let mut ledger = Ledger::create(path)?;
    let cast = Cast::new()?;
    let mut w = ledger.writer();
    for env in cast.envelopes() {
        w.append(env, Utc::now())?;
    }
    w.commit()?;
    // The convener's key is the log key: it signs a checkpoint of the whole story.
    let cp =
        pledger_log::checkpoint::Checkpoint { origin: ORIGIN.to_owned(), size: ledger.size(), root: ledger.root() };
    let note = cp.sign(&cast.signer("dns").key)?;
    ledger.put_checkpoint(cp.size, &note.to_text())?;
    Ok(ledger)
}

pub fn run(g: &Global) -> Result<()> {
    let (path, _tmp): (PathBuf, Option<TempDir>) = match &g.ledger {
        Some(p) => (p.clone(), None),
        None => {
            let t = TempDir::new()?;
            (t.0.join("ledger"), Some(t))
        }
    };
    let ledger = build(&path)?;
    crate::project::demo_summary(&ledger, g.ledger.as_deref())
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let base = std::env::temp_dir().join(format!(
            "pledger-demo-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&base).map_err(|e| input(format!("{}: {e}", base.display())))?;
        Ok(TempDir(base))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
