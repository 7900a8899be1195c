use std::collections::BTreeSet;
use std::path::Path;

use crate::list_files;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
}

pub const SPEC: &str = "spec/openapi.yaml";
pub const OUT: &str = "generated";

pub fn run(root: &Path, mode: Mode) -> Result<(), String> {
    let spec_path = root.join(SPEC);
    let spec = std::fs::read_to_string(&spec_path).map_err(|e| format!("reading {}: {e}", spec_path.display()))?;
    let files = verifyd_codegen::generate(&spec).map_err(|e| format!("regen failed: {e}"))?;
    let out = root.join(OUT);
    let existing = list_files(&out).map_err(|e| format!("listing {OUT}/: {e}"))?;
    let produced: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();

    let mut stale = Vec::new();
    for file in &files {
        let path = out.join(&file.path);
        let current = std::fs::read(&path).ok();
        if current.as_deref() != Some(file.contents.as_bytes()) {
            stale.push(format!("{OUT}/{}", file.path));
            if mode == Mode::Write {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
                }
                std::fs::write(&path, &file.contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
        }
    }
    for old in existing.difference(&produced) {
        stale.push(format!("{OUT}/{old} (no longer generated)"));
        if mode == Mode::Write {
            let path = out.join(old);
            std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        }
    }
    if mode == Mode::Write {
        remove_empty_dirs(&out);
        println!("regen: {} files, {} changed", files.len(), stale.len());
        return Ok(());
    }
    if stale.is_empty() {
        println!("regen --check: {OUT}/ matches {SPEC} ({} files)", files.len());
        Ok(())
    } else {
        Err(format!("regen --check: {OUT}/ is stale; run `cargo xtask regen` and commit:\n  {}", stale.join("\n  ")))
    }
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                remove_empty_dirs(&path);
                // Fails, harmlessly, when the directory is not empty.
                let _ = std::fs::remove_dir(&path);
            }
        }
    }
}
