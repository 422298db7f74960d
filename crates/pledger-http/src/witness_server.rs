//! `pledger witness serve --http ADDR`: a witness of C2SP tlog-witness over HTTP — `POST
//! /add-checkpoint` cosigns a checkpoint of a log it trusts when a consistency proof joins it to
//! the last one it cosigned for that log, answering each refusal with the status the spec gives
//! it (`409` with the size it knows as `text/x.tlog.size`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pledger_app::witness::{AddCheckpoint, DirStore, Witness, WitnessError};
use pledger_log::checkpoint::Checkpoint;
use pledger_log::note::Verifier;

use crate::server::Stop;

/// Largest add-checkpoint body: 63 proof lines and a checkpoint with its signatures.
const MAX_BODY: usize = 64 * 1024;

struct Shared {
    witness: Mutex<Witness<DirStore>>,
    /// The logs it witnesses: each log key's verifier, named by the log's origin.
    logs: Vec<Verifier>,
}

/// Serves `witness` on `listener` for the logs whose keys `logs` are, until `stop`.
pub fn run(
    witness: Witness<DirStore>,
    logs: Vec<Verifier>,
    listener: std::net::TcpListener,
    stop: Arc<Stop>,
) -> Result<(), String> {
    let shared = Arc::new(Shared { witness: Mutex::new(witness), logs });
    let router = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(|| async { "a witness of C2SP tlog-witness: POST /add-checkpoint\n" }))
        .with_state(shared);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
    runtime.block_on(crate::server::accept(router, listener, 256, Duration::from_secs(30), stop))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn add_checkpoint(State(s): State<Arc<Shared>>, body: Body) -> Response {
    let bytes = match tokio::time::timeout(Duration::from_secs(30), axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain; charset=utf-8",
                "the request is too large\n".into(),
            )
        }
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "text/plain; charset=utf-8",
                "the request came too slowly\n".into(),
            )
        }
    };
    let shared = Arc::clone(&s);
    let outcome = tokio::task::spawn_blocking(move || -> Result<String, WitnessError> {
        let req = AddCheckpoint::parse(&bytes)?;
        let cp = Checkpoint::parse_text(&req.checkpoint.text).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let trusted = shared
            .logs
            .iter()
            .find(|v| v.name == cp.origin)
            .ok_or_else(|| WitnessError::UnknownLog(cp.origin.clone()))?;
        let mut w = shared.witness.lock().map_err(|_| WitnessError::State("the witness's lock is poisoned".into()))?;
        let cosigned = w.add_checkpoint(&req, Some(trusted.key))?;
        // The answer is this witness's own signature lines.
        let name = w.name.clone();
        Ok(cosigned.signatures.iter().filter(|s| s.name == name).map(|s| s.line()).collect())
    })
    .await
    .unwrap_or_else(|_| Err(WitnessError::State("the request's work stopped".into())));
    match outcome {
        Ok(lines) => text(StatusCode::OK, "text/plain; charset=utf-8", lines),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match e {
                WitnessError::OldSize { known, .. } | WitnessError::Conflict { known, .. } => {
                    text(status, "text/x.tlog.size", format!("{known}\n"))
                }
                e => text(status, "text/plain; charset=utf-8", format!("{e}\n")),
            }
        }
    }
}
