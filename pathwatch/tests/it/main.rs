//! End-to-end tests of the `pathwatch` binary: real processes, real ports, real signals.

mod barrage;
mod canary;
mod chains;
mod channels;
mod chaos;
mod cli;
mod crash;
mod leader;
mod listener;
mod openslo;
mod roles;
mod state;
mod support;
