//! `pledger publish DIR`: the log as files any static web server, object store or CDN serves —
//! the same paths as `serve --http` (`checkpoint`, `tile/…`, `tile/entries/…`), written
//! incrementally: only the tiles a copy lacks, each written beside and renamed into place, the
//! checkpoint last, so that a reader never finds a checkpoint whose tiles are not there yet.

use std::io::Write;
use std::path::{Path, PathBuf};

use pledger_log::checkpoint::Checkpoint;
use pledger_log::note::Note;

/// The checkpoint a copy in `dir` holds, if any: its origin and size.
pub fn published(dir: &Path) -> Result<Option<(String, u64)>, String> {
    let path = dir.join("checkpoint");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let note = Note::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            let cp = Checkpoint::parse_text(&note.text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Some((cp.origin, cp.size)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `bytes` at `dir/path`: beside it first, synced, then renamed into place.
pub fn write_atomically(dir: &Path, path: &str, bytes: &[u8]) -> Result<(), String> {
    let full = dir.join(path);
    let fail = |e: std::io::Error| format!("{}: {e}", full.display());
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp: PathBuf = {
        let mut s = full.as_os_str().to_owned();
        s.push(format!(".tmp-{}", std::process::id()));
        s.into()
    };
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(fail)?;
    std::fs::rename(&tmp, &full).map_err(fail)
}

/// Whether a tile at `path` need not be written again: a full tile already there never changes.
pub fn already(dir: &Path, path: &str) -> bool {
    !path.contains(".p/") && dir.join(path).exists()
}
