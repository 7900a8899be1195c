//! Project tasks.
//!
//! - `cargo xtask regen` writes `generated/` from `spec/openapi.yaml`; `--check` fails,
//!   naming the files, when the committed output is stale.
//! - `cargo xtask test` runs every test: the workspace's Rust tests, then the compatibility
//!   scripts under `compat/` with the Python packages they need, then the spec-driven fuzzer.
//! - `cargo xtask fuzz` runs only the fuzzer (`compat/fuzz`) against a fresh server;
//!   `VERIFYD_FUZZ_SEED=N` repeats the run that printed seed N.
//! - `cargo xtask bench` builds the release server and load generator and prints the
//!   benchmark table (see bench/).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod fuzz;
mod regen;
mod test;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["regen"] => regen::run(&root(), regen::Mode::Write),
        ["regen", "--check"] => regen::run(&root(), regen::Mode::Check),
        ["test"] => test::run(&root()),
        ["fuzz"] => fuzz::run(&root()),
        ["bench", rest @ ..] => bench::run(&root(), rest),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask regen [--check] | cargo xtask test | cargo xtask fuzz | cargo xtask bench [verifyd-bench options]";

/// The workspace root: the parent of this crate's directory.
fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn list_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}
