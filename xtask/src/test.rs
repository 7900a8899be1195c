//! `cargo xtask test`: the one command that runs every test, for developers, the README
//! and CI alike. It ends with one line, `N passed, M failed, K skipped`, summing every runner.
//!
//! Three runners, one after the other:
//!
//! 1. `cargo test --workspace`, adding up its `test result:` lines. It first makes sure of the
//!    virtual environment described in step 2 and gives its Python to the tests as
//!    `VERIFYD_TEST_PYTHON` (the SMTP provider's tests run an aiosmtpd server with it), unless
//!    that variable is already set; when the venv cannot be built, that counts as one failed
//!    test and those tests say they skipped. It also gives them `VERIFYD_TEST_POSTGRES_URL`
//!    (see [`postgres_url`]).
//! 2. The compatibility scripts, which drive a running server with the official Twilio helper
//!    libraries (and, in `compat/client_example.py`, the generated Rust client's example, given
//!    as `VERIFYD_CLIENT_EXAMPLE`). This step builds `verifyd` (debug), starts `verifyd serve` in development mode
//!    on a free port with a throwaway SQLite database and a known account, runs every script in
//!    name order with `VERIFYD_URL`, `VERIFYD_ACCOUNT_SID` and `VERIFYD_AUTH_TOKEN`, and stops
//!    the server whatever happened. Each script prints `compat <name>: N passed, M failed` last
//!    and exits non-zero when something failed.
//!    - `compat/*.py` (twilio-python) run with a virtual environment at `target/compat-venv`
//!      holding exactly `compat/requirements.txt` (reinstalled only when that file changes: the
//!      venv keeps a hash of it).
//!    - Then `compat/node/*.mjs` (twilio-node), against the same server, when `node` and `npm`
//!      are on `PATH` (else each script counts as skipped). `compat/node/package.json` and
//!      `package-lock.json` are installed with `npm ci` into `target/compat-node` (again only when
//!      they change: it keeps a hash of both), and the scripts are copied there and run from
//!      there, so that their `import ... from "twilio"` finds that `node_modules` (ES modules
//!      ignore `NODE_PATH`).
//!    - The `compat/node/*_browser.mjs` scripts drive headless Chromium (`playwright-core`):
//!      the system's `/usr/bin/chromium`, or the one `VERIFYD_CHROMIUM` names; they get its
//!      path in `VERIFYD_CHROMIUM`. When `/usr/bin/chromium` is missing (and that variable is
//!      unset), it is installed before the Node.js scripts run, Debian's way:
//!      `apt-get install -y chromium` (as root, else with `sudo -n`), and when that fails, once
//!      more after `apt-get update`. A browser that cannot be installed fails each such script
//!      (never skipped). Every Node.js script gets `VERIFYD_ARTIFACTS_DIR`, `target/compat-artifacts`,
//!      for its screenshots.
//! 3. The spec-driven fuzzer (`compat/fuzz`, schemathesis) against a server of its own: see
//!    [`crate::fuzz`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scripts and their pinned Python packages.
const COMPAT_DIR: &str = "compat";
const REQUIREMENTS: &str = "compat/requirements.txt";
/// The virtual environment, under the target directory.
const VENV: &str = "compat-venv";
/// Holds the hash of the requirements the venv was built from.
const VENV_MARKER: &str = ".requirements-hash";
/// The Node.js scripts and their npm manifest and lock file.
const NODE_DIR: &str = "compat/node";
/// The module the Node.js scripts share, a folder of `NODE_DIR` (not a script itself).
const NODE_SUPPORT: &str = "support";
const NODE_MANIFESTS: [&str; 2] = ["package.json", "package-lock.json"];
/// Where they are installed and run, under the target directory.
const NODE_ENV: &str = "compat-node";
/// Holds the hash of the manifests `node_modules` was installed from.
const NODE_MARKER: &str = ".package-lock-hash";
const NODE: &str = if cfg!(windows) { "node.exe" } else { "node" };
const NPM: &str = if cfg!(windows) { "npm.cmd" } else { "npm" };
/// The browser the `*_browser.mjs` scripts drive (Debian's package `chromium`), unless
/// `VERIFYD_CHROMIUM` names another; it names it for the scripts too.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_PACKAGE: &str = "chromium";
const CHROMIUM_VARIABLE: &str = "VERIFYD_CHROMIUM";
/// A Node.js script whose file stem ends so needs the browser.
const BROWSER_SUFFIX: &str = "_browser";
/// Where the scripts save screenshots, under the target directory (`VERIFYD_ARTIFACTS_DIR`).
const ARTIFACTS: &str = "compat-artifacts";
/// How long the server may take to answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one script may run before it is killed and counted as failed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

/// The variable naming the database PostgreSQL tests use, and its value on a machine laid out as
/// the README's (and CI's): a local server, trust authentication, database `test`.
const POSTGRES_VARIABLE: &str = "VERIFYD_TEST_POSTGRES_URL";
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The variable naming the Python (with aiosmtpd) that the SMTP provider's tests run.
const PYTHON_VARIABLE: &str = "VERIFYD_TEST_PYTHON";

/// The PostgreSQL URL the tests get: the variable's, else the local server's when one
/// listens on 127.0.0.1:5432, else none (those tests then say that they skipped).
fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var(POSTGRES_VARIABLE) {
        return Some(url).filter(|u| !u.is_empty());
    }
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 5432));
    if TcpStream::connect_timeout(&local, Duration::from_secs(1)).is_ok() {
        println!("xtask test: {POSTGRES_VARIABLE} is not set; PostgreSQL tests use {LOCAL_POSTGRES}");
        return Some(LOCAL_POSTGRES.to_owned());
    }
    println!(
        "xtask test: {POSTGRES_VARIABLE} is not set and nothing listens on 127.0.0.1:5432; PostgreSQL tests will say they skipped"
    );
    None
}

pub fn run(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut tally = Tally::default();
    let mut command = Command::new(&cargo);
    command.current_dir(root).args(["test", "--workspace", "--no-fail-fast"]);
    if let Some(url) = postgres_url() {
        command.env(POSTGRES_VARIABLE, url);
    }
    let python = test_python(root, &mut tally);
    if let Some(python) = &python {
        command.env(PYTHON_VARIABLE, python);
    }
    let rust = cargo_tests(&mut tally, &mut command);
    let compat = compat_tests(root, &cargo, &mut tally);
    let fuzz = crate::fuzz::fuzz_tests(root, &cargo, &mut tally);
    tally.print();
    let errors: Vec<String> = [rust, compat, fuzz].into_iter().filter_map(Result::err).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
}

/// The Python the Rust tests get as `VERIFYD_TEST_PYTHON`: the variable's own value when set,
/// else the compatibility venv's (built here if need be). A venv that cannot be built counts
/// as one failed test; the tests that need it then say they skipped.
fn test_python(root: &Path, tally: &mut Tally) -> Option<PathBuf> {
    if let Some(python) = std::env::var_os(PYTHON_VARIABLE) {
        return Some(PathBuf::from(python)).filter(|p| !p.as_os_str().is_empty());
    }
    match python_env(root, REQUIREMENTS, &target_dir(root).join(VENV)) {
        Ok(python) => Some(python),
        Err(e) => {
            println!("{e}\nxtask test: {PYTHON_VARIABLE} is not set; the SMTP provider's tests will say they skipped");
            tally.fail_one();
            None
        }
    }
}

impl Tally {
    /// The closing line, `N passed, M failed, K skipped`.
    pub fn print(&self) {
        println!("{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped);
    }

    /// Counts one failed test: a step that could not even be set up.
    pub fn fail_one(&mut self) {
        self.failed += 1;
    }
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

/// The compatibility step. A failure to set it up (build, venv, server start) counts as one
/// failed test, so the summary line never says `0 failed` when the step failed; so does a
/// failure to install the Node.js packages, which skips only the Node.js scripts.
fn compat_tests(root: &Path, cargo: &str, tally: &mut Tally) -> Result<(), String> {
    println!("xtask test: compatibility scripts ({COMPAT_DIR}/*.py and {NODE_DIR}/*.mjs against a running verifyd)");
    let python_scripts = compat_scripts(&root.join(COMPAT_DIR), "py")?;
    let node_scripts = compat_scripts(&root.join(NODE_DIR), "mjs")?;
    if python_scripts.is_empty() && node_scripts.is_empty() {
        println!("xtask test: no {COMPAT_DIR}/*.py or {NODE_DIR}/*.mjs scripts");
        return Ok(());
    }
    let target = target_dir(root);
    let setup = || -> Result<(Option<PathBuf>, Server), String> {
        build_verifyd(root, cargo)?;
        let python =
            if python_scripts.is_empty() { None } else { Some(python_env(root, REQUIREMENTS, &target.join(VENV))?) };
        let server = Server::start(&verifyd_binary(&target))?;
        Ok((python, server))
    };
    let (python, server) = setup().inspect_err(|_| tally.failed += 1)?;
    let mut failures = Vec::new();
    if let Some(python) = &python {
        for script in &python_scripts {
            let mut command = Command::new(python);
            command
                .arg(script)
                .current_dir(root)
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("VERIFYD_CLIENT_EXAMPLE", client_example(&target));
            if let Err(e) = run_script(&display_name(root, script), command, &server, SCRIPT_TIMEOUT, tally) {
                println!("{e}");
                failures.push(e);
            }
        }
    }
    node_tests(root, &target, &node_scripts, &server, tally, &mut failures);
    if !failures.is_empty() {
        server.print_log();
    }
    drop(server);
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

/// Runs `compat/node/*.mjs` from `target/compat-node` (see [`node_env`]), pushing each
/// failure; without `node` and `npm` on `PATH`, counts every script as skipped instead. The
/// `*_browser.mjs` scripts first need Chromium (see [`chromium`]); without it each fails.
fn node_tests(
    root: &Path,
    target: &Path,
    scripts: &[PathBuf],
    server: &Server,
    tally: &mut Tally,
    failures: &mut Vec<String>,
) {
    if scripts.is_empty() {
        return;
    }
    if !(on_path(NODE) && on_path(NPM)) {
        println!(
            "xtask test: {NODE} and {NPM} are not both on PATH: skipped the {} Node.js script(s) {NODE_DIR}/*.mjs",
            scripts.len()
        );
        tally.skipped += scripts.len() as u64;
        return;
    }
    let env = target.join(NODE_ENV);
    let copies = match node_env(root, &env, scripts) {
        Ok(copies) => copies,
        Err(e) => {
            println!("{e}");
            tally.failed += 1;
            failures.push(e);
            return;
        }
    };
    let browser = scripts.iter().any(|s| needs_browser(s)).then(chromium);
    let artifacts = target.join(ARTIFACTS);
    for (script, copied) in scripts.iter().zip(copies) {
        let name = display_name(root, script);
        let mut command = Command::new(NODE);
        command.arg(copied).current_dir(&env).env("VERIFYD_ARTIFACTS_DIR", &artifacts);
        if needs_browser(script) {
            match &browser {
                Some(Ok(browser)) => {
                    command.env(CHROMIUM_VARIABLE, browser);
                }
                Some(Err(why)) => {
                    let e = format!("xtask test: {name}: FAILED, not run: {why}");
                    println!("{e}");
                    tally.failed += 1;
                    failures.push(e);
                    continue;
                }
                None => {}
            }
        }
        if let Err(e) = run_script(&name, command, server, SCRIPT_TIMEOUT, tally) {
            println!("{e}");
            failures.push(e);
        }
    }
}

/// Whether a Node.js script drives the browser: its file stem ends with [`BROWSER_SUFFIX`].
fn needs_browser(script: &Path) -> bool {
    script.file_stem().is_some_and(|stem| stem.to_string_lossy().ends_with(BROWSER_SUFFIX))
}

/// The browser for the `*_browser.mjs` scripts: `VERIFYD_CHROMIUM`'s when set (never
/// installed), else [`CHROMIUM`], installed with `apt-get install -y chromium` when missing
/// (after `apt-get update` when the first install fails). Says what it does; the error says
/// why there is no browser.
fn chromium() -> Result<PathBuf, String> {
    if let Some(browser) = std::env::var_os(CHROMIUM_VARIABLE).filter(|b| !b.is_empty()) {
        let browser = PathBuf::from(browser);
        return if browser.is_file() {
            Ok(browser)
        } else {
            Err(format!("{CHROMIUM_VARIABLE} names {}, which does not exist", browser.display()))
        };
    }
    let browser = PathBuf::from(CHROMIUM);
    if browser.is_file() {
        return Ok(browser);
    }
    println!("xtask test: {CHROMIUM} is missing; installing Debian's package {CHROMIUM_PACKAGE}");
    let started = Instant::now();
    let installed = apt_get(&["install", "-y", "-q", CHROMIUM_PACKAGE]).or_else(|first| {
        println!("xtask test: {first}; updating the package lists and trying once more");
        apt_get(&["update", "-q"])?;
        apt_get(&["install", "-y", "-q", CHROMIUM_PACKAGE])
    });
    let why = match installed {
        Ok(()) if browser.is_file() => {
            println!("xtask test: installed {CHROMIUM} in {} s", started.elapsed().as_secs());
            return Ok(browser);
        }
        Ok(()) => format!("apt-get installed {CHROMIUM_PACKAGE}, but {CHROMIUM} is still missing"),
        Err(e) => e,
    };
    let e = format!(
        "cannot install Chromium at {CHROMIUM}: {why} (install Debian's package {CHROMIUM_PACKAGE}, or set {CHROMIUM_VARIABLE} to a Chromium)"
    );
    println!("xtask test: {e}");
    Err(e)
}

/// Runs `apt-get ARGS` non-interactively, as root or else through `sudo -n`, its output shown.
pub(crate) fn apt_get(args: &[&str]) -> Result<(), String> {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut command = if root {
        Command::new("apt-get")
    } else if on_path("sudo") {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    } else {
        return Err("not root, and no sudo on PATH to run apt-get".to_owned());
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    let shown = format!("{}apt-get {}", if root { "" } else { "sudo -n " }, args.join(" "));
    println!("xtask: {shown}");
    let status = command.status().map_err(|e| format!("{shown}: cannot start (is this Debian or Ubuntu?): {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

/// `compat/*.<extension>` (or another directory's), sorted by name.
fn compat_scripts(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("xtask test: listing {}: {e}", dir.display())),
    };
    let mut scripts: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == extension))
        .collect();
    scripts.sort();
    Ok(scripts)
}

/// A script's path relative to the workspace, for the log.
pub fn display_name(root: &Path, script: &Path) -> String {
    script.strip_prefix(root).unwrap_or(script).display().to_string()
}

/// Whether `program` is a file in one of `PATH`'s directories.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Builds the `verifyd` binary and the generated client's examples (a compatibility script
/// runs `examples/verify` as a user would).
pub fn build_verifyd(root: &Path, cargo: &str) -> Result<(), String> {
    println!("xtask test: cargo build -p verifyd -p verifyd-client --bins --examples");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "-p", "verifyd", "-p", "verifyd-client", "--bins", "--examples"])
        .status()
        .map_err(|e| format!("xtask test: cargo build: cannot start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("xtask test: cargo build -p verifyd failed ({status})")) }
}

/// The client's example that [`build_verifyd`] builds.
fn client_example(target: &Path) -> PathBuf {
    target.join("debug").join("examples").join(format!("verify{}", std::env::consts::EXE_SUFFIX))
}

/// The debug `verifyd` that [`build_verifyd`] builds.
pub fn verifyd_binary(target: &Path) -> PathBuf {
    target.join("debug").join(format!("verifyd{}", std::env::consts::EXE_SUFFIX))
}

/// The venv's Python, after making sure the venv holds exactly the pinned `requirements` (a
/// path relative to the workspace). When the requirements changed since the venv was built, it
/// is built again from scratch, so a package dropped from the file does not linger.
pub fn python_env(root: &Path, requirements: &str, venv: &Path) -> Result<PathBuf, String> {
    let requirements_path = root.join(requirements);
    let contents = std::fs::read(&requirements_path)
        .map_err(|e| format!("xtask test: reading {}: {e}", requirements_path.display()))?;
    let hash = format!("{:016x}\n", fnv1a(&contents));
    let python = venv_python(venv);
    let marker = venv.join(VENV_MARKER);
    if python.is_file() && std::fs::read_to_string(&marker).is_ok_and(|m| m == hash) {
        return Ok(python);
    }
    if venv.exists() {
        std::fs::remove_dir_all(venv).map_err(|e| format!("xtask test: removing {}: {e}", venv.display()))?;
    }
    println!("xtask test: creating {} and installing {requirements}", venv.display());
    let system_python = if cfg!(windows) { "python" } else { "python3" };
    let status = Command::new(system_python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .map_err(|e| format!("xtask test: {system_python} -m venv: cannot start (is Python 3 installed?): {e}"))?;
    if !status.success() {
        return Err(format!("xtask test: {system_python} -m venv {} failed ({status})", venv.display()));
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"])
        .arg(&requirements_path)
        .status()
        .map_err(|e| format!("xtask test: pip install: cannot start: {e}"))?;
    if !status.success() {
        return Err(format!("xtask test: pip install -r {requirements} failed ({status})"));
    }
    std::fs::write(&marker, hash).map_err(|e| format!("xtask test: writing {}: {e}", marker.display()))?;
    Ok(python)
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join("python.exe") } else { venv.join("bin").join("python") }
}

/// Installs `compat/node` into `env` and copies `scripts` there, returning the copies. The
/// packages are installed with `npm ci` from the committed lock file only when the manifests
/// changed since the last install (`env` keeps a hash of both); `env` is then rebuilt from
/// scratch, so nothing of an older install lingers. The scripts are copied on every run.
fn node_env(root: &Path, env: &Path, scripts: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let source = root.join(NODE_DIR);
    let mut manifests = Vec::new();
    for name in NODE_MANIFESTS {
        let path = source.join(name);
        let bytes = std::fs::read(&path).map_err(|e| format!("xtask test: reading {}: {e}", path.display()))?;
        manifests.extend_from_slice(name.as_bytes());
        manifests.push(0);
        manifests.extend_from_slice(&bytes);
        manifests.push(0);
    }
    let hash = format!("{:016x}\n", fnv1a(&manifests));
    let marker = env.join(NODE_MARKER);
    let installed = env.join("node_modules").join("twilio").join("package.json").is_file()
        && std::fs::read_to_string(&marker).is_ok_and(|m| m == hash);
    if !installed {
        if env.exists() {
            std::fs::remove_dir_all(env).map_err(|e| format!("xtask test: removing {}: {e}", env.display()))?;
        }
        std::fs::create_dir_all(env).map_err(|e| format!("xtask test: creating {}: {e}", env.display()))?;
        for name in NODE_MANIFESTS {
            copy(&source.join(name), &env.join(name))?;
        }
        println!("xtask test: installing {NODE_DIR}/package-lock.json into {} (npm ci)", env.display());
        let status = Command::new(NPM)
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(env)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("xtask test: {NPM} ci: cannot start: {e}"))?;
        if !status.success() {
            return Err(format!("xtask test: {NPM} ci in {} failed ({status})", env.display()));
        }
        std::fs::write(&marker, hash).map_err(|e| format!("xtask test: writing {}: {e}", marker.display()))?;
    }
    let mut copies = Vec::with_capacity(scripts.len());
    for script in scripts {
        let name = script.file_name().ok_or_else(|| format!("xtask test: {} has no file name", script.display()))?;
        let to = env.join(name);
        copy(script, &to)?;
        copies.push(to);
    }
    // What the scripts share (`compat/node/support/`), beside them as in the source tree.
    let support = source.join(NODE_SUPPORT);
    let support_to = env.join(NODE_SUPPORT);
    std::fs::create_dir_all(&support_to).map_err(|e| format!("xtask test: creating {}: {e}", support_to.display()))?;
    let entries = std::fs::read_dir(&support).map_err(|e| format!("xtask test: reading {}: {e}", support.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("xtask test: reading {}: {e}", support.display()))?;
        copy(&entry.path(), &support_to.join(entry.file_name()))?;
    }
    Ok(copies)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("xtask test: copying {} to {}: {e}", from.display(), to.display()))
}

/// 64-bit FNV-1a: a hash that, unlike std's `DefaultHasher`, is the same on every toolchain.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `n` random lowercase hexadecimal characters (std's per-process random hasher keys).
fn random_hex(n: usize) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_usize(out.len());
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(n);
    out
}

/// A directory removed, with everything in it, when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("verifyd-compat-{}-{}", std::process::id(), random_hex(8)));
        std::fs::create_dir_all(&path).map_err(|e| format!("xtask test: creating {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `verifyd serve`; dropping it kills the process, waits for it and removes its data.
pub struct Server {
    child: Child,
    url: String,
    account_sid: String,
    auth_token: String,
    stderr_path: PathBuf,
    // Dropped after `Drop::drop` has stopped the process.
    _dir: TempDir,
}

impl Server {
    pub fn start(binary: &Path) -> Result<Self, String> {
        let dir = TempDir::new()?;
        let port = free_port()?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let account_sid = format!("AC{}", random_hex(32));
        let auth_token = format!("compat-{}", random_hex(40));
        let stderr_path = dir.0.join("verifyd.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| format!("xtask test: creating {}: {e}", stderr_path.display()))?;
        let stdout = std::fs::File::create(dir.0.join("verifyd.stdout"))
            .map_err(|e| format!("xtask test: creating a file in {}: {e}", dir.0.display()))?;
        let mut command = Command::new(binary);
        // Only the settings below: nothing from the developer's own environment.
        for name in [
            "VERIFYD_CONFIG",
            "VERIFYD_PUBLIC_URL",
            "VERIFYD_MASTER_KEY",
            "VERIFYD_OUTBOX_RETENTION_SECONDS",
            "VERIFYD_WEBHOOK_ALLOW",
        ] {
            command.env_remove(name);
        }
        let child = command
            .arg("serve")
            .current_dir(&dir.0)
            .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.0.join("verifyd.db").display()))
            .env("VERIFYD_LISTEN", address.to_string())
            .env("VERIFYD_DEV", "1")
            .env("VERIFYD_ACCOUNT_SID", &account_sid)
            .env("VERIFYD_AUTH_TOKEN", &auth_token)
            .env("VERIFYD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("xtask test: cannot start {}: {e}", binary.display()))?;
        let mut server =
            Self { child, url: format!("http://{address}"), account_sid, auth_token, stderr_path, _dir: dir };
        server.wait_ready(address)?;
        println!("xtask test: verifyd serve is up at {}", server.url);
        Ok(server)
    }

    /// Polls `GET /healthz` until it answers 200; fails with the server's stderr when the
    /// process exits or [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, address: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "xtask test: verifyd serve exited ({status}) before it was ready:\n{}",
                    self.log()
                ));
            }
            if healthz_ok(address) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "xtask test: verifyd serve did not answer GET /healthz with 200 within {} s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn env(&self) -> [(&str, &str); 3] {
        [
            ("VERIFYD_URL", self.url.as_str()),
            ("VERIFYD_ACCOUNT_SID", self.account_sid.as_str()),
            ("VERIFYD_AUTH_TOKEN", self.auth_token.as_str()),
        ]
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        if text.trim().is_empty() { "(verifyd wrote nothing to stderr)".to_owned() } else { text }
    }

    pub fn print_log(&self) {
        println!("xtask test: verifyd's stderr:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now: bound on port 0, then released.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("xtask test: finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("xtask test: finding a free port: {e}"))
}

/// Whether `GET /healthz` answers 200, over a plain HTTP/1.1 connection.
fn healthz_ok(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut response);
    status_is_200(&response)
}

fn status_is_200(response: &[u8]) -> bool {
    let status_line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = status_line.split(|&b| b == b' ');
    parts.next().is_some_and(|version| version.starts_with(b"HTTP/1.")) && parts.next() == Some(b"200".as_slice())
}

/// Runs one script (`command`, given the server's environment here), echoing its output and
/// adding its summary line to the tally. A script that exits non-zero with no failure counted,
/// prints no summary, or outlives `timeout` counts one more failure.
pub fn run_script(
    name: &str,
    mut command: Command,
    server: &Server,
    timeout: Duration,
    tally: &mut Tally,
) -> Result<(), String> {
    println!("xtask test: {name}");
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .envs(server.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("xtask test: {name}: cannot start {program}: {e}"))?;
    let (lines_tx, lines) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + timeout;
    let mut summary = None;
    let mut timed_out = false;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                println!("{line}");
                if let Some(counts) = parse_summary(&line) {
                    summary = Some(counts);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| format!("xtask test: {name}: {e}"))?;
    let (passed, failed) = summary.unwrap_or((0, 0));
    tally.passed += passed;
    tally.failed += failed;
    let problem = if timed_out {
        Some(format!("killed after {} s", timeout.as_secs()))
    } else if summary.is_none() {
        Some(format!("printed no `compat <name>: N passed, M failed` line ({status})"))
    } else if !status.success() && failed == 0 {
        Some(format!("exited {status} with no failure counted"))
    } else {
        None
    };
    if let Some(problem) = &problem {
        tally.failed += 1;
        return Err(format!("xtask test: {name}: {problem}"));
    }
    if failed > 0 || !status.success() {
        return Err(format!("xtask test: {name}: {failed} failed"));
    }
    Ok(())
}

/// `(N, M)` from a script's `compat <name>: N passed, M failed`.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim_end().strip_prefix("compat ")?;
    let (_, counts) = rest.rsplit_once(": ")?;
    let (passed, failed) = counts.split_once(" passed, ")?;
    Some((passed.parse().ok()?, failed.strip_suffix(" failed")?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::{TempDir, compat_scripts, count, fnv1a, needs_browser, parse_summary, random_hex, status_is_200};

    #[test]
    fn counts_cargo_summaries() {
        let ok = "ok. 40 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.21s";
        assert_eq!((count(ok, " passed"), count(ok, " failed"), count(ok, " ignored")), (40, 0, 2));
        let failed = "FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!((count(failed, " passed"), count(failed, " failed")), (3, 1));
    }

    #[test]
    fn parses_script_summaries() {
        assert_eq!(parse_summary("compat verify_happy_path: 9 passed, 0 failed"), Some((9, 0)));
        assert_eq!(parse_summary("compat totp: 3 passed, 2 failed\n"), Some((3, 2)));
        assert_eq!(parse_summary("ok  create_service"), None);
        assert_eq!(parse_summary("FAIL x: compat y: 1 passed, 0 failed"), None);
        assert_eq!(parse_summary("compat x: many passed, 0 failed"), None);
        assert_eq!(parse_summary("compat x: 1 passed, 0 failed, 2 skipped"), None);
    }

    #[test]
    fn lists_scripts_by_extension_in_name_order() {
        let dir = TempDir::new().unwrap();
        for name in ["b.mjs", "a.mjs", "c.py", "d.mjs.txt", "package.json"] {
            std::fs::write(dir.0.join(name), "").unwrap();
        }
        std::fs::create_dir(dir.0.join("node_modules.mjs")).unwrap();
        let names = |ext| -> Vec<String> {
            let scripts = compat_scripts(&dir.0, ext).unwrap();
            scripts.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names("mjs"), ["a.mjs", "b.mjs"]);
        assert_eq!(names("py"), ["c.py"]);
        assert!(compat_scripts(&dir.0.join("missing"), "mjs").unwrap().is_empty());
    }

    #[test]
    fn browser_scripts_end_in_browser() {
        assert!(needs_browser(std::path::Path::new("compat/node/passkeys_browser.mjs")));
        assert!(!needs_browser(std::path::Path::new("compat/node/verify_happy_path.mjs")));
        assert!(!needs_browser(std::path::Path::new("compat/node/browser_notes.mjs")));
    }

    #[test]
    fn reads_the_status_line() {
        assert!(status_is_200(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}"));
        assert!(!status_is_200(b"HTTP/1.1 404 Not Found\r\n\r\n"));
        assert!(!status_is_200(b"HTTP/1.1 2000 Odd\r\n\r\n"));
        assert!(!status_is_200(b""));
    }

    #[test]
    fn hashes_and_random_hex() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let hex = random_hex(32);
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(hex, random_hex(32));
    }
}
