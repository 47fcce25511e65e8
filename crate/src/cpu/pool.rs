//! A persistent pool of worker threads for the CPU executor: [`Pool::run`] hands
//! out the tasks `0..n` of one job to the calling thread and the workers, and returns
//! when all of them are done.
//!
//! A forward pass runs hundreds of small jobs (seven matmuls and an attention per
//! layer), a few tens of microseconds each when decoding, so starting threads per
//! job (`std::thread::scope`, ~10 us a spawn) ate the gain of a second core. The
//! workers here live as long as the executor; between jobs they spin for
//! [`SPIN`] (jobs of one forward pass come back to back) and then sleep on a
//! condition variable, like OpenMP's and llama.cpp's thread pools.
//!
//! The split of work cannot change a bit: each task writes results that no other
//! task writes, and every result is computed by the same code whichever thread runs it.
//!
//! # Protocol
//!
//! The caller publishes a job (a pointer to its closure and the task count) and
//! bumps `generation`. A worker that sees a new generation increments `active`,
//! then checks `closed`: if the job is already closed it leaves without touching
//! it. The caller, once no task is left, stores `closed` and waits for `active` to
//! reach 0. All of these are sequentially consistent, so a worker either counts in
//! `active` before the caller reads 0 (and the caller waits for it), or reads
//! `closed` after the caller stored it (and leaves): the closure, which lives on
//! the caller's stack, is never used after [`Pool::run`] returns.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker waits for the next job before it sleeps: busy for
/// [`BUSY`], then yielding its core to other threads between looks.
const SPIN: Duration = Duration::from_micros(200);
const BUSY: Duration = Duration::from_micros(20);
/// Looks at a flag between checks of the clock or yields.
const SPINS: u32 = 64;

/// One job: a closure called once per task index, with its lifetime erased.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    n: usize,
}

// SAFETY: the closure is `Sync`, and the protocol (module docs) keeps it alive for
// as long as any worker can call it.
unsafe impl Send for Job {}

struct Shared {
    /// The current job (valid while its generation is not closed).
    job: Mutex<Option<Job>>,
    /// Bumped once per job (under `sleep`'s lock, so sleeping workers never miss it).
    generation: AtomicUsize,
    /// The last generation whose job is closed to newcomers.
    closed: AtomicUsize,
    /// Workers inside the current job.
    active: AtomicUsize,
    /// The next task index to hand out.
    next: AtomicUsize,
    /// A task panicked (the caller panics in turn).
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Number of sleeping workers, and the condition variable they sleep on.
    sleep: Mutex<usize>,
    wake: Condvar,
}

/// A pool of `threads - 1` workers plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// wasm32: workers started by JavaScript in Web Workers ([`web`]), shared by
    /// every pool of this instance; 0 for a pool of its own.
    #[cfg(target_arch = "wasm32")]
    web_workers: usize,
}

impl Pool {
    /// A pool that runs jobs on `threads` threads in all (the caller's included);
    /// `threads <= 1` starts none and runs every job on the caller's thread.
    pub fn new(threads: usize) -> Self {
        #[cfg(target_arch = "wasm32")]
        if let Some(pool) = web::pool(threads) {
            return pool;
        }
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            generation: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleep: Mutex::new(0),
            wake: Condvar::new(),
        });
        let workers = (1..threads.max(1))
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("verbatim-cpu-{i}"))
                    .spawn(move || worker(&s))
                    .expect("starting a CPU worker thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            #[cfg(target_arch = "wasm32")]
            web_workers: 0,
        }
    }

    /// Threads that run jobs, the caller's included.
    pub fn threads(&self) -> usize {
        #[cfg(target_arch = "wasm32")]
        if self.web_workers > 0 {
            return self.web_workers + 1;
        }
        self.workers.len() + 1
    }

    /// Calls `f(i)` for every `i` in `0..n`, spread over the pool's threads, and
    /// returns when all calls have returned. Each `i` is run exactly once.
    pub fn run(&self, n: usize, f: impl Fn(usize) + Sync) {
        if self.threads() <= 1 || n <= 1 {
            (0..n).for_each(f);
            return;
        }
        #[cfg(target_arch = "wasm32")]
        let _job = match web::JobGuard::enter() {
            Some(guard) => guard,
            None => return (0..n).for_each(f),
        };
        let s = &*self.shared;
        let f: &(dyn Fn(usize) + Sync) = &f;
        // SAFETY: only the lifetime is erased; `run` does not return before every
        // worker has left the job (module docs).
        let f: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        *s.job.lock().unwrap() = Some(Job { f, n });
        s.next.store(0, SeqCst);
        let generation = {
            let sleepers = s.sleep.lock().unwrap();
            let g = s.generation.fetch_add(1, SeqCst) + 1;
            if *sleepers > 0 {
                s.wake.notify_all();
            }
            g
        };
        // SAFETY: `f` is alive: it is this call's argument.
        let ok = catch_unwind(AssertUnwindSafe(|| unsafe { run_tasks(s, Job { f, n }) }));
        s.closed.store(generation, SeqCst);
        // Wait for workers still in a task; one may have lost its core, so yield.
        let mut spins = 0u32;
        while s.active.load(SeqCst) != 0 {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(SPINS) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        *s.job.lock().unwrap() = None;
        let worker_panicked = s.panicked.swap(false, SeqCst);
        if let Err(e) = ok {
            std::panic::resume_unwind(e);
        }
        if worker_panicked {
            panic!("a CPU worker thread panicked");
        }
    }
}

/// Runs tasks of `job` until none is left.
///
/// # Safety
/// `job.f` must be alive for the whole call.
unsafe fn run_tasks(s: &Shared, job: Job) {
    loop {
        let i = s.next.fetch_add(1, SeqCst);
        if i >= job.n {
            return;
        }
        (*job.f)(i);
    }
}

fn worker(s: &Shared) {
    let mut seen = 0;
    loop {
        // Wait for a new generation: spin a while, then sleep.
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if s.shutdown.load(SeqCst) {
                return;
            }
            if s.generation.load(SeqCst) != seen {
                break;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(SPINS) {
                std::hint::spin_loop();
                continue;
            }
            let waited = start.elapsed();
            if waited > BUSY {
                // A machine with more busy threads than cores: let them run.
                std::thread::yield_now();
            }
            if waited > SPIN {
                let mut sleepers = s.sleep.lock().unwrap();
                *sleepers += 1;
                while s.generation.load(SeqCst) == seen && !s.shutdown.load(SeqCst) {
                    sleepers = s.wake.wait(sleepers).unwrap();
                }
                *sleepers -= 1;
                break;
            }
        }
        seen = take_part(s);
    }
}

/// A worker's share of the newest generation: counts itself in `active`, runs
/// tasks of that generation's job while it is open, and returns the generation it
/// saw (the native worker and the wasm pool's Web Workers both use it).
fn take_part(s: &Shared) -> usize {
    let seen = s.generation.load(SeqCst);
    s.active.fetch_add(1, SeqCst);
    if s.closed.load(SeqCst) < seen {
        // The job of generation `seen` is open, and stays published while this
        // worker counts in `active`.
        let job = *s.job.lock().unwrap();
        if let Some(job) = job {
            // SAFETY: the caller waits for `active` to reach 0 before the closure
            // goes away.
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { run_tasks(s, job) }));
            if r.is_err() {
                s.panicked.store(true, SeqCst);
            }
        }
    }
    s.active.fetch_sub(1, SeqCst);
    seen
}

impl Drop for Pool {
    fn drop(&mut self) {
        #[cfg(target_arch = "wasm32")]
        if self.web_workers > 0 {
            return; // the instance's Web Workers serve the next pool
        }
        {
            let _sleepers = self.shared.sleep.lock().unwrap();
            self.shared.shutdown.store(true, SeqCst);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            // A worker that panicked outside a task has nothing left to report.
            let _ = w.join();
        }
    }
}

#[cfg(target_arch = "wasm32")]
#[path = "pool_web.rs"]
pub mod web;

/// A pointer to the elements of a slice that tasks of one job write at disjoint
/// indices.
pub struct Disjoint<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks write disjoint elements (the caller's promise at each `slice`).
unsafe impl<T: Send> Sync for Disjoint<T> {}
unsafe impl<T: Send> Send for Disjoint<T> {}

impl<T> Disjoint<T> {
    pub fn new(data: &mut [T]) -> Self {
        Disjoint {
            ptr: data.as_mut_ptr(),
            len: data.len(),
        }
    }

    /// Elements `start..start + len`.
    ///
    /// # Safety
    /// No other live slice from this `Disjoint` may overlap the range, and the
    /// slice it was made from must outlive the result.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "Disjoint range out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_task_runs_once_on_any_thread_count() {
        for threads in [1, 2, 3, 4] {
            let pool = Pool::new(threads);
            assert_eq!(pool.threads(), threads);
            for n in [0, 1, 2, 7, 64, 1000] {
                let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                pool.run(n, |i| {
                    hits[i].fetch_add(1, SeqCst);
                });
                assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "{threads} {n}");
            }
        }
    }

    #[test]
    fn many_small_jobs_back_to_back() {
        let pool = Pool::new(3);
        let total = AtomicU64::new(0);
        for j in 0..2000u64 {
            pool.run(5, |i| {
                total.fetch_add(j * 5 + i as u64, SeqCst);
            });
        }
        let n = 2000 * 5;
        assert_eq!(total.load(SeqCst), n * (n - 1) / 2);
    }

    #[test]
    fn disjoint_writes_fill_the_slice() {
        let pool = Pool::new(4);
        let mut out = vec![0usize; 100];
        let d = Disjoint::new(&mut out);
        pool.run(10, |i| {
            // SAFETY: task i writes elements 10i..10i+10 only.
            let s = unsafe { d.slice(i * 10, 10) };
            for (j, x) in s.iter_mut().enumerate() {
                *x = i * 10 + j;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &x)| i == x));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(8, |i| {
                if i == 5 {
                    panic!("task 5");
                }
            })
        }));
        assert!(r.is_err());
        let count = AtomicU64::new(0);
        pool.run(8, |_| {
            count.fetch_add(1, SeqCst);
        });
        assert_eq!(count.load(SeqCst), 8);
    }

    #[test]
    fn sleeping_workers_wake_for_the_next_job() {
        let pool = Pool::new(2);
        std::thread::sleep(SPIN * 5);
        let count = AtomicU64::new(0);
        pool.run(16, |_| {
            count.fetch_add(1, SeqCst);
        });
        assert_eq!(count.load(SeqCst), 16);
    }
}
