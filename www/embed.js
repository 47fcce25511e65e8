// The embed view (embed.html#v1.…): a compact replay card for an <iframe> on a course page or a
// blog. It shows what the link runs and replays it in this browser on a click, with the page's own
// modules: the engine worker (engine.js, worker.js), link tidying and verdicts (links.js), the list
// of models (manifest.js), saved models (model-cache.js) and the download consent rule
// (consent.js). As on the page, the manifest says which engine runs (a built site keeps each
// spec's engine in its own folder, docs/releasing.md: the link's spec picks it) and where each
// model is downloaded from (`download`: its public source on a built site). Nothing is downloaded before a click; a download over 100 MB on a metered or slow
// connection asks again, as on the page. Models named only by an address in the link are not
// fetched here: "Open in Verbatim" opens the full page, which asks first.

import { asksBeforeDownload } from './consent.js';
import { Engine } from './engine.js';
import { executorChoice } from './executor-choice.js';
import { executorShort, formatMB, plural, sentenceOf } from './format.js';
import { replayVerdict, tidyLink } from './links.js';
import { engineRuns, readManifestFile } from './manifest.js';
import { hasModel } from './model-cache.js';
import { acceptTerms, termsPending, termsQuestion } from './terms.js';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const el = {
  embed: $('embed'),
  open: $('embed-open'),
  openLink: $('embed-open-link'),
  error: $('embed-error'),
  details: $('embed-details'),
  model: $('embed-model'),
  settings: $('embed-settings'),
  input: $('embed-input'),
  replay: $('embed-replay'),
  stop: $('embed-stop'),
  why: $('embed-why'),
  consent: $('embed-consent'),
  consentMessage: $('embed-consent-message'),
  consentYes: $('embed-consent-yes'),
  consentNo: $('embed-consent-no'),
  terms: $('embed-terms'),
  termsMessage: $('embed-terms-message'),
  termsLink: $('embed-terms-link'),
  termsAccept: $('embed-terms-accept'),
  termsDecline: $('embed-terms-decline'),
  progress: $('embed-progress'),
  status: $('embed-status'),
  output: $('embed-output'),
  verdict: $('embed-verdict'),
  detail: $('embed-detail'),
};

// The page's "Executor" choice, where this browser lets the frame read it ('auto' otherwise).
const EXECUTOR_KEY = 'verbatim.executor';

const state = {
  view: null, // the decoded link
  entry: null, // its model's manifest entry
  saved: false, // whether a verified copy of the model is kept in this browser
  loaded: null, // the worker's 'loaded' report, once the model is in the engine
  texts: [], // the replayed tokens' texts
  spec: null, // the spec the engine implements
  specs: null, // every spec it replays (exact-1 and exact-2 from exact-2 on)
  site: { engines: {}, engine: null, modelOrigins: [] }, // the manifest's site settings (manifest.js)
};

function setState(next) {
  el.embed.dataset.state = next;
  const busy = next === 'loading' || next === 'replaying';
  el.replay.disabled = busy || next === 'starting' || next === 'failed' || state.entry === null;
  el.stop.hidden = !busy;
  el.progress.hidden = !busy;
}

function fail(message) {
  el.error.textContent = message;
  el.error.hidden = false;
  setState('failed');
}

function storedExecutor() {
  try {
    return executorChoice(localStorage.getItem(EXECUTOR_KEY));
  } catch {
    return 'auto'; // storage refused in this frame
  }
}

const engine = new Engine({
  onMessage: (message) => onWorkerMessage(message),
  onError: (event) => fail(`The engine stopped${event.message ? `: ${event.message}` : ''}. Reload to try again, or open the run in Verbatim.`),
});

function onWorkerMessage(message) {
  switch (message.status) {
    case 'ready':
      state.spec = message.spec;
      state.specs = [...new Set([message.spec, ...(Array.isArray(message.specs) ? message.specs : [])])];
      engine.markReady();
      break;
    case 'progress':
      el.progress.max = message.total || 1;
      el.progress.value = message.loaded;
      el.status.textContent =
        message.phase === 'download'
          ? `Downloading ${state.entry.name}: ${formatMB(message.loaded)} of ${formatMB(message.total)}, checking SHA-256 as it arrives…`
          : `Checking the saved copy of ${state.entry.name}…`;
      break;
    case 'parsing':
      el.progress.removeAttribute('value');
      el.status.textContent = 'Loading the model into the engine…';
      break;
    case 'loaded':
      state.loaded = message;
      state.saved = true;
      startReplay();
      break;
    case 'begun':
      el.progress.max = Math.max(1, state.view.expect?.token_ids.length ?? state.view.run.max_tokens);
      el.progress.value = 0;
      break;
    case 'token':
      state.texts.push(message.text);
      el.output.append(message.text);
      el.progress.value = message.n;
      el.status.textContent = `Replaying: ${plural(message.n, 'token')}…`;
      break;
    case 'done':
      onDone(message);
      break;
    case 'error':
      if (message.code === 'aborted') {
        el.status.textContent = sentenceOf(message.message);
        setState(state.loaded ? 'ready' : 'idle');
      } else if (message.fatal) {
        // The engine cannot go on (a trap, a lost GPU): it is ended.
        engine.terminate();
        state.loaded = null;
        fail(`${sentenceOf(message.message)} Reload to try again, or open the run in Verbatim.`);
      } else {
        fail(`${sentenceOf(message.message)} Open the run in Verbatim for more options.`);
      }
      break;
    default:
      break;
  }
}

function startReplay() {
  state.texts = [];
  el.why.textContent = '';
  el.output.textContent = '';
  el.verdict.textContent = '';
  delete el.verdict.dataset.verdict;
  el.detail.textContent = '';
  el.status.textContent = 'Replaying…';
  setState('replaying');
  engine.post({ type: 'generate', run: state.view.run, expect: state.view.expect?.token_ids });
}

function onDone({ reason, token_ids, tokens_hash, divergence }) {
  setState('ready');
  el.status.textContent = '';
  const where = state.loaded.executor.kind === 'gpu' ? 'GPU' : 'CPU';
  const { result, detail } = replayVerdict({
    expect: state.view.expect,
    got: token_ids,
    texts: state.texts,
    tokensHash: tokens_hash,
    divergence,
    stopped: reason === 'aborted',
    where,
  });
  el.verdict.textContent = result;
  el.verdict.dataset.verdict = /^Reproduced exactly/.test(result) ? 'exact' : /^Diverged/.test(result) ? 'diverged' : 'other';
  el.detail.textContent = detail || `Ran on the ${executorShort({ executor: state.loaded.executor })} of this device, in this browser.`;
  el.replay.textContent = 'Replay again';
  el.replay.focus();
}

/** Loads the link's model (the click was the user's agreement; a metered connection asks again). */
function loadAndReplay({ consented = false } = {}) {
  const model = state.entry;
  if (termsPending(model)) {
    // Its terms (Gemma's) are accepted before anything is downloaded, once in this browser.
    el.termsMessage.textContent = termsQuestion(model, formatMB(model.size));
    el.termsLink.textContent = `Read the ${model.license || 'terms'}`;
    el.termsLink.href = model.license_url;
    el.terms.hidden = false;
    el.termsAccept.focus();
    return;
  }
  el.terms.hidden = true;
  if (asksBeforeDownload(model, state.saved) && !consented) {
    el.consentMessage.textContent = `${model.name} is a download of ${formatMB(model.size)}, and this browser says the connection is metered or slow. Download it now?`;
    el.consent.hidden = false;
    el.consentYes.focus();
    return;
  }
  el.consent.hidden = true;
  el.error.hidden = true;
  setState('loading');
  el.status.textContent = state.saved ? `Loading ${model.name}, saved in this browser…` : `Downloading ${model.name}…`;
  const { id, name, file, size, sha256, download } = model;
  engine.post({
    type: 'load-model',
    model: { id, name, file, size, sha256, download },
    origins: state.site.modelOrigins,
    engine: 'exact',
    executor: storedExecutor(),
  });
}

el.replay.addEventListener('click', () => {
  if (el.replay.disabled) return;
  if (state.loaded) startReplay();
  else loadAndReplay();
});
el.consentYes.addEventListener('click', () => loadAndReplay({ consented: true }));
el.termsAccept.addEventListener('click', () => {
  acceptTerms(state.entry);
  el.terms.hidden = true;
  loadAndReplay();
});
el.termsDecline.addEventListener('click', () => {
  el.terms.hidden = true;
  el.status.textContent = `${state.entry.name} was not downloaded: its terms were not accepted.`;
  el.replay.focus();
});
el.consentNo.addEventListener('click', () => {
  el.consent.hidden = true;
  el.replay.focus();
});
el.stop.addEventListener('click', () => engine.post({ type: 'abort' }));

/** What the link runs, in one line: template, token count, temperature, seed. */
function settingsLine(run, expect) {
  const how = run.temperature === '0' ? 'greedy' : `temperature ${run.temperature}, seed ${run.seed}`;
  const count = expect ? plural(expect.token_ids.length, 'token') : `up to ${plural(run.max_tokens, 'token')}`;
  return `· ${run.chat ? 'chat' : 'raw prompt'} · ${how} · ${count}`;
}

async function start() {
  setState('starting');
  const tidy = tidyLink(location.hash.slice(1));
  if (tidy.error) {
    fail(location.hash === '' ? 'This embed shows a Verbatim run: its address ends in “#v1.…”, and this one has none.' : tidy.error);
    return;
  }
  const openHref = new URL(`index.html#${tidy.payload}`, location.href).href;
  el.open.href = openHref;
  el.openLink.href = openHref;
  // The manifest first: on a built site it names the engine to start (engine/<spec>/).
  const manifest = await readManifestFile().catch(() => null);
  const models = manifest?.models ?? [];
  if (manifest !== null) state.site = manifest.site;
  if (state.site.engine !== null) engine.useFolder(state.site.engines[state.site.engine]);
  engine.start();
  try {
    state.view = await engine.request('link-decode', { text: tidy.payload });
  } catch (error) {
    fail(`This link cannot be opened: ${sentenceOf(error.message)}`);
    return;
  }
  if (state.view.spec !== state.spec && state.site.engines[state.view.spec]) {
    // A link of another spec this site keeps the engine of: that engine replays it.
    engine.useFolder(state.site.engines[state.view.spec]);
    engine.start();
    await engine.ready;
  }
  if (!(state.specs ?? [state.spec]).includes(state.view.spec)) {
    fail(`This run was made with numeric spec ${state.view.spec}; this Verbatim replays ${(state.specs ?? [state.spec]).join(' and ')}. Open it in a Verbatim that implements that spec.`);
    return;
  }
  const { model, run } = state.view;
  state.entry = models.find((m) => m.sha256 === model.sha256) ?? null;
  el.model.textContent = state.entry ? `${state.entry.name} (${formatMB(state.entry.size)})` : model.id;
  el.settings.textContent = settingsLine(run, state.view.expect);
  el.input.textContent = run.chat && Array.isArray(run.messages) && run.messages.length > 0 ? run.messages.map((m) => `${m.role}: ${m.content}`).join('\n\n') : run.prompt;
  el.details.hidden = false;
  if (state.entry === null) {
    el.why.textContent = 'Its model is not in this site’s list: open the run in Verbatim to give the file.';
    setState('idle');
    return;
  }
  if (!engineRuns('exact', state.entry, state.specs)) {
    el.why.textContent = `The exact engine does not run ${state.entry.architecture} models yet.`;
    state.entry = null;
    setState('idle');
    return;
  }
  state.saved = await hasModel(state.entry.sha256);
  el.replay.textContent = state.saved ? 'Replay' : `Download ${formatMB(state.entry.size)} and replay`;
  el.why.textContent = state.saved ? `${state.entry.name} is saved in this browser.` : 'The model is downloaded once, checked against its SHA-256 and saved in this browser.';
  setState('idle');
}

// Another link in the same frame: start afresh.
window.addEventListener('hashchange', () => location.reload());

start();
