// The suite's server scenarios speak MCP without any authorization, but
// examples/mcpserver's endpoint requires a bearer token. This loopback
// proxy adds one (obtained through the real login and token endpoint) to
// every request and otherwise passes requests and streamed responses
// through unchanged, Host header included, so the MCP SDK's DNS-rebinding
// guard still sees what the suite sent.

import http from 'node:http';

// startProxy listens on a free loopback port and forwards to upstream
// (an origin such as http://127.0.0.1:8080) with "Authorization: Bearer
// token". It resolves to { url, close }, url being the proxy's origin.
export function startProxy(upstream, token) {
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.rawHeaders);
        res.flushHeaders();
        ur.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    req.on('aborted', () => up.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
