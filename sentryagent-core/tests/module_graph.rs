//! The core's modules import one way (model <- store traits <- services <-
//! HTTP): `scripts/module-cycles.py` finds no cycle among them, and does
//! find one in a crate made to have one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/module-cycles.py")
}

/// Runs the check on `src`; `None` when there is no Python to run it.
fn check(src: &Path) -> Option<(bool, String)> {
    let output = match Command::new("python3").arg(script()).arg(src).output() {
        Ok(output) => output,
        Err(e) if std::env::var("SENTRYAGENT_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("python3 runs the module-cycle check: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED module-cycle check: python3 does not run ({e})");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    Some((output.status.success(), text))
}

#[test]
fn the_core_has_no_module_cycle() {
    let Some((ok, report)) = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) else {
        return;
    };
    assert!(ok, "{report}");
}

#[test]
fn the_check_finds_a_cycle() {
    let dir = std::env::temp_dir().join(format!("sentryagent-module-cycle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("feature")).expect("a scratch crate");
    for (file, text) in [
        ("lib.rs", "pub mod feature;\npub mod store;\n"),
        ("feature/mod.rs", "mod model;\nmod service;\npub use model::*;\n"),
        ("feature/model.rs", "pub struct Record;\n"),
        // The service reaches the store, and the store the service: a cycle.
        (
            "feature/service.rs",
            "use crate::store::Store;\npub fn run(_: &dyn Store) {}\n",
        ),
        (
            "store.rs",
            "pub trait Store { fn f(&self) -> crate::feature::Record { crate::feature::service::run(todo!()) } }\n",
        ),
    ] {
        std::fs::write(dir.join(file), text).expect("a file");
    }
    let result = check(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let Some((ok, report)) = result else {
        return;
    };
    assert!(!ok, "a cycle goes unnoticed:\n{report}");
    assert!(report.contains("feature/service -> store"), "{report}");
}
