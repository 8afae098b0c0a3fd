//! The one `Clone` state every route shares: configuration, the population, and the mutable stores of
//! each API (issued tokens, appointments, pointers, MESH messages) plus the fault board.
//!
//! Locks are `std::sync::Mutex` held only for map updates, never across an `.await`; a poisoned lock is
//! taken over rather than propagated, because every store stays consistent between statements.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::SandboxConfig;
use crate::faults::FaultBoard;
use crate::gpconnect_appointments::AppointmentBook;
use crate::identity_flow::IdentityBook;
use crate::mesh_store::MeshStore;
use crate::nrl::PointerStore;
use crate::population::Population;
use crate::rate_limit::AppQuota;
use crate::token::{KeyRing, TokenBook};

/// Locks a store, recovering from a poisoned lock.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of a running sandbox.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    keys: KeyRing,
    population: Population,
    faults: FaultBoard,
    pds_quota: AppQuota,
    tokens: Mutex<TokenBook>,
    appointments: Mutex<AppointmentBook>,
    pointers: Mutex<PointerStore>,
    mesh: Mutex<MeshStore>,
    identity: Mutex<IdentityBook>,
}

impl SandboxState {
    pub fn new(config: SandboxConfig) -> SandboxState {
        let inner = Inner {
            keys: KeyRing::new(&config.client_keys),
            population: Population::new(config.seed, config.synthetic_patients),
            faults: FaultBoard::new(config.seed),
            pds_quota: AppQuota::default(),
            tokens: Mutex::new(TokenBook::default()),
            appointments: Mutex::new(AppointmentBook::default()),
            pointers: Mutex::new(PointerStore::initial()),
            mesh: Mutex::new(MeshStore::new(&config.mesh_mailboxes)),
            identity: Mutex::new(IdentityBook::default()),
            config,
        };
        SandboxState { inner: Arc::new(inner) }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Restores the initial data of every API and clears all fault plans. Issued tokens stay valid, so a
    /// running client is not logged out by a test resetting data.
    pub fn reset(&self) {
        *lock(&self.inner.appointments) = AppointmentBook::default();
        *lock(&self.inner.pointers) = PointerStore::initial();
        *lock(&self.inner.mesh) = MeshStore::new(&self.inner.config.mesh_mailboxes);
        *lock(&self.inner.identity) = IdentityBook::default();
        self.inner.faults.clear_all();
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    pub(crate) fn population(&self) -> &Population {
        &self.inner.population
    }

    pub(crate) fn faults(&self) -> &FaultBoard {
        &self.inner.faults
    }

    pub(crate) fn pds_quota(&self) -> &AppQuota {
        &self.inner.pds_quota
    }

    pub(crate) fn tokens(&self) -> MutexGuard<'_, TokenBook> {
        lock(&self.inner.tokens)
    }

    pub(crate) fn appointments(&self) -> MutexGuard<'_, AppointmentBook> {
        lock(&self.inner.appointments)
    }

    pub(crate) fn pointers(&self) -> MutexGuard<'_, PointerStore> {
        lock(&self.inner.pointers)
    }

    pub(crate) fn mesh(&self) -> MutexGuard<'_, MeshStore> {
        lock(&self.inner.mesh)
    }

    /// Identity codes and access tokens (locked by the caller, never across an await).
    pub(crate) fn identity(&self) -> &Mutex<IdentityBook> {
        &self.inner.identity
    }
}
