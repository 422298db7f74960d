//! A ledger on another machine, served over HTTP (`pledger serve --http`): the application's
//! requests as HTTP calls, each write's receipt checked — its checkpoint under the log key
//! pinned with `--log-key` or at first contact, the entry's inclusion proof — before its id is
//! printed, and kept with `--receipts DIR`.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use pledger_app::query::QueryRequest;
use pledger_app::service::{Answer, Request};
use pledger_app::write::{Appended, Items};
use pledger_app::Kind;
use pledger_http::client::{ClientError, Remote};
use pledger_http::Receipt;
use pledger_log::checkpoint::Checkpoint;
use pledger_log::keys;
use pledger_log::note::Verifier;
use pledger_log::Envelope;

use crate::cli::RemoteOpts;
use crate::fail::{input, usage, Failure, Result};

/// A remote ledger, and what its writes are checked with.
pub struct Served {
    remote: Remote,
    opts: RemoteOpts,
    /// The log's origin and key, once known.
    pinned: Option<(String, VerifyingKey)>,
}

fn failed(e: ClientError) -> Failure {
    match e {
        ClientError::Problem(p) => {
            let kind = match p.status {
                400 | 413 | 415 => Kind::Input,
                404 => Kind::NotFound,
                409 => Kind::Conflict,
                503 => Kind::InUse,
                500 => Kind::Storage,
                _ => Kind::Refused,
            };
            Failure::new(kind, p.detail)
        }
        e => Failure::new(Kind::Storage, e.to_string()),
    }
}

impl Served {
    pub fn new(url: &str, opts: RemoteOpts) -> Result<Served> {
        Ok(Served { remote: Remote::new(url).map_err(failed)?, opts, pinned: None })
    }

    /// The log's origin and key that receipts are checked with: `--log-key`, or the key pinned
    /// at first contact with this URL (pinned now if this is the first).
    fn pin(&mut self) -> Result<(String, VerifyingKey)> {
        if let Some(p) = &self.pinned {
            return Ok(p.clone());
        }
        let served = String::from_utf8(self.remote.get("v1/vkey").map_err(failed)?)
            .map_err(|_| input("the server's verifier key is not text"))?;
        let served =
            Verifier::parse_vkey(served.trim()).map_err(|e| input(format!("the server's verifier key: {e}")))?;
        let pinned = match &self.opts.log_key {
            Some(k) if Path::new(k).is_file() => (served.name.clone(), keys::read_public(Path::new(k))?),
            Some(k) => {
                let v = Verifier::parse_vkey(k).map_err(|e| usage(format!("--log-key: {e}")))?;
                (v.name, v.key)
            }
            None => {
                let file = pin_file(self.remote.base())?;
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        let v =
                            Verifier::parse_vkey(text.trim()).map_err(|e| input(format!("{}: {e}", file.display())))?;
                        (v.name, v.key)
                    }
                    Err(_) => {
                        if let Some(dir) = file.parent() {
                            std::fs::create_dir_all(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
                        }
                        std::fs::write(&file, format!("{}\n", served.vkey()))
                            .map_err(|e| input(format!("{}: {e}", file.display())))?;
                        eprintln!(
                            "pledger: pinned the log key of {} at first contact: {} (kept in {})",
                            self.remote.base(),
                            served.vkey(),
                            file.display()
                        );
                        (served.name.clone(), served.key)
                    }
                }
            }
        };
        if pinned.1 != served.key || pinned.0 != served.name {
            return Err(Failure::new(
                Kind::Verification,
                format!(
                    "the log at {} signs as {}, not with the log key pinned for it ({}): refusing to trust its receipts",
                    self.remote.base(),
                    served.vkey(),
                    Checkpoint::verifier(&pinned.0, pinned.1).map(|v| v.vkey()).unwrap_or_default()
                ),
            ));
        }
        self.pinned = Some(pinned.clone());
        Ok(pinned)
    }

    /// Posts envelopes (one atomic request) and checks every receipt; keeps them if asked.
    fn write(&mut self, envelopes: &[Envelope]) -> Result<Vec<Appended>> {
        let (origin, key) = self.pin()?;
        let receipts = self.remote.post_entries(envelopes).map_err(failed)?;
        let mut done = Vec::with_capacity(receipts.len());
        for (r, env) in receipts.iter().zip(envelopes) {
            r.verify(&origin, &key, Some(env)).map_err(|e| Failure::new(Kind::Verification, e.to_string()))?;
            if let Some(dir) = &self.opts.receipts {
                keep(dir, r)?;
            }
            done.push(Appended { seq: r.seq, id: r.id.clone(), event_id: r.event_id.clone() });
        }
        Ok(done)
    }

    fn query_path(what: &str, q: &QueryRequest, today: pledger_core::Date) -> String {
        let mut params = vec![format!("today={today}")];
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        if let Some(o) = &q.org {
            params.push(format!("org={}", enc(o)));
        }
        if let Some(a) = &q.area {
            params.push(format!("area={}", enc(a)));
        }
        if let Some(n) = q.at {
            params.push(format!("at={n}"));
        }
        if let Some(d) = &q.as_of {
            params.push(format!("as-of={}", enc(d)));
        }
        format!("v1/{what}?{}", params.join("&"))
    }

    /// Asks `request` of the remote ledger.
    pub fn ask(
        &mut self,
        request: Request,
        more: Option<Items>,
        on_part: &mut dyn FnMut(Answer) -> Result<()>,
    ) -> Result<Answer> {
        let r = self.remote.clone_handle();
        let r = &r;
        Ok(match request {
            Request::Status { query, today } => {
                Answer::Statuses(r.get_json(&Self::query_path("status", &query, today)).map_err(failed)?)
            }
            Request::Scorecard { query, today } => {
                Answer::Scorecard(r.get_json(&Self::query_path("scorecard", &query, today)).map_err(failed)?)
            }
            Request::Coverage { query, today } => {
                Answer::Coverage(r.get_json(&Self::query_path("coverage", &query, today)).map_err(failed)?)
            }
            Request::Timeline { query, today } => {
                Answer::Timeline(r.get_json(&Self::query_path("timeline", &query, today)).map_err(failed)?)
            }
            Request::Show { id, today } => {
                Answer::Shown(r.get_json(&format!("v1/show/{id}?today={today}")).map_err(failed)?)
            }
            Request::Members => Answer::Members(r.get_json("v1/members").map_err(failed)?),
            Request::Log { from } => {
                let mut at = from;
                loop {
                    let page = r.get(&format!("v1/log?from={at}")).map_err(failed)?;
                    let mut n = 0;
                    for line in page.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        let e = serde_json::from_slice(line).map_err(|e| input(format!("the log's page: {e}")))?;
                        on_part(Answer::Entry(e))?;
                        n += 1;
                    }
                    if n == 0 {
                        break;
                    }
                    at += n;
                }
                Answer::Done
            }
            Request::Context { key, as_member, origin, pledges } => {
                // What is signed is bound to the log's origin: the log is checked against its
                // pinned key before anything is signed for it.
                self.pin()?;
                let key_b64 =
                    serde_json::to_value(key).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                let enc = |s: &str| s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
                let mut path = format!("v1/context?key={}", enc(&key_b64));
                if let Some(m) = as_member {
                    path.push_str(&format!("&as={m}"));
                }
                if !pledges.is_empty() {
                    path.push_str(&format!(
                        "&pledges={}",
                        pledges.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")
                    ));
                }
                let answer: Answer = r.get_json(&path).map_err(failed)?;
                if let (Some(o), Answer::Context { context, .. }) = (origin, &answer) {
                    if o != context.origin {
                        return Err(usage(format!("--origin {o} is not this ledger's origin {}", context.origin)));
                    }
                }
                answer
            }
            Request::Append { envelope } => {
                let env = Envelope::parse(envelope.as_bytes()).map_err(|e| input(e.to_string()))?;
                Answer::Durable(self.write(&[env])?)
            }
            // One request, all or none: the server writes a request's envelopes together.
            Request::AppendAll { envelopes } => {
                let parsed = envelopes
                    .iter()
                    .map(|(name, json)| Envelope::parse(json.as_bytes()).map_err(|e| input(format!("{name}: {e}"))))
                    .collect::<Result<Vec<_>>>()?;
                Answer::Durable(self.write(&parsed)?)
            }
            Request::Submit { options, input: streamed, envelopes } => {
                let listed = envelopes.into_iter().map(|(src, json)| {
                    Envelope::parse(json.as_bytes())
                        .map(|e| (src, e))
                        .map_err(|e| pledger_app::Error::input(e.to_string()))
                });
                let items: Items = match more {
                    Some(more) if streamed => Box::new(listed.chain(more)),
                    _ => Box::new(listed.collect::<Vec<_>>().into_iter()),
                };
                let mut group: Vec<Envelope> = Vec::new();
                let mut sources = Vec::new();
                let mut flush = |s: &mut Served,
                                 group: &mut Vec<Envelope>,
                                 sources: &mut Vec<pledger_app::write::Source>|
                 -> Result<()> {
                    if group.is_empty() {
                        return Ok(());
                    }
                    let done = s.write(group).map_err(|f| match sources.first() {
                        Some(src) if group.len() == 1 => Failure::new(f.kind, format!("{src}: {}", f.message)),
                        _ => f,
                    })?;
                    group.clear();
                    sources.clear();
                    on_part(Answer::Durable(done))
                };
                for item in items {
                    let (src, env) = item.map_err(Failure::from)?;
                    group.push(env);
                    sources.push(src);
                    if group.len() >= options.chunk.min(options.group).max(1) {
                        flush(self, &mut group, &mut sources)?;
                    }
                }
                flush(self, &mut group, &mut sources)?;
                Answer::Done
            }
            Request::Report { when, today } => {
                let mut path = format!("report.html?today={today}");
                if let Some(n) = when.at {
                    path.push_str(&format!("&at={n}"));
                }
                if let Some(d) = &when.as_of {
                    path.push_str(&format!("&as-of={d}"));
                }
                let html =
                    String::from_utf8(r.get(&path).map_err(failed)?).map_err(|_| input("the report is not UTF-8"))?;
                Answer::Bytes(html.into_bytes())
            }
            other => {
                let name = serde_json::to_value(&other)
                    .ok()
                    .and_then(|v| v["ask"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                return Err(usage(format!(
                    "`{name}` is the operator's and runs where the ledger is, not over --remote: run it there"
                )));
            }
        })
    }
}

/// Where the log key of `url`, pinned at first contact, is kept: under `$PLEDGER_CONFIG`, else
/// `$XDG_CONFIG_HOME/pledger`, else `~/.config/pledger`.
fn pin_file(url: &str) -> Result<PathBuf> {
    use sha2::Digest;
    let base = std::env::var_os("PLEDGER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("pledger")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/pledger")))
        .ok_or_else(|| usage("no home to keep the log key pinned at first contact: give --log-key"))?;
    let h = sha2::Sha256::digest(url.trim_end_matches('/').as_bytes());
    Ok(base.join("logs").join(format!("{}.vkey", &hex::encode(h)[..24])))
}

/// Keeps a receipt as `DIR/<event id>.json`.
fn keep(dir: &Path, r: &Receipt) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("{}.json", r.event_id));
    let bytes = serde_json::to_vec_pretty(r).map_err(std::io::Error::from)?;
    std::fs::write(&path, bytes).map_err(|e| input(format!("{}: {e}", path.display())))
}
