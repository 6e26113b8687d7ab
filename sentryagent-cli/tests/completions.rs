//! The completion scripts load in the real shells, and complete
//! `sentryagent ag<TAB>` to `agents` where the shell lets a script ask.
//! A shell that is not installed is skipped, unless
//! `SENTRYAGENT_REQUIRE_SHELLS=1` (CI installs bash, zsh and fish).

use std::process::Command;

/// The script for `shell` in a file of its own (tests run in parallel).
fn script(shell: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = Command::new(env!("CARGO_BIN_EXE_sentryagent"))
        .args(["completions", shell])
        .output()
        .expect("sentryagent runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = std::env::temp_dir().join(format!("sentryagent-completion-{}-{n}.{shell}", std::process::id()));
    std::fs::write(&path, &out.stdout).expect("write the script");
    path
}

fn installed(shell: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {shell}")])
        .output()
        .is_ok_and(|o| o.status.success());
    let required = std::env::var("SENTRYAGENT_REQUIRE_SHELLS").is_ok_and(|v| v == "1");
    assert!(
        found || !required,
        "{shell} is required (SENTRYAGENT_REQUIRE_SHELLS=1) but not installed"
    );
    if !found {
        eprintln!("skipped: {shell} is not installed");
    }
    found
}

fn run(shell: &str, args: &[&str]) -> String {
    let out = Command::new(shell).args(args).output().expect("the shell runs");
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completes_ag_to_agents() {
    if !installed("bash") {
        return;
    }
    let path = script("bash");
    let probe = format!(
        r#"source "{}"; COMP_WORDS=(sentryagent ag); COMP_CWORD=1; COMP_LINE="sentryagent ag"; COMP_POINT=${{#COMP_LINE}}; _sentryagent sentryagent ag sentryagent; printf '%s\n' "${{COMPREPLY[@]}}""#,
        path.display()
    );
    let words = run("bash", &["-c", &probe]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(words.trim(), "agents");
}

#[test]
fn fish_completes_ag_to_agents() {
    if !installed("fish") {
        return;
    }
    let path = script("fish");
    let probe = format!("source '{}'; complete -C 'sentryagent ag'", path.display());
    let words = run("fish", &["-c", &probe]);
    let _ = std::fs::remove_file(&path);
    assert!(words.lines().any(|l| l.split('\t').next() == Some("agents")), "{words}");
    assert_eq!(words.lines().count(), 1, "{words}");
}

#[test]
fn zsh_loads_the_script() {
    if !installed("zsh") {
        return;
    }
    let path = script("zsh");
    let probe = format!(
        "autoload -U compinit; compinit -u -D; source '{}'; print -r -- ${{+functions[_sentryagent]}}",
        path.display()
    );
    let defined = run("zsh", &["-f", "-c", &probe]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(defined.trim(), "1", "the completion function is defined");
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let path = script(shell);
        let text = std::fs::read_to_string(&path).expect("the script");
        let _ = std::fs::remove_file(&path);
        assert!(text.contains("sentryagent") && text.contains("agents"), "{shell}");
    }
}
