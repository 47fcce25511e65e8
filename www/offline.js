// Offline use: registers the service worker (sw.js, scope: this page's folder) on http(s) pages
// where the browser allows one, and shows its updates: "A new version of Verbatim is available"
// with a Reload button. Nothing is swapped by itself: the new version is used after that click
// (sw.js), and the page then reloads. No other module depends on this one.

const BANNER_TEXT = 'A new version of Verbatim is available.';
// Set for this tab once it reloaded to be served by the service worker (cross-origin isolation).
const ISOLATION_RELOAD_KEY = 'verbatim.isolation-reload';
// Whether the user has done anything on this page yet (a reload must not undo it).
let touched = false;
for (const type of ['pointerdown', 'keydown', 'input', 'change', 'drop']) {
  addEventListener(type, () => (touched = true), { capture: true, once: true });
}

let banner = null;

function showBanner(onReload) {
  if (banner === null) {
    banner = document.createElement('div');
    banner.className = 'update-banner';
    banner.dataset.testid = 'update-banner';
    banner.setAttribute('role', 'status');
    const text = document.createElement('span');
    text.textContent = `${BANNER_TEXT} It is used after a reload; what runs now is not changed.`;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'primary';
    button.dataset.testid = 'update-reload';
    button.textContent = 'Reload';
    banner.append(text, button);
    document.body.prepend(banner);
  }
  const button = banner.querySelector('button');
  button.disabled = false;
  button.onclick = () => {
    button.disabled = true;
    onReload();
  };
}

async function register() {
  const { serviceWorker } = navigator;
  const registration = await serviceWorker.register(new URL('sw.js', import.meta.url), { scope: './', updateViaCache: 'none' });
  let reloading = false;
  const reload = () => {
    if (reloading) return;
    reloading = true;
    location.reload();
  };
  // The click: a new sw.js, installed and waiting, takes over (and brings its own shell);
  // otherwise the current one switches to the newer shell it stored.
  const update = () => {
    if (registration.waiting) registration.waiting.postMessage({ type: 'skip-waiting' });
    else serviceWorker.controller?.postMessage({ type: 'use-update' });
  };
  const offerWaiting = () => {
    if (registration.waiting && serviceWorker.controller) showBanner(update);
  };
  serviceWorker.addEventListener('controllerchange', () => {
    if (banner !== null) reload(); // the user asked for it
  });
  registration.addEventListener('updatefound', () => {
    registration.installing?.addEventListener('statechange', offerWaiting);
  });
  offerWaiting();
  // A newer shell stored by the current sw.js.
  serviceWorker.addEventListener('message', ({ data }) => {
    if (data?.type === 'update-ready') {
      showBanner(update);
    } else if (data?.type === 'update-used') {
      reload();
    }
  });
  serviceWorker.startMessages();
  serviceWorker.controller?.postMessage({ type: 'pending-update' });
  document.documentElement.dataset.offline = serviceWorker.controller ? 'controlled' : 'registered';
  await isolateOnce(serviceWorker);
}

/**
 * A page the service worker did not serve (its first visit) is not cross-origin isolated on a host
 * that sends no COOP/COEP headers, so the engine runs one thread (sw.js adds the headers). Reloads
 * it once, as coi-serviceworker does, when the worker is active and the page is untouched (the user
 * has not clicked or typed, no model is loading or loaded) and the engine would use more than one
 * thread. Never twice in a tab; a touched page is isolated from its next visit on.
 */
async function isolateOnce(serviceWorker) {
  if (window.crossOriginIsolated || serviceWorker.controller) return;
  if (sessionStorage.getItem(ISOLATION_RELOAD_KEY) !== null) return;
  const { THREADS_KEY, threadsChoice, threadsFor } = await import('./threads-choice.js');
  if (threadsFor(threadsChoice(localStorage.getItem(THREADS_KEY)), navigator.hardwareConcurrency) <= 1) return;
  await serviceWorker.ready;
  const state = document.querySelector('[data-testid="app"]')?.dataset.state;
  if (touched || (state !== undefined && state !== 'starting' && state !== 'idle')) return;
  sessionStorage.setItem(ISOLATION_RELOAD_KEY, '1');
  document.documentElement.dataset.offline = 'isolating';
  location.reload();
}

if ('serviceWorker' in navigator && window.isSecureContext && /^https?:$/.test(location.protocol)) {
  register().catch((error) => console.warn(`Offline use is not available: ${error.message}`));
}
