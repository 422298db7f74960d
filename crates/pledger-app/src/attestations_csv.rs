//! Verdicts on many fulfillments as a CSV file (`attest --file`): a header naming the columns
//! `id` (or `fulfillment`), `verdict` and optionally `note`, in any order, then one verdict per
//! row — `confirm`/`confirmed` or `dispute`/`disputed`.

use pledger_core::event::{AttestationBody, Note, Verdict};
use pledger_core::ids::FulfillmentId;

/// Largest file read, in bytes.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Most rows one file may hold: one durable group.
pub const MAX_ROWS: usize = 100_000;

/// A verdict word as people write it.
pub fn verdict(word: &str) -> Option<Verdict> {
    match word.trim().to_ascii_lowercase().as_str() {
        "confirm" | "confirmed" => Some(Verdict::Confirmed),
        "dispute" | "disputed" => Some(Verdict::Disputed),
        _ => None,
    }
}

/// Parses the file: each attestation with its line. The error names the line.
pub fn parse(bytes: &[u8]) -> Result<Vec<(u64, AttestationBody)>, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!("the file is {} bytes, more than the {MAX_BYTES} allowed", bytes.len()));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = rdr.headers().map_err(|e| format!("1: {e}"))?.clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
    let (id, word) = match (col(&["id", "fulfillment"]), col(&["verdict"])) {
        (Some(i), Some(v)) => (i, v),
        _ => return Err("1: the header must name the columns id,verdict and optionally note".into()),
    };
    let note = col(&["note"]);
    let mut out = Vec::new();
    for row in rdr.records() {
        let row = row.map_err(|e| format!("{}: {e}", e.position().map_or(0, |p| p.line())))?;
        let line = row.position().map_or(0, |p| p.line());
        if out.len() == MAX_ROWS {
            return Err(format!("{line}: more than {MAX_ROWS} rows; split the file"));
        }
        let field = |i: usize| row.get(i).unwrap_or("");
        let fulfillment = FulfillmentId::parse(field(id)).map_err(|e| format!("{line}: {e}"))?;
        let verdict = verdict(field(word))
            .ok_or_else(|| format!("{line}: verdict {:?} is not confirm or dispute", field(word)))?;
        let note = match note.map(field) {
            Some(n) if !n.is_empty() => Some(Note::parse(n).map_err(|e| format!("{line}: {e}"))?),
            _ => None,
        };
        out.push((line, AttestationBody { fulfillment, verdict, note }));
    }
    if out.is_empty() {
        return Err("the file has no rows after its header".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_in_any_column_order_and_names_the_bad_line() {
        let ok = parse(b"\xEF\xBB\xBFverdict,note,id\nconfirm,,F-000001\nDisputed,\"not, all\",F-000002\n").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[0].0, ok[0].1.fulfillment, ok[0].1.verdict), (2, FulfillmentId(1), Verdict::Confirmed));
        assert_eq!(ok[1].1.note.as_ref().map(|n| n.as_str()), Some("not, all"));
        assert_eq!(
            parse(b"id,verdict\nF-000001,maybe\n").unwrap_err(),
            "2: verdict \"maybe\" is not confirm or dispute"
        );
        assert!(parse(b"id,verdict\nF-1,confirm\nP-000001,confirm\n").unwrap_err().starts_with("3: "));
        assert!(parse(b"fulfillment\nF-000001\n").unwrap_err().contains("header"));
        assert!(parse(b"id,verdict\n").unwrap_err().contains("no rows"));
    }
}
