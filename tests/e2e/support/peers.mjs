// Starting the peers of a scenario: server-everything (Streamable HTTP or legacy SSE),
// mcpgate's built-in hello server, and the mcpgate gateway in front of them.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './proc.mjs';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE_MODULES = path.join(E2E_DIR, 'node_modules');
export const EVERYTHING_ENTRY = path.join(NODE_MODULES, '@modelcontextprotocol/server-everything/dist/index.js');
export const CONFORMANCE_ENTRY = path.join(NODE_MODULES, '@modelcontextprotocol/conformance/dist/index.js');
export const LOOPBACK_PRELOAD = path.join(E2E_DIR, 'support/loopback-preload.cjs');
export const GLOBSYNC_HOOK = path.join(E2E_DIR, 'support/globsync-hook.mjs');

/** The mcpgate binary: $MCPGATE_BIN (set by ctest), else ../../build/mcpgate. */
export function mcpgateBin() {
  return process.env.MCPGATE_BIN || path.resolve(E2E_DIR, '../../build/mcpgate');
}

/** Modes to run: both, unless MCPGATE_E2E_DIRECT_ONLY=1 (development only) or MCPGATE_E2E_MODE=direct|gateway. */
export function modes() {
  if (process.env.MCPGATE_E2E_DIRECT_ONLY === '1') return ['direct'];
  const m = process.env.MCPGATE_E2E_MODE;
  if (m === 'direct' || m === 'gateway') return [m];
  return ['direct', 'gateway'];
}

export function tmpDir(prefix = 'mcpgate-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts server-everything (`transport` = 'streamableHttp' | 'sse') on 127.0.0.1 and a
 * kernel-chosen port. `env`: more environment (e.g. MCPGATE_E2E_LOG_REQUESTS=1, see
 * loopback-preload.cjs and upstreamRequests()). Returns { proc, port, origin }.
 */
export async function startEverything(transport = 'streamableHttp', { env = {} } = {}) {
  if (!fs.existsSync(EVERYTHING_ENTRY)) {
    throw new Error(`${EVERYTHING_ENTRY} missing: run \`npm ci\` in ${E2E_DIR} (or scripts/install-deps --test)`);
  }
  const { proc, match } = await start({
    name: `server-everything(${transport})`,
    cmd: process.execPath,
    args: ['--require', LOOPBACK_PRELOAD, EVERYTHING_ENTRY, transport],
    env: { PORT: '0', ...env },
    cwd: E2E_DIR,
    ready: /^mcpgate-e2e: listening on 127\.0\.0\.1:(\d+)$/,
    timeoutMs: 20000,
  });
  const port = Number(match[1]);
  return { proc, port, origin: `http://127.0.0.1:${port}` };
}

/**
 * Starts `mcpgate gateway` with one plain listener on 127.0.0.1:0 and the given routes
 * ([{ path, upstream | upstreams: [...], extra }], all under host "*"; `extra`: more route keys as YAML flow
 * text, e.g. 'rate_limit: { requests: 5 }'). Returns { proc, port, origin, configPath }.
 */
export async function startGateway(routes, { extraYaml = '' } = {}) {
  const yaml = [
    'listeners:',
    '  - { address: "127.0.0.1:0", mode: plain }',
    'routes:',
    '  "*":',
    ...routes.map((r) => {
      const target = r.upstreams ? `upstreams: [${r.upstreams.map((u) => `"${u}"`).join(', ')}]` : `upstream: "${r.upstream}"`;
      return `    - { path: ${r.path}, ${target}${r.extra ? `, ${r.extra}` : ''} }`;
    }),
    'upstream:',
    '  allowed_ips: [127.0.0.0/8]',
    extraYaml,
  ].join('\n') + '\n';
  const gw = await startGatewayConfig(yaml);
  return { ...gw, origin: `http://127.0.0.1:${gw.port}` };
}

/**
 * Starts `mcpgate gateway` on the config text `yaml` (written to a temporary directory,
 * removed when the gateway exits) and waits for its first listener on 127.0.0.1 in `mode`
 * (plain | tls). Returns { proc, port, configPath, dir }.
 */
export async function startGatewayConfig(yaml, { mode = 'plain' } = {}) {
  const bin = mcpgateBin();
  if (!fs.existsSync(bin)) throw new Error(`mcpgate binary not found at ${bin} (set MCPGATE_BIN)`);
  const dir = tmpDir('mcpgate-e2e-gw-');
  const configPath = path.join(dir, 'mcpgate.yaml');
  fs.writeFileSync(configPath, yaml);
  const { proc, match } = await start({
    name: 'mcpgate gateway',
    cmd: bin,
    args: ['gateway', '-config', configPath],
    cwd: dir,
    ready: new RegExp(`^mcpgate gateway: listening on 127\\.0\\.0\\.1:(\\d+) \\(${mode}\\)$`),
    timeoutMs: 15000,
  }).catch((e) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n--- config ${configPath} ---\n${yaml}`);
  });
  proc.exitPromise.then(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { proc, port: Number(match[1]), configPath, dir };
}

/**
 * A TCP port free on 127.0.0.1 right now, for a server whose config must name its own port
 * before it starts (an OAuth audience). Another process could take it in between: callers
 * retry with a new one if the start fails.
 */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The HTTP requests a server started with MCPGATE_E2E_LOG_REQUESTS=1 received: [{ method, url, headers }]. */
export function upstreamRequests(upstream) {
  const out = [];
  for (const line of upstream.proc.stderrLines) {
    const m = /^mcpgate-e2e: request (\{.*\})$/.exec(line);
    if (m) out.push(JSON.parse(m[1]));
  }
  return out;
}

/** Starts `mcpgate hello --listen 127.0.0.1:0`. Returns { proc, port, url }. */
export async function startHello() {
  const bin = mcpgateBin();
  const { proc, match } = await start({
    name: 'mcpgate hello',
    cmd: bin,
    args: ['hello', '--listen', '127.0.0.1:0'],
    ready: /^mcpgate hello: MCP endpoint (http:\/\/127\.0\.0\.1:(\d+)\/mcp)$/,
    timeoutMs: 15000,
  });
  return { proc, port: Number(match[2]), url: match[1], origin: `http://127.0.0.1:${match[2]}` };
}

/** JSON access-log lines the gateway printed on stdout so far. */
export function accessLog(gw) {
  const out = [];
  for (const line of gw.proc.stdoutLines) {
    if (!line.startsWith('{')) continue;
    try { out.push(JSON.parse(line)); } catch { /* not JSON */ }
  }
  return out;
}
