// The Evaluate view's pure parts in Node, without a browser: which executor an evaluation runs on
// (www/executor-choice.js) and how kept results become the comparison chart's bars
// (www/eval/chart.js). eval.test.mjs and eval-gpu.test.mjs cover the same paths in the page.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evalExecutor } from '../../www/executor-choice.js';
import { chartGroups, seriesLabel, subsetLabel } from '../../www/eval/chart.js';

test('an evaluation runs where Generate runs its exact model, else on the stored choice (Automatic: the CPU)', () => {
  const gpuLoaded = { engine: 'exact', executor: { kind: 'gpu' } };
  const cpuLoaded = { engine: 'exact', executor: { kind: 'cpu' } };
  assert.equal(evalExecutor({ loaded: gpuLoaded, stored: 'cpu' }), 'gpu', "Generate's decision wins");
  assert.equal(evalExecutor({ loaded: cpuLoaded, stored: 'gpu' }), 'cpu', 'e.g. the GPU failed its self-test');
  assert.equal(evalExecutor({ loaded: null, stored: 'gpu' }), 'gpu');
  assert.equal(evalExecutor({ loaded: null, stored: 'cpu' }), 'cpu');
  assert.equal(evalExecutor({ loaded: null, stored: null }), 'cpu', 'Automatic without a measurement');
  assert.equal(evalExecutor({ loaded: null, stored: 'nonsense' }), 'cpu');
  assert.equal(evalExecutor({ loaded: { engine: 'float', executor: { kind: 'cpu' } }, stored: 'gpu' }), 'gpu', 'the float engine says nothing about the exact one');
});

test('kept results become one bar per model and subset, grouped by task, with their standard errors', () => {
  const results = [
    { key: 'a', model_id: 'm2', model_name: 'Model 2', task: 'piqa', limit: 200, n: 200, metrics: { acc: 0.6, acc_stderr: 0.03, acc_norm: 0.62, acc_norm_stderr: 0.031 } },
    { key: 'b', model_id: 'm1', model_name: 'Model 1', task: 'piqa', limit: null, n: 1838, metrics: { acc: 0.65, acc_stderr: 0.011, acc_norm: 0.66, acc_norm_stderr: 0.011 } },
    { key: 'c', model_id: 'm1', model_name: 'Model 1', task: 'arc_easy', limit: 20, n: 20, metrics: { acc: 0.5, acc_stderr: 0.11, acc_norm: 0.45, acc_norm_stderr: 0.11 } },
    { key: 'd', model_id: 'm1', model_name: 'Model 1', task: 'lambada_openai', limit: 20, n: 20, metrics: { acc: 0.3, acc_stderr: 0.1, perplexity: 41.5 } },
  ];
  assert.equal(subsetLabel(results[0]), 'first 200');
  assert.equal(subsetLabel(results[1]), 'all 1838');
  assert.equal(seriesLabel(results[1]), 'Model 1, all 1838');
  const norm = chartGroups(results, 'acc_norm');
  assert.deepEqual(
    norm.map((g) => [g.task, g.bars.map((b) => [b.series, b.value, b.se])]),
    [
      ['arc_easy', [['Model 1, first 20', 0.45, 0.11]]],
      ['piqa', [['Model 1, all 1838', 0.66, 0.011], ['Model 2, first 200', 0.62, 0.031]]],
    ],
    'LAMBADA has no acc_norm: no bar',
  );
  assert.deepEqual(chartGroups(results, 'perplexity'), [{ task: 'lambada_openai', bars: [{ key: 'd', series: 'Model 1, first 20', model: 'm1', value: 41.5, se: null }] }]);
  assert.equal(chartGroups(results, 'acc').reduce((n, g) => n + g.bars.length, 0), 4);
  assert.deepEqual(chartGroups([], 'acc'), []);
});
