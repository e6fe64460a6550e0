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
use tokio::sync::{Semaphore, oneshot, watch};

use crate::api::{self, ApiError, AppState, Shared};
use crate::auth::Tokens;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lease::{EtcdTls, Lease, LeaseConfig, LeaseError};
use crate::metrics::{Metrics, Observer, RequestLabels};
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
        .layer(middleware::from_fn(no_store));
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

/// `Cache-Control: no-store` on every authenticated answer (401s included): balances, holds and
/// the log must not stay in a browser's or a proxy's cache after the operator logs out.
async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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
/// configured it first waits for the lease, and steps down (stops at once, then returns
/// [`Error::LeaseLost`]) when the lease is lost.
pub async fn run(config: Config) -> Result<()> {
    config.check()?;
    // Listening for SIGTERM/SIGINT from the first moment, with one listener kept for the whole
    // run: a signal that came before a listener existed (or between two) would be lost, and the
    // process would ignore it.
    let mut signals = Signals::listen()?;
    let db = config.db.clone().ok_or_else(|| Error::Config("no ledger path".into()))?;
    // Read before anything else: a missing or malformed key fails the start, not a request.
    let checkpoint_key = config.checkpoint_key.as_deref().map(read_checkpoint_key).transpose()?;
    let lease = match &config.lease {
        None => None,
        Some(lease) => {
            match wait_for_lease(
                lease,
                lease.tls().map_err(|err| Error::Config(err.to_string()))?,
                &config,
                &mut signals,
            )
            .await
            {
                Some(lease) => Some(lease),
                None => return Ok(()),
            }
        }
    };
    let metrics = Arc::new(Metrics::new());
    let (head_tx, head_rx) = watch::channel(0);
    let observer = Arc::new(Observer { metrics: Arc::clone(&metrics), head: head_tx });
    let options = LedgerOptions {
        max_ahead_of_clock: Some(
            config.max_ahead_seconds.map_or(ledger_store::DEFAULT_MAX_AHEAD_OF_CLOCK, Duration::from_secs),
        ),
        observer: Some(Arc::clone(&observer) as Arc<dyn ledger_store::CommitObserver>),
        cache_mib: config.cache_mib.unwrap_or(ledger_store::DEFAULT_CACHE_MIB),
        ..LedgerOptions::default()
    };
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
    metrics.head_seq.set(i64::try_from(head.seq).unwrap_or(i64::MAX));
    metrics.writer.set(1);
    let state = AppState(Arc::new(Shared {
        ledger: ledger.clone(),
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
    let keeping = Arc::new(AtomicBool::new(true));
    let keeper = lease.map(|lease| {
        let (lost_tx, lost_rx) = oneshot::channel();
        tokio::spawn(step_down(stop.clone(), state.clone(), lost_rx));
        let keeping = Arc::clone(&keeping);
        std::thread::spawn(move || keep_lease(lease, &keeping, lost_tx))
    });
    announce(&listener, config.tls.is_some(), &head.to_text());
    listener.serve(app, stop_rx).await;
    // No handler holds the ledger any more: close it (projector drained, flush, witness).
    drop(state);
    let closed = tokio::task::spawn_blocking(move || ledger.close()).await.map_err(|err| Error::Io(err.to_string()))?;
    if closed.is_ok() {
        tracing::info!("ledger closed");
    }
    // Only a closed ledger lets the lease go: a standby takes over at once, not after the TTL.
    keeping.store(false, Ordering::Release);
    match keeper.map(std::thread::JoinHandle::join) {
        Some(Ok(Ok(lease))) => match lease.release() {
            Ok(()) => tracing::info!("writer lease released"),
            Err(err) => tracing::warn!(%err, "the writer lease could not be released; it expires after its TTL"),
        },
        Some(Ok(Err(why))) => {
            if let Err(err) = closed {
                tracing::warn!(%err, "closing the ledger after losing the lease");
            }
            return Err(Error::LeaseLost(why));
        }
        Some(Err(_)) => tracing::warn!("the lease keeper thread ended abnormally; the lease expires after its TTL"),
        None => {}
    }
    closed?;
    Ok(())
}

/// Waits until this server holds the writer lease (None: a signal came first). Meanwhile it
/// neither opens the ledger nor listens.
async fn wait_for_lease(
    config: &LeaseConfig,
    tls: Option<EtcdTls>,
    server: &Config,
    signals: &mut Signals,
) -> Option<Lease> {
    let holder =
        config.name.clone().unwrap_or_else(|| format!("ledger-server pid {} on {}", std::process::id(), server.listen));
    let mut last_seen: Option<String> = None;
    let mut quiet = RateLimited::default();
    loop {
        let (config, tls, holder) = (config.clone(), tls.clone(), holder.clone());
        let tried = tokio::task::spawn_blocking(move || Lease::try_acquire(&config, tls.as_ref(), &holder)).await;
        match tried {
            Ok(Ok(Ok(lease))) => {
                tracing::info!(holder = %lease.holder, "took the writer lease; opening the ledger");
                return Some(lease);
            }
            Ok(Ok(Err(held))) => {
                if last_seen.as_ref() != Some(&held) {
                    tracing::info!(held_by = ?held, "waiting for the writer lease");
                    last_seen = Some(held);
                }
            }
            Ok(Err(err)) => {
                if quiet.should_say(&err.to_string(), Instant::now()) {
                    tracing::warn!(%err, "waiting for the writer lease: etcd did not answer");
                }
            }
            Err(err) => tracing::warn!(%err, "waiting for the writer lease"),
        }
        tokio::select! {
            () = tokio::time::sleep(LEASE_POLL) => {}
            () = signals.recv() => {
                tracing::info!("stopped while waiting for the writer lease");
                return None;
            }
        }
    }
}

/// How often a standby asks for the lease: a takeover waits at most the TTL plus this.
const LEASE_POLL: Duration = Duration::from_millis(250);

/// The longest a standby stays silent while etcd keeps failing the same way.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Says a repeated complaint once when it changes, then at most every [`WARN_EVERY`]: a standby
/// polls every [`LEASE_POLL`] and would otherwise log four warnings a second while etcd is away.
#[derive(Default)]
struct RateLimited {
    last: Option<(String, Instant)>,
}

impl RateLimited {
    fn should_say(&mut self, text: &str, now: Instant) -> bool {
        let say = match &self.last {
            None => true,
            Some((said, at)) => said != text || now.duration_since(*at) >= WARN_EVERY,
        };
        if say {
            self.last = Some((text.to_owned(), now));
        }
        say
    }
}

/// Renews the lease until `keeping` is cleared (then hands it back for release) or it is lost
/// (then signals `lost` and returns why).
fn keep_lease(mut lease: Lease, keeping: &AtomicBool, lost: oneshot::Sender<()>) -> Result<Lease, String> {
    let tick = Duration::from_millis(50);
    let mut next = Instant::now() + lease.renew_every();
    while keeping.load(Ordering::Acquire) {
        if Instant::now() < next {
            std::thread::sleep(tick);
            continue;
        }
        match lease.renew() {
            Ok(()) => next = Instant::now() + lease.renew_every(),
            Err(LeaseError::Lost(why)) => {
                let why = format!("the writer lease is lost: {why}");
                tracing::error!(%why, "stepping down: another server may be the writer now");
                let _ = lost.send(());
                return Err(why);
            }
            Err(err) => {
                tracing::warn!(%err, "renewing the writer lease; retrying");
                next = Instant::now() + tick * 4;
            }
        }
    }
    Ok(lease)
}

/// On losing the lease: not ready, stop at once (requests in flight get no answer; their
/// commands, retried with the same ids, are answered by the next writer).
async fn step_down(stop: Arc<watch::Sender<Stop>>, state: AppState, lost: oneshot::Receiver<()>) {
    if lost.await.is_ok() {
        state.0.metrics.writer.set(0);
        state.0.ready.store(false, Ordering::Relaxed);
        state.0.stopping.send_replace(true);
        stop.send_replace(Stop::Now);
    }
}

/// Prints the bound address (with port 0 the kernel picks it): scripts and tests read this
/// line.
fn announce(listener: &Listener, tls: bool, head: &str) {
    if let Ok(addr) = listener.local_addr() {
        let scheme = if tls { "https" } else { "http" };
        println!("listening on {scheme}://{addr}");
        tracing::info!(%addr, %head, "listening");
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
        let token =
            TokenEntry { name: "t".into(), role: Role::Operator, sha256: hex::encode(crate::auth::digest("t")) };
        let (_, head) = watch::channel(0);
        let state = AppState(Arc::new(Shared {
            ledger: ledger.clone(),
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
        }));
        (dir, ledger, router(state))
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

    /// Given etcd failing every poll (250 ms apart) for 25 s, then failing differently: the
    /// warning is said at the first, every 10 s, and at the change; not at each poll.
    #[test]
    fn an_unreachable_etcd_is_warned_about_on_change_and_every_ten_seconds_not_every_poll() {
        let start = Instant::now();
        let mut quiet = RateLimited::default();
        let mut said = Vec::new();
        for poll in 0..100u32 {
            let text = if poll < 90 { "connection refused" } else { "timed out" };
            if quiet.should_say(text, start + LEASE_POLL * poll) {
                said.push((poll, text));
            }
        }
        assert_eq!(
            said,
            [(0, "connection refused"), (40, "connection refused"), (80, "connection refused"), (90, "timed out")]
        );
    }
}
