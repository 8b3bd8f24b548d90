// Plays cloudflared and Anthropic's backend for a gateway's `listen_addr` listener: each
// HTTP connection the client makes becomes a WebSocket to the listener (with the
// Cf-Connecting-Ip cloudflared adds), and a verifying TLS client runs inside the
// WebSocket's binary stream with SNI = the URL's host (<route>.<tunnel_domain>).
// tunnelFetch() plugs that into the official SDK's transports through their `fetch` option.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket, { createWebSocketStream } from 'ws';
import { run } from './proc.mjs';

/**
 * A CA and a server certificate for `domain` made with the exact openssl recipe of
 * Anthropic's tunnel docs (manual flow). Returns { caCert, caKey, cert, key }.
 */
export async function docsRecipeCertificates(dir, domain) {
  const file = (name) => path.join(dir, name);
  const openssl = async (args) => {
    const r = await run({ name: 'openssl', cmd: 'openssl', args, cwd: dir, timeoutMs: 60000 });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
  };
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'),
    '-days', '3650', '-subj', '/CN=mcp-tunnel-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash']);
  fs.writeFileSync(file('tls.ext'), [
    `subjectAltName = DNS:${domain},DNS:*.${domain}`,
    'authorityKeyIdentifier = keyid,issuer',
    'extendedKeyUsage = serverAuth',
  ].join('\n') + '\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('tls.key'), '-out', file('server.csr'),
    '-subj', `/CN=${domain}`]);
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('tls.crt'), '-days', '90', '-extfile', file('tls.ext')]);
  return { caCert: file('ca.crt'), caKey: file('ca.key'), cert: file('tls.crt'), key: file('tls.key') };
}

/**
 * An undici dispatcher whose connections go through the tunnel listener on 127.0.0.1:port.
 * `connections` counts the WebSockets opened (keep-alive means few).
 */
export function tunnelAgent({ port, ca, clientIp = '160.79.104.10' }) {
  const stats = { connections: 0 };
  const agent = new Agent({
    connect(opts, callback) {
      let answered = false;
      const answer = (err, socket) => {
        if (answered) return;
        answered = true;
        callback(err, socket);
      };
      stats.connections += 1;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { 'Cf-Connecting-Ip': clientIp } });
      ws.once('error', (e) => answer(e, null));
      ws.once('open', () => {
        const bytes = createWebSocketStream(ws);
        const socket = tls.connect({ socket: bytes, servername: opts.hostname, ca: fs.readFileSync(ca), ALPNProtocols: ['http/1.1'] });
        socket.once('secureConnect', () => answer(null, socket));
        socket.once('error', (e) => answer(e, null));
      });
    },
  });
  return { agent, stats };
}

/** A fetch for the SDK transports: every request through `agent`. */
export function tunnelFetch(agent) {
  return (url, init = {}) => undiciFetch(url, { ...init, dispatcher: agent });
}
