// Starting the peers of a scenario: server-everything (Streamable HTTP or legacy SSE),
// mcpgate's built-in hello server, and the mcpgate gateway in front of them.
import fs from 'node:fs';
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
 * kernel-chosen port. Returns { proc, port, origin }.
 */
export async function startEverything(transport = 'streamableHttp') {
  if (!fs.existsSync(EVERYTHING_ENTRY)) {
    throw new Error(`${EVERYTHING_ENTRY} missing: run \`npm ci\` in ${E2E_DIR} (or scripts/install-deps --test)`);
  }
  const { proc, match } = await start({
    name: `server-everything(${transport})`,
    cmd: process.execPath,
    args: ['--require', LOOPBACK_PRELOAD, EVERYTHING_ENTRY, transport],
    env: { PORT: '0' },
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
  const bin = mcpgateBin();
  if (!fs.existsSync(bin)) throw new Error(`mcpgate binary not found at ${bin} (set MCPGATE_BIN)`);
  const dir = tmpDir('mcpgate-e2e-gw-');
  const configPath = path.join(dir, 'mcpgate.yaml');
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
  fs.writeFileSync(configPath, yaml);
  const { proc, match } = await start({
    name: 'mcpgate gateway',
    cmd: bin,
    args: ['gateway', '-config', configPath],
    cwd: dir,
    ready: /^mcpgate gateway: listening on 127\.0\.0\.1:(\d+) \(plain\)$/,
    timeoutMs: 15000,
  }).catch((e) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n--- config ${configPath} ---\n${yaml}`);
  });
  const port = Number(match[1]);
  proc.exitPromise.then(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { proc, port, origin: `http://127.0.0.1:${port}`, configPath, dir };
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
