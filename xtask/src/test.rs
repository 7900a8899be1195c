//! `cargo xtask test`: the one command that runs every test, for developers, the README
//! and CI alike. It ends with one line, `N passed, M failed`, summing every runner.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

pub fn run(root: &Path) -> Result<(), String> {
    if std::env::var_os("VERIFYD_TEST_POSTGRES_URL").is_none() {
        println!("xtask test: VERIFYD_TEST_POSTGRES_URL is not set; tests that need PostgreSQL will say they skipped");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut tally = Tally::default();
    let result = cargo_tests(&mut tally, Command::new(&cargo).current_dir(root).args(["test", "--workspace"]));
    println!("{} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped);
    result
}

/// Runs `cargo test`, echoing its output and adding up its `test result:` lines.
fn cargo_tests(tally: &mut Tally, command: &mut Command) -> Result<(), String> {
    println!("xtask test: Rust tests");
    let mut child = command.stdout(Stdio::piped()).spawn().map_err(|e| format!("cargo test: cannot start: {e}"))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                tally.passed += count(rest, " passed");
                tally.failed += count(rest, " failed");
                tally.skipped += count(rest, " ignored");
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo test: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("xtask test: cargo test failed ({status})")) }
}

/// The number before `label` in `ok. 3 passed; 0 failed; …`.
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .find_map(|part| {
            part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(label.trim())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_cargo_summaries() {
        let ok = "ok. 40 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.21s";
        assert_eq!((count(ok, " passed"), count(ok, " failed"), count(ok, " ignored")), (40, 0, 2));
        let failed = "FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!((count(failed, " passed"), count(failed, " failed")), (3, 1));
    }
}
