#!/usr/bin/env node
// Runs the official MCP conformance suite (@modelcontextprotocol/conformance)
// against a running examples/mcpserver and checks the outcome against
// baseline.yml. run.sh starts the server and calls this; see README.md.
//
//   node conformance.mjs --prm-url URL --user U --password-env VAR --out DIR
//                        [--baseline FILE] [--cimd] [--results FILE]
//
// The demo password is read from the environment variable VAR so that it
// does not show in process listings.
//
// Runs (each result is named "<run>/<scenario>:<check-id>"):
//   authorization-dcr   the suite's authorization-server scenarios with a
//                       client registered by RFC 7591 dynamic registration
//   authorization-cimd  the same with a Client ID Metadata Document client
//                       (its document served here, on loopback); --cimd
//   server              the suite's MCP server scenarios that apply to a
//                       server with its own tools (SERVER_SCENARIOS), through
//                       a loopback proxy that adds a bearer token obtained
//                       by the real login
// The authorization-code-grant scenario waits for a person to open a URL
// and log in; lib/browser.mjs does that over HTTP with the demo user.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { authorize } from './lib/browser.mjs';
import { discover, register, accessToken } from './lib/oauth.mjs';
import { startProxy } from './lib/proxy.mjs';
import { freePort, runCLI, readChecks } from './lib/suite.mjs';
import { loadBaseline, evaluate, PASS } from './lib/baseline.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// The suite's authorization-server scenarios. The code grant reads the
// metadata found by the first, so they always run together, in order.
const AUTHZ_SCENARIOS = ['authorization-server-metadata-endpoint', 'authorization-code-grant'];

// The suite's server scenarios that apply to examples/mcpserver: the
// lifecycle, listing, utility and HTTP-transport scenarios, which go
// through the bearer middleware and the example's scope check (it reads
// the JSON-RPC body before the SDK does) and so catch an authorization
// layer that breaks the transport. The other scenarios call fixtures of
// the suite's reference server (tools, prompts and resources named
// test_*, sampling, elicitation, tasks, skills): they test an MCP SDK,
// and the demo server does not have them. README.md lists them all.
// NQ_CONFORMANCE_SERVER_SCENARIOS (comma-separated) overrides the list
// for exploration.
const SERVER_SCENARIOS = (process.env.NQ_CONFORMANCE_SERVER_SCENARIOS ?? [
  'server-initialize',
  'server-session-lifecycle',
  'server-stateless',
  'ping',
  'logging-set-level',
  'tools-list',
  'resources-list',
  'prompts-list',
  'sep-2164-resource-not-found',
  'caching',
  'http-header-validation',
  'dns-rebinding-protection',
].join(',')).split(',').filter(Boolean);

const CLI_TIMEOUT_MS = 120_000;

const { values: opt } = parseArgs({
  options: {
    'prm-url': { type: 'string' },
    user: { type: 'string' },
    'password-env': { type: 'string' },
    out: { type: 'string' },
    baseline: { type: 'string', default: path.join(here, 'baseline.yml') },
    results: { type: 'string' },
    cimd: { type: 'boolean', default: false },
  },
});
for (const k of ['prm-url', 'user', 'password-env', 'out']) {
  if (!opt[k]) {
    console.error(`conformance.mjs: --${k} is required`);
    process.exit(2);
  }
}
opt.password = process.env[opt['password-env']];
if (!opt.password) {
  console.error(`conformance.mjs: $${opt['password-env']} is empty`);
  process.exit(2);
}

const log = (s) => console.log(s);

// authorizationRun runs the authorization-server scenarios for one client.
// clientFor(callbackURL) makes the client and returns its client_id.
async function authorizationRun(run, as, mcpURL, clientFor) {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/callback`;
  const clientID = await clientFor(callback);
  log(`\n--- ${run}: client_id ${clientID}`);
  const dir = path.join(opt.out, run);
  let loginError;
  const { code, timedOut, stopped } = await runCLI(
    ['authorization', '--url', as.issuer, '--client-id', clientID, '--resource', mcpURL, '--port', String(port), '-o', dir],
    {
      logFile: path.join(opt.out, `${run}.log`),
      timeoutMs: CLI_TIMEOUT_MS,
      onLine: async (line, stop) => {
        if (!line.startsWith(`${as.authorization_endpoint}?`)) return;
        log(`  suite asks for a login: ${as.authorization_endpoint}?…`);
        try {
          const back = await authorize(line.trim(), {
            issuer: as.issuer,
            redirectPrefix: callback,
            user: opt.user,
            password: opt.password,
            log,
          });
          // Deliver the redirect to the suite's callback server, as the
          // browser would.
          const res = await fetch(back, { signal: AbortSignal.timeout(10000) });
          await res.body?.cancel();
        } catch (err) {
          loginError = err;
          log(`  login failed: ${err.message}`);
          stop(`login failed: ${err.message}`);
        }
      },
    },
  );
  const how = timedOut ? 'was killed after a timeout' : stopped ? 'was stopped' : `exited with code ${code}`;
  log(`  suite ${how}; log: ${path.join(opt.out, `${run}.log`)}`);
  return collect(run, AUTHZ_SCENARIOS, await readChecks(dir), loginError);
}

// serveClientMetadata serves a Client ID Metadata Document on a free
// loopback port and resolves to { clientID, close }.
async function serveClientMetadata(callback) {
  let doc = '';
  const server = http.createServer((req, res) => {
    if (req.url !== '/client-metadata.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(doc);
  });
  await new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const clientID = `http://127.0.0.1:${server.address().port}/client-metadata.json`;
  doc = JSON.stringify({
    client_id: clientID,
    client_name: 'MCP conformance suite (CIMD)',
    redirect_uris: [callback],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  return { clientID, close: () => new Promise((r) => server.close(() => r())) };
}

async function serverRun(as, mcpURL) {
  const run = 'server';
  log(`\n--- ${run}: ${SERVER_SCENARIOS.length} scenarios through a token-adding proxy`);
  const redirect = `http://127.0.0.1:${await freePort()}/callback`;
  const clientID = await register(as, redirect, 'MCP conformance suite (server scenarios)');
  const tok = await accessToken({ as, clientID, redirectURI: redirect, resource: mcpURL, user: opt.user, password: opt.password, log });
  log(`  access token for ${clientID}: scope "${tok.scope ?? ''}", expires in ${tok.expires_in ?? '?'} s`);
  const mcp = new URL(mcpURL);
  const proxy = await startProxy(mcp.origin, tok.access_token);
  const dir = path.join(opt.out, run);
  try {
    for (const s of SERVER_SCENARIOS) {
      const { code, timedOut } = await runCLI(
        ['server', '--url', proxy.url + mcp.pathname, '--scenario', s, '--timeout', '30000', '-o', dir],
        { logFile: path.join(opt.out, run, `${s}.log`), timeoutMs: CLI_TIMEOUT_MS },
      );
      log(`  ${s}: suite exited with ${timedOut ? 'a timeout' : `code ${code}`}`);
    }
  } finally {
    await proxy.close();
  }
  return collect(run, SERVER_SCENARIOS, await readChecks(dir));
}

// collect flattens the suite's checks into results, adding a failure for
// every scenario that saved nothing (it crashed or never ran).
function collect(run, scenarios, byScenario, cause) {
  const out = [];
  for (const s of scenarios) {
    const checks = byScenario.get(s);
    if (!checks || checks.length === 0) {
      out.push({
        run,
        scenario: s,
        id: 'scenario-ran',
        status: 'FAILURE',
        errorMessage: `the suite saved no checks for this scenario${cause ? ` (${cause.message})` : ''}`,
      });
      continue;
    }
    for (const c of checks) {
      out.push({ run, scenario: s, id: c.id, name: c.name, status: c.status, errorMessage: c.errorMessage });
    }
  }
  return out;
}

function table(results) {
  const w = Math.max(...results.map((r) => `${r.run}/${r.scenario}:${r.id}`.length));
  return results
    .map((r) => `  ${r.status.padEnd(7)}  ${`${r.run}/${r.scenario}:${r.id}`.padEnd(w)}${r.status !== PASS && r.errorMessage ? `  ${r.errorMessage}` : ''}`)
    .join('\n');
}

function markdown(results, verdict, meta) {
  const counted = results.filter((r) => r.status !== 'INFO');
  const esc = (t) => (t ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const groups = new Map();
  for (const r of counted) {
    const k = `${r.run}/${r.scenario}`;
    const g = groups.get(k) ?? { passed: 0, total: 0 };
    g.total++;
    if (r.status === PASS) g.passed++;
    groups.set(k, g);
  }
  const byRun = (prefix) => {
    const rs = counted.filter((r) => r.run.startsWith(prefix));
    return `${rs.filter((r) => r.status === PASS).length}/${rs.length}`;
  };
  const known = new Map(verdict.expected.map(({ result, entry }) => [result, entry]));
  return [
    '# MCP conformance results',
    '',
    `Suite: @modelcontextprotocol/conformance ${meta.suite} on Node ${process.version}, against examples/mcpserver ` +
      `started by .ci/conformance/run.sh. Generated by .ci/conformance/conformance.mjs; CI writes the same file to ` +
      '`testdata/artifacts/conformance/RESULTS.md`.',
    '',
    `**${verdict.passed} of ${verdict.total} checks pass** ` +
      `(authorization server: ${byRun('authorization')}; MCP server through the bearer middleware: ${byRun('server')}). ` +
      `${verdict.expected.length} known failures are listed in baseline.yml; ` +
      `${verdict.unexpected.length} unexpected failures, ${verdict.stale.length} stale baseline entries. ` +
      'INFO checks are not counted.',
    '',
    '| Run/scenario | Passed |',
    '|---|---|',
    ...[...groups].map(([k, g]) => `| \`${k}\` | ${g.passed}/${g.total} |`),
    '',
    '## Checks that do not pass',
    '',
    '| Run/scenario:check | Status | Suite message | Baseline reason |',
    '|---|---|---|---|',
    ...counted
      .filter((r) => r.status !== PASS)
      .map((r) => `| \`${r.run}/${r.scenario}:${r.id}\` | ${r.status} | ${esc(r.errorMessage)} | ${esc(known.get(r)?.reason ?? '**not in baseline**')} |`),
    '',
  ].join('\n');
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) throw new Error(`the suite needs Node >= 22, this is ${process.version} (see README.md)`);
  await mkdir(opt.out, { recursive: true });
  const baseline = await loadBaseline(opt.baseline);
  const { prm, as } = await discover(opt['prm-url']);
  const mcpURL = prm.resource;
  log(`issuer ${as.issuer}, MCP endpoint ${mcpURL}`);

  const results = [];
  results.push(
    ...(await authorizationRun('authorization-dcr', as, mcpURL, (cb) => register(as, cb, 'MCP conformance suite (DCR)'))),
  );
  if (opt.cimd) {
    let doc;
    try {
      results.push(
        ...(await authorizationRun('authorization-cimd', as, mcpURL, async (cb) => {
          doc = await serveClientMetadata(cb);
          return doc.clientID;
        })),
      );
    } finally {
      await doc?.close();
    }
  }
  results.push(...(await serverRun(as, mcpURL)));

  const verdict = evaluate(results, baseline);
  log(`\n=== Conformance checks\n${table(results)}`);
  const suite = JSON.parse(
    await readFile(path.join(here, 'node_modules', '@modelcontextprotocol', 'conformance', 'package.json'), 'utf8'),
  ).version;
  const md = markdown(results, verdict, { suite });
  await writeFile(path.join(opt.out, 'RESULTS.md'), md);
  await writeFile(path.join(opt.out, 'results.json'), JSON.stringify({ suite, results, verdict }, null, 2));
  if (opt.results) await writeFile(opt.results, md);

  log(`\n=== ${verdict.passed}/${verdict.total} checks pass; ${verdict.expected.length} known failures (baseline.yml)`);
  for (const { result: r, entry } of verdict.expected) log(`  known    ${r.run}/${r.scenario}:${r.id} (${r.status}): ${entry.reason}`);
  for (const { result: r, why } of verdict.unexpected) log(`  NEW      ${r.run}/${r.scenario}:${r.id} ${r.status} (${why}): ${r.errorMessage ?? ''}`);
  for (const { entry, why } of verdict.stale) log(`  STALE    ${entry.id}: ${why}`);
  if (!verdict.ok) {
    log('\nconformance: FAILED (new failures, or baseline entries that no longer fail; logs in ' + opt.out + ')');
    process.exitCode = 1;
  } else {
    log('\nconformance: ok');
  }
}

main().catch((err) => {
  console.error(`conformance: ${err.stack ?? err}`);
  process.exitCode = 1;
});
