// The page's side of the engine worker (worker.js): starts it (again after a failure), posts
// messages to it, and asks it questions that have an answer (link_encode / link_decode). Messages
// from a worker that has been replaced are dropped, so a restart cannot mix two engines' reports.
//
// Which engine: `folder` holds worker.js and the wasm it loads (pkg/). On a built site each numeric
// spec's engine lives at its own folder that never changes (engine/exact-1/, docs/releasing.md);
// served from www/ (`make serve`) the engine is the page's own folder. Any engine folder speaks
// the messages documented in worker.js, so a later page drives an earlier engine.

export class Engine {
  /**
   * onMessage(message): each message of the current worker.
   * onError(event): the current worker failed (a script error, or it died); the event is handled.
   */
  constructor({ testHooks = false, threads = 1, onMessage, onError }) {
    this.testHooks = testHooks;
    this.threads = threads; // the CPU executor's threads (worker.js: more than 1 needs isolation)
    this.folder = new URL('./', import.meta.url);
    this.onMessage = onMessage;
    this.onError = onError;
    this.worker = null;
    this.requestId = 0;
    this.pending = new Map(); // id -> {resolve, reject}
    this.resetReady();
  }

  resetReady() {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  get running() {
    return this.worker !== null;
  }

  /** The engine the next start() runs: the folder (relative to this page) holding its worker.js. */
  useFolder(folder) {
    this.folder = new URL(folder, document.baseURI);
  }

  /** Starts a fresh worker, ending the current one; questions still open are answered with an error. */
  start() {
    this.terminate();
    this.resetReady();
    const url = new URL('worker.js', this.folder);
    if (this.testHooks) url.searchParams.set('test-hooks', '1');
    // The thread count goes in the worker's name (worker.js reads it), so that its address stays
    // the one the service worker keeps.
    const name = this.threads > 1 ? `verbatim-engine threads=${this.threads}` : 'verbatim-engine';
    const current = new Worker(url, { type: 'module', name });
    this.worker = current;
    current.addEventListener('message', ({ data }) => {
      if (this.worker !== current) return;
      if (data?.status === 'reply') this.answer(data);
      else this.onMessage(data);
    });
    current.addEventListener('error', (event) => {
      event.preventDefault();
      if (this.worker === current) this.onError(event);
    });
  }

  /** Ends the worker at once (what it was doing is lost). */
  terminate() {
    this.worker?.terminate();
    this.worker = null;
    for (const { reject } of this.pending.values()) reject(new Error('the engine was restarted'));
    this.pending.clear();
  }

  /** Posts a message to the worker, starting one if none runs. */
  post(message) {
    if (!this.running) this.start();
    this.worker.postMessage(message);
  }

  /** Asks the worker a question (`type` with `fields`); resolves to its answer, rejects with its error. */
  async request(type, fields) {
    await this.ready;
    if (!this.running) throw new Error('the engine is not running');
    const id = ++this.requestId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type, id, ...fields });
    });
  }

  answer(message) {
    const request = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (request && 'error' in message) request.reject(new Error(message.error));
    else request?.resolve(message.result);
  }
}
