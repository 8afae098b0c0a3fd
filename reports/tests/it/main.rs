//! The reports crate's one integration test binary: each module is a group of tests.

mod packs;
mod pdf;
