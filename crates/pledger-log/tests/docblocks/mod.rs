//! The worked examples of a Markdown document, as its `<!-- example: NAME -->` blocks: shared by
//! the tests that recompute docs/format.md.

/// The fenced blocks of a Markdown file that follow `<!-- example: NAME -->` comments.
pub fn doc_blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("<!-- example: ").and_then(|r| r.strip_suffix(" -->")) else {
            continue;
        };
        let mut body = Vec::new();
        let mut inside = false;
        for l in lines.by_ref() {
            if l.starts_with("```") {
                if inside {
                    break;
                }
                inside = true;
                continue;
            }
            if inside {
                body.push(l);
            }
        }
        out.push((name.to_owned(), body.join("\n")));
    }
    out
}
