//! Canaries: end-to-end flows against PDS, GP Connect, NRL and MESH with synthetic patients.
//!
//! Not built yet (issue 3). The crate exists so the workspace has its final shape; it must never
//! talk to a non-synthetic patient record once it does exist.
