// The "Threads" choice (www/threads-choice.js), without a browser: Automatic's count, stored
// values read back, the options offered, and the words for what runs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { automaticThreads, threadsChoice, threadsFor, threadsLabel, threadsOptions } from '../../www/threads-choice.js';

test('Automatic is the logical processors, at most 4, and at least 1', () => {
  assert.equal(automaticThreads(1), 1);
  assert.equal(automaticThreads(2), 2);
  assert.equal(automaticThreads(16), 4);
  assert.equal(automaticThreads(undefined), 1); // a browser that does not say
  assert.equal(automaticThreads(0), 1);
});

test('a stored choice is a count from 1 to 16, anything else is Automatic', () => {
  assert.equal(threadsChoice(null), 'auto');
  assert.equal(threadsChoice(''), 'auto');
  assert.equal(threadsChoice('auto'), 'auto');
  assert.equal(threadsChoice('3'), 3);
  assert.equal(threadsChoice('16'), 16);
  for (const bad of ['0', '17', '2.5', '-1', 'two', '1e1', '0x2', ' 2']) assert.equal(threadsChoice(bad), 'auto', bad);
  assert.equal(threadsFor('auto', 8), 4);
  assert.equal(threadsFor(1, 8), 1);
  assert.equal(threadsFor(6, 2), 6); // the user's number, even above the cores
});

test('the options: Automatic with its count here, then 1 up to the cores (at least 4, at most 16)', () => {
  const two = threadsOptions(2);
  assert.deepEqual(two[0], { value: 'auto', label: 'Automatic (2 here)' });
  assert.deepEqual(two.slice(1).map((o) => o.value), ['1', '2', '3', '4']);
  assert.equal(two[1].label, '1 thread');
  assert.equal(two[2].label, '2 threads');
  assert.equal(threadsOptions(64).length, 17);
});

test('what runs, in words: the CPU with its threads, and why one runs when more were asked for', () => {
  assert.equal(threadsLabel({ kind: 'cpu', threads: 2, threads_why: null }), 'CPU, 2 threads');
  assert.equal(threadsLabel({ kind: 'cpu', threads: 1, threads_why: null }), 'CPU, 1 thread');
  assert.equal(
    threadsLabel({ kind: 'cpu', threads: 1, threads_why: 'the page is not cross-origin isolated, so it has no shared memory' }),
    'CPU, 1 thread (the page is not cross-origin isolated, so it has no shared memory)',
  );
  assert.equal(threadsLabel({ kind: 'gpu', threads: null, threads_why: null }), null);
  assert.equal(threadsLabel({ kind: 'cpu' }), null); // an earlier engine that does not say
});
