//! The projections as answers: status, scorecard, coverage and timeline, of the head or of the
//! ledger as it stood at a size (`at`) or as of a date (`as_of`). The figures come from
//! `pledger_core::projection`; this module chooses the records (the head's, read from the store,
//! or the first N entries replayed), filters them, and reads the head's tallies where they answer.

use std::collections::{BTreeMap, BTreeSet};

use pledger_core::projection::{self, AreaCoverage, Horizon, MemberScore, MonthRow, PledgeStatus};
use pledger_core::state::{AreaRecord, MemberRecord, PledgeRecord};
use pledger_core::{AreaCode, Date, Fulfillments, MemState, MemberId};
use pledger_store::{Ledger, WithFulfillments};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a query looks at, and when: the CLI's `--org`, `--area`, `--at` and `--as-of`, and
/// HTTP's `org`, `area`, `at` and `as-of`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QueryRequest {
    /// Only this member's pledges (for status: made or received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Only pledges covering this area or an area inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// The ledger as it stood with its first N entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    /// What had happened by this effective date, as known now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// Which state of the ledger an answer describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Described {
    /// The ledger's origin.
    pub origin: String,
    /// Entries the figures reflect.
    pub size: u64,
    /// The date of `--as-of`, if given.
    pub as_of: Option<Date>,
    /// The date the figures are judged on (overdue, on time).
    pub eval: Date,
    /// The name of each member of the ledger, by id: what a table shows people.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

/// An answer of rows, with the state of the ledger they describe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows<T> {
    /// The state of the ledger the rows describe.
    pub described: Described,
    /// The rows.
    pub rows: Vec<T>,
}

/// The records a query reads.
pub struct Data {
    /// The ledger's origin.
    pub origin: String,
    /// Entries the records reflect.
    pub size: u64,
    /// The key that signs checkpoints at that size.
    pub log_key: Option<pledger_core::event::PublicKey>,
    /// Every member.
    pub members: Vec<MemberRecord>,
    /// Every area.
    pub areas: Vec<AreaRecord>,
    /// The pledges the query reads.
    pub pledges: Vec<PledgeRecord>,
    /// Their fulfillments.
    pub fulfillments: Fulfillments,
}

impl Data {
    /// The head's records, read from the store: no replay.
    pub fn head(ledger: &Ledger) -> Result<Data> {
        Data::head_with(ledger, ledger.pledges()?, ledger.fulfillments()?)
    }

    /// The head's members and areas, with these of its pledges and fulfillments.
    fn head_with(ledger: &Ledger, pledges: Vec<PledgeRecord>, fulfillments: Fulfillments) -> Result<Data> {
        Ok(Data {
            origin: ledger.head().state.origin.clone(),
            size: ledger.size(),
            log_key: ledger.head().state.log_key,
            members: ledger.members()?,
            areas: ledger.areas()?,
            pledges,
            fulfillments,
        })
    }

    /// The head's records that concern one member: its pledges, made or received, read through
    /// the member index, with `which` of their fulfillments (every record when the ledger has
    /// no index).
    pub fn head_of(ledger: &Ledger, member: &MemberId, which: WithFulfillments) -> Result<Data> {
        let Some(records) = ledger.records_of(member, which)? else {
            return Data::head(ledger);
        };
        Data::head_with(ledger, records.pledges, records.fulfillments)
    }

    /// The records of an in-memory state (the first N entries, replayed).
    pub fn of_state(s: MemState) -> Data {
        Data {
            origin: s.head.origin.clone(),
            size: s.head.size,
            log_key: s.head.log_key,
            members: s.members.into_values().collect(),
            areas: s.areas.into_values().collect(),
            pledges: s.pledges.into_values().collect(),
            fulfillments: s.fulfillments,
        }
    }
}

/// What a query reads at the head, beside the members and areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// No pledge: the figures come from the tallies.
    Tallies,
    /// The pledges, with the fulfillments their statuses read (a member's: only its fulfilled
    /// pledges').
    Statuses,
    /// The pledges and every fulfillment of theirs (a timeline, a report).
    Records,
}

/// A query's records, horizon and filters, resolved.
pub struct Query {
    /// The records read.
    pub data: Data,
    /// The horizon the figures are computed at.
    pub horizon: Horizon,
    /// Only this member's pledges, if given.
    pub org: Option<MemberId>,
    /// Only pledges in these areas (an area and every area below it), if given.
    pub area: Option<BTreeSet<AreaCode>>,
    /// The area given, whose subtree `area` is.
    pub area_root: Option<AreaCode>,
}

impl Query {
    /// The query on a ledger already open, with every record it concerns (a report).
    pub fn of(ledger: &Ledger, q: &QueryRequest, today: Date) -> Result<Query> {
        Query::reading(ledger, q, today, Reads::Records)
    }

    /// The query on a ledger already open, reading what `reads` says; `today` is the date of
    /// whoever asks, the evaluation date at the head.
    pub fn reading(ledger: &Ledger, q: &QueryRequest, today: Date, reads: Reads) -> Result<Query> {
        let horizon = match &q.as_of {
            Some(d) => Horizon::as_of(Date::parse(d)?),
            None => Horizon::head(today),
        };
        let org = q.org.as_deref().map(MemberId::parse).transpose()?;
        let area_root = q.area.as_deref().map(AreaCode::parse).transpose()?;
        let data = match q.at {
            Some(n) if n > ledger.size() => {
                return Err(Error::not_found(format!("--at {n}: the ledger has only {} entries", ledger.size())))
            }
            Some(n) => Data::of_state(ledger.replay(n)?),
            None => match (reads, &org) {
                (Reads::Tallies, _) => Data::head_with(ledger, Vec::new(), Fulfillments::new())?,
                (Reads::Statuses, Some(o)) => Data::head_of(ledger, o, WithFulfillments::ForHeadStatus)?,
                (Reads::Records, Some(o)) => Data::head_of(ledger, o, WithFulfillments::All)?,
                (_, None) => Data::head(ledger)?,
            },
        };
        if let Some(o) = &org {
            if !data.members.iter().any(|m| &m.id == o) {
                return Err(Error::not_found(format!("unknown member {o}")));
            }
        }
        let area = match &area_root {
            Some(a) if !data.areas.iter().any(|r| &r.code == a) => {
                return Err(Error::not_found(format!("unknown area {a}")))
            }
            Some(a) => Some(projection::subtree(&data.areas, a)),
            None => None,
        };
        Ok(Query { data, horizon, org, area, area_root })
    }

    /// The statuses of the pledges the filters keep; `involving` also keeps pledges the
    /// member received.
    pub fn statuses(&self, involving: bool) -> Vec<PledgeStatus> {
        self.data
            .pledges
            .iter()
            .filter_map(|p| projection::status(p, &self.data.fulfillments, &self.horizon))
            .filter(|s| self.org.as_ref().is_none_or(|o| &s.pledger == o || (involving && &s.beneficiary == o)))
            .filter(|s| self.area.as_ref().is_none_or(|set| s.areas.iter().any(|a| set.contains(a))))
            .collect()
    }

    /// Which state of the ledger the figures describe.
    pub fn described(&self) -> Described {
        Described {
            origin: self.data.origin.clone(),
            size: self.data.size,
            as_of: self.horizon.as_of,
            eval: self.horizon.eval,
            names: self.data.members.iter().map(|m| (m.id.to_string(), m.name.to_string())).collect(),
        }
    }

    fn rows<T>(&self, rows: Vec<T>) -> Rows<T> {
        Rows { described: self.described(), rows }
    }
}

/// Whether a query can read the head's tallies instead of every pledge: at the head, judged on
/// today, on a ledger that keeps them (see `pledger_core::tally`).
fn tallied(ledger: &Ledger, q: &QueryRequest) -> bool {
    q.at.is_none() && q.as_of.is_none() && ledger.is_tallied()
}

/// The store said it keeps tallies, then had none.
fn no_tallies() -> Error {
    Error::Store(pledger_store::StoreError::Corrupt("the ledger's tallies are missing".into()))
}

/// Every pledge the filters keep, made or received by `org`.
pub fn status(ledger: &Ledger, q: &QueryRequest, today: Date) -> Result<Rows<PledgeStatus>> {
    let query = Query::reading(ledger, q, today, Reads::Statuses)?;
    let rows = query.statuses(true);
    Ok(query.rows(rows))
}

/// Every member as a pledger (or only `org`).
pub fn scorecard(ledger: &Ledger, q: &QueryRequest, today: Date) -> Result<Rows<MemberScore>> {
    // An area filter keeps a member's pledges there only: that needs the pledges.
    let fast = q.area.is_none() && tallied(ledger, q);
    let query = Query::reading(ledger, q, today, if fast { Reads::Tallies } else { Reads::Statuses })?;
    let always: Vec<MemberId> = query.org.iter().cloned().collect();
    let members: Vec<MemberRecord> =
        query.data.members.iter().filter(|m| query.org.as_ref().is_none_or(|o| &m.id == o)).cloned().collect();
    let card = if fast {
        ledger.scorecard(&members, &always, query.horizon.eval)?.ok_or_else(no_tallies)?
    } else {
        projection::scorecard(&query.statuses(false), &members, &always)
    };
    Ok(query.rows(card))
}

/// Who does what where, per area (rolled up) and category.
pub fn coverage(ledger: &Ledger, q: &QueryRequest, today: Date) -> Result<Rows<AreaCoverage>> {
    let fast = tallied(ledger, q);
    let query = Query::reading(ledger, q, today, if fast { Reads::Tallies } else { Reads::Statuses })?;
    let cov = if fast {
        let (areas, root) = (&query.data.areas, query.area_root.as_ref());
        ledger.coverage(areas, root, query.org.as_ref())?.ok_or_else(no_tallies)?
    } else {
        projection::coverage(&query.statuses(false), &query.data.areas, query.area_root.as_ref())
    };
    Ok(query.rows(cov))
}

/// Month by month, per unit.
pub fn timeline(ledger: &Ledger, q: &QueryRequest, today: Date) -> Result<Rows<MonthRow>> {
    // The tallies hold everyone's months: a filter needs the pledges.
    let fast = q.org.is_none() && q.area.is_none() && tallied(ledger, q);
    let query = Query::reading(ledger, q, today, if fast { Reads::Tallies } else { Reads::Records })?;
    let rows = if fast {
        ledger.timeline()?.ok_or_else(no_tallies)?
    } else {
        let keep: BTreeSet<_> = query.statuses(false).into_iter().map(|s| s.id).collect();
        let pledges: Vec<&PledgeRecord> = query.data.pledges.iter().filter(|p| keep.contains(&p.id)).collect();
        projection::timeline(&pledges, &query.data.fulfillments, &query.horizon)
    };
    Ok(query.rows(rows))
}
