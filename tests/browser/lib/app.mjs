// Drives the Verbatim page the way a user does, through its data-testid elements.

export const byTestId = (id) => `[data-testid="${id}"]`;

const MODEL_LOAD_TIMEOUT_MS = 120_000;
const GENERATE_TIMEOUT_MS = 180_000;

/**
 * Opens the page and records every console error, uncaught exception and failed request
 * (the page's and its worker's) in `problems`.
 */
export async function openApp(context, url) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  await page.goto(url);
  await waitForEngine(page);
  return { page, problems };
}

/**
 * Turns "Use the CPU only" on for every page of `context` whose profile has no choice stored yet,
 * as if the user had switched it on before: for tests about something other than the executor,
 * which then run at CPU speed. (The switch stores 'cpu' under this key in localStorage.)
 */
export function preferCpu(context) {
  return context.addInitScript(() => {
    try {
      if (localStorage.getItem('verbatim.executor') === null) localStorage.setItem('verbatim.executor', 'cpu');
    } catch {
      // a document without storage (about:blank)
    }
  });
}

/** Waits until the engine worker has started (or failed to, which throws with the page's words). */
export async function waitForEngine(page) {
  await page.waitForSelector(`${byTestId('app')}:not([data-state="starting"])`, { timeout: 60_000 });
  const state = await page.getAttribute(byTestId('app'), 'data-state');
  if (state === 'failed') throw new Error(`the engine did not start: ${await errorText(page)}`);
}

/** The text of the page's error box, or null when it is hidden. */
export async function errorText(page) {
  return (await page.isVisible(byTestId('error'))) ? page.textContent(byTestId('error-message')) : null;
}

/**
 * Waits for the current load to end. Resolves to the loaded model's source ('network', 'cache',
 * 'file'); throws with the page's error message if the load failed.
 */
export async function waitForLoad(page, timeout = MODEL_LOAD_TIMEOUT_MS) {
  await page.waitForFunction(
    () => {
      const app = document.querySelector('[data-testid="app"]');
      return app.dataset.state === 'ready' || (app.dataset.state !== 'loading' && !document.querySelector('[data-testid="error"]').hidden);
    },
    null,
    { timeout },
  );
  const message = await errorText(page);
  if (message !== null) throw new Error(`loading failed: ${message}`);
  return page.getAttribute(byTestId('info-source'), 'data-source');
}

/** Waits for the current load to fail; resolves to the page's error message. */
export async function waitForLoadError(page, timeout = MODEL_LOAD_TIMEOUT_MS) {
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="app"]').dataset.state !== 'loading' &&
      !document.querySelector('[data-testid="error"]').hidden,
    null,
    { timeout },
  );
  return errorText(page);
}

/** Selects a manifest model and clicks "Download and load"; resolves to its source. */
export async function loadModel(page, id) {
  await page.check(byTestId(`model-option-${id}`));
  await page.click(byTestId('load-button'));
  return waitForLoad(page);
}

/** Opens the Generate form's collapsed "Settings" section. */
export async function openSettings(page) {
  await page.evaluate(() => {
    document.querySelector('[data-testid="settings"]').open = true;
  });
}

/** Runs one generation (greedy unless the settings say otherwise); resolves to {text, tokenIds, tokensHash, stats}. */
export async function generate(page, { prompt, chat, maxTokens }) {
  await page.fill(byTestId('prompt'), prompt);
  await page.setChecked(byTestId('chat-toggle'), chat);
  await openSettings(page);
  await page.fill(byTestId('max-tokens'), String(maxTokens));
  const runs = Number((await page.getAttribute(byTestId('app'), 'data-runs')) ?? 0);
  await page.click(byTestId('generate-button'));
  await page.waitForFunction(
    (before) => {
      const app = document.querySelector('[data-testid="app"]');
      return Number(app.dataset.runs ?? 0) > before || !document.querySelector('[data-testid="error"]').hidden;
    },
    runs,
    { timeout: GENERATE_TIMEOUT_MS },
  );
  const message = await errorText(page);
  if (message !== null) throw new Error(`generation failed: ${message}`);
  const ids = (await page.textContent(byTestId('token-ids'))).trim();
  return {
    text: await page.textContent(byTestId('output')),
    tokenIds: ids === '' ? [] : ids.split(' ').map(Number),
    tokensHash: await page.textContent(byTestId('tokens-hash')),
    stats: await page.textContent(byTestId('stats')),
  };
}

/** The URLs of the entries in the page's model cache. */
export async function cachedModelKeys(page) {
  return page.evaluate(async () => {
    const cache = await caches.open('verbatim-models-v1');
    return (await cache.keys()).map((request) => request.url);
  });
}
