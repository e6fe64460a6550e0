//! Starting and stopping: the writer lease (when configured), the router, the listener (plain
//! or TLS), request logs, graceful shutdown on SIGTERM or SIGINT, stepping down when the lease
//! is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger_store::{Ledger, LedgerOptions};
use tokio::sync::{Semaphore, watch};

use crate::api::{self, ApiError, AppState, Serving, Shared};
use crate::auth::Tokens;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lease::{Holder, LeaseConfig};
use crate::metrics::{Metrics, Observer, RequestLabels};
use crate::standby::{Keeper, Takeover};
use crate::transport::{Listener, Stop};

/// Every route, with the body limit, request timeout and request log; every `/v1` route but
/// the OpenAPI description behind [`api::authenticate`] (token and declared length checked
/// before any byte of the body is read).
pub fn router(state: AppState) -> Router {
    let body_bytes_max = state.0.limits.body_bytes_max;
    let authenticated = Router::new()
        .route("/v1/commands", post(api::post_command))
        .route("/v1/batches", post(api::post_batch))
        .route("/v1/check", post(api::post_check))
        .route("/v1/head", get(api::get_head))
        .route("/v1/whoami", get(api::get_whoami))
        .route("/v1/accounts/{account}/balance", get(api::get_balance))
        .route("/v1/accounts/{account}/usage", get(api::get_usage))
        .route("/v1/accounts/{account}/history", get(api::get_history))
        .route("/v1/accounts/{account}/rejections", get(api::get_rejections))
        .route("/v1/accounts/{account}/protections", get(api::get_protections))
        .route("/v1/customers/{customer}/accounts", get(api::get_accounts))
        .route("/v1/pending", get(api::get_pending))
        .route("/v1/risk-list/{counterparty}", get(api::get_risk))
        .route("/v1/stats/recent", get(api::get_recent))
        .route("/v1/events", get(api::get_events))
        .route("/v1/checkpoints", get(api::get_checkpoint))
        .route("/v1/proofs/inclusion/{seq}", get(api::get_inclusion_proof))
        .route("/v1/proofs/consistency", get(api::get_consistency_proof))
        .route("/v1/tick", post(api::post_tick))
        .route("/v1/risk-list", get(api::get_risk_list))
        .route("/v1/backups", post(api::post_backup))
        .route_layer(middleware::from_fn_with_state(state.clone(), api::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), answer_headers));
    Router::new()
        .merge(authenticated)
        .route("/v1/openapi.json", get(crate::openapi::get_openapi))
        .route("/metrics", get(api::get_metrics))
        .route("/healthz", get(api::get_healthz))
        .route("/readyz", get(api::get_readyz))
        .route("/console", get(crate::console::get_console))
        .route("/console/", get(crate::console::get_console_slash))
        .route("/console/{file}", get(crate::console::get_console_file))
        .route_layer(middleware::from_fn_with_state(state.clone(), log_request))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .with_state(state)
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// On every authenticated answer (401s included): `Cache-Control: no-store` (balances, holds and
/// the log must not stay in a browser's or a proxy's cache after the operator logs out), and
/// [`api::SEQ_HEADER`], read before the request runs.
async fn answer_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let seq = *state.0.head.borrow();
    let mut response = next.run(request).await;
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(api::SEQ_HEADER, HeaderValue::from(seq));
    response
}

/// Bounds the request's time (408) and logs one line for it: id, method, route, the token's
/// name and role (`-` without an accepted token), status, latency. A client's `x-request-id` is
/// kept (at most 64 characters, logged escaped).
async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| path.as_str()).to_owned();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(64).collect::<String>())
        .unwrap_or_else(|| format!("r{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed)));
    let caller = state.caller(request.headers()).ok();
    let (token, role) = caller.as_ref().map_or(("-", "-"), |caller| (caller.name.as_str(), caller.role.name()));
    let (token, role) = (token.to_owned(), role);
    let timeout = Duration::from_secs(state.0.limits.request_timeout_seconds);
    let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "no answer within {} s; a command may still be recorded: retry with the same id",
                timeout.as_secs()
            ),
        )
        .into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    tracing::info!(request_id = ?id, %method, %route, token = ?token, role, status, latency_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    state.0.metrics.requests.get_or_create(&RequestLabels { route, status }).inc();
    response
}

/// The key file `checkpoint_key` names (the one `ledger-cli checkpoint --key` takes).
fn read_checkpoint_key(path: &std::path::Path) -> Result<ledger_store::SigningKey> {
    let refused = |why: String| Error::Config(format!("checkpoint_key {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|err| refused(err.to_string()))?;
    ledger_store::signing_key_from_hex(&text).map_err(|err| refused(err.to_string()))
}

/// Opens the ledger, serves until SIGTERM or SIGINT, then stops accepting, lets requests in
/// flight finish (their batches are fsynced and answered) and closes the ledger. With a lease
/// configured it serves at once as a standby (reads from a read-only handle, writes refused 503
/// `not_writer`), becomes the writer in place when it takes the lease, and steps down (stops at
/// once, then returns [`Error::LeaseLost`]) when the lease is lost.
pub async fn run(config: Config) -> Result<()> {
    config.check()?;
    // Listening for SIGTERM/SIGINT from the first moment, with one listener kept for the whole
    // run: a signal that came before a listener existed (or between two) would be lost, and the
    // process would ignore it.
    let signals = Signals::listen()?;
    let db = config.db.clone().ok_or_else(|| Error::Config("no ledger path".into()))?;
    // Read before anything else: a missing or malformed key fails the start, not a request.
    let checkpoint_key = config.checkpoint_key.as_deref().map(read_checkpoint_key).transpose()?;
    let etcd_tls =
        config.lease.as_ref().map(LeaseConfig::tls).transpose().map_err(|err| Error::Config(err.to_string()))?;
    let metrics = Arc::new(Metrics::new());
    let (head_tx, head_rx) = watch::channel(0);
    let observer = Arc::new(Observer { metrics: Arc::clone(&metrics), head: head_tx });
    let options = LedgerOptions {
        max_ahead_of_clock: Some(
            config.max_ahead_seconds.map_or(ledger_store::DEFAULT_MAX_AHEAD_OF_CLOCK, Duration::from_secs),
        ),
        observer: Some(Arc::clone(&observer) as Arc<dyn ledger_store::CommitObserver>),
        cache_mib: config.cache_mib.unwrap_or(ledger_store::DEFAULT_CACHE_MIB),
        checkpoint_every: config.checkpoint_every,
        checkpoint_key: checkpoint_key.clone(),
        open_observer: Some(Arc::new(OpenLog::default())),
        ..LedgerOptions::default()
    };
    let serving = match &config.lease {
        None => open_writer(db.clone(), options.clone(), &observer).await?,
        Some(lease) => {
            // Opened off the async threads: a PostgreSQL client blocks. A `read_db` that cannot
            // be opened (its node down, or a new replica that has not replayed the ledger's
            // database yet) falls back to `db`: reads are served, from the primary.
            let (read_db, db, clock) = (lease.read_db.clone(), db.clone(), Arc::clone(&options.clock));
            let reader = tokio::task::spawn_blocking(move || {
                if let Some(read_db) = read_db {
                    match ledger_store::Reader::open(&read_db, Arc::clone(&clock)) {
                        Ok(reader) => return Ok(reader),
                        Err(err) => tracing::warn!(%err, "standby: read_db cannot be opened; reading from db instead"),
                    }
                }
                ledger_store::Reader::open(db, clock)
            })
            .await
            .map_err(|err| Error::Io(err.to_string()))??;
            Serving::Standby { reader: api::StandbyReader::new(reader), writer: None }
        }
    };
    metrics.writer.set(i64::from(matches!(serving, Serving::Writer(_))));
    metrics.standby.set(i64::from(matches!(serving, Serving::Standby { .. })));
    let state = AppState(Arc::new(Shared {
        serving: std::sync::RwLock::new(serving),
        tokens: Tokens::new(&config.tokens),
        limits: config.limits,
        metrics,
        head: head_rx,
        queue: Arc::new(Semaphore::new(config.limits.queue_commands_max)),
        ready: AtomicBool::new(true),
        long_polls: Arc::new(Semaphore::new(config.limits.long_polls_max)),
        inflight: Arc::new(Semaphore::new(config.limits.inflight_bytes_max.div_ceil(1024))),
        stopping: watch::channel(false).0,
        backup_root: config.backup_root.clone(),
        checkpoint_key,
        records_checkpoints: config.checkpoint_every > 0,
    }));
    if config.tick_seconds > 0 {
        tokio::spawn(api::run_ticker(state.clone(), Duration::from_secs(config.tick_seconds)));
    }
    let app = router(state.clone());
    let tls = config.tls.as_ref().map(|tls| (tls.cert.as_path(), tls.key.as_path()));
    let listener = Listener::bind(config.listen, tls, &config.limits).await?;
    let (stop, stop_rx) = watch::channel(Stop::Serving);
    let stop = Arc::new(stop);
    let grace = Duration::from_secs(config.limits.shutdown_grace_seconds);
    tokio::spawn(stop_on_signal(signals, stop.clone(), state.clone(), grace));
    let addr = listener.local_addr().ok();
    announce(&listener, config.tls.is_some(), &state.0.head.borrow().to_string(), state.role());
    // Cluster mode: serve as a standby until this server holds the lease, then as the writer.
    let keeper = config.lease.clone().map(|lease| {
        let holder = holder(&lease, addr, config.tls.is_some());
        let takeover =
            Takeover { lease, tls: etcd_tls.flatten(), holder, db, options, observer: Arc::clone(&observer) };
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            let lease = crate::standby::serve_as_standby(state.clone(), takeover).await?;
            Some(Keeper::start(lease, stop, state))
        })
    });
    listener.serve(app, stop_rx).await;
    // The standby's loop ends now (or, in the middle of a takeover, once the ledger is open).
    state.0.stopping.send_replace(true);
    let keeper = match keeper {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    // No handler holds the ledger any more: close it (projector drained, flush, witness).
    let ledger = state.ledger();
    drop(state);
    let closed = match ledger {
        Some(ledger) => {
            let closed =
                tokio::task::spawn_blocking(move || ledger.close()).await.map_err(|err| Error::Io(err.to_string()))?;
            if closed.is_ok() {
                tracing::info!("ledger closed");
            }
            closed
        }
        None => Ok(()),
    };
    // Only a closed ledger lets the lease go: a standby takes over at once, not after the TTL.
    match keeper.map(Keeper::finish) {
        Some(Some(Ok(lease))) => match lease.release() {
            Ok(()) => tracing::info!("writer lease released"),
            Err(err) => tracing::warn!(%err, "the writer lease could not be released; it expires after its TTL"),
        },
        Some(Some(Err(why))) => {
            if let Err(err) = closed {
                tracing::warn!(%err, "closing the ledger after losing the lease");
            }
            return Err(Error::LeaseLost(why));
        }
        Some(None) => tracing::warn!("the lease keeper thread ended abnormally; the lease expires after its TTL"),
        None => {}
    }
    closed?;
    Ok(())
}

/// Opens the ledger as its writer (no lease: the server is the writer from the start).
async fn open_writer(db: std::path::PathBuf, options: LedgerOptions, observer: &Observer) -> Result<Serving> {
    // Opened, read and (on failure) dropped off the async threads: a PostgreSQL ledger's
    // client blocks.
    let (ledger, head) = tokio::task::spawn_blocking(move || {
        let ledger = Ledger::open(db, options)?;
        let head = ledger.head()?;
        Ok::<_, ledger_store::Error>((ledger, head))
    })
    .await
    .map_err(|err| Error::Io(err.to_string()))??;
    if head.seq == 0 {
        // An `init` stopped before it recorded the policy: serving it would record commands
        // before any policy (ledger-cli refuses it the same way).
        let _ = tokio::task::spawn_blocking(move || ledger.close()).await;
        return Err(Error::Config(
            "the ledger holds no record: its `init` was interrupted before the policy was recorded; \
             run `ledger-cli --db DB init --policy NAME` on it again, then start the server"
                .into(),
        ));
    }
    observer.head.send_replace(head.seq);
    observer.metrics.head_seq.set(i64::try_from(head.seq).unwrap_or(i64::MAX));
    Ok(Serving::Writer(ledger))
}

/// This server as the lease names it: `[lease] name` (default: its process id and bound
/// address) and `advertise_url` (default: its bound address, unless that is 0.0.0.0 or `::`).
fn holder(lease: &LeaseConfig, addr: Option<std::net::SocketAddr>, tls: bool) -> Holder {
    let pid = std::process::id();
    let name = lease.name.clone().unwrap_or_else(|| match addr {
        Some(addr) => format!("ledger-server pid {pid} on {addr}"),
        None => format!("ledger-server pid {pid}"),
    });
    let scheme = if tls { "https" } else { "http" };
    let url = lease
        .advertise_url
        .clone()
        .or_else(|| addr.filter(|addr| !addr.ip().is_unspecified()).map(|addr| format!("{scheme}://{addr}")));
    Holder { name, url }
}

/// Prints the bound address (with port 0 the kernel picks it): scripts and tests read this
/// line.
fn announce(listener: &Listener, tls: bool, head_seq: &str, role: &str) {
    if let Ok(addr) = listener.local_addr() {
        let scheme = if tls { "https" } else { "http" };
        println!("listening on {scheme}://{addr}");
        tracing::info!(%addr, head_seq, role, "listening");
    }
}

/// The process's SIGTERM and SIGINT listeners. Made once, before anything can be slow (the lease,
/// opening the ledger), and kept: a signal delivered any time after [`Signals::listen`] is seen.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|err| Error::Io(format!("cannot listen for {name}: {err}")))
        };
        Ok(Signals {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Completes on the next SIGTERM or SIGINT.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// On SIGTERM or SIGINT: not ready, long polls answered at once, no new connections, requests
/// in flight finished within `grace`.
async fn stop_on_signal(mut signals: Signals, stop: Arc<watch::Sender<Stop>>, state: AppState, grace: Duration) {
    signals.recv().await;
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    state.0.ready.store(false, Ordering::Relaxed);
    state.0.stopping.send_replace(true);
    stop.send_replace(Stop::Graceful(grace));
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::header;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::Role;
    use crate::auth::TokenEntry;
    use crate::config::Limits;

    /// A router over a fresh ledger whose writer queue has room for `queue` commands.
    fn app(queue: usize) -> (tempfile::TempDir, Ledger, Router) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path().join("l"), LedgerOptions::default()).unwrap();
        (dir, ledger.clone(), router(state(Serving::Writer(ledger), queue, 0)))
    }

    /// The state of a server doing `serving`, whose head is `head_seq`.
    fn state(serving: Serving, queue: usize, head_seq: u64) -> AppState {
        let token =
            TokenEntry { name: "t".into(), role: Role::Operator, sha256: hex::encode(crate::auth::digest("t")) };
        let (_, head) = watch::channel(head_seq);
        AppState(Arc::new(Shared {
            serving: std::sync::RwLock::new(serving),
            tokens: Tokens::new(&[token]),
            limits: Limits { queue_commands_max: queue, ..Limits::default() },
            metrics: Arc::new(Metrics::new()),
            head,
            queue: Arc::new(Semaphore::new(queue)),
            ready: AtomicBool::new(true),
            long_polls: Arc::new(Semaphore::new(1)),
            inflight: Arc::new(Semaphore::new(1 << 20)),
            stopping: watch::channel(false).0,
            backup_root: None,
            checkpoint_key: None,
            records_checkpoints: false,
        }))
    }

    async fn answer(app: &Router, request: Request) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    fn get(path: &str) -> Request {
        Request::get(path).header(header::AUTHORIZATION, "Bearer t").body(Body::empty()).unwrap()
    }

    /// Given a standby over a ledger of 1 record (read-only), the lease held by "w" at its URL:
    /// reads answer with the seq they are as of, writes are refused before their body is read
    /// (503 `not_writer` naming the writer, Retry-After), `/readyz` says `standby` and
    /// `?role=writer` is refused; once it becomes the writer in place, the same router takes
    /// the command.
    #[tokio::test]
    async fn a_standby_serves_reads_refuses_writes_naming_the_writer_and_becomes_the_writer_in_place() {
        let (dir, ledger, _) = app(1);
        ledger.submit(ledger.tick_command().unwrap()).unwrap();
        let reader = ledger_store::Reader::open(dir.path().join("l"), Arc::new(ledger_store::SystemClock)).unwrap();
        let writer = Holder { name: "w".into(), url: Some("http://10.0.0.2:8650".into()) };
        let standby = state(Serving::Standby { reader: api::StandbyReader::new(reader), writer: Some(writer) }, 1, 1);
        let app = router(standby.clone());
        let (status, headers, head) = answer(&app, get("/v1/head")).await;
        assert_eq!((status, head["seq"].as_u64()), (StatusCode::OK, Some(1)));
        assert_eq!(headers.get(api::SEQ_HEADER).unwrap(), "1");
        let (status, _, proof) = answer(&app, get("/v1/proofs/inclusion/1")).await;
        assert_eq!((status, proof["tree_size"].as_u64()), (StatusCode::OK, Some(1)), "{proof}");
        let refused =
            [tick(), Request::post("/v1/tick").header(header::AUTHORIZATION, "Bearer t").body(Body::empty()).unwrap()];
        for request in refused {
            let (status, headers, body) = answer(&app, request).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
            assert_eq!(body["error"], "not_writer");
            assert_eq!(body["writer"], serde_json::json!({ "name": "w", "url": "http://10.0.0.2:8650" }));
            assert!(body["detail"].as_str().unwrap().contains("http://10.0.0.2:8650"), "{body}");
        }
        let ready = Request::get("/readyz").body(Body::empty()).unwrap();
        let (status, _, body) = answer(&app, ready).await;
        assert_eq!(
            (status, body["role"].as_str(), body["writer"]["name"].as_str()),
            (StatusCode::OK, Some("standby"), Some("w"))
        );
        let ready_to_write = Request::get("/readyz?role=writer").body(Body::empty()).unwrap();
        let (status, _, body) = answer(&app, ready_to_write).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("not_writer")));
        assert_eq!(ledger.head().unwrap().seq, 1, "a standby appended");

        drop(standby.become_writer(ledger.clone()));
        let (status, _, body) = answer(&app, tick()).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("accepted")), "{body}");
        let ready_to_write = Request::get("/readyz?role=writer").body(Body::empty()).unwrap();
        let (status, _, body) = answer(&app, ready_to_write).await;
        assert_eq!((status, body["role"].as_str()), (StatusCode::OK, Some("writer")));
    }

    fn tick() -> Request {
        let body = r#"{"type":"tick","id":"00000000-0000-4000-8000-000000000001"}"#;
        Request::post("/v1/commands").header(header::AUTHORIZATION, "Bearer t").body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn a_full_writer_queue_answers_503_with_retry_after_and_appends_nothing() {
        let (_dir, ledger, full) = app(0);
        let response = full.oneshot(tick()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "busy");
        assert_eq!(ledger.head().unwrap().seq, 0);
        let (_dir, ledger, room) = app(1);
        assert_eq!(room.oneshot(tick()).await.unwrap().status(), StatusCode::OK);
        assert_eq!(ledger.head().unwrap().seq, 1);
    }
}

/// Logs what a writer's open converts (a ledger of an older layout, once), as it goes.
#[derive(Debug, Default)]
struct OpenLog {
    announced: std::sync::atomic::AtomicBool,
}

impl ledger_store::OpenObserver for OpenLog {
    fn open_work(&self, work: &ledger_store::OpenWork) {
        let ledger_store::OpenWork::CopyingProjected { table, done, estimated, finished } = work else {
            return;
        };
        if !self.announced.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("converting the ledger to layout 5 (once: its read models and indexes move to projected/)");
        }
        if *finished {
            tracing::info!(table, keys = done, "converting to layout 5: table copied");
        } else if *done > 0 {
            tracing::info!(table, keys = done, estimated, "converting to layout 5: copying");
        }
    }
}
