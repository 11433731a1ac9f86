// Comparing results with baseline.yml: every check that does not pass
// must be listed there with a reason, and every listed entry must still
// fail, so that the baseline never hides a regression nor outlives a fix.

import { readFile } from 'node:fs/promises';
import YAML from 'yaml';

// Statuses the suite reports. INFO is informational and counts neither
// way; WARNING (a SHOULD not met) and SKIPPED (the suite could not test
// it) are not passes.
export const PASS = 'SUCCESS';
const IGNORED = new Set(['INFO']);

// loadBaseline reads and validates the baseline file.
export async function loadBaseline(file) {
  const doc = YAML.parse(await readFile(file, 'utf8')) ?? {};
  const list = doc.expected ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: "expected" must be a list`);
  const seen = new Set();
  return list.map((e, i) => {
    const where = `${file}: entry ${i + 1}`;
    if (typeof e !== 'object' || e === null) throw new Error(`${where} must be a mapping`);
    const unknown = Object.keys(e).filter((k) => !['id', 'status', 'reason'].includes(k));
    if (unknown.length) throw new Error(`${where}: unknown keys ${unknown.join(', ')}`);
    if (typeof e.id !== 'string' || !/^[^/\s]+\/[^:\s]+(:\S+)?$/.test(e.id)) {
      throw new Error(`${where}: id must be "<run>/<scenario>" or "<run>/<scenario>:<check-id>"`);
    }
    if (typeof e.reason !== 'string' || e.reason.trim().length < 10) {
      throw new Error(`${where} (${e.id}): give the reason it fails`);
    }
    if (e.status !== undefined && !['FAILURE', 'WARNING', 'SKIPPED'].includes(e.status)) {
      throw new Error(`${where} (${e.id}): status must be FAILURE, WARNING or SKIPPED`);
    }
    if (seen.has(e.id)) throw new Error(`${where}: duplicate id ${e.id}`);
    seen.add(e.id);
    return e;
  });
}

// evaluate compares results (a list of { run, scenario, id, status,
// errorMessage }) with the baseline. A baseline entry covers one check
// ("run/scenario:id") or every check of a scenario ("run/scenario").
export function evaluate(results, baseline) {
  const counted = results.filter((r) => !IGNORED.has(r.status));
  const covers = (e, r) => {
    const [rs, id] = e.id.split(':');
    return rs === `${r.run}/${r.scenario}` && (id === undefined || id === r.id);
  };
  const unexpected = [];
  const expected = [];
  for (const r of counted) {
    if (r.status === PASS) continue;
    const e = baseline.find((b) => covers(b, r));
    if (!e) {
      unexpected.push({ result: r, why: 'not in the baseline' });
    } else if (e.status && e.status !== r.status) {
      unexpected.push({ result: r, why: `baseline expects ${e.status}` });
    } else {
      expected.push({ result: r, entry: e });
    }
  }
  const stale = [];
  for (const e of baseline) {
    const hits = counted.filter((r) => covers(e, r));
    if (hits.length === 0) stale.push({ entry: e, why: 'matches no check that ran' });
    else if (hits.every((r) => r.status === PASS)) stale.push({ entry: e, why: 'passes now: remove it from the baseline' });
  }
  return {
    total: counted.length,
    passed: counted.filter((r) => r.status === PASS).length,
    unexpected,
    expected,
    stale,
    ok: unexpected.length === 0 && stale.length === 0,
  };
}
