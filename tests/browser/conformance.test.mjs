// The conformance page (www/conformance.html) in headless Chromium: the quick golden subset on the
// wasm CPU executor, then one short case on WebGPU (SwiftShader's CPU-emulated adapter here, so
// the start-up self-test and the adapter description are checked too). Each run must pass, show a
// table row per case, and produce a report whose hash is the first 12 hex digits of the sha256 of
// its key-sorted compact JSON (as `verbatim conformance`), with nothing personal in it, and the
// finished page has no axe-core violations. The page runs under tools/serve.py's strict CSP.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { axeViolations } from './lib/axe.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

let server;
let browser;

before(async () => {
  requireWasm();
  requireModel();
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Opens the page with `query`, waits for the run to end, returns {report, issue, page}. */
async function runPage(query, timeout) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${server.url}conformance.html?${query}&autostart=1`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('[data-testid="conformance"]').dataset.state), null, { timeout });
  const state = await page.getAttribute('[data-testid="conformance"]', 'data-state');
  assert.equal(state, 'done', await page.textContent('[data-testid="error-message"]'));
  const json = await page.getAttribute('[data-testid="issue-text"]', 'data-report');
  const issue = await page.inputValue('[data-testid="issue-text"]');
  assert.deepEqual(errors, []);
  return { report: JSON.parse(json), issue, page };
}

function checkReport(report, issue, executor, cases) {
  assert.equal(report.report, 'verbatim-conformance-1');
  assert.equal(report.spec, 'exact-1');
  assert.equal(report.outcome, 'pass', JSON.stringify(report.executors, null, 2));
  const { hash, ...rest } = report;
  assert.equal(hash, createHash('sha256').update(canonical(rest)).digest('hex').slice(0, 12));
  assert.equal(report.executors.length, 1);
  const e = report.executors[0];
  assert.equal(e.executor, executor);
  assert.deepEqual(e.cases.map((c) => c.id), cases);
  for (const c of e.cases) assert.equal(c.verdict, 'pass', `${c.id}: ${c.detail}`);
  assert.ok(e.decode_tok_s > 0);
  assert.match(issue, new RegExp(`^verbatim \\S+ conformance ${hash} \\(exact-1, .*\\): PASS`));
  assert.match(issue, new RegExp(`- ${executor}: .*: ${cases.length}/${cases.length} exact`));
  // Nothing personal: no user agent, host, path or time zone; only the adapter's own strings.
  const text = JSON.stringify(report);
  assert.doesNotMatch(text, /Mozilla|HeadlessChrome|127\.0\.0\.1|\/work\/|\/tmp\//);
  return e;
}

test('conformance page: quick subset on the wasm CPU, then one case on WebGPU', { timeout: 900_000 }, async (t) => {
  const cpu = await runPage('executors=cpu', 600_000);
  const quick = await cpu.page.evaluate(async () => (await import('./pkg/verbatim.js')).golden_corpus().quick);
  const e = checkReport(cpu.report, cpu.issue, 'cpu', quick);
  assert.equal(await cpu.page.locator('[data-testid="results-cpu"] tbody tr').count(), quick.length);
  assert.deepEqual(await axeViolations(cpu.page), [], 'accessibility of the finished page');
  t.diagnostic(`cpu: ${e.cases.map((c) => `${c.id} ${c.ms} ms`).join(', ')}; decode ${e.decode_tok_s} tok/s`);
  await cpu.page.close();

  const gpu = await runPage('executors=gpu&cases=raw-one-token', 300_000);
  const g = checkReport(gpu.report, gpu.issue, 'gpu', ['raw-one-token']);
  assert.equal(g.selftest.passed, true);
  assert.match(g.description, /^gpu/);
  const a = gpu.report.adapter;
  assert.equal(a.available, true);
  assert.equal(typeof a.is_fallback_adapter, 'boolean');
  assert.equal(typeof a.dot4, 'boolean');
  assert.ok(a.limits.max_storage_buffer_binding_size > 0);
  assert.match(`${a.vendor} ${a.architecture} ${a.description}`, /swiftshader|google/i);
  assert.match(await gpu.page.textContent('[data-testid="adapter"]'), /Fallback \(software\) adapter/);
  t.diagnostic(`gpu: ${a.vendor}/${a.architecture} "${a.description}", fallback ${a.is_fallback_adapter}, self-test ${g.selftest.ms} ms`);
  await gpu.page.close();
});
