// Offline use: registers the service worker (sw.js, scope: this page's folder) on http(s) pages
// where the browser allows one, and shows its updates: "A new version of Verbatim is available"
// with a Reload button. Nothing is swapped by itself: the new version is used after that click
// (sw.js), and the page then reloads. No other module depends on this one.

const BANNER_TEXT = 'A new version of Verbatim is available.';

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
}

if ('serviceWorker' in navigator && window.isSecureContext && /^https?:$/.test(location.protocol)) {
  register().catch((error) => console.warn(`Offline use is not available: ${error.message}`));
}
