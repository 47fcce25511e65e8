// The page's state, shared by its modules (app.js and the views it drives): one object, so that
// every module reads and sets the same values. No DOM, no behaviour.

export const page = {
  // 'starting' | 'idle' (no model) | 'loading' | 'ready' | 'generating' | 'failed' (no engine)
  state: 'starting',
  models: [], // validated manifest entries
  // The built site's settings (manifest.js): {engines: {spec: folder}, engine, modelOrigins, doi}
  site: { engines: {}, engine: null, modelOrigins: [], doi: null },
  lastLoad: null, // repeats the last load, for Retry; lastLoad({cpuRetry}) loads it on the CPU
  loadingWith: null, // {cpuRetry}: how the load under way was asked for
  pendingAutoLoad: null, // a cached model to load once the engine is up
  runs: 0,
  engineVersion: '',
  engineSpec: null, // the numeric spec this engine implements, e.g. 'exact-1'
  engineSpecs: null, // every numeric spec this engine replays, e.g. ['exact-1', 'exact-2']
  loaded: null, // {sha256, engine, spec, hasChatTemplate, source, label, wasmMemoryBytes, executor} of the loaded model
  currentRun: null, // {kind: 'generate' | 'replay', run, model, link?}
  failedRun: null, // the run the GPU failed in, with the message: "Retry on CPU" runs it again
  pendingRerun: null, // that run, once the model is loaded on the CPU
  link: null, // the decoded link being shown: {view, url}
  pendingReplay: false, // replay once the model now loading is ready
  linksHandled: 0,
  stopTimer: null, // set after Stop or Cancel until the engine answers
  conversation: [], // earlier turns of a multi-turn chat: [{role, content}]
  pendingGenerate: null, // a run to start once the model now loading is ready
  lastGenerated: null, // {run, text} of the last finished generation, for "Reply"
  engineRestarts: 0,
  savedIds: new Set(), // models with a verified copy in this browser
};
