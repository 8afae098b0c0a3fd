//! Errors of the canaries crate that reach the operator (configuration, credentials, export).
//! Failures of the APIs under test are not errors: they are step results.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("unknown flow {0:?} (configured flows: {1})")]
    UnknownFlow(String, String),
    #[error("flow {0:?} is already running")]
    AlreadyRunning(String),
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("exporting the run's trace to {endpoint}: {message}")]
    Export { endpoint: String, message: String },
}
