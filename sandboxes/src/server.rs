//! A running sandbox: binds one listener, serves [`crate::router`] on a spawned task, and stops on
//! [`Sandbox::shutdown`] or drop. Bound anywhere but loopback it logs a warning, because the admin
//! endpoints have no authentication. In-flight requests get a short grace period; a request held by an
//! injected timeout is cut off rather than keeping the process alive.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::state::SandboxState;

/// How long shutdown waits for in-flight requests before aborting the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where each API of a running sandbox lives (no trailing slashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxUrls {
    /// `http://127.0.0.1:PORT`
    pub root: String,
    /// `{root}/oauth2/token`
    pub token: String,
    /// `{root}/personal-demographics/FHIR/R4`
    pub pds: String,
    /// `{root}/gpconnect/fhir`
    pub gpconnect: String,
    /// `{root}/record-locator/producer/FHIR/R4`
    pub nrl_producer: String,
    /// `{root}/record-locator/consumer/FHIR/R4`
    pub nrl_consumer: String,
    /// `{root}/messageexchange`
    pub mesh: String,
    /// `{root}/_admin`
    pub admin: String,
    /// `{root}/cis2`: NHS CIS2's issuer
    pub cis2: String,
    /// `{root}/nhslogin`: NHS login's issuer
    pub nhslogin: String,
}

impl SandboxUrls {
    pub fn for_root(root: &str) -> SandboxUrls {
        let root = root.trim_end_matches('/').to_owned();
        SandboxUrls {
            token: format!("{root}/oauth2/token"),
            pds: format!("{root}{}", crate::pds::BASE),
            gpconnect: format!("{root}{}", crate::gpconnect::BASE),
            nrl_producer: format!("{root}{}", crate::nrl::PRODUCER_BASE),
            nrl_consumer: format!("{root}{}", crate::nrl::CONSUMER_BASE),
            mesh: format!("{root}{}", crate::mesh::BASE),
            admin: format!("{root}{}", crate::admin::BASE),
            cis2: format!("{root}{}", crate::identity::Provider::Cis2.base()),
            nhslogin: format!("{root}{}", crate::identity::Provider::NhsLogin.base()),
            root,
        }
    }
}

/// A sandbox serving on a local address.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Validates `config`, binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr, config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.validate()?;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| SandboxError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind { addr, source })?;
        let app = crate::router(SandboxState::new(config));
        // The identity services' keys take a moment to make: made now, off the request path.
        tokio::task::spawn_blocking(crate::identity::warm_up);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "sandbox server stopped with an error");
            }
        });
        tracing::info!(%addr, "sandboxes listening");
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "sandboxes bound to a non-loopback address: /_admin (faults, reset, token expiry) and \
                 /messageexchange/admin are open to anyone who can reach it, without authentication"
            );
        }
        Ok(Sandbox { addr, stop: Some(stop), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn urls(&self) -> SandboxUrls {
        SandboxUrls::for_root(&format!("http://{}", self.addr))
    }

    /// Stops accepting connections and waits (briefly) for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
