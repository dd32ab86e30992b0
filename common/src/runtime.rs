//! The async runtime a service or a load run goes on, sized to the cores the process may use.
//!
//! With several cores, tokio's multi-thread scheduler spreads connections over one worker per
//! core. With one core (a container limited to one CPU, or `taskset -c 0` as in `make bench-mocks`)
//! that scheduler has nobody to share work with, yet still pays its cross-thread bookkeeping on
//! every wake-up (work-stealing queues, atomics, driver hand-offs); the current-thread scheduler
//! does the same job without it: about 10% more requests/s on the gateway's `/health`, and for
//! loadsuite pinned to one core at 10,000 HTTP/2 streams (`make bench-streams`' setup, 5 rounds
//! alternating the builds) 3.61 ms of CPU per 1,000 tokens against 4.10 ms (medians).

use std::num::NonZeroUsize;

/// How many worker threads to use when none are asked for: the cores this process may run on
/// (its CPU affinity and cgroup quota, as the standard library reports them).
pub fn default_worker_threads() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Builds the runtime for `worker_threads` workers (the default when `None`): the current-thread
/// scheduler for one, the multi-thread scheduler otherwise. Timers and I/O are enabled either way.
pub fn build(worker_threads: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = worker_threads.unwrap_or_else(default_worker_threads);
    let mut builder = if workers.get() == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers.get());
        builder
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::*;

    #[test]
    fn one_worker_runs_the_current_thread_scheduler_and_more_run_the_multi_thread_one() {
        let one = build(Some(NonZeroUsize::MIN)).unwrap();
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        let three = build(NonZeroUsize::new(3)).unwrap();
        assert_eq!(three.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(three.metrics().num_workers(), 3);
        // Both can serve: a spawned task completes on each.
        for runtime in [one, three] {
            assert_eq!(runtime.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
        }
    }

    #[test]
    fn the_default_follows_the_cores_available() {
        let runtime = build(None).unwrap();
        let expected =
            if default_worker_threads().get() == 1 { RuntimeFlavor::CurrentThread } else { RuntimeFlavor::MultiThread };
        assert_eq!(runtime.handle().runtime_flavor(), expected);
    }
}
