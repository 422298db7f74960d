//! Areas as a CSV file (`init --areas`): a header naming the columns `code`, `name`, `level` and
//! optionally `parent`, in any order, then one area per row. Parents come before their children
//! in the result, whatever the file's order.

use pledger_core::event::{AreaDefined, Level, Name};
use pledger_core::ids::AreaCode;

/// Largest areas file read, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Parses an areas file. The error names the line.
pub fn parse(bytes: &[u8]) -> Result<Vec<AreaDefined>, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!("the file is {} bytes, more than the {MAX_BYTES} allowed", bytes.len()));
    }
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = rdr.headers().map_err(|e| format!("1: {e}"))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (code, name, level) = match (col("code"), col("name"), col("level")) {
        (Some(c), Some(n), Some(l)) => (c, n, l),
        _ => return Err("1: the header must name the columns code,name,level and optionally parent".into()),
    };
    let parent = col("parent");
    let mut areas = Vec::new();
    for row in rdr.records() {
        let row = row.map_err(|e| format!("{}: {e}", e.position().map_or(0, |p| p.line())))?;
        let line = row.position().map_or(0, |p| p.line());
        let field = |i: usize| row.get(i).unwrap_or("");
        let area = (|| -> Result<AreaDefined, pledger_core::FieldError> {
            Ok(AreaDefined {
                code: AreaCode::parse(field(code))?,
                name: Name::parse(field(name))?,
                level: Level::parse(field(level))?,
                parent: match parent.map(field) {
                    Some(p) if !p.is_empty() => Some(AreaCode::parse(p)?),
                    _ => None,
                },
            })
        })()
        .map_err(|e| format!("{line}: {e}"))?;
        areas.push(area);
        if areas.len() > 100_000 {
            return Err(format!("{line}: more than 100,000 areas"));
        }
    }
    areas.sort_by_key(|a| a.level);
    Ok(areas)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parents_first_and_errors_name_the_line() {
        let areas = super::parse(b"code,name,level,parent\nML-3,Sikasso,region,ML\nML,Mali,country,\n").unwrap();
        assert_eq!(areas[0].code.as_str(), "ML");
        assert_eq!(areas[1].parent.as_ref().unwrap().as_str(), "ML");
        let e = super::parse(b"code,name,level\nML,Mali,country\nML-3,Sikasso,regio\n").unwrap_err();
        assert!(e.starts_with("3:") && e.contains("area level"), "{e}");
        assert!(super::parse(b"code,name\nML,Mali\n").unwrap_err().contains("header"));
        assert!(super::parse(b"code,name,level\n\"unterminated\n").is_err());
    }
}
