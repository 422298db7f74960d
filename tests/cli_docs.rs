//! Shell completions and man pages, generated from the command line's definitions: they load
//! in a real shell, cover every command, and the pages in docs/man are the current ones.

use std::path::PathBuf;
use std::process::Command;

use crate::common::Env;

#[test]
fn bash_loads_the_completions() {
    let env = Env::new();
    let script = env.ok(&["completions", "bash"]);
    let path = env.write("pledger.bash", &script);
    // Bash completes a command and an option of a subcommand, as it would at a prompt.
    let complete = |words: &str, cword: usize, prev: &str| {
        let last = words.split(' ').next_back().unwrap_or("");
        let script = format!(
            "source {} && COMP_WORDS=({words}) COMP_CWORD={cword} COMP_LINE='{words}' COMP_POINT={} && \
             _pledger pledger '{last}' '{prev}' && echo \"${{COMPREPLY[@]}}\"",
            path.display(),
            words.len()
        );
        let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(complete("pledger imp", 1, "pledger"), "import");
    assert_eq!(complete("pledger import iati --rep", 3, "iati"), "--reporting-org");
    for sub in ["import", "report", "verify", "completions"] {
        assert!(script.contains(sub), "{sub}");
    }
    assert!(env.ok(&["completions", "zsh"]).starts_with("#compdef pledger"));
    assert!(env.ok(&["completions", "fish"]).contains("complete -c pledger"));
    let out = env.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn man_pages_are_generated_and_the_committed_ones_are_current() {
    let env = Env::new();
    let listed = env.ok(&["man", "pages"]);
    let dir = env.path("pages");
    assert!(listed.lines().count() > 30, "{listed}");
    let main = std::fs::read_to_string(dir.join("pledger.1")).unwrap();
    assert!(main.contains(".TH pledger 1"), "{main}");
    let iati = std::fs::read_to_string(dir.join("pledger-import-iati.1")).unwrap();
    assert!(iati.contains("reporting\\-org"), "{iati}");
    // docs/man holds the same pages: regenerate them with `pledger man docs/man` after a change.
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
    for line in listed.lines() {
        let name = std::path::Path::new(line).file_name().unwrap();
        let fresh = std::fs::read_to_string(dir.join(name)).unwrap();
        let kept = std::fs::read_to_string(committed.join(name))
            .unwrap_or_else(|_| panic!("docs/man/{} is missing: run `pledger man docs/man`", name.to_string_lossy()));
        assert_eq!(kept, fresh, "docs/man/{} is stale: run `pledger man docs/man`", name.to_string_lossy());
    }
    // man itself reads them.
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let out =
            Command::new("man").arg("-l").arg(dir.join("pledger-report.1")).env("MANPAGER", "cat").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("--html"));
    } else {
        crate::common::unavailable("man (man-db), to render a generated page");
    }
}

/// `pledger … | head`: when the reader goes away, pledger ends quietly by SIGPIPE, like other
/// Unix tools, instead of panicking or printing an error.
#[test]
fn a_closed_pipe_ends_pledger_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(crate::common::bin())
        // More than a pipe's 64 KiB buffer, so the writer is still writing when the pipe closes.
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(&first, b"_pledger");
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
