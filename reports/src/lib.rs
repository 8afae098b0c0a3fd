//! Reports: DCB0129, DTAC and DSPT assurance exports generated from the hazard log and evidence.
//!
//! Not built yet (issue 6).
