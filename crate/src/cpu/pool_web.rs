//! The pool on wasm32: its workers are Web Workers that JavaScript starts.
//!
//! wasm32-unknown-unknown's `std` cannot start a thread. In the build with shared
//! memory (`+atomics`, `make wasm-threads`), the engine's worker calls [`install`]
//! once for `threads` threads in all, starts `threads - 1` Web Workers on the same
//! module and memory (`www/pool-worker.js`), and each of them calls [`work`], which
//! runs the pool's worker loop and never returns. Every [`Pool`] of the instance
//! then shares these workers; the calling thread (the engine's worker) takes tasks
//! too, and the protocol is the one of the parent module, so the bits are those of
//! one thread whatever the count.
//!
//! Two differences from the native workers: std has no clock on this target, so an
//! idle worker counts its looks at the job before it sleeps ([`SPIN_LOOKS`]), and a
//! job started while another one of the shared workers runs (never the case in the
//! executor, which runs one job at a time) runs on the caller alone.
//!
//! Without `+atomics` nothing calls [`install`] and every pool has one thread.

use super::{take_part, Pool, Shared};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Looks at `generation` before an idle worker sleeps on the condition variable
/// (a few hundred microseconds: the jobs of one forward pass come back to back).
const SPIN_LOOKS: u32 = 1 << 16;

/// The most threads [`install`] accepts (the page offers up to 16).
pub const MAX_THREADS: usize = 64;

struct Web {
    shared: Arc<Shared>,
    /// Web Workers serving the pool (threads - 1).
    workers: usize,
    /// A job of the shared workers is running.
    in_job: AtomicBool,
}

static WEB: OnceLock<Web> = OnceLock::new();

/// Why [`install`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("the thread pool is already installed with {0} threads")]
    Installed(usize),
    #[error("{0} threads: choose from 1 to {MAX_THREADS}")]
    Count(usize),
}

/// Sets up the shared state for `threads` threads in all: the caller and
/// `threads - 1` Web Workers, each of which must then call [`work`]. Once per
/// instance.
pub fn install(threads: usize) -> Result<(), InstallError> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(InstallError::Count(threads));
    }
    if let Some(w) = WEB.get() {
        return Err(InstallError::Installed(w.workers + 1));
    }
    let web = Web {
        shared: Arc::new(Shared {
            job: Mutex::new(None),
            generation: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleep: Mutex::new(0),
            wake: Condvar::new(),
        }),
        workers: threads - 1,
        in_job: AtomicBool::new(false),
    };
    WEB.set(web)
        .map_err(|w| InstallError::Installed(w.workers + 1))
}

/// Threads the CPU executor computes on in this instance: 1 until [`install`].
pub fn threads() -> usize {
    WEB.get().map_or(1, |w| w.workers + 1)
}

/// The pool [`Pool::new`] returns on wasm32 for more than one thread: the shared
/// Web Workers once installed (all of them, whatever `threads` asks), else one
/// thread. `None` for one thread (the parent builds that pool).
pub(super) fn pool(threads: usize) -> Option<Pool> {
    if threads <= 1 {
        return None;
    }
    match WEB.get() {
        Some(w) if w.workers > 0 => Some(Pool {
            shared: Arc::clone(&w.shared),
            workers: Vec::new(),
            web_workers: w.workers,
        }),
        _ => Some(Pool::new(1)),
    }
}

/// Marks the shared workers busy with one job for as long as it lives.
pub(super) struct JobGuard(&'static AtomicBool);

impl JobGuard {
    /// `None` when a job of the shared workers is already running (or none are
    /// installed): the caller then runs its tasks alone.
    pub(super) fn enter() -> Option<Self> {
        let w = WEB.get()?;
        if w.in_job.swap(true, SeqCst) {
            return None;
        }
        Some(JobGuard(&w.in_job))
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
}

/// Runs the worker loop of the installed pool on the calling Web Worker: never
/// returns once [`install`] was called; returns at once if it was not.
pub fn work() {
    let Some(w) = WEB.get() else {
        return;
    };
    let s = &*w.shared;
    let mut seen = 0;
    loop {
        // Wait for a new generation: look a while, then sleep.
        let mut looks = 0u32;
        while s.generation.load(SeqCst) == seen {
            looks += 1;
            if looks < SPIN_LOOKS {
                std::hint::spin_loop();
                continue;
            }
            let mut sleepers = s.sleep.lock().unwrap();
            *sleepers += 1;
            while s.generation.load(SeqCst) == seen {
                sleepers = s.wake.wait(sleepers).unwrap();
            }
            *sleepers -= 1;
            break;
        }
        // The same steps as the native worker (parent module docs).
        seen = take_part(s);
    }
}
