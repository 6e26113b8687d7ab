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

/// The store fields (`stores.<name>`) a source file reads or writes.
fn stores_used(text: &str) -> std::collections::BTreeSet<String> {
    let mut used = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("stores") {
        let rest = text[i + "stores".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && text[..i].ends_with(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
            used.insert(name);
        }
    }
    used
}

/// Each feature service says in its header which stores it needs, and the
/// header stays true: it names exactly the stores the code reaches.
#[test]
fn each_service_states_the_stores_it_needs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut services: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("src")
        .filter_map(|e| e.ok().map(|e| e.path().join("service.rs")))
        .filter(|p| p.exists())
        .collect();
    services.extend(["federation/exchange.rs", "token/issue.rs", "token/verify.rs"].map(|f| src.join(f)));
    assert!(services.len() >= 12, "the feature services: {services:?}");
    for path in services {
        let text = std::fs::read_to_string(&path).expect("a service");
        let (header, code) = text.split_at(text.find("\nuse ").unwrap_or(0));
        let stated = header
            .lines()
            .find_map(|l| l.strip_prefix("//! Stores it needs: "))
            .unwrap_or_else(|| panic!("{}: no `//! Stores it needs:` line", path.display()));
        let stated: std::collections::BTreeSet<String> = if stated == "none." {
            Default::default()
        } else {
            stated
                .trim_end_matches('.')
                .split(", ")
                .map(|s| s.trim_matches('`').to_owned())
                .collect()
        };
        assert_eq!(
            stated,
            stores_used(code),
            "{}: the header names other stores than the code uses",
            path.display()
        );
    }
}
