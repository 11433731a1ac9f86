// Tests of the scripted login against a small fake of the example's pages:
// it must fill in and submit the forms, carry the cookie, press the
// primary button, stop at the redirect URI, and refuse to leave the
// issuer's origin or to go on after an error page.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { authorize, parseForms } from '../lib/browser.mjs';

test('parseForms decodes attributes and keeps only checked boxes', () => {
  const [f] = parseForms(`<form method="post" action="/c?a=1&amp;b=2">
    <input type="hidden" name="csrf" value="a&#43;b&#x2F;c">
    <input type="checkbox" name="scope" value="s1" checked>
    <input type="checkbox" name="scope" value="s2">
    <input name="username" value="">
    <input type="password" name="password">
    <button type="submit" name="action" value="deny">No</button>
    <button type="submit" name="action" value="allow" class="btn primary">Yes</button>
    <button type="button" name="x" value="y">Not a submit</button>
  </form>`);
  assert.equal(f.action, '/c?a=1&b=2');
  assert.equal(f.method, 'post');
  assert.deepEqual(f.fields, [['csrf', 'a+b/c'], ['scope', 's1'], ['username', ''], ['password', '']]);
  assert.deepEqual(f.buttons.map((b) => [b.value, b.primary]), [['deny', false], ['allow', true]]);
});

function fakeServer(handler) {
  return new Promise((resolve) => {
    const s = http.createServer(handler);
    s.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${s.address().port}`, close: () => s.close() }));
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => resolve(new URLSearchParams(b)));
  });
}

const page = (form) => `<!doctype html><html><body><h1>Page</h1>${form}</body></html>`;

test('authorize walks login and consent to the redirect URI', async () => {
  const seen = [];
  const srv = await fakeServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    seen.push(`${req.method} ${u.pathname}`);
    if (u.pathname === '/authorize') {
      res.writeHead(303, { location: '/login?request_id=r1', 'set-cookie': 'sid=abc; Path=/; HttpOnly' }).end();
    } else if (u.pathname === '/login' && req.method === 'GET') {
      assert.equal(req.headers.cookie, 'sid=abc');
      res.end(page(`<form method="post" action="/login"><input type="hidden" name="request_id" value="r1">
        <input name="username"><input type="password" name="password">
        <button type="submit" name="action" value="login" class="primary">Sign in</button>
        <button type="submit" name="action" value="cancel">Cancel</button></form>`));
    } else if (u.pathname === '/login') {
      const b = await readBody(req);
      assert.equal(b.get('username'), 'demo');
      assert.equal(b.get('password'), 'pw');
      assert.equal(b.get('action'), 'login');
      assert.equal(b.get('request_id'), 'r1');
      res.writeHead(303, { location: '/consent?request_id=r1' }).end();
    } else if (u.pathname === '/consent' && req.method === 'GET') {
      res.end(page(`<form method="post"><input type="hidden" name="request_id" value="r1">
        <input type="checkbox" name="scope" value="a" checked><input type="checkbox" name="scope" value="b" checked>
        <button type="submit" name="decision" value="deny">Deny</button>
        <button type="submit" name="decision" value="approve" class="primary">Allow</button></form>`));
    } else if (u.pathname === '/consent') {
      const b = await readBody(req);
      assert.deepEqual(b.getAll('scope'), ['a', 'b']);
      assert.equal(b.get('decision'), 'approve');
      res.writeHead(303, { location: 'http://127.0.0.1:1/callback?code=c&state=s' }).end();
    } else {
      res.writeHead(404).end();
    }
  });
  try {
    const back = await authorize(`${srv.url}/authorize?x=1`, {
      issuer: srv.url,
      redirectPrefix: 'http://127.0.0.1:1/callback',
      user: 'demo',
      password: 'pw',
    });
    assert.equal(back, 'http://127.0.0.1:1/callback?code=c&state=s');
    assert.deepEqual(seen, ['GET /authorize', 'GET /login', 'POST /login', 'GET /consent', 'POST /consent']);
  } finally {
    srv.close();
  }
});

test('authorize refuses to leave the issuer origin', async () => {
  const srv = await fakeServer((req, res) => res.writeHead(302, { location: 'http://127.0.0.2:9/elsewhere' }).end());
  try {
    await assert.rejects(
      authorize(`${srv.url}/authorize`, { issuer: srv.url, redirectPrefix: 'http://127.0.0.1:1/callback', user: 'u', password: 'p' }),
      /left the issuer's origin/,
    );
  } finally {
    srv.close();
  }
});

test('authorize reports an error page with its status and text', async () => {
  const srv = await fakeServer((req, res) => res.writeHead(400, { 'content-type': 'text/html' }).end('<h1>Unknown client</h1>'));
  try {
    await assert.rejects(
      authorize(`${srv.url}/authorize`, { issuer: srv.url, redirectPrefix: 'http://127.0.0.1:1/callback', user: 'u', password: 'p' }),
      /GET \/authorize: HTTP 400: Unknown client/,
    );
  } finally {
    srv.close();
  }
});

test('authorize gives up on a page without exactly one form', async () => {
  const srv = await fakeServer((req, res) => res.end(page('<p>no form</p>')));
  try {
    await assert.rejects(
      authorize(`${srv.url}/authorize`, { issuer: srv.url, redirectPrefix: 'http://127.0.0.1:1/callback', user: 'u', password: 'p' }),
      /expected one form, found 0/,
    );
  } finally {
    srv.close();
  }
});
