/// Why generation failed. Every message names the spec element at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("spec: {0}")]
    Spec(String),
    #[error("names: {0}")]
    Name(String),
    #[error("emitting {file}: {message}")]
    Emit { file: String, message: String },
}
