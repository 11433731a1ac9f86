// A scripted stand-in for the person at the browser: it takes an
// authorization URL through examples/mcpserver's login and consent pages
// over plain HTTP and returns the redirect back to the client.
//
// It is deliberately small and strict. It follows redirects only within
// the issuer's origin, keeps cookies only for that origin, submits only
// forms whose action is on that origin, and stops at the first redirect
// to the client's redirect URI without fetching it (the caller decides
// whether to deliver it). Anything unexpected (an error page, a form it
// cannot fill, too many steps) is an error naming the page's status and
// text, so a failure in CI says where the flow broke.

const MAX_STEPS = 12;

// decodeEntities undoes the HTML escaping html/template applies to
// attribute values (&amp;, &#43;, &#x2F;, …).
function decodeEntities(s) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) ? String.fromCodePoint(cp) : m;
    }
    return named[e] ?? m;
  });
}

// attrs parses the attributes of one start tag.
function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // Skip the tag name itself.
  const body = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(body)) !== null) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

// parseForms returns the forms of a page: action, method, the fields a
// browser would submit by default, and the submit buttons.
export function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let fm;
  while ((fm = formRe.exec(html)) !== null) {
    const open = fm[0].slice(0, fm[0].indexOf('>') + 1);
    const a = attrs(open);
    const form = {
      action: a.action ?? '',
      method: (a.method ?? 'get').toLowerCase(),
      fields: [], // [name, value] pairs in document order
      inputs: [], // every named input with its type, for filling in
      buttons: [], // submit buttons: {name, value, primary}
    };
    const tagRe = /<(input|button)\b[^>]*>/gi;
    let tm;
    while ((tm = tagRe.exec(fm[1])) !== null) {
      const t = attrs(tm[0]);
      const kind = tm[1].toLowerCase();
      if (kind === 'button') {
        if ((t.type ?? 'submit') === 'submit') {
          form.buttons.push({ name: t.name, value: t.value ?? '', primary: /\bprimary\b/.test(t.class ?? '') });
        }
        continue;
      }
      const type = (t.type ?? 'text').toLowerCase();
      if (!t.name || t.disabled !== undefined) continue;
      if (type === 'submit') {
        form.buttons.push({ name: t.name, value: t.value ?? '', primary: false });
        continue;
      }
      form.inputs.push({ name: t.name, type, value: t.value ?? '' });
      if ((type === 'checkbox' || type === 'radio') && t.checked === undefined) continue;
      form.fields.push([t.name, type === 'checkbox' && t.value === undefined ? 'on' : (t.value ?? '')]);
    }
    forms.push(form);
  }
  return forms;
}

// pageText is a short, tag-free excerpt of a page for error messages.
function pageText(html) {
  return decodeEntities(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

class CookieJar {
  constructor(origin) {
    this.origin = origin;
    this.cookies = new Map();
  }
  store(url, res) {
    if (new URL(url).origin !== this.origin) return;
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      if (i > 0) this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }
  header(url) {
    if (new URL(url).origin !== this.origin || this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

// authorize walks an authorization URL through the login and consent
// pages and returns the URL the server redirects the browser to (the
// client's redirect URI with code, state and iss, or with an error).
//
// options: issuer (its origin bounds where the walk may go), redirectPrefix
// (the client's redirect URI; reaching it ends the walk), user, password,
// timeoutMs, and log (a function for one-line progress messages).
export async function authorize(authURL, { issuer, redirectPrefix, user, password, timeoutMs = 15000, log = () => {} }) {
  const origin = new URL(issuer).origin;
  const jar = new CookieJar(origin);
  const signal = AbortSignal.timeout(timeoutMs);
  let url = authURL;
  let init = { method: 'GET' };
  for (let step = 0; step < MAX_STEPS; step++) {
    if (url.startsWith(redirectPrefix)) return url;
    if (new URL(url).origin !== origin) {
      throw new Error(`login flow left the issuer's origin: ${url}`);
    }
    const headers = { ...(init.headers ?? {}) };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal });
    jar.store(url, res);
    const path = new URL(url).pathname;
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      await res.body?.cancel();
      if (!loc) throw new Error(`${init.method} ${path}: ${res.status} without Location`);
      url = new URL(loc, url).href;
      init = { method: 'GET' };
      log(`  ${res.status} → ${url.startsWith(redirectPrefix) ? 'redirect URI' : new URL(url).pathname}`);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) {
      throw new Error(`${init.method} ${path}: HTTP ${res.status}: ${pageText(html)}`);
    }
    const forms = parseForms(html).filter((f) => f.method === 'post');
    if (forms.length !== 1) {
      throw new Error(`${init.method} ${path}: expected one form, found ${forms.length}: ${pageText(html)}`);
    }
    const form = forms[0];
    const body = new URLSearchParams();
    for (const [k, v] of form.fields) body.append(k, v);
    const hasPassword = form.inputs.some((i) => i.type === 'password');
    if (hasPassword) {
      // The login form: the user name goes into the text field next to
      // the password field.
      const userField = form.inputs.find((i) => i.type === 'text' || i.type === 'email');
      if (!userField) throw new Error(`${path}: login form without a user name field`);
      body.set(userField.name, user);
      body.set(form.inputs.find((i) => i.type === 'password').name, password);
    }
    // Press the primary button (Sign in, Allow): never Cancel or Deny.
    const button = form.buttons.find((b) => b.primary) ?? form.buttons[0];
    if (button?.name) body.append(button.name, button.value);
    const action = new URL(form.action || url, url).href;
    log(`  ${path}: submit ${hasPassword ? 'login' : 'form'}${button?.name ? ` (${button.name}=${button.value})` : ''}`);
    url = action;
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() };
  }
  throw new Error(`login flow did not reach the redirect URI within ${MAX_STEPS} steps`);
}
