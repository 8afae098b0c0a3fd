//! What the workspace's tests share (feature `testing`, turned on by dev-dependencies only): an
//! external server's address from the environment, or the test skipped loudly, or failed where
//! `PATHWATCH_REQUIRE_SERVICES=1` (as in CI).

/// Whether a missing server must fail the run rather than skip the test.
pub fn services_required() -> bool {
    std::env::var("PATHWATCH_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Says loudly that `test` is skipped and why; panics instead where services are required.
pub fn skip(test: &str, why: &str) {
    assert!(!services_required(), "PATHWATCH_REQUIRE_SERVICES=1 but {why} ({test})");
    eprintln!("\n*** SKIPPED {test}: {why} (scripts/test.sh provides it) ***\n");
}

/// The value of `var` (a server's address, a directory), or None after [`skip`].
pub fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            skip(test, &format!("{var} is not set"));
            None
        }
    }
}
