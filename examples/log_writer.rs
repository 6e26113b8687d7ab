//! The example servers' log writer: lines gathered in memory and written
//! to stderr by one thread every few milliseconds.
//!
//! Under load every request logs an access line. Written one `write` per
//! line, or handed one at a time to a writer thread that sleeps between
//! lines (`tracing-appender`'s non-blocking writer, which this replaced),
//! each line cost a thread wake-up: about 8 µs of CPU per token request on
//! 2 cores, in memory and on PostgreSQL alike (`RUST_LOG=warn` against
//! `info`, alternating `benches/load.sh` runs). Here a line is appended to a
//! buffer under a lock, and the writer thread wakes every [`FLUSH_EVERY`]
//! whatever the rate, so lines reach stderr at most that late.
//!
//! Nothing is dropped while the process runs: a logging thread that finds
//! the buffer past [`FLUSH_AT`] writes it out itself (so memory stays
//! bounded when stderr is slow), and the [`Guard`] writes out what is left
//! when it is dropped. A process killed outright (or aborted) loses at most
//! the last period's lines, as with any buffered writer.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How often the writer thread writes out the gathered lines.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Gathered bytes past which the logging thread writes them out itself.
const FLUSH_AT: usize = 256 * 1024;

struct Shared {
    /// Lines not yet written.
    lines: Mutex<Vec<u8>>,
    /// Held while lines are taken and written, so they leave in order.
    out: Mutex<Box<dyn Write + Send>>,
    /// Set by the guard; the writer thread then writes what is left and ends.
    stop: Mutex<bool>,
    stopped: Condvar,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes out every gathered line. An error of stderr's is not the
    /// request's: it is ignored, as a failed `eprintln!` would not be.
    fn write_out(&self) {
        let mut out = lock(&self.out);
        let lines = std::mem::take(&mut *lock(&self.lines));
        if !lines.is_empty() {
            let _ = out.write_all(&lines).and_then(|()| out.flush());
        }
    }
}

/// The writer handed to `tracing_subscriber::fmt().with_writer(…)`.
#[derive(Clone)]
pub(crate) struct LogWriter(Arc<Shared>);

/// Keeps the writer thread; dropping it writes out every gathered line.
pub(crate) struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer to `out` and the guard of its thread.
///
/// # Errors
/// The thread could not be started.
pub(crate) fn to(out: impl Write + Send + 'static) -> io::Result<(LogWriter, Guard)> {
    let shared = Arc::new(Shared {
        lines: Mutex::new(Vec::new()),
        out: Mutex::new(Box::new(out)),
        stop: Mutex::new(false),
        stopped: Condvar::new(),
    });
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new().name("log-writer".into()).spawn(move || {
            loop {
                let stop = {
                    let stop = lock(&shared.stop);
                    let (stop, _) = shared
                        .stopped
                        .wait_timeout_while(stop, FLUSH_EVERY, |stop| !*stop)
                        .unwrap_or_else(PoisonError::into_inner);
                    *stop
                };
                shared.write_out();
                if stop {
                    break;
                }
            }
        })?
    };
    Ok((
        LogWriter(shared.clone()),
        Guard {
            shared,
            thread: Some(thread),
        },
    ))
}

impl Drop for Guard {
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.stopped.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines logged after the thread ended (none in the servers, whose
        // guard outlives the runtime) are written here.
        self.shared.write_out();
    }
}

/// One event's line: tracing-subscriber formats it whole, then writes it
/// with one `write_all`.
pub(crate) struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = {
            let mut lines = lock(&self.0.lines);
            lines.extend_from_slice(buf);
            lines.len() >= FLUSH_AT
        };
        if full {
            self.0.write_out();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes written to "stderr", shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_within_the_period_and_all_at_the_guards_drop() {
        let sink = Sink::default();
        let (writer, guard) = to(sink.clone()).expect("thread");
        writer.make_writer().write_all(b"one\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&sink.0).is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was not written out");
            std::thread::sleep(Duration::from_millis(5));
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        writer
                            .make_writer()
                            .write_all(format!("{t} {i}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a logging thread");
        }
        drop(guard);
        let text = String::from_utf8(lock(&sink.0).clone()).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("one"));
        let mut next = [0; 4];
        for line in lines {
            let (t, i) = line.split_once(' ').expect("whole lines");
            let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(i, next[t], "each thread's lines in order, none lost: {line}");
            next[t] += 1;
        }
        assert_eq!(next, [1_000; 4]);
    }

    #[test]
    fn a_logging_thread_writes_out_a_full_buffer_itself() {
        let sink = Sink::default();
        let (writer, guard) = to(sink.clone()).expect("thread");
        let line = vec![b'x'; FLUSH_AT];
        writer.make_writer().write_all(&line).expect("write");
        // Written by this thread at once, not at the next period.
        assert_eq!(lock(&sink.0).len(), FLUSH_AT);
        drop(guard);
    }
}
