#!/usr/bin/env node
// Tokens scored per second by the page's Evaluate view (the exact engine in its worker, wasm CPU
// executor, one thread) on a fixed subset: the first 20 items of a built-in task (arc_easy by
// default), as a user runs it. Prints the view's own figure (tokens run / seconds since Run, so it
// includes nothing but scoring) and the renderer-independent wall time. Timing only, not a test.
//
// Usage (from the repository root; needs `make wasm`, `make tasks`, `make models-default` and the
// npm packages of tests/browser):
//   node bench/eval-speed.mjs [--task arc_easy] [--json]

import { argv } from 'node:process';
import { launchBrowser } from '../tests/browser/lib/browser.mjs';
import { byTestId, openApp, preferCpu } from '../tests/browser/lib/app.mjs';
import { requireModel, requireWasm } from '../tests/browser/lib/env.mjs';
import { startServer } from '../tests/browser/lib/server.mjs';

const args = argv.slice(2);
const task = args.includes('--task') ? args[args.indexOf('--task') + 1] : 'arc_easy';
const json = args.includes('--json');

requireWasm();
requireModel();
const server = await startServer();
const browser = await launchBrowser({ webgpu: false });
try {
  await preferCpu(browser.context);
  const { page } = await openApp(browser.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.selectOption(byTestId('eval-task'), task);
  await page.selectOption(byTestId('eval-subset'), 'first20');
  await page.click(byTestId('eval-restart')); // no kept progress: all 20 items are scored
  const t0 = Date.now();
  await page.click(byTestId('eval-run'));
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="eval-app"]').dataset.state === 'done' ||
      !document.querySelector('[data-testid="eval-error"]').hidden,
    null,
    { timeout: 900_000, polling: 500 },
  );
  const wall = (Date.now() - t0) / 1000;
  const error = await page.$eval(byTestId('eval-error'), (e) => (e.hidden ? null : e.textContent));
  if (error) throw new Error(error);
  const status = await page.textContent(byTestId('eval-status'));
  const rate = Number(/([0-9.]+) tokens scored per second/.exec(status)?.[1]);
  const out = { engine: 'verbatim exact (browser, wasm CPU, 1 thread)', task, items: 20, tok_s: rate, wall_s_with_load: wall };
  console.log(json ? JSON.stringify(out) : `browser (wasm CPU, 1 thread): 20 items of ${task}: ${rate} tok/s (${wall.toFixed(1)} s from Run, model load included)`);
} finally {
  await browser.close();
  await server.close();
}
