//! Helpers for the end-to-end tests: a temp dir with keys and a ledger, and the real `pledger`
//! binary run as a process.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

pub const ORIGIN: &str = "hmis.sante.gov.ml/pledges";

/// The members of [`Env::founded`], each with a key file named after it.
pub const MEMBERS: [&str; 5] = ["dns", "psi", "measure", "bvg", "usaid"];

/// `--key KEY pledge` with a valid default for every flag; `changes` replace the values of the
/// flags they name (`("--currency", "XYZ")`).
pub fn pledge_with(key: &str, changes: &[(&str, &str)]) -> Vec<String> {
    let mut flags = vec![
        ("--to", "dns"),
        ("--category", "funding"),
        ("--area", "ML"),
        ("--amount", "5"),
        ("--currency", "XOF"),
        ("--due", "2015-01-01"),
        ("--title", "T"),
    ];
    for (flag, value) in changes {
        match flags.iter_mut().find(|(f, _)| f == flag) {
            Some(slot) => slot.1 = value,
            None => flags.push((flag, value)),
        }
    }
    let mut args = vec!["--key".to_owned(), key.to_owned(), "pledge".to_owned()];
    for (f, v) in flags {
        args.push(f.to_owned());
        args.push(v.to_owned());
    }
    args
}

pub struct Env {
    pub dir: TempDir,
    pub ledger: PathBuf,
}

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("pledger")
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger");
        Env { dir, ledger }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary, in the temp dir, with the ledger set and no stray settings.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("PLEDGER_LEDGER", &self.ledger)
            .env_remove("PLEDGER_KEY")
            .env_remove("PLEDGER_AS")
            .env_remove("PLEDGER_ORIGIN")
            // No server started on first use unless a test asks for one.
            .env_remove("PLEDGER_SERVE_ON_USE")
            // Tables fitted to the default width, whatever terminal runs the tests.
            .env_remove("COLUMNS")
            .env("NO_COLOR", "1");
        c
    }

    pub fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout, trimmed.
    pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `keygen NAME`: returns the key id.
    pub fn keygen(&self, name: &str) -> String {
        self.ok(&["keygen", name])
    }

    /// Everything the ledger shows: its log and members, as JSON.
    pub fn state(&self) -> String {
        let log = self.ok(&["log", "--format", "json"]);
        let members = self.ok(&["members", "--format", "json"]);
        format!("{log}\n{members}")
    }

    /// Runs a command that must be refused with `code`, a one-line message containing `needle`,
    /// nothing on stdout, and the ledger exactly as it was.
    pub fn refused<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S], code: i32, needle: &str) -> String {
        let before = self.state();
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.starts_with("pledger: "), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: not one line: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(self.state(), before, "{args:?} changed the ledger");
        stderr
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// A ledger founded by `dns` with Mali's regions, and members psi (implementer), measure
    /// (implementer), bvg (auditor), usaid (donor); every key named after its member.
    pub fn founded() -> Env {
        let env = Env::new();
        for k in MEMBERS {
            env.keygen(&format!("{k}.key"));
        }
        env.found();
        env
    }

    /// Founds the ledger with the members' keys already in the directory.
    pub fn found(&self) {
        self.write(
            "areas.csv",
            "code,name,level,parent\nML,Mali,country,\nML-1,Kayes,region,ML\nML-3,Sikasso,region,ML\n\
             ML-8,Kidal,region,ML\nML-BKO,Bamako,region,ML\n",
        );
        self.ok(&[
            "--key", "dns.key", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS", "--areas", "areas.csv",
        ]);
        for (id, kind) in [("psi", "implementer"), ("measure", "implementer"), ("bvg", "auditor"), ("usaid", "donor")] {
            let pubkey = format!("{id}.key.pub");
            self.ok(&["--key", "dns.key", "member", "add", id, "--name", id, "--kind", kind, "--pubkey", &pubkey]);
        }
    }

    /// psi pledges XOF 1,000,000 to dns over Sikasso; returns the pledge id.
    pub fn pledge_xof(&self, by: &str, amount: &str) -> String {
        self.ok(&[
            "--key",
            &format!("{by}.key"),
            "pledge",
            "--to",
            "dns",
            "--category",
            "equipment",
            "--area",
            "ML-3",
            "--amount",
            amount,
            "--currency",
            "XOF",
            "--due",
            "2015-06-30",
            "--title",
            "Laptops",
            "--date",
            "2014-03-01",
        ])
    }
}

/// A ledger of `n` generated events (about 600 bytes each in the log), written by bulk submit.
pub fn generated_ledger(n: u64) -> Env {
    let env = Env::new();
    let work = env.path("gen");
    pledger_bench::measure::generate(n, &work, 3).unwrap();
    let out = env.cmd().args(["-q", "submit", "--create"]).arg(work.join("envelopes.jsonl")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env
}

/// The demo's ledger (the founding story), built by `pledger demo` in a temp dir.
pub fn demo() -> Env {
    let env = Env::new();
    let out = env.cmd().args(["--ledger", env.ledger.to_str().unwrap(), "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env
}

pub fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A tool or data a test needs is missing. Outside CI the test says it was skipped; under
/// `.ci/run`, which installs every such tool and sets `PLEDGER_REQUIRE_EXTERNAL`, it fails, so a
/// failed install can never pass as a green run.
pub fn unavailable(what: &str) {
    if std::env::var_os("PLEDGER_REQUIRE_EXTERNAL").is_some() {
        panic!("required by .ci/run but missing: {what}");
    }
    eprintln!("skipped: {what}");
}

impl Env {
    /// `pledger submit -` on this ledger, with its standard streams piped: it holds the ledger
    /// open and waits on its input.
    pub fn submit_stream(&self) -> std::process::Child {
        std::process::Command::new(bin())
            .args(["--ledger", self.ledger.to_str().unwrap(), "submit", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Copies a directory tree (a ledger, to damage or to leave beside it).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Changes the ledger's sled tree directly, behind pledger's back, and flushes.
pub fn behind_the_back(env: &Env, change: impl FnOnce(&sled::Db)) {
    let db = open_directly(env);
    change(&db);
    db.flush().unwrap();
}

/// The ledger's sled tree, opened directly. A handle dropped just before may still hold sled's
/// file lock for a moment (its threads let go of it), so a refused open is tried again, within
/// ten seconds.
pub fn open_directly(env: &Env) -> sled::Db {
    let start = std::time::Instant::now();
    loop {
        match pledger_store::config(&env.ledger).open() {
            Ok(db) => return db,
            Err(_) if start.elapsed() < std::time::Duration::from_secs(10) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the ledger could not be opened directly: {e}"),
        }
    }
}
