// The service worker: keeps the page and the engine (its shell) so that a page visited once opens
// and replays links with no network; models stay in the page's own cache (model-cache.js), never
// here. Registered by offline.js with its own folder as scope, so it works under a sub-path.
//
// The shell is a snapshot: every file the pages load, found by following their references from
// index.html and embed.html (src/href attributes, static and dynamic imports, new URL(…,
// import.meta.url)), plus the list of models and the engines it names: engine.js computes the
// engine's address (a built site keeps each spec's engine at `site.engines[spec]`, e.g.
// engine/exact-1/, docs/releasing.md; served from www/ it is the page's own folder), so the crawl
// also starts at each engine's worker.js. Kept in one cache per version, named after the
// SHA-256 of its paths and contents. Requests for a snapshot's files are answered from the
// current snapshot only, so a page never mixes two versions.
//
// Updates are explicit. When a page is opened with the network up, the shell is fetched again
// (revalidated: unchanged files cost a 304) and, if anything differs, stored as the next snapshot and
// announced to the pages ({type: 'update-ready'}); nothing changes until a page asks for it
// ({type: 'use-update'}, after the user's click on "Reload"), and then the page reloads. A new sw.js
// likewise waits until a page sends {type: 'skip-waiting'} (the same click). Messages to pages:
//   {type: 'update-ready', version}      a newer shell is stored and waits for the user
//   {type: 'update-used', version}       the newer shell is current: reload to use it
//
// Cross-origin isolation on static hosts that cannot send headers (as coi-serviceworker does):
// every response this worker gives for a file of the shell carries COOP same-origin and COEP
// require-corp, so a page it serves is cross-origin isolated and the engine gets shared memory
// (the CPU executor's threads: worker.js). A page's first visit is not served by it; offline.js
// reloads that page once when this worker is active. A server that sends COEP itself is left alone.

const PREFIX = 'verbatim-shell-';
const POINTER = `${PREFIX}current`; // holds one entry: the current snapshot's version
const POINTER_KEY = 'current-version';
// Where the crawl starts, and what no page names literally (manifest.js builds the address).
const ROOTS = ['./', 'embed.html', 'models/manifest.json'];
const MANIFEST = 'models/manifest.json';
// Never part of the shell: model files (model-cache.js keeps verified copies), task data, and this
// script (the browser checks it for updates itself).
const NOT_SHELL = /\.gguf$|\/model-cache\/|\/tasks\/[^/]+\.jsonl$|\/sw\.js$/;
const MAX_FILES = 300;

const scope = () => new URL(self.registration.scope);
let pending = null; // the version of a stored, not yet used snapshot

// ---------------------------------------------------------------------------------------------
// Snapshots

/** Same-origin addresses a file refers to, resolved against its own address. */
function references(url, type, text) {
  const found = [];
  const add = (ref) => {
    if (!ref || /^(?:[a-z][a-z0-9+.-]*:|\/\/|#)/i.test(ref)) return; // other schemes and hosts
    found.push(new URL(ref, url));
  };
  if (type.includes('html')) {
    for (const m of text.matchAll(/\s(?:src|href)="([^"#?]+)[^"]*"/g)) add(m[1]);
  } else if (type.includes('javascript')) {
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) add(m[1]);
    for (const m of text.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)) add(m[1]);
  } else if (type.includes('css')) {
    for (const m of text.matchAll(/url\(\s*['"]?([^'")]+)['"]?\s*\)/g)) add(m[1]);
  }
  return found;
}

/**
 * The engines' workers (Generate's and Evaluate's) the list of models names (`site.engines`: spec -> a folder of this site,
 * as manifest.js reads it); the page's own worker.js when it names none (served from www/).
 */
function engineRoots(manifestText, base) {
  let engines = {};
  try {
    engines = JSON.parse(manifestText)?.site?.engines ?? {};
  } catch {
    engines = {}; // a damaged list: the page says so; its own engine is still kept
  }
  const folders = Object.values(engines).filter((f) => typeof f === 'string' && /^[A-Za-z0-9._/-]+\/$/.test(f) && !f.startsWith('/'));
  // Each engine's two workers: Generate's and the Evaluate view's.
  return (folders.length > 0 ? folders : ['./']).flatMap((folder) => ['worker.js', 'eval/worker.js'].map((w) => new URL(w, new URL(folder, base))));
}

function inShell(url) {
  const base = scope();
  return url.origin === base.origin && url.pathname.startsWith(base.pathname) && !NOT_SHELL.test(url.pathname);
}

/** The shell as the network has it now: {version, files: Map(href -> Response)}. */
async function fetchShell() {
  const base = scope();
  const queue = ROOTS.map((r) => new URL(r, base));
  const files = new Map();
  while (queue.length > 0 && files.size < MAX_FILES) {
    const url = queue.shift();
    url.search = '';
    url.hash = '';
    if (files.has(url.href) || !inShell(url)) continue;
    const response = await fetch(url, { cache: 'no-cache', credentials: 'same-origin' });
    if (!response.ok) {
      if (url.href === new URL('./', base).href) throw new Error(`the page answered HTTP ${response.status}`);
      continue; // a reference to a file the site does not have (e.g. an optional build)
    }
    files.set(url.href, response);
    if (url.href === new URL(MANIFEST, base).href) queue.push(...engineRoots(await response.clone().text(), base));
    const type = response.headers.get('Content-Type') ?? '';
    if (/html|javascript|css/.test(type)) queue.push(...references(url, type, await response.clone().text()));
  }
  const hasher = [];
  for (const href of [...files.keys()].sort()) {
    const body = new Uint8Array(await files.get(href).clone().arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    hasher.push(`${href.slice(base.href.length)} ${[...digest].map((b) => b.toString(16).padStart(2, '0')).join('')}`);
  }
  const summary = new TextEncoder().encode(hasher.join('\n'));
  const version = [...new Uint8Array(await crypto.subtle.digest('SHA-256', summary))]
    .slice(0, 8)
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  return { version, files };
}

/** Stores a fetched shell as the snapshot of its version (unless it is stored already). */
async function store({ version, files }) {
  const name = PREFIX + version;
  if (await caches.has(name)) return version;
  const cache = await caches.open(`${name}-partial`);
  for (const [href, response] of files) await cache.put(href, response);
  // Complete or absent: a snapshot is renamed into place only once every file is in.
  const done = await caches.open(name);
  for (const request of await cache.keys()) await done.put(request, await cache.match(request));
  await caches.delete(`${name}-partial`);
  return version;
}

async function currentVersion() {
  const response = await (await caches.open(POINTER)).match(POINTER_KEY);
  return response ? response.text() : null;
}

/** Makes `version` current and drops every other snapshot. */
async function use(version) {
  await (await caches.open(POINTER)).put(POINTER_KEY, new Response(version));
  for (const name of await caches.keys()) {
    if (name.startsWith(PREFIX) && name !== POINTER && name !== PREFIX + version) await caches.delete(name);
  }
  pending = null;
}

async function tell(message) {
  for (const client of await self.clients.matchAll({ type: 'window' })) client.postMessage(message);
}

/** Fetches the shell again; a changed one is stored and announced, never used until asked. */
async function checkOnce() {
  const current = await currentVersion();
  const version = await store(await fetchShell());
  if (version !== current) {
    pending = version;
    await tell({ type: 'update-ready', version });
  }
}

let checking = null; // the check under way
let checkAgain = false; // a page opened during it: check once more after it

/** Checks for a new shell; checks asked for during one run once more after it, not in parallel. */
function checkForUpdate() {
  if (checking !== null) {
    checkAgain = true;
    return checking;
  }
  checking = (async () => {
    do {
      checkAgain = false;
      await checkOnce();
    } while (checkAgain);
  })().finally(() => {
    checking = null;
  });
  return checking;
}

// ---------------------------------------------------------------------------------------------
// Life cycle: install stores a snapshot; activation makes it current (the first time, or after
// the user's "Reload" for a new sw.js).

let installed = null; // the version this script's install stored

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      installed = await store(await fetchShell());
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // (This script's worker may have been restarted since its install: then the shell is fetched again.)
      await use(installed ?? (await store(await fetchShell())));
    })(),
  );
});

self.addEventListener('message', (event) => {
  const type = event.data?.type;
  if (type === 'skip-waiting') {
    self.skipWaiting();
  } else if (type === 'use-update') {
    event.waitUntil(
      (async () => {
        if (pending !== null) await use(pending);
        event.source?.postMessage({ type: 'update-used', version: await currentVersion() });
      })(),
    );
  } else if (type === 'pending-update' && pending !== null) {
    event.source?.postMessage({ type: 'update-ready', version: pending });
  }
});

// ---------------------------------------------------------------------------------------------
// Cross-origin isolation

const ISOLATION_HEADERS = [
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Embedder-Policy', 'require-corp'],
];

/** `response` with the isolation headers added (unless the server sent COEP; opaque ones as they are). */
function isolated(response) {
  if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.status === 0) return response;
  if (response.headers.has('Cross-Origin-Embedder-Policy')) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of ISOLATION_HEADERS) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// ---------------------------------------------------------------------------------------------
// Requests: a file of the current snapshot is answered from it (navigations to the scope's folder
// get its index.html); anything else goes to the network untouched.

async function fromSnapshot(request) {
  const version = await currentVersion();
  const cache = version && (await caches.open(PREFIX + version));
  const url = new URL(request.url);
  url.search = '';
  url.hash = '';
  const hit = cache && (await cache.match(url.href));
  return hit ?? fetch(request);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!inShell(url)) return;
  if (url.pathname.endsWith('/manifest.json') || (url.search !== '' && request.mode !== 'navigate')) {
    // The list of models: the network's when it answers (it changes between releases), else the
    // snapshot's. Likewise a file asked for with a query (worker.js?test-hooks=1): a worker's
    // address is the address of the response that made it, and a stored one has no query.
    event.respondWith(fetch(request).catch(() => fromSnapshot(request)).then(isolated));
    return;
  }
  if (request.mode === 'navigate') event.waitUntil(checkForUpdate().catch(() => {}));
  event.respondWith(fromSnapshot(request).then(isolated));
});
