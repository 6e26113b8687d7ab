//! The glob patterns of trust-policy conditions.
//!
//! `*` matches any run of characters, empty included, that holds neither `/`
//! nor `:`; every other character matches itself. So `org/*` matches
//! `org/app` but never `org/app/x`, and `release/*` never matches
//! `release/a:b`. (AWS's `StringLike` lets `*` cross both, which is how
//! `repo:org/*` ends up trusting far more than its author meant.) There is no
//! `**`, `?` or character class: a condition that needs more is two policies.

/// Most characters a pattern may have.
pub const MAX_PATTERN: usize = 256;

/// Whether `text` matches `pattern`; `fold_case` compares ASCII letters
/// case-insensitively (GitHub's owner, repository and environment names).
pub fn matches(pattern: &str, text: &str, fold_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| if fold_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    // reach[j]: the pattern's first i characters match the text's first j.
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            for j in 0..=t.len() {
                // Either the star matches nothing here, or it extends a match
                // ending one character earlier over a character it may take.
                next[j] = reach[j] || (j > 0 && next[j - 1] && t[j - 1] != '/' && t[j - 1] != ':');
            }
        } else {
            for j in 1..=t.len() {
                next[j] = reach[j - 1] && same(pc, t[j - 1]);
            }
        }
        reach = next;
    }
    reach[t.len()]
}

/// Whether `pattern` holds a wildcard.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains('*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_star_stays_within_a_segment() {
        assert!(matches("org/*", "org/app", false));
        assert!(matches("org/*", "org/", false));
        assert!(!matches("org/*", "org/app/x", false));
        assert!(matches("release/*", "release/1.2", false));
        assert!(!matches("release/*", "release/a:b", false));
        assert!(!matches("release/*", "release/a/b", false));
        assert!(matches("refs/tags/v*", "refs/tags/v1.0.0", false));
        assert!(!matches("refs/tags/v*", "refs/heads/v1", false));
        assert!(matches("*/*", "a/b", false));
        assert!(!matches("*", "a/b", false));
        assert!(matches("a*b*c", "axxbyyc", false));
        assert!(!matches("a*b*c", "axxbyy/c", false));
        assert!(matches("main", "main", false));
        assert!(!matches("main", "mainx", false));
        assert!(!matches("main", "Main", false));
        assert!(matches("Acme/*", "acme/App", true));
    }
}
