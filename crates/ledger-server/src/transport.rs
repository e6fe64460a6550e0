//! The connection level, the same on plain and TLS listeners: HTTP/1.1 only (hyper's HTTP/1
//! server, no HTTP/2 preface sniffing), the header timeout (which also closes idle kept-alive
//! connections), the TLS handshake within the same time, the most open connections (one above it
//! is closed at once, before any byte is read), and stopping (gracefully, or at once).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::Limits;
use crate::error::{Error, Result};

/// What the listener is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Serving,
    /// Stop accepting; connections finish the request in flight (at most this long), idle ones
    /// close at once.
    Graceful(Duration),
    /// Stop accepting and drop every connection.
    Now,
}

/// A bound listener with its limits; [`Listener::serve`] runs it.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    http: http1::Builder,
    header_timeout: Duration,
    open: Arc<Semaphore>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .field("header_timeout", &self.header_timeout)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds `addr`; with `tls` (certificate chain and key PEM files) every connection is TLS.
    pub async fn bind(addr: SocketAddr, tls: Option<(&Path, &Path)>, limits: &Limits) -> Result<Listener> {
        let tls = tls.map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
        let tcp = TcpListener::bind(addr).await.map_err(|err| Error::Io(format!("listening on {addr}: {err}")))?;
        let header_timeout = Duration::from_secs(limits.header_timeout_seconds);
        let mut http = http1::Builder::new();
        // The timer runs from a connection's start and again from the end of each answer until
        // a request's headers are in.
        http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
        let connections_max = connections_max(limits);
        if connections_max < limits.connections_max {
            tracing::warn!(
                connections_max,
                configured = limits.connections_max,
                "connections_max lowered to fit the open-file limit"
            );
        }
        Ok(Listener { tcp, tls, http, header_timeout, open: Arc::new(Semaphore::new(connections_max)) })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `app` until `stop` leaves [`Stop::Serving`], then stops as asked.
    pub async fn serve(self, app: Router, mut stop: watch::Receiver<Stop>) {
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = self.tcp.accept() => accepted,
                _ = stop.wait_for(|stop| *stop != Stop::Serving) => break,
            };
            while connections.try_join_next().is_some() {}
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    // Out of files or a connection reset before it was accepted: go on.
                    tracing::warn!(%err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Above connections_max: dropping the stream closes it at once.
            let Ok(place) = Arc::clone(&self.open).try_acquire_owned() else { continue };
            let connection = Connection {
                tls: self.tls.clone(),
                http: self.http.clone(),
                header_timeout: self.header_timeout,
                app: app.clone(),
                stop: stop.clone(),
                _place: place,
            };
            connections.spawn(connection.serve(tcp));
        }
        // No new connections from here on.
        drop(self.tcp);
        let stopping = *stop.borrow();
        if let Stop::Graceful(grace) = stopping {
            let finished = async { while connections.join_next().await.is_some() {} };
            tokio::select! {
                waited = tokio::time::timeout(grace, finished) => if waited.is_err() {
                    tracing::warn!("requests still in flight after the shutdown grace; dropping them");
                },
                _ = stop.wait_for(|stop| *stop == Stop::Now) => {}
            }
        }
        connections.shutdown().await;
    }
}

/// One accepted connection, holding its place under `connections_max` until it ends.
struct Connection {
    tls: Option<TlsAcceptor>,
    http: http1::Builder,
    header_timeout: Duration,
    app: Router,
    stop: watch::Receiver<Stop>,
    _place: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let Some(tls) = self.tls.clone() else { return self.http1(TokioIo::new(tcp)).await };
        // The handshake within the header timeout; a stop drops it (no request was made).
        let handshake = tokio::select! {
            handshake = tokio::time::timeout(self.header_timeout, tls.accept(tcp)) => handshake,
            _ = self.stop.wait_for(|stop| *stop != Stop::Serving) => return,
        };
        match handshake {
            Ok(Ok(stream)) => self.http1(TokioIo::new(stream)).await,
            Ok(Err(err)) => tracing::debug!(%err, "TLS handshake"),
            Err(_) => tracing::debug!("TLS handshake: timed out"),
        }
    }

    async fn http1<I>(mut self, io: I)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let connection = self.http.serve_connection(io, TowerToHyperService::new(self.app.clone()));
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = self.stop.wait_for(|stop| *stop != Stop::Serving) => {}
        }
        // Idle: closed at once; a request in flight: answered, then closed.
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// The most connections this process can hold: `connections_max`, lowered to leave a quarter of
/// the open-file limit (at least 64 files) to the ledger, its logs and the listener.
pub fn connections_max(limits: &Limits) -> usize {
    let configured = limits.connections_max;
    match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(files) => {
            let files = usize::try_from(files).unwrap_or(usize::MAX);
            let reserve = (files / 4).max(64);
            configured.min(files.saturating_sub(reserve).max(1))
        }
        None => configured,
    }
}

/// TLS from PEM files; ALPN offers HTTP/1.1 only.
fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let bad = |what: &str, path: &Path, err: &dyn std::fmt::Display| {
        Error::Config(format!("TLS {what} {}: {err}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
        .map_err(|err| bad("certificate", cert, &err))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|err| bad("key", key, &err))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|err| bad("certificate or key", cert, &err))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
