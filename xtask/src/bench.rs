//! `cargo xtask bench`: builds the release server and the load generator, times `regen`
//! (already built: the generation itself, in memory), installs wrk (Debian's package) when it
//! is missing, then runs the benchmark, whose measured requests wrk sends.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub fn run(root: &Path, extra: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "verifyd", "-p", "verifyd-bench"])
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("xtask bench: the release build failed".to_owned());
    }
    // What `cargo xtask regen` does once built: read the spec, generate, compare with the
    // committed files (best of three, to leave out a cold file cache).
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        crate::regen::run(root, crate::regen::Mode::Check)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    ensure_wrk();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let bench = target.join("release").join("verifyd-bench");
    let server = target.join("release").join("verifyd");
    let mut command = Command::new(bench);
    command.current_dir(root).arg("--server").arg(server).arg("--regen-seconds").arg(format!("{best:.4}"));
    command.args(extra);
    let status = command.status().map_err(|e| format!("verifyd-bench: {e}"))?;
    if status.success() { Ok(()) } else { Err("xtask bench: the benchmark failed".to_owned()) }
}

/// wrk on `PATH`, installed with `apt-get install -y wrk` when missing. Without it the
/// benchmark falls back to its own generator and says so in its table's first line.
fn ensure_wrk() {
    let runs = || Command::new("wrk").arg("--version").output().is_ok();
    if runs() {
        return;
    }
    println!("xtask bench: wrk is missing; installing Debian's package wrk");
    let installed = crate::test::apt_get(&["install", "-y", "-q", "wrk"]).or_else(|first| {
        println!("xtask bench: {first}; updating the package lists and trying once more");
        crate::test::apt_get(&["update", "-q"])?;
        crate::test::apt_get(&["install", "-y", "-q", "wrk"])
    });
    if let Err(e) = installed.and_then(|()| if runs() { Ok(()) } else { Err("wrk still does not run".to_owned()) }) {
        println!("xtask bench: cannot install wrk ({e}): the rows are measured with verifyd-bench's own generator");
    }
}
