// One thread of the CPU executor's pool in the shared-memory engine (pkg-threads/): the engine's
// worker (worker.js) starts threads - 1 of these, each with {module, memory} from the engine's
// threads_install. It instantiates the same module on the same memory, says 'started', and then
// takes tasks of the pool (crate/src/cpu/pool_web.rs) until the engine's worker ends it: it never
// answers another message.

self.onmessage = async ({ data }) => {
  try {
    const engine = await import('./pkg-threads/verbatim.js');
    engine.initSync({ module: data.module, memory: data.memory });
    self.postMessage({ status: 'started' });
    engine.threads_work();
  } catch (error) {
    self.postMessage({ status: 'failed', message: String(error?.message ?? error) });
  }
};
