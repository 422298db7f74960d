//! Shell completions and man pages, generated from the command line's definitions: completions
//! run in a real bash and offer the ledger's own ids, and the pages in docs/man are the current
//! ones.

use std::path::PathBuf;
use std::process::Command;

use crate::common::Env;

/// Runs bash's completion of `words` (the last one being completed) with the script `pledger
/// completions bash` printed, as bash does at a Tab; the candidates, sorted.
fn bash_complete(env: &Env, script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let line = format!(
        "source {} && COMP_WORDS=({}) COMP_CWORD={cword} COMP_TYPE=9 && \
         _clap_complete_pledger pledger '{}' '{prev}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = Command::new("bash").arg("-c").arg(line).env("PLEDGER_LEDGER", &env.ledger).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_owned()).collect();
    found.retain(|l| !l.is_empty());
    found.sort();
    found
}

#[test]
fn bash_completes_commands_options_and_the_ledgers_ids() {
    let env = crate::common::demo();
    let script = env.ok(&["completions", "bash"]);
    let path = env.write("pledger.bash", &script);
    assert_eq!(bash_complete(&env, &path, &["pledger", "imp"]), ["import"]);
    assert_eq!(bash_complete(&env, &path, &["pledger", "import", "iati", "--rep"]), ["--reporting-org"]);

    // Member ids, pledge and fulfillment ids, area and category codes come from the ledger:
    // the same as the ledger's own answers list.
    let json = |args: &[&str]| crate::common::json_lines(&env.ok(args));
    let mut members: Vec<String> =
        json(&["members", "--format", "json"]).iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    members.sort();
    assert!(members.len() >= 3, "{members:?}");
    assert_eq!(bash_complete(&env, &path, &["pledger", "status", "--org", ""]), members);
    assert_eq!(bash_complete(&env, &path, &["pledger", "pledge", "--to", ""]), members);

    let statuses = json(&["status", "--format", "json"]);
    let mut pledges: Vec<String> = statuses.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    pledges.sort();
    assert!(pledges.len() >= 3, "{pledges:?}");
    // An empty word offers the options too; a prefix, the ids alone.
    assert_eq!(bash_complete(&env, &path, &["pledger", "fulfill", "P-"]), pledges);
    assert!(bash_complete(&env, &path, &["pledger", "fulfill", ""]).contains(&pledges[0]));
    let first = &pledges[0];
    assert_eq!(bash_complete(&env, &path, &["pledger", "withdraw", first]), vec![first.to_owned()]);

    let mut fulfillments: Vec<String> = json(&["log", "--format", "json"])
        .iter()
        .filter(|e| e["kind"] == "fulfillment")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    fulfillments.sort();
    assert!(!fulfillments.is_empty());
    assert_eq!(bash_complete(&env, &path, &["pledger", "attest", "F-"]), fulfillments);
    // show takes either.
    assert_eq!(bash_complete(&env, &path, &["pledger", "show", "P-"]), pledges);
    assert_eq!(bash_complete(&env, &path, &["pledger", "show", "F-"]), fulfillments);

    let coverage = json(&["coverage", "--format", "json"]);
    let mut areas: Vec<String> = coverage.iter().map(|a| a["code"].as_str().unwrap().to_owned()).collect();
    areas.sort();
    assert_eq!(bash_complete(&env, &path, &["pledger", "status", "--area", ""]), areas);
    let categories: Vec<String> = coverage[0]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap().to_owned())
        .collect();
    assert!(categories.contains(&"training".to_owned()), "{categories:?}");
    assert!(bash_complete(&env, &path, &["pledger", "pledge", "--category", "tr"]).contains(&"training".to_owned()));

    // With no ledger to read, ids are simply not offered; commands still are.
    let elsewhere = Env::new();
    assert!(bash_complete(&elsewhere, &path, &["pledger", "status", "--org", ""]).is_empty());
    assert_eq!(bash_complete(&elsewhere, &path, &["pledger", "stat"]), ["status"]);

    // zsh and fish are given each pledge's title and each member's name beside its id.
    let zsh = Command::new(crate::common::bin())
        .args(["--", "pledger", "fulfill", "P-"])
        .env("PLEDGER_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("PLEDGER_LEDGER", &env.ledger)
        .output()
        .unwrap();
    let zsh = String::from_utf8_lossy(&zsh.stdout).into_owned();
    let title = statuses[0]["title"].as_str().unwrap();
    let shown: String = title.chars().take(60).collect();
    assert!(zsh.lines().any(|l| l.starts_with(&format!("{}:{shown}", statuses[0]["id"].as_str().unwrap()))), "{zsh}");
    let fish = Command::new(crate::common::bin())
        .args(["--", "pledger", "status", "--org", ""])
        .env("PLEDGER_COMPLETE", "fish")
        .env("PLEDGER_LEDGER", &env.ledger)
        .output()
        .unwrap();
    let fish = String::from_utf8_lossy(&fish.stdout).into_owned();
    let member = &json(&["members", "--format", "json"])[0];
    assert!(
        fish.lines().any(|l| l == format!("{}\t{}", member["id"].as_str().unwrap(), member["name"].as_str().unwrap())),
        "{fish}"
    );

    assert!(env.ok(&["completions", "zsh"]).starts_with("#compdef pledger"));
    assert!(env.ok(&["completions", "fish"]).contains("complete --keep-order --exclusive --command pledger"));
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
    // 400 events: a log of about 300 KB, more than a pipe's 64 KiB buffer, so the writer is
    // still writing when the pipe closes.
    let env = crate::common::generated_ledger(400);
    let mut child = Command::new(crate::common::bin())
        .env("PLEDGER_LEDGER", &env.ledger)
        .args(["log", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(&first, b"{\"seq\":0");
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
