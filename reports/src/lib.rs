//! Reports: DCB0129, DTAC and DSPT assurance exports generated from the hazard log and evidence.
//!
//! Each report is built as data (exported as JSON) and as a [`document::Document`] rendered to HTML
//! and PDF; a pack holds the three files and a manifest of their SHA-256 digests. The same inputs
//! produce the same bytes: nothing reads the clock or a random source while rendering.

pub mod document;
pub mod pdf;
