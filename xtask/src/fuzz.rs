//! The spec-driven fuzzing step: `compat/fuzz/fuzz.py` (schemathesis, every operation of
//! `spec/openapi.yaml`) against a `verifyd serve` of its own, so that what a seed does does not
//! depend on what the compatibility scripts left on their server. The last step of
//! `cargo xtask test`, and alone `cargo xtask fuzz`, which is how a failure is reproduced:
//! `VERIFYD_FUZZ_SEED=N cargo xtask fuzz` (the script reads the seed from the environment).
//!
//! Its packages are pinned in `compat/fuzz/requirements.txt` and installed into a venv of their
//! own, `target/fuzz-venv` (schemathesis and twilio need different versions of some packages,
//! and each venv is rebuilt only when its own file changes). The NDJSON report of the last run,
//! every request and answer, stays at `target/fuzz-report/report.ndjson`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::test::{Server, Tally, build_verifyd, display_name, python_env, run_script, target_dir, verifyd_binary};

const SCRIPT: &str = "compat/fuzz/fuzz.py";
const REQUIREMENTS: &str = "compat/fuzz/requirements.txt";
/// The venv and the report, under the target directory.
const VENV: &str = "fuzz-venv";
const REPORT: &str = "fuzz-report/report.ndjson";
/// A run takes about two and a half minutes on a 2-core machine (its size is set by
/// `max-examples` in `compat/fuzz/schemathesis.toml`, not by a time budget, so that a seed
/// always runs the same cases); this only stops a run that hangs.
const TIMEOUT: Duration = Duration::from_secs(480);

/// `cargo xtask fuzz`: the fuzzing step alone, ending with the same summary line as `test`.
pub fn run(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut tally = Tally::default();
    let result = fuzz_tests(root, &cargo, &mut tally);
    tally.print();
    result
}

/// Runs the fuzzer, adding its operations to the tally. A failure to set it up (build, venv,
/// server start) counts as one failed test, so the summary never says `0 failed` then.
pub fn fuzz_tests(root: &Path, cargo: &str, tally: &mut Tally) -> Result<(), String> {
    println!("xtask test: spec-driven fuzzing ({SCRIPT}, schemathesis, against a verifyd of its own)");
    let target = target_dir(root);
    let setup = || -> Result<(std::path::PathBuf, Server), String> {
        build_verifyd(root, cargo)?;
        let python = python_env(root, REQUIREMENTS, &target.join(VENV))?;
        let server = Server::start(&verifyd_binary(&target))?;
        Ok((python, server))
    };
    let (python, server) = setup().inspect_err(|_| tally.fail_one())?;
    let script = root.join(SCRIPT);
    let mut command = Command::new(python);
    command
        .arg(&script)
        .current_dir(root)
        .env("VERIFYD_FUZZ_REPORT", target.join(REPORT))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let result = run_script(&display_name(root, &script), command, &server, TIMEOUT, tally);
    if let Err(e) = &result {
        println!("{e}");
        server.print_log();
    }
    result
}
