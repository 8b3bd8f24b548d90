// The self-hosted tunnel end to end, all on loopback, with the real processes:
//   official SDK client --TLS(SNI hello.<tunnel domain>)--> mcpgate edge
//     --(outbound HTTP/2 over TLS 1.3)-- mcpgate connect --WebSocket--> mcpgate gateway
//     (inner TLS terminated here, certificate from `mcpgate certs`) --> server-everything.
// The tunnel and its token come from `mcpgate tunnel create`. The edge holds only its own
// certificate (for connectors): the client verifies the gateway's certificate against the
// gateway's CA, so its TLS cannot end anywhere else.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { startEverything, mcpgateBin, tmpDir } from './support/peers.mjs';
import { start, run, stopAll } from './support/proc.mjs';
import { connect, longRunningWithProgress, text } from './support/mcp.mjs';

const BASE_DOMAIN = 'tunnels.test';

async function mcpgate(args) {
  const r = await run({ name: `mcpgate ${args[0]}`, cmd: mcpgateBin(), args, timeoutMs: 60000 });
  if (r.code !== 0) throw new Error(`mcpgate ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** An undici dispatcher that dials the edge for every host, with SNI = the URL's host. */
function edgeAgent(port, ca) {
  return new Agent({
    connect(opts, callback) {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: opts.hostname, ca, ALPNProtocols: ['http/1.1'] });
      socket.once('secureConnect', () => callback(null, socket));
      socket.once('error', (e) => callback(e, null));
    },
  });
}

describe('self-hosted tunnel: SDK client -> edge -> connector -> gateway -> server-everything', () => {
  let dir;
  let domain;
  let edge;
  let agent;
  let gatewayCa;

  before(async () => {
    dir = tmpDir('mcpgate-e2e-selfhosted-');
    const file = (name) => path.join(dir, name);
    const registry = file('edge.db');

    const created = await mcpgate(['tunnel', 'create', '--name', 'e2e', '--registry', registry, '--base-domain', BASE_DOMAIN]);
    const token = created.stdout.trim().split('\n').find((l) => l.startsWith('mgt1_'));
    assert.ok(token, `no token printed:\n${created.stdout}`);
    fs.writeFileSync(file('token'), `${token}\n`, { mode: 0o600 });
    const listed = JSON.parse((await mcpgate(['tunnel', 'list', '--json', '--registry', registry])).stdout);
    domain = listed[0].domain;
    assert.match(domain, new RegExp(`^[a-z0-9]{12}\\.${BASE_DOMAIN.replace('.', '\\.')}$`));

    // The gateway's certificate (the client trusts its CA) and the edge's own.
    await mcpgate(['certs', 'ca', '--out', file('gateway-ca')]);
    await mcpgate(['certs', 'server', '--ca', file('gateway-ca'), '--domain', domain, '--out', file('gateway'), '--key-type', 'ecdsa-p256']);
    await mcpgate(['certs', 'ca', '--out', file('edge-ca'), '--cn', 'edge-ca']);
    await mcpgate(['certs', 'server', '--ca', file('edge-ca'), '--domain', 'edge.test', '--out', file('edge'), '--key-type', 'ecdsa-p256']);
    gatewayCa = fs.readFileSync(file('gateway-ca/ca.crt'));

    const everything = await startEverything('streamableHttp');
    fs.writeFileSync(file('gateway.yaml'), [
      'listen_addr: "127.0.0.1:0"',
      `tunnel_domain: ${domain}`,
      'tls:',
      `  cert_file: ${file('gateway/tls.crt')}`,
      `  key_file: ${file('gateway/tls.key')}`,
      'routes:',
      `  hello: http://127.0.0.1:${everything.port}`,
      'upstream:',
      '  allowed_ips: [127.0.0.0/8]',
    ].join('\n') + '\n');
    const gateway = await start({
      name: 'mcpgate gateway', cmd: mcpgateBin(), args: ['gateway', '-config', file('gateway.yaml')],
      ready: /^mcpgate gateway: listening on 127\.0\.0\.1:(\d+) \(ws\)$/,
    });
    const gatewayPort = Number(gateway.match[1]);

    fs.writeFileSync(file('edge.yaml'), [
      'listen: "127.0.0.1:0"',
      'connector_listen: "127.0.0.1:0"',
      'tls:',
      `  cert_file: ${file('edge/tls.crt')}`,
      `  key_file: ${file('edge/tls.key')}`,
      `base_domain: ${BASE_DOMAIN}`,
      `registry: ${registry}`,
    ].join('\n') + '\n');
    edge = await start({
      name: 'mcpgate edge', cmd: mcpgateBin(), args: ['edge', '--config', file('edge.yaml')],
      ready: /^mcpgate edge: listening on 127\.0\.0\.1:(\d+) \(connectors\)$/,
    });
    const clientsLine = await edge.proc.waitForLine(/^mcpgate edge: listening on 127\.0\.0\.1:(\d+) \(clients\)$/);
    edge.clientPort = Number(clientsLine[1]);
    edge.connectorPort = Number(edge.match[1]);

    await start({
      name: 'mcpgate connect', cmd: mcpgateBin(),
      args: ['connect', '--edge', `127.0.0.1:${edge.connectorPort}`, '--server-name', 'edge.test',
        '--edge-ca', file('edge-ca/ca.crt'), '--token-file', file('token'), '--to', `ws://127.0.0.1:${gatewayPort}`],
      ready: /^mcpgate connect: connected to /,
    });
    // All four connections are registered before the tests start.
    await edge.proc.waitForLine(/connector connected: .*; 4 connection\(s\) live/);
    agent = edgeAgent(edge.clientPort, gatewayCa);
  });

  after(async () => {
    await agent?.close();
    await stopAll();
  });

  const url = () => `https://hello.${domain}/mcp`;
  const transportOptions = () => ({ fetch: (u, init = {}) => undiciFetch(u, { ...init, dispatcher: agent }) });

  it('tools through the tunnel, progress notifications before the result', async () => {
    const session = await connect('streamable', url(), { transportOptions: transportOptions() });
    try {
      const names = (await session.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('echo'), names.join(','));
      assert.equal(text(await session.client.callTool({ name: 'echo', arguments: { message: 'through my edge' } })),
        'Echo: through my edge');
      await longRunningWithProgress(session, { duration: 2, steps: 4 });
    } finally {
      await session.close();
    }
  });

  it('the edge never terminates the client TLS: a client trusting only the edge CA fails', async () => {
    const edgeCa = fs.readFileSync(path.join(dir, 'edge-ca/ca.crt'));
    const err = await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: edge.clientPort, servername: `hello.${domain}`, ca: edgeCa });
      socket.once('secureConnect', () => { socket.destroy(); resolve(null); });
      socket.once('error', resolve);
    });
    assert.ok(err, 'a TLS handshake verified against the edge CA must fail');
    assert.match(String(err.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/);
    // And the certificate the client saw is the gateway's, whose key only the gateway has.
    const peer = await new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: edge.clientPort, servername: `hello.${domain}`, ca: gatewayCa });
      socket.once('secureConnect', () => { const c = socket.getPeerCertificate(); socket.destroy(); resolve(c); });
      socket.once('error', reject);
    });
    const gatewayCert = new (await import('node:crypto')).X509Certificate(fs.readFileSync(path.join(dir, 'gateway/tls.crt')));
    assert.equal(peer.fingerprint256, gatewayCert.fingerprint256);
    const edgeKeyFiles = fs.readFileSync(path.join(dir, 'edge.yaml'), 'utf8');
    assert.ok(!edgeKeyFiles.includes('gateway/tls.key'), 'the edge config names no gateway key');
  });

  it('a host that is no tunnel is closed without an answer', async () => {
    const err = await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: edge.clientPort, servername: 'hello.nowhere.test', ca: gatewayCa });
      socket.once('secureConnect', () => { socket.destroy(); resolve(null); });
      socket.once('error', resolve);
    });
    assert.ok(err);
    await edge.proc.waitForLine(/client .* closed: no tunnel for host hello\.nowhere\.test/);
  });
});
