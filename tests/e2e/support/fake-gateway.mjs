#!/usr/bin/env node
// A deliberately tiny stand-in for `mcpgate gateway`, used only to check the e2e harness
// itself (GATEWAY-mode wiring) while the real gateway is not available:
//   MCPGATE_BIN=$PWD/support/fake-gateway.mjs node --test streamable.test.mjs
// (FAKE_GATEWAY_BUFFER=1 makes it buffer whole responses, FAKE_GATEWAY_IDLE_MS=10000 gives it a
// 10 s idle timeout: the streaming / idle-stream tests must then fail.)
// It understands exactly the config the harness writes (one plain listener, path routes
// under host "*"), proxies by longest path prefix with streaming bodies, prints the same
// ready line as mcpgate and one JSON access-log line per exchange on stdout.
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
if (args[0] !== 'gateway' || args[1] !== '-config' || !args[2]) {
  console.error('usage: fake-gateway.mjs gateway -config FILE');
  process.exit(2);
}
const text = fs.readFileSync(args[2], 'utf8');
const address = text.match(/address:\s*"([^"]+)"/)[1];
const routes = [...text.matchAll(/-\s*\{\s*path:\s*(\S+?),\s*upstream:\s*"([^"]+)"\s*\}/g)]
  .map((m) => ({ path: m[1], upstream: new URL(m[2]) }))
  .sort((a, b) => b.path.length - a.path.length);
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  const t0 = Date.now();
  const route = routes.find((r) => req.url === r.path || req.url.startsWith(`${r.path}?`) || req.url.startsWith(`${r.path}/`));
  if (!route) { res.writeHead(404).end(); return; }
  // FAKE_GATEWAY_IDLE_MS=N closes connections idle for N ms (a proxy with a short idle timeout).
  if (process.env.FAKE_GATEWAY_IDLE_MS) req.socket.setTimeout(Number(process.env.FAKE_GATEWAY_IDLE_MS), () => req.socket.destroy());
  const headers = { ...req.headers, host: route.upstream.host };
  const up = http.request({ host: route.upstream.hostname, port: route.upstream.port, method: req.method, path: req.url, headers, agent }, (ur) => {
    // FAKE_GATEWAY_BUFFER=1 buffers whole responses (a broken proxy), to show the tests catch it.
    const buffer = process.env.FAKE_GATEWAY_BUFFER === '1';
    const chunks = [];
    if (!buffer) { res.writeHead(ur.statusCode, ur.headers); res.flushHeaders(); }
    ur.on('data', (d) => (buffer ? chunks.push(d) : res.write(d)));
    ur.on('end', () => {
      if (buffer) res.writeHead(ur.statusCode, ur.headers);
      res.end(Buffer.concat(chunks));
      console.log(JSON.stringify({ method: req.method, path: req.url, status: ur.statusCode, ms: Date.now() - t0 }));
    });
  });
  up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(up);
  res.on('close', () => up.destroy());
});
const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
server.listen(port, host, () => {
  console.log(`mcpgate gateway: listening on ${host}:${server.address().port} (plain)`);
});
process.on('SIGTERM', () => process.exit(0));
