// Running the conformance CLI and reading what it saved.

import { spawn } from 'node:child_process';
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

// freePort asks the kernel for an unused loopback port. Another process
// could take it before the suite binds it, which on a CI machine is rare
// enough; the suite then fails loudly with EADDRINUSE.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// runCLI runs the conformance CLI with args under the current Node binary,
// saving its output to logFile. onLine sees each stdout line (to spot the
// authorization URL) and a function that stops the suite (when the login
// failed, rather than let it wait minutes for a callback). It resolves to
// { code, timedOut, stopped } and never rejects on a failing suite:
// results come from the files the suite saves.
export async function runCLI(args, { logFile, timeoutMs, onLine = () => {} }) {
  await mkdir(path.dirname(logFile), { recursive: true });
  // The suite gets no NQ_* variables (the demo password among them).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NQ_')));
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const lines = [];
  const pending = [];
  let stopped = false;
  const stop = (why) => {
    stopped = true;
    lines.push(`driver: stopping the suite: ${why}`);
    child.kill('SIGKILL');
  };
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (l) => {
    lines.push(l);
    // Keep the handler's promise so that the caller's work (the login)
    // finishes, or fails, before we report the process as done.
    pending.push(Promise.resolve().then(() => onLine(l, stop)).catch((err) => lines.push(`driver: ${err.message}`)));
  });
  child.stderr.on('data', (d) => lines.push(...d.toString().split('\n').filter(Boolean)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  await Promise.all(pending);
  if (timedOut) lines.push(`driver: killed after ${timeoutMs} ms`);
  await writeFile(logFile, lines.join('\n') + '\n');
  return { code, timedOut, stopped, lines };
}

// readChecks reads every checks.json the suite saved under dir, keyed by
// scenario name (the directory name minus the kind prefix and timestamp).
export async function readChecks(dir) {
  const out = new Map();
  let entries = [];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const m = /^(?:authorization-server|server|client)-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(e.name);
    if (!m) continue;
    try {
      const checks = JSON.parse(await readFile(path.join(dir, e.name, 'checks.json'), 'utf8'));
      out.set(m[1], [...(out.get(m[1]) ?? []), ...checks]);
    } catch {
      // A directory without checks.json means the scenario crashed; the
      // caller reports the scenario as missing.
    }
  }
  return out;
}
