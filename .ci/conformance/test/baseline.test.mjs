// Tests of the baseline comparison: it must catch new failures, status
// changes, entries that pass now and entries that match nothing.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evaluate, loadBaseline } from '../lib/baseline.mjs';

const r = (scenario, id, status, run = 'server') => ({ run, scenario, id, status });

test('all passing, empty baseline', () => {
  const v = evaluate([r('ping', 'ping', 'SUCCESS'), r('ping', 'x', 'INFO')], []);
  assert.equal(v.ok, true);
  assert.equal(v.total, 1, 'INFO is not counted');
  assert.equal(v.passed, 1);
});

test('a failure, warning or skip outside the baseline is new', () => {
  for (const status of ['FAILURE', 'WARNING', 'SKIPPED']) {
    const v = evaluate([r('ping', 'ping', status)], []);
    assert.equal(v.ok, false, status);
    assert.equal(v.unexpected.length, 1, status);
  }
});

test('a listed failure is known; the listed status must match', () => {
  const base = [{ id: 'server/ping:ping', status: 'WARNING', reason: 'because of something' }];
  assert.equal(evaluate([r('ping', 'ping', 'WARNING')], base).ok, true);
  const v = evaluate([r('ping', 'ping', 'FAILURE')], base);
  assert.equal(v.ok, false);
  assert.match(v.unexpected[0].why, /expects WARNING/);
});

test('a scenario entry covers all its checks', () => {
  const base = [{ id: 'server/ping', reason: 'because of something' }];
  const v = evaluate([r('ping', 'a', 'FAILURE'), r('ping', 'b', 'SUCCESS')], base);
  assert.equal(v.ok, true);
  assert.equal(v.expected.length, 1);
  assert.equal(evaluate([r('ping', 'a', 'FAILURE')], [{ id: 'server/other', reason: 'because of something' }]).ok, false);
  assert.equal(evaluate([r('ping', 'a', 'FAILURE', 'authorization-dcr')], base).ok, false, 'runs are distinct');
});

test('an entry that passes now, or matches nothing, is stale', () => {
  const base = [{ id: 'server/ping:ping', reason: 'because of something' }];
  let v = evaluate([r('ping', 'ping', 'SUCCESS')], base);
  assert.equal(v.ok, false);
  assert.match(v.stale[0].why, /passes now/);
  v = evaluate([r('tools-list', 'tools-list', 'SUCCESS')], base);
  assert.equal(v.ok, false);
  assert.match(v.stale[0].why, /matches no check/);
  v = evaluate([r('ping', 'ping', 'INFO')], base);
  assert.equal(v.ok, false, 'an INFO check does not keep an entry alive');
});

test('loadBaseline validates entries', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'baseline-'));
  const f = path.join(dir, 'b.yml');
  const bad = [
    ['expected: {a: 1}', /must be a list/],
    ['expected: [{id: "ping", reason: "because of x"}]', /id must be/],
    ['expected: [{id: "server/ping"}]', /reason/],
    ['expected: [{id: "server/ping", reason: "because of x", status: "OK"}]', /status must be/],
    ['expected: [{id: "server/ping", reason: "because of x", why: 1}]', /unknown keys/],
    ['expected: [{id: "server/ping", reason: "because of x"}, {id: "server/ping", reason: "because of y"}]', /duplicate/],
  ];
  for (const [text, re] of bad) {
    await writeFile(f, text);
    await assert.rejects(loadBaseline(f), re, text);
  }
  await writeFile(f, 'expected:\n  - id: server/ping:ping\n    status: FAILURE\n    reason: because of x\n');
  assert.deepEqual(await loadBaseline(f), [{ id: 'server/ping:ping', status: 'FAILURE', reason: 'because of x' }]);
});
