//! The example servers' shutdown signal.

use std::future::Future;

/// Resolves on SIGINT or SIGTERM (on other systems, on Ctrl-C).
///
/// The handlers are installed when this is called, not when the returned
/// future is first polled. A server polls its shutdown future only once it
/// serves, after its port already answers: a SIGTERM sent in between would
/// meet the default action and kill the process instead of stopping it.
/// Call it before binding.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // A handler that cannot be installed leaves the other one.
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        async move {
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminated = async {
                match terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupted => {},
                _ = terminated => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
