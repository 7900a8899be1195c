//! verifyd's code generator: `spec/openapi.yaml` → intermediate model → Rust tokens → text.
//!
//! [`load`] reads the spec into the model ([`ir`]); the emitters under `emit` turn the
//! model into the files of the generated crates. The output depends only on the spec and
//! this crate (no clock, no environment, no hash-map order), so two runs give the same bytes.

mod emit;
mod error;
pub mod ir;
mod load;
mod names;

pub use emit::GeneratedFile;
pub use error::Error;
pub use load::load;

/// Everything `generated/` should contain, as paths relative to it, sorted by path.
pub fn generate(spec_yaml: &str) -> Result<Vec<GeneratedFile>, Error> {
    let api = load(spec_yaml)?;
    emit::all(&api)
}
