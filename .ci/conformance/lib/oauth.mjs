// The OAuth client steps the driver does itself: discovery, dynamic
// registration, and an authorization code grant with PKCE (for the access
// token the server scenarios run with).

import { createHash, randomBytes } from 'node:crypto';
import { authorize } from './browser.mjs';

async function getJSON(url) {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10000) });
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

// discover follows the MCP discovery chain from the MCP endpoint's
// protected resource metadata to the authorization server metadata.
export async function discover(prmURL) {
  const prm = await getJSON(prmURL);
  const issuer = prm.authorization_servers?.[0];
  if (!issuer) throw new Error(`${prmURL} names no authorization server`);
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname;
  const as = await getJSON(`${u.origin}/.well-known/oauth-authorization-server${path}`);
  if (as.issuer !== issuer) throw new Error(`metadata issuer ${as.issuer} is not ${issuer}`);
  return { prm, as };
}

// register creates a public client by RFC 7591 dynamic registration.
export async function register(as, redirectURI, name) {
  if (!as.registration_endpoint) throw new Error('the server offers no registration_endpoint (start it with -dcr)');
  const res = await fetch(as.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectURI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
    redirect: 'error',
    signal: AbortSignal.timeout(10000),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 201 || !body.client_id) {
    throw new Error(`registration: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body.client_id;
}

// accessToken runs an authorization code grant with PKCE for clientID,
// completing the login with the scripted browser, and returns the token
// response.
export async function accessToken({ as, clientID, redirectURI, resource, user, password, log }) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientID,
    redirect_uri: redirectURI,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource,
  });
  const back = new URL(
    await authorize(`${as.authorization_endpoint}?${q}`, {
      issuer: as.issuer,
      redirectPrefix: redirectURI,
      user,
      password,
      log,
    }),
  );
  const p = back.searchParams;
  if (p.get('error')) throw new Error(`authorization: ${p.get('error')} ${p.get('error_description') ?? ''}`);
  if (p.get('state') !== state) throw new Error('authorization: state mismatch');
  const res = await fetch(as.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: p.get('code') ?? '',
      redirect_uri: redirectURI,
      code_verifier: verifier,
      client_id: clientID,
      resource,
    }).toString(),
    redirect: 'error',
    signal: AbortSignal.timeout(10000),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200 || !body.access_token) {
    throw new Error(`token: HTTP ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  }
  return body;
}
