//! Canary integration tests: every flow against our sandboxes (with each fault), the MESH flow
//! against NHS England's own `mesh-sandbox`, and the scheduler.

mod api_versions;
mod backlog;
mod mesh_sandbox;
mod our_sandboxes;
mod probe_limits;
mod support;
