//! A client of a ledger served over HTTP, or of a copy of its log on a static host: every answer
//! read through a bound, every refusal the server's problem.

use std::io::Read;
use std::time::Duration;

use pledger_log::Envelope;
use serde::de::DeserializeOwned;

use crate::problem::Problem;
use crate::receipt::Receipt;
use crate::tiles::Tile;

/// Why a request to a server did not succeed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum ClientError {
    /// The server refused, with a problem (RFC 9457).
    #[error("{}", .0.detail)]
    Problem(Problem),
    /// The server could not be reached, or the connection failed.
    #[error("{url}: {why}")]
    Transport { url: String, why: String },
    /// The server answered what this client cannot take: an unknown status, a body too large or
    /// not of its form.
    #[error("{url}: {why}")]
    Answer { url: String, why: String },
}

/// Largest answer read: a tile, a bundle of 256 entries, a page of the log, a report.
pub const MAX_ANSWER: u64 = 64 << 20;

/// A server (or static host) at a base URL.
pub struct Remote {
    base: String,
    client: reqwest::blocking::Client,
}

impl Remote {
    /// A client of the server at `url` (`http://…` or `https://…`).
    pub fn new(url: &str) -> Result<Remote, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Transport { url: base, why: "not an http:// or https:// URL".into() });
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("pledger/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport { url: base.clone(), why: e.to_string() })?;
        Ok(Remote { base, client })
    }

    /// Another handle on the same client (it shares the connection pool).
    pub fn clone_handle(&self) -> Remote {
        Remote { base: self.base.clone(), client: self.client.clone() }
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// The body of an answer, read through the bound; a problem or an unexpected status as an
    /// error.
    fn take(&self, url: &str, resp: reqwest::blocking::Response) -> Result<(u16, Vec<u8>), ClientError> {
        let status = resp.status().as_u16();
        let is_problem = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(crate::problem::CONTENT_TYPE));
        let mut body = Vec::new();
        resp.take(MAX_ANSWER + 1)
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Transport { url: url.to_owned(), why: e.to_string() })?;
        if body.len() as u64 > MAX_ANSWER {
            return Err(ClientError::Answer {
                url: url.to_owned(),
                why: format!("an answer larger than {MAX_ANSWER} bytes"),
            });
        }
        if is_problem {
            let p: Problem = serde_json::from_slice(&body).map_err(|e| ClientError::Answer {
                url: url.to_owned(),
                why: format!("an unreadable problem (HTTP {status}): {e}"),
            })?;
            return Err(ClientError::Problem(p));
        }
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned();
            return Err(ClientError::Answer { url: url.to_owned(), why: format!("HTTP {status}: {text}") });
        }
        Ok((status, body))
    }

    /// `GET path`: the body.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path);
        let resp = self.client.get(&url).send().map_err(|e| transport(&url, e))?;
        Ok(self.take(&url, resp)?.1)
    }

    /// `GET path`, `None` when it is not there (404 without a problem: a static host).
    pub fn get_if_there(&self, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let url = self.url(path);
        let resp = self.client.get(&url).send().map_err(|e| transport(&url, e))?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        self.take(&url, resp).map(|(_, b)| Some(b))
    }

    /// `GET path` as JSON.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Answer { url: self.url(path), why: e.to_string() })
    }

    /// The log's latest checkpoint, as its text.
    pub fn checkpoint(&self) -> Result<String, ClientError> {
        let body = self.get("checkpoint")?;
        String::from_utf8(body)
            .map_err(|_| ClientError::Answer { url: self.url("checkpoint"), why: "not UTF-8".into() })
    }

    /// A tile or an entry bundle.
    pub fn tile(&self, tile: &Tile) -> Result<Vec<u8>, ClientError> {
        self.get(&tile.path())
    }

    /// Appends envelopes (one request, atomic): their receipts, in order.
    pub fn post_entries(&self, envelopes: &[Envelope]) -> Result<Vec<Receipt>, ClientError> {
        let url = self.url("v1/entries");
        let (media, body) = match envelopes {
            [one] => ("application/json", one.to_json().into_bytes()),
            many => {
                let mut body = Vec::new();
                for e in many {
                    body.extend(e.to_json().into_bytes());
                    body.push(b'\n');
                }
                ("application/jsonl", body)
            }
        };
        let resp = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, media)
            .body(body)
            .send()
            .map_err(|e| transport(&url, e))?;
        let (_, body) = self.take(&url, resp)?;
        let bad = |e: serde_json::Error| ClientError::Answer { url: url.clone(), why: format!("a receipt: {e}") };
        let receipts: Vec<Receipt> = if envelopes.len() == 1 {
            vec![serde_json::from_slice(&body).map_err(bad)?]
        } else {
            body.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).map_err(bad))
                .collect::<Result<_, _>>()?
        };
        if receipts.len() != envelopes.len() {
            return Err(ClientError::Answer {
                url,
                why: format!("{} receipts for {} envelopes", receipts.len(), envelopes.len()),
            });
        }
        Ok(receipts)
    }
}

fn transport(url: &str, e: reqwest::Error) -> ClientError {
    // The innermost cause says what went wrong; the layers above it repeat the URL.
    let mut root: &dyn std::error::Error = &e;
    while let Some(s) = root.source() {
        root = s;
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut why = format!("{what}: {root}");
    if why.contains("certificate") {
        why.push_str(" (for a certificate of a private CA, set SSL_CERT_FILE to that CA's certificate)");
    }
    ClientError::Transport { url: url.to_owned(), why }
}
