//! The sandboxes' integration tests: one binary, a module per API, driving the router in-process (and one
//! real bound server).

mod common;
mod documented_gpconnect;
mod documented_nrl;
mod documented_pds_mesh;
mod faults;
mod gpconnect;
mod gpconnect_find_patient;
mod gpconnect_published;
mod identity;
mod mesh;
mod nrl;
mod nrl_operations;
mod patients;
mod pds;
mod pds_search;
mod robustness;
mod server;
mod token;
