// The drop-in scenario end to end: Anthropic's quickstart config (listen_addr, tunnel_domain,
// tls, flat routes map) served by mcpgate, certificates made with the docs' openssl recipe,
// and the official TypeScript SDK client reaching server-everything the way Claude does:
// https://<route>.<tunnel_domain>/mcp, carried as TLS inside a WebSocket (support/tunnel.mjs
// plays cloudflared + Anthropic's backend). The second suite does the same with what
// `mcpgate init` scaffolds: its certificates, its config.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startEverything, mcpgateBin, tmpDir, accessLog } from './support/peers.mjs';
import { start, stopAll } from './support/proc.mjs';
import { connect, text } from './support/mcp.mjs';
import { docsRecipeCertificates, tunnelAgent, tunnelFetch } from './support/tunnel.mjs';

const DOMAIN = 'abcd1234.tunnel.example.test';

/** Starts `mcpgate gateway -config FILE` and waits for its ws listener. Returns { proc, port }. */
async function startTunnelGateway(config) {
  const started = await start({
    name: 'mcpgate gateway',
    cmd: mcpgateBin(),
    args: ['gateway', '-config', config],
    ready: /^mcpgate gateway: listening on 127\.0\.0\.1:(\d+) \(ws\)$/,
    timeoutMs: 15000,
  });
  return { proc: started.proc, port: Number(started.match[1]) };
}

/** One SDK session through the tunnel: tools/list + an echo call. Returns the echo text. */
async function echoThroughTunnel(port, ca, route) {
  const { agent } = tunnelAgent({ port, ca });
  const session = await connect('streamable', `https://${route}.${DOMAIN}/mcp`, { transportOptions: { fetch: tunnelFetch(agent) } });
  try {
    const names = (await session.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo'), names.join(','));
    return text(await session.client.callTool({ name: 'echo', arguments: { message: `via ${route}` } }));
  } finally {
    await session.close();
    await agent.close();
  }
}

describe('mcp-proxy drop-in: SDK client through WebSocket + inner TLS', () => {
  let everything;
  let gateway;
  let certs;
  let dir;

  before(async () => {
    dir = tmpDir('mcpgate-e2e-tunnel-');
    certs = await docsRecipeCertificates(dir, DOMAIN);
    everything = await startEverything('streamableHttp');
    const config = path.join(dir, 'mcp-proxy.yaml');
    fs.writeFileSync(config, [
      'listen_addr: "127.0.0.1:0"',
      'log_level: info',
      'shutdown_timeout: 30s',
      `tunnel_domain: ${DOMAIN}`,
      'tls:',
      `  cert_file: ${certs.cert}`,
      `  key_file: ${certs.key}`,
      'routes:',
      `  everything: http://127.0.0.1:${everything.port}`,
      'upstream:',
      '  allowed_ips: [127.0.0.0/8]',
    ].join('\n') + '\n');
    gateway = await startTunnelGateway(config);
  });

  after(async () => {
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs one `route configured` line per route at start', () => {
    const lines = gateway.proc.stderrLines.filter((l) => l.includes('route configured'));
    assert.equal(lines.length, 1, gateway.proc.stderrLines.join('\n'));
    assert.match(lines[0], /route=everything/);
  });

  it('initialises, lists and calls tools, and streams progress', async () => {
    const { agent, stats } = tunnelAgent({ port: gateway.port, ca: certs.caCert });
    const url = `https://everything.${DOMAIN}/mcp`;
    const session = await connect('streamable', url, { transportOptions: { fetch: tunnelFetch(agent) } });
    try {
      const tools = await session.client.listTools();
      const names = tools.tools.map((t) => t.name);
      assert.ok(names.includes('echo'), names.join(','));
      const echoed = await session.client.callTool({ name: 'echo', arguments: { message: 'through the tunnel' } });
      assert.equal(text(echoed), 'Echo: through the tunnel');

      // Progress notifications arrive over SSE inside the tunnel, one by one.
      const progress = [];
      const slow = await session.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress), timeout: 30000 },
      );
      assert.ok(text(slow).includes('completed'), text(slow));
      assert.deepEqual(progress, [1, 2, 3, 4]);
    } finally {
      await session.close();
      await agent.close();
    }
    const log = accessLog(gateway).filter((r) => r.route === 'everything');
    assert.ok(log.length >= 4, JSON.stringify(log));
    // Tunnelled connections are kept alive: fewer WebSockets than requests (the SDK keeps
    // a GET stream open beside its POSTs, so more than one).
    assert.ok(stats.connections >= 1 && stats.connections < log.length, `${stats.connections} tunnel connections for ${log.length} requests`);
    for (const r of log) {
      assert.equal(r.host, `everything.${DOMAIN}`);
      assert.equal(r.client, '160.79.104.10');  // what cloudflared reported, from a trusted (loopback) peer
      assert.equal(r.peer, '127.0.0.1');
    }
    assert.ok(gateway.proc.stderrLines.some((l) => l.includes('request started')));
  });

  it('answers an unknown subdomain with 502 No route configured for host', async () => {
    const { agent } = tunnelAgent({ port: gateway.port, ca: certs.caCert });
    try {
      const res = await tunnelFetch(agent)(`https://wiki.${DOMAIN}/mcp`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 502);
      assert.equal(await res.text(), 'No route configured for host\n');
    } finally {
      await agent.close();
    }
    assert.ok(gateway.proc.stderrLines.some((l) => l.includes('no route for host') && l.includes(`wiki.${DOMAIN}`)));
  });

  it('fails a client that does not trust the registered CA, and logs `tls handshake failed`', async () => {
    const other = tmpDir('mcpgate-e2e-othercA-');
    try {
      const wrong = await docsRecipeCertificates(other, DOMAIN);
      const { agent } = tunnelAgent({ port: gateway.port, ca: wrong.caCert });
      await assert.rejects(tunnelFetch(agent)(`https://everything.${DOMAIN}/mcp`, { method: 'POST', body: '{}' }));
      await agent.close();
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
    await gateway.proc.waitForLine(/tls handshake failed/, 5000);
  });
});

describe('mcpgate init output serves through the tunnel', () => {
  let dir;
  after(async () => {
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('scaffolds certificates and a config that the SDK reaches server-everything through', async () => {
    dir = tmpDir('mcpgate-e2e-init-');
    const everything = await startEverything('streamableHttp');
    const deployment = path.join(dir, 'mcp-tunnel');
    const token = 'eyJ-test-tunnel-token';
    const init = spawnSync(mcpgateBin(), ['init', deployment, '--tunnel-domain', DOMAIN, '--layout', 'systemd',
      '--key-type', 'ecdsa-p256', '--route', `everything=http://127.0.0.1:${everything.port}`, '--token-stdin'],
    { input: `${token}\n`, encoding: 'utf8', timeout: 60000 });
    assert.equal(init.status, 0, `${init.stdout}\n${init.stderr}`);
    assert.ok(!init.stdout.includes(token) && !init.stderr.includes(token), 'init printed the token');
    assert.match(fs.readFileSync(path.join(deployment, '.env'), 'utf8'), new RegExp(`TUNNEL_TOKEN=${token}`));

    // The config as init wrote it validates; then only what a test cannot have changes:
    // the container paths (/data) and port 8080.
    const configPath = path.join(deployment, 'config', 'mcp-proxy.yaml');
    const validate = spawnSync(mcpgateBin(), ['validate', configPath], { encoding: 'utf8' });
    assert.equal(validate.status, 0, validate.stderr);
    const local = path.join(dir, 'local.yaml');
    fs.writeFileSync(local, fs.readFileSync(configPath, 'utf8')
      .replace('listen_addr: ":8080"', 'listen_addr: "127.0.0.1:0"')
      .replaceAll('/data/', `${path.join(deployment, 'data')}/`));
    const gw = await startTunnelGateway(local);
    assert.equal(await echoThroughTunnel(gw.port, path.join(deployment, 'data', 'ca.crt'), 'everything'), 'Echo: via everything');

    // Re-running init keeps the CA and key byte for byte and says so.
    const caBefore = fs.readFileSync(path.join(deployment, 'data', 'ca.key'));
    const again = spawnSync(mcpgateBin(), ['init', deployment, '--tunnel-domain', DOMAIN, '--layout', 'systemd'],
      { encoding: 'utf8', input: '', timeout: 60000 });
    assert.equal(again.status, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /exists.*ca\.key/);
    assert.deepEqual(fs.readFileSync(path.join(deployment, 'data', 'ca.key')), caBefore);
  });
});
