//! Hazard log: the DCB0129 hazard log with each control linked to live evidence.
//!
//! Not built yet (issue 6). Part of the data layer: it will depend on no other Pathwatch crate.
