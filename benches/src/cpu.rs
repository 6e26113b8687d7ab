//! CPU time read from `/proc` (Linux), for the benchmark programs that
//! report CPU per operation: the calling thread's, precise or split into
//! user and kernel time, and this machine's PostgreSQL processes'.

use std::time::Duration;

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, in
/// nanoseconds); zero where that file is missing.
pub fn thread() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// User and kernel CPU time of the calling thread: coarse (10 ms clock
/// ticks), so measure many operations.
pub fn thread_user_kernel() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let (_, fields) = stat_fields(&stat);
    (ticks(&fields, 11), ticks(&fields, 12))
}

/// CPU time (user and kernel) of this machine's PostgreSQL processes; zero
/// when PostgreSQL runs elsewhere.
pub fn postgres() -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let ("postgres", fields) = stat_fields(&stat) {
            total += ticks(&fields, 11) + ticks(&fields, 12);
        }
    }
    total
}

/// The command name of a `/proc/…/stat` line (in parentheses, and it may
/// hold spaces) and the fields after it: the state is then field 0, user
/// time 11 and kernel time 12.
fn stat_fields(stat: &str) -> (&str, Vec<&str>) {
    let (head, rest) = stat.rsplit_once(')').unwrap_or_default();
    let name = head.split_once('(').map_or("", |(_, name)| name);
    (name, rest.split_whitespace().collect())
}

/// Field `i`, in clock ticks of 10 ms (`getconf CLK_TCK` is 100 on Linux).
fn ticks(fields: &[&str], i: usize) -> Duration {
    Duration::from_millis(fields.get(i).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_in_its_name_is_read_after_the_name() {
        let line = "4242 (postgres: x (y)) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0";
        let (name, fields) = stat_fields(line);
        assert_eq!(name, "postgres: x (y)");
        assert_eq!(fields[0], "S");
        assert_eq!(
            (ticks(&fields, 11), ticks(&fields, 12)),
            (Duration::from_millis(2_500), Duration::from_millis(300))
        );
        assert_eq!(stat_fields(""), ("", Vec::new()));
    }

    #[test]
    fn this_thread_has_used_some_cpu() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(thread() > Duration::ZERO);
    }
}
