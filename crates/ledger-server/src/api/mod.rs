//! The routes and their handlers. Each request passes a flat list of guards in a fixed order:
//! token (401) and declared body size (413) in [`authenticate`], a layer that runs before any
//! byte of the body is read; then in the handler body size (413), parse (400), role (403),
//! queue room (503), then the ledger.
//! This module holds what every handler shares (state, errors, the guards); the handlers sit in
//! `commands` (submit, batch, dry run), `queries` (read models), `events` (CDC) and
//! `operations` (health, readiness, metrics), `proofs` (checkpoints and proofs) and `operator` (tick, risk list, backups; the
//! ticker).

mod commands;
mod events;
mod operations;
mod operator;
mod proofs;
mod queries;

pub use commands::*;
pub use events::*;
pub use operations::*;
pub use operator::*;
pub use proofs::*;
pub use queries::*;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ledger_core::Command;
use ledger_store::{AnswerStatus, Error as StoreError, Ledger, Reader, Receipt};
use tokio::sync::{Semaphore, watch};

use crate::auth::{Access, Caller, Tokens};
use crate::config::Limits;
use crate::lease::Holder;
use crate::metrics::Metrics;
use crate::views::{ErrorView, WriterView};

/// The header every authenticated answer carries: the head's seq this server knew when the
/// request came (the answer reflects the log at least up to it).
pub const SEQ_HEADER: &str = "ledger-seq";

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Shared>);

/// What this server does now: serve reads as a standby, or be the writer.
#[derive(Clone, Debug)]
pub enum Serving {
    /// Cluster mode without the lease: reads from `reader` (opened read-only, maybe on a
    /// replica); writes are refused 503 `not_writer`, naming the lease's holder.
    Standby { reader: Arc<StandbyReader>, writer: Option<Holder> },
    /// The writer (always, without a lease).
    Writer(Ledger),
}

/// A standby's read-only handle. A PostgreSQL client blocks when it is dropped, which must not
/// happen on an async thread: the last drop hands the handle to a thread of its own.
#[derive(Debug)]
pub struct StandbyReader(Option<Reader>);

impl StandbyReader {
    pub fn new(reader: Reader) -> Arc<StandbyReader> {
        Arc::new(StandbyReader(Some(reader)))
    }
}

impl Drop for StandbyReader {
    fn drop(&mut self) {
        // Handed whole to a thread of its own: no part of it is dropped here.
        if let Some(reader) = self.0.take() {
            let _ = std::thread::Builder::new().name("standby-reader-close".into()).spawn(move || drop(reader));
        }
    }
}

impl Serving {
    /// `standby` or `writer`, as `/readyz` names it.
    pub fn role(&self) -> &'static str {
        match self {
            Serving::Standby { .. } => "standby",
            Serving::Writer(_) => "writer",
        }
    }
}

#[derive(Debug)]
pub struct Shared {
    /// The role and its handle: swapped once when a standby takes the lease.
    pub serving: std::sync::RwLock<Serving>,
    pub tokens: Tokens,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// The durable head's seq, moved by the writer after every batch.
    pub head: watch::Receiver<u64>,
    /// Room in the writer's queue, in commands.
    pub queue: Arc<Semaphore>,
    /// False once shutdown began: `/readyz` answers 503.
    pub ready: AtomicBool,
    /// Room for bodies and events pages in flight, in KiB (`limits.inflight_bytes_max`).
    pub inflight: Arc<Semaphore>,
    /// Room for long polls (`limits.long_polls_max`).
    pub long_polls: Arc<Semaphore>,
    /// Set once shutdown began: long polls answer at once.
    pub stopping: watch::Sender<bool>,
    /// Where `POST /v1/backups` writes (none: that endpoint answers 409 `no_backup_root`).
    pub backup_root: Option<std::path::PathBuf>,
    /// Signs `GET /v1/checkpoints` (none: that endpoint answers 409 `no_checkpoint_key`).
    pub checkpoint_key: Option<ledger_store::SigningKey>,
    /// The writer records checkpoints (`checkpoint_every` > 0): `GET /v1/checkpoints` serves
    /// those, and the ticker ticks once a Beijing day has begun since the head's.
    pub records_checkpoints: bool,
}

/// An error answer: a status and an [`ErrorView`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    view: ErrorView,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> ApiError {
        let view = ErrorView { error: error.into(), detail: detail.into(), index: None, line: None, writer: None };
        ApiError { status, view, retry_after: None }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }

    /// 503 `busy` with `Retry-After: 1`.
    pub(crate) fn busy(detail: impl Into<String>) -> ApiError {
        ApiError { retry_after: Some(1), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail) }
    }

    /// A body ledger-core's parser refused: 400 `malformed` (a refused batch element with its
    /// `index` and `line`), or `batch_too_long`.
    pub(crate) fn refused_body(err: ledger_core::Error) -> ApiError {
        match err {
            ledger_core::Error::BatchTooLong { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "batch_too_long", err.to_string())
            }
            ledger_core::Error::Element { index, line, .. } => {
                let mut refused = ApiError::malformed(err.to_string());
                (refused.view.index, refused.view.line) = (Some(index), line);
                refused
            }
            other => ApiError::malformed(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.view)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::InvalidArgument(detail) => ApiError::malformed(detail),
            StoreError::Core(err) => ApiError::malformed(err.to_string()),
            StoreError::Stopped(detail) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail),
            StoreError::Fenced(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "fenced",
                format!("{detail}; retry with the same ids against the writer now in charge"),
            ),
            StoreError::Io(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                format!("{detail}; nothing of this request was recorded: retry it with the same ids"),
            ),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", rejection.body_text())
            }
            _ => ApiError::malformed(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::malformed(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::malformed(rejection.body_text())
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl AppState {
    /// Guard 1: a known bearer token (401). The scheme is case-insensitive (RFC 9110).
    pub(crate) fn caller(&self, headers: &HeaderMap) -> ApiResult<Caller> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send Authorization: Bearer TOKEN")
            })?;
        self.0
            .tokens
            .caller(token.trim())
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the token is not accepted"))
    }

    /// Room for `bytes` of a body or page in the in-flight budget, or 503 `busy`.
    pub(crate) fn room(&self, bytes: usize) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        Arc::clone(&self.0.inflight).try_acquire_many_owned(kib).map_err(|_| {
            ApiError::busy(format!(
                "the server holds its limit of request bodies and pages in flight (inflight_bytes_max {}); \
                 retry after a second with the same ids",
                self.0.limits.inflight_bytes_max
            ))
        })
    }

    /// Looks at what this server does now.
    pub fn with_serving<T>(&self, look: impl FnOnce(&Serving) -> T) -> T {
        match self.0.serving.read() {
            Ok(serving) => look(&serving),
            Err(poisoned) => look(&poisoned.into_inner()),
        }
    }

    /// `standby` or `writer`.
    pub fn role(&self) -> &'static str {
        self.with_serving(Serving::role)
    }

    /// The writer's handle, if this server is the writer.
    pub fn ledger(&self) -> Option<Ledger> {
        self.with_serving(|serving| match serving {
            Serving::Writer(ledger) => Some(ledger.clone()),
            Serving::Standby { .. } => None,
        })
    }

    /// Becomes the writer (a standby that took the lease and opened the ledger). Returns what
    /// it served as before, for the caller to drop off the async threads (a PostgreSQL
    /// client's drop blocks).
    #[must_use = "drop the standby's reader in a blocking task"]
    pub fn become_writer(&self, ledger: Ledger) -> Serving {
        let mut serving = match self.0.serving.write() {
            Ok(serving) => serving,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *serving, Serving::Writer(ledger))
    }

    /// A standby learnt who holds the lease now.
    pub fn writer_seen(&self, holder: Option<Holder>) {
        let mut serving = match self.0.serving.write() {
            Ok(serving) => serving,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Serving::Standby { writer, .. } = &mut *serving {
            *writer = holder;
        }
    }

    /// The read handle: the writer's, or the standby's read-only one. Drop it in a blocking
    /// task (see [`StandbyReader`]).
    fn reader(&self) -> Option<Reader> {
        self.with_serving(|serving| match serving {
            // None only while it is being dropped.
            Serving::Standby { reader, .. } => reader.0.clone(),
            Serving::Writer(ledger) => Some(Reader::clone(ledger)),
        })
    }

    /// The writer's handle, or 503 `not_writer` naming the lease's holder (and where it
    /// answers, when it says), with `Retry-After`.
    pub(crate) fn writer(&self) -> ApiResult<Ledger> {
        self.with_serving(|serving| match serving {
            Serving::Writer(ledger) => Ok(ledger.clone()),
            Serving::Standby { writer, .. } => Err(not_writer(writer.as_ref())),
        })
    }

    /// The clock's time (the same clock on either role).
    pub(crate) fn now(&self) -> ledger_core::Timestamp {
        self.with_serving(|serving| match serving {
            Serving::Standby { reader, .. } => {
                reader.0.as_ref().map_or_else(|| ledger_store::Clock::now(&ledger_store::SystemClock), Reader::now)
            }
            Serving::Writer(ledger) => ledger.now(),
        })
    }

    /// Runs blocking read work off the async threads, on the current role's reader.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Reader) -> ledger_store::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let reader = self.reader().ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the standby's reader is closing")
        })?;
        tokio::task::spawn_blocking(move || work(&reader))
            .await
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?
            .map_err(ApiError::from)
    }

    /// Guards 5 and on: room in the queue (503), then the writer; counts the answers.
    /// Every event the commands produce names `caller` (its token's name and role) as principal.
    pub(crate) async fn submit(
        &self,
        caller: &Caller,
        commands: Vec<Command>,
        dry_run: bool,
    ) -> ApiResult<Vec<Receipt>> {
        let principal =
            caller.principal().map_err(|why| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", why))?;
        self.submit_as(principal, commands, dry_run).await
    }

    /// [`AppState::submit`] for commands recorded as submitted by `principal` (the server's
    /// own ticker submits as the ledger).
    pub(crate) async fn submit_as(
        &self,
        principal: ledger_core::Principal,
        commands: Vec<Command>,
        dry_run: bool,
    ) -> ApiResult<Vec<Receipt>> {
        let ledger = self.writer()?.acting_as(principal);
        let count = u32::try_from(commands.len()).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.0.queue).try_acquire_many_owned(count).map_err(|_| {
            for command in &commands {
                self.0.metrics.count(command.body.kind(), "refused");
            }
            ApiError::busy("the writer's queue is full; retry after a second with the same ids")
        })?;
        let kinds: Vec<&'static str> = commands.iter().map(|command| command.body.kind()).collect();
        let started = Instant::now();
        let receipts = if dry_run {
            let checked = tokio::task::spawn_blocking(move || {
                commands.into_iter().map(|command| ledger.check(command)).collect::<ledger_store::Result<Vec<_>>>()
            })
            .await;
            checked
                .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?
                .map_err(ApiError::from)
        } else {
            // Straight to the writer's queue: no thread waits; the writer hands the receipts
            // back once the batch is durable.
            let (tx, rx) = tokio::sync::oneshot::channel();
            ledger.submit_batch_then(commands, move |receipts| {
                let _ = tx.send(receipts);
            });
            match rx.await {
                Ok(receipts) => receipts.map_err(ApiError::from),
                Err(_) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the writer stopped")),
            }
        };
        drop(permit);
        if receipts.as_ref().is_err_and(|err| err.view.error == "fenced") {
            self.0.metrics.fenced.inc();
        }
        let receipts = receipts?;
        if !dry_run {
            self.0.metrics.committed(started.elapsed().as_secs_f64());
            for (kind, receipt) in kinds.iter().zip(&receipts) {
                self.0.metrics.count(kind, outcome(receipt));
                if let (AnswerStatus::Rejected, Some(reason)) = (receipt.status(), receipt.rejection()) {
                    self.0.metrics.reject(reason.code());
                }
            }
        }
        Ok(receipts)
    }
}

/// The layer in front of every `/v1` route but the OpenAPI description: guards 1 and 2 from the
/// headers alone, before any byte of the body is read. The caller goes to the handler as an
/// extension.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match state.caller(request.headers()) {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    // The route's least access (403) and its query (400), from the request line and headers
    // alone: a role that may never do it is refused before a byte of the body is read.
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    if let Some((_, _, access, takes_query, needs_writer)) =
        ROUTES.iter().find(|(method, path, ..)| request.method() == *method && route.as_deref() == Some(*path))
    {
        if let Err(err) = permit(&caller, *access) {
            return err.into_response();
        }
        if !takes_query && request.uri().query().is_some_and(|query| !query.is_empty()) {
            return ApiError::malformed("this route takes no query parameters").into_response();
        }
        // A standby refuses a write before reading its body.
        if *needs_writer && let Err(err) = state.writer() {
            return err.into_response();
        }
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let body_bytes_max = state.0.limits.body_bytes_max;
    if let Some(declared) = declared
        && declared > u64::try_from(body_bytes_max).unwrap_or(u64::MAX)
    {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body declares {declared} bytes; at most {body_bytes_max} are read"),
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    // A body's room in the in-flight budget, held until the answer is made (an events page
    // takes its room in its handler, after any long poll's wait).
    let _room = if request.method() == axum::http::Method::POST {
        match state.room(declared.map_or(body_bytes_max, |declared| usize::try_from(declared).unwrap_or(usize::MAX))) {
            Ok(room) => Some(room),
            Err(err) => return err.into_response(),
        }
    } else {
        None
    };
    next.run(request).await
}

/// Every authenticated route: its method and path, the least access any request to it needs
/// (a command's own access is checked again once the body is parsed), whether it takes
/// query parameters, and whether it needs the writer (a standby answers 503 `not_writer`).
pub(crate) const ROUTES: [(&str, &str, Access, bool, bool); 21] = [
    ("POST", "/v1/commands", Access::Submit, true, true),
    ("POST", "/v1/batches", Access::Submit, true, true),
    ("POST", "/v1/check", Access::Check, true, true),
    ("GET", "/v1/head", Access::Query, false, false),
    ("GET", "/v1/whoami", Access::Query, false, false),
    ("GET", "/v1/accounts/{account}/balance", Access::Query, false, false),
    ("GET", "/v1/accounts/{account}/usage", Access::Query, true, false),
    ("GET", "/v1/accounts/{account}/history", Access::Query, true, false),
    ("GET", "/v1/accounts/{account}/rejections", Access::Query, false, false),
    ("GET", "/v1/accounts/{account}/protections", Access::Query, false, false),
    ("GET", "/v1/customers/{customer}/accounts", Access::Query, false, false),
    ("GET", "/v1/pending", Access::Query, true, false),
    ("GET", "/v1/risk-list/{counterparty}", Access::Query, false, false),
    ("GET", "/v1/stats/recent", Access::Query, true, false),
    ("GET", "/v1/events", Access::Events, true, false),
    ("GET", "/v1/checkpoints", Access::Query, true, false),
    ("GET", "/v1/proofs/inclusion/{seq}", Access::Query, true, false),
    ("GET", "/v1/proofs/consistency", Access::Query, true, false),
    ("POST", "/v1/tick", Access::Operate, false, true),
    ("GET", "/v1/risk-list", Access::Operate, false, false),
    ("POST", "/v1/backups", Access::Operate, false, false),
];

/// 503 `not_writer`: this server is a standby; the writer is `holder` (at its URL when it
/// advertises one). `Retry-After: 1`: a takeover is a lease TTL away at most.
pub(crate) fn not_writer(holder: Option<&Holder>) -> ApiError {
    let detail = match holder {
        Some(Holder { name, url: Some(url) }) => {
            format!("this server is a standby; the writer is {name:?} at {url}: send writes there (same ids)")
        }
        Some(Holder { name, url: None }) => {
            format!("this server is a standby; the writer is {name:?}: send writes to it (same ids)")
        }
        None => "this server is a standby and no server holds the writer lease now; retry with the same ids".into(),
    };
    let mut refused = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_writer", detail);
    refused.retry_after = Some(1);
    refused.view.writer = holder.map(|holder| Box::new(WriterView::from(holder)));
    refused
}

impl From<&Holder> for WriterView {
    fn from(holder: &Holder) -> WriterView {
        WriterView { name: holder.name.clone(), url: holder.url.clone() }
    }
}

/// Guard 4: the role may do it (403).
pub(crate) fn permit(caller: &Caller, access: Access) -> ApiResult<()> {
    if caller.role.may(access) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("token {:?} (role {}) may not do this ({access:?})", caller.name, caller.role.name()),
    ))
}

fn outcome(receipt: &Receipt) -> &'static str {
    match receipt.status() {
        AnswerStatus::Accepted => "accepted",
        AnswerStatus::Rejected => "rejected",
        AnswerStatus::Duplicate => "duplicate",
        AnswerStatus::Conflict => "conflict",
    }
}

/// Not a route: 404 in the error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route (see /v1/openapi.json)")
}

/// A route without this method: 405 in the error shape (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take this method")
}
