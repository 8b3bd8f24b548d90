// The admin listener's status page (src/observability/status_page.html) in a real browser:
// Debian's chromium driven by playwright-core. A Node server on 127.0.0.1:0 serves the page
// at /status and a fixture /status.json the test switches between refreshes, so every
// section, the escaping of network text, the stale indicator and the 5 s auto-refresh are
// checked against known data. A full-page screenshot goes to output/status_page.png.
// Then the same page served by a real `mcpgate gateway`'s admin listener, on its own data.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { E2E_DIR, startGatewayConfig, startHello } from './support/peers.mjs';

const CHROMIUM = '/usr/bin/chromium';
const PAGE_FILE = path.resolve(E2E_DIR, '../../src/observability/status_page.html');
const OUTPUT_DIR = path.join(E2E_DIR, 'output');
const DAY = 86400;
// The page polls every 5 s: a change must show within two periods (a slow machine).
const REFRESH_DEADLINE_MS = 12000;
const XSS_CLIENT = '<img src=x onerror="window.__xss=1">';
const XSS_ERROR = 'config.yaml:12: routes.echo.upstream: expected a URL, got <script>window.__xss=2</script>';

// The policy the admin listener is meant to send with the page: inline script and style, requests
// to its own origin only. Served here so that the page is known to work under it.
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} missing: scripts/install-deps --test installs chromium`;

/** A complete status.json as the admin listener serves it, relative to `now` (Unix seconds). */
function fullStatus(now) {
  const samples = Array.from({ length: 120 }, (_, i) => ({
    time: now - (120 - i) * 5,
    requests: 20 + Math.round(15 * Math.sin(i / 9)) + (i % 7),
    errors: i % 17 === 0 ? 3 : i % 5 === 0 ? 1 : 0,
    denied: i % 23 === 0 ? 2 : 0,
  }));
  samples[119] = { time: now - 5, requests: 42, errors: 1, denied: 0 };
  return {
    service: 'mcpgate', version: '0.1.0', mode: 'gateway',
    now: now + 0.5, started: now - (2 * DAY + 3 * 3600 + 17 * 60),
    config: {
      path: '/etc/mcpgate/config.yaml', sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      loaded: now - 3600,
      reloads: [
        { time: now - 600, ok: true, error: '' },
        { time: now - 3000, ok: false, error: XSS_ERROR },
        { time: now - 7200, ok: true, error: '' },
      ],
    },
    listeners: [{ address: '127.0.0.1:8443', protocol: 'https' }, { address: '[::1]:8080', protocol: 'http' }],
    routes: [
      { name: 'echo', match: 'mcp.example.com/mcp', kind: 'mcp',
        upstreams: [{ url: 'http://127.0.0.1:3000', healthy: true }, { url: 'http://127.0.0.1:3001', healthy: false }],
        requests: 1234, errors: 3, denied: 5 },
      { name: 'files', match: '*/files', kind: 'mcp',
        upstreams: [{ url: 'stdio:node server-filesystem.js /srv', healthy: null }], requests: 87, errors: 0, denied: 0 },
    ],
    traffic: { step_seconds: 5, samples },
    // Deliberately not newest first: the page must sort them.
    denials: [
      { time: now - 40.2, reason: 'rate_limited', client: '198.51.100.20', route: 'echo', rule: 'routes.echo.rate_limit' },
      { time: now - 10.5, reason: 'ip_not_allowed', client: XSS_CLIENT, route: 'echo', rule: 'routes.echo.allow' },
      { time: now - 300, reason: 'tool_denied', client: '2001:db8::7', route: 'files', rule: 'routes.files.tools.deny' },
    ],
    certificates: [
      { source: 'listener 127.0.0.1:8443', file: '/etc/mcpgate/tls/cert.pem', subject: 'CN=mcp.example.com',
        not_after: now + 200 * DAY + 3600, seconds_left: 200 * DAY + 3600 },
      { source: 'upstream client cert', file: '/etc/mcpgate/tls/client.pem', subject: 'CN=gateway-client',
        not_after: now + 10 * DAY + 3600, seconds_left: 10 * DAY + 3600 },
      { source: 'listener [::1]:8080', file: '/etc/mcpgate/tls/internal.pem', subject: 'CN=internal.example.com',
        not_after: now + 3 * DAY + 3600, seconds_left: 3 * DAY + 3600 },
    ],
    tunnel: null,
    auth: [],
  };
}

/**
 * Serves the real page at /status, and at /status.json `state.status` (a 503 when
 * `state.fail`) or, with `passThrough` (an origin), that origin's /status.json as it is.
 */
async function startFixtureServer({ passThrough } = {}) {
  const state = { status: {}, fail: false };
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/status') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': CSP });
      res.end(fs.readFileSync(PAGE_FILE));
    } else if (pathname === '/status.json' && passThrough) {
      fetch(`${passThrough}/status.json`).then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
        res.end(Buffer.from(await r.arrayBuffer()));
      }, (e) => { res.writeHead(502); res.end(`${e.message}\n`); });
    } else if (pathname === '/status.json' && !state.fail) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(state.status));
    } else {
      res.writeHead(pathname === '/status.json' ? 503 : 404, { 'content-type': 'text/plain' });
      res.end('unavailable\n');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, state, origin: `http://127.0.0.1:${server.address().port}` };
}

/** A request through the gateway to the route of `host`, for its counters; resolves with the status. */
function requestThrough(port, host) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/mcp', method: 'GET', headers: { host, accept: 'text/event-stream' } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.setTimeout(10000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A new page that records every request it makes, every uncaught error of its script and
 * every console error (a CSP violation is one). Returns { page, origin, requests, errors }.
 */
async function openPage(browser, url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    // The browser's own note on a failing status.json is expected in the stale test.
    const failedPoll = m.text().startsWith('Failed to load resource') && m.location().url.endsWith('/status.json');
    if (m.type() === 'error' && !failedPoll) errors.push(m.text());
  });
  const response = await page.goto(url);
  assert.equal(response.status(), 200, `GET ${url}: ${response.status()} ${await response.text()}`);
  assert.match(response.headers()['content-type'] ?? '', /^text\/html/);
  await page.locator('#main').waitFor({ state: 'visible', timeout: 10000 });
  return { page, origin: new URL(url).origin, requests, errors };
}

/** Closes the page; it had no script error and asked for nothing but /status and /status.json. */
async function closeChecked(opened) {
  if (!opened) return;  // the page did not open: that test failed already
  const { page, origin, requests, errors } = opened;
  await page.close();
  assert.deepEqual(errors, [], 'uncaught errors in the page');
  const other = requests.filter((u) => u !== `${origin}/status` && u !== `${origin}/status.json`);
  assert.deepEqual(other, [], 'the page requested something besides /status.json');
}

/** Debian's chromium (never a downloaded browser); no sandbox: CI runs as root in a container. */
const launchChromium = () => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

const cellTexts = (page, selector) => page.locator(selector).allTextContents();

describe('status page (fixture status.json)', { skip }, () => {
  let browser;
  let fixture;
  let now;
  let opened;

  before(async () => {
    browser = await launchChromium();
    fixture = await startFixtureServer();
  });
  after(async () => {
    await browser?.close();
    fixture?.server.close();
  });
  beforeEach(async () => {
    now = Math.floor(Date.now() / 1000);
    fixture.state.status = fullStatus(now);
    fixture.state.fail = false;
    opened = await openPage(browser, `${fixture.origin}/status`);
  });
  afterEach(() => closeChecked(opened));

  it('header: service, version, mode, uptime, config path, short hash, no stale indicator', async () => {
    const { page } = opened;
    assert.equal(await page.textContent('#service'), 'mcpgate');
    assert.equal(await page.textContent('#version'), '0.1.0');
    assert.equal(await page.textContent('#mode'), 'gateway');
    assert.equal(await page.textContent('#uptime'), '2d 3h');
    assert.equal(await page.textContent('#config-path'), '/etc/mcpgate/config.yaml');
    assert.equal(await page.textContent('#config-hash'), '9f86d081884c');
    assert.match(await page.textContent('#config-loaded'), /\(1h 0m ago\)$/);
    assert.equal(await page.textContent('#listeners'), '127.0.0.1:8443 https, [::1]:8080 http');
    assert.match(await page.textContent('#state-text'), /^Live · updated \d\d:\d\d:\d\d$/);
    assert.equal(await page.isVisible('#stale'), false);
  });

  it('routes table: names, match, upstream health dots, counts', async () => {
    const { page } = opened;
    assert.deepEqual(await cellTexts(page, '#routes tbody td.name'), ['echo', 'files']);
    const echo = page.locator('#routes tr[data-route="echo"]');
    assert.match(await echo.textContent(), /mcp\.example\.com\/mcp/);
    const dots = await echo.locator('.upstream').evaluateAll((ups) => ups.map((u) => [u.querySelector('.dot').className, u.textContent]));
    assert.deepEqual(dots, [['dot dot-healthy', 'http://127.0.0.1:3000'], ['dot dot-unhealthy', 'http://127.0.0.1:3001']]);
    assert.deepEqual(await echo.locator('td.num').allTextContents(), ['1,234', '3', '5']);
    assert.equal(await echo.locator('td.has-errors').textContent(), '3');
    assert.equal(await page.getAttribute('#routes tr[data-route="files"] .dot', 'class'), 'dot dot-unknown');
    assert.equal(await page.textContent('#routes-sub'), '2 routes · upstreams: 1 healthy, 1 unhealthy, 1 not checked');
  });

  it('certificates: ok / warn / critical by days left', async () => {
    const { page } = opened;
    const rows = await page.locator('#certificates tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.className, tr.dataset.daysLeft, tr.querySelector('td.days').textContent]));
    assert.deepEqual(rows, [['cert-ok', '200', '200 days'], ['cert-warn', '10', '10 days'], ['cert-critical', '3', '3 days']]);
    // Amber and red, not just a class name.
    const [warnBg, critBg, okBg] = await Promise.all(['cert-warn', 'cert-critical', 'cert-ok'].map((c) =>
      page.$eval(`#certificates tr.${c}`, (tr) => getComputedStyle(tr).backgroundColor)));
    assert.notEqual(warnBg, critBg);
    assert.equal(okBg, 'rgba(0, 0, 0, 0)');
  });

  it('an expired certificate is critical', async () => {
    const { page } = opened;
    fixture.state.status.certificates = [{ source: 'listener', subject: 'CN=old', not_after: now - 2 * DAY, seconds_left: -2 * DAY }];
    await page.waitForSelector('#certificates tr.cert-critical[data-days-left="-2"]', { timeout: REFRESH_DEADLINE_MS });
    assert.equal(await page.textContent('#certificates td.days'), 'expired');
  });

  it('reload history: ok / failed, the error text of a failed reload visible as text', async () => {
    const { page } = opened;
    const rows = page.locator('#reloads tbody tr');
    assert.equal(await rows.count(), 3);
    assert.deepEqual(await cellTexts(page, '#reloads tbody .pill'), ['ok', 'failed', 'ok']);
    const error = page.locator('#reloads tr.reload-failed .errtext');
    assert.equal(await error.textContent(), XSS_ERROR);
    assert.equal(await error.isVisible(), true);
    assert.equal(await page.locator('#reloads script').count(), 0);
  });

  it('denials newest first; a client address with markup is shown as text', async () => {
    const { page } = opened;
    assert.deepEqual(await cellTexts(page, '#denials tbody td.client'), [XSS_CLIENT, '198.51.100.20', '2001:db8::7']);
    assert.deepEqual(await cellTexts(page, '#denials tbody .pill'), ['ip_not_allowed', 'rate_limited', 'tool_denied']);
    assert.equal(await page.locator('#denials img').count(), 0);
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
  });

  it('traffic: sparklines with one point per sample and the current rate', async () => {
    const { page } = opened;
    for (const key of ['requests', 'errors', 'denied']) {
      const points = await page.getAttribute(`#spark-${key} polyline.line`, 'points');
      assert.equal(points.trim().split(/\s+/).length, 120, `${key} sparkline points`);
    }
    // The last sample: 42 requests and 1 error in a 5 s step.
    assert.equal(await page.textContent('#rate-requests'), '8.4/s');
    assert.equal(await page.textContent('#rate-errors'), '0.2/s');
    assert.equal(await page.textContent('#traffic-sub'), 'last 10m 0s · 5 s per point');
  });

  it('tunnel and OAuth sections hidden when null / empty, shown when present', async () => {
    const { page } = opened;
    assert.equal(await page.isVisible('#tunnel'), false);
    assert.equal(await page.isVisible('#auth'), false);
    fixture.state.status.tunnel = {
      connectors: [{ tunnel: 't-4f2a', remote: '198.51.100.7:40000', connected: now - 5400, streams: 3, connections: 4 }],
    };
    fixture.state.status.auth = [
      { route: 'echo', issuer: 'https://id.example.com', keys: 2, last_fetch: now - 120, error: '' },
      { route: 'files', issuer: 'https://login.example.org/tenant', keys: 0, last_fetch: now - 30,
        error: 'jwks fetch failed: connection refused' },
    ];
    await page.locator('#tunnel').waitFor({ state: 'visible', timeout: REFRESH_DEADLINE_MS });
    await page.locator('#auth').waitFor({ state: 'visible', timeout: REFRESH_DEADLINE_MS });
    assert.deepEqual(await cellTexts(page, '#tunnel thead th'), ['Tunnel', 'Remote', 'Connected', 'Connections', 'Streams']);
    assert.deepEqual(await cellTexts(page, '#tunnel tbody td.num'), ['4', '3']);
    assert.match(await page.textContent('#tunnel tbody'), /198\.51\.100\.7:40000/);
    assert.equal(await page.textContent('#auth tbody tr:nth-child(2) .errtext'), 'jwks fetch failed: connection refused');

    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'status_page.png'), fullPage: true });
    await page.setViewportSize({ width: 420, height: 900 });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'status_page_narrow.png'), fullPage: true });
  });

  it('auto-refresh: new data appears without a reload', async () => {
    const { page } = opened;
    await page.evaluate(() => { window.__sameDocument = true; });
    fixture.state.status.routes.push({ name: 'fresh-route', match: 'new.example.com/mcp', kind: 'mcp', upstreams: [], requests: 0, errors: 0 });
    await page.waitForSelector('#routes tr[data-route="fresh-route"]', { timeout: REFRESH_DEADLINE_MS });
    assert.equal(await page.evaluate(() => window.__sameDocument), true);
    // Missing fields are shown as a dash.
    assert.deepEqual(await page.locator('#routes tr[data-route="fresh-route"] td').allTextContents(),
      ['fresh-route', 'new.example.com/mcp', 'mcp', '\u2014', '0', '0', '\u2014']);
  });

  it('status.json failing: stale indicator, the last data kept; recovery clears it', async () => {
    const { page } = opened;
    fixture.state.fail = true;
    await page.locator('#stale').waitFor({ state: 'visible', timeout: REFRESH_DEADLINE_MS });
    assert.match(await page.textContent('#stale'), /^Stale: showing data from \d\d:\d\d:\d\d .*HTTP 503/);
    assert.equal(await page.textContent('#state-text'), 'Stale');
    assert.deepEqual(await cellTexts(page, '#routes tbody td.name'), ['echo', 'files']);
    assert.equal(await page.locator('#certificates tbody tr').count(), 3);
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'status_page_stale.png') });

    fixture.state.fail = false;
    await page.locator('#stale').waitFor({ state: 'hidden', timeout: REFRESH_DEADLINE_MS });
    assert.match(await page.textContent('#state-text'), /^Live/);
  });

  it('a status.json with every field missing (counters off) renders dashes and empty states', async () => {
    const { page } = opened;
    fixture.state.status = { metrics: false };
    await page.waitForFunction(() => document.querySelector('#version').textContent === '\u2014', null,
      { timeout: REFRESH_DEADLINE_MS });
    assert.equal(await page.textContent('#uptime'), '\u2014');
    assert.equal(await page.textContent('#routes .empty'), 'No routes configured.');
    assert.equal(await page.textContent('#denials .empty'), 'No denials.');
    assert.equal(await page.textContent('#traffic .empty'), 'Traffic counters are off (admin.metrics: false).');
    assert.equal(await page.isVisible('#tunnel'), false);
    assert.equal(await page.isVisible('#stale'), false);
  });
});

describe('status page (mcpgate gateway admin listener)', { skip }, () => {
  const ROUTES = ['alpha.example.test', 'beta.example.test'];
  let browser;
  let hello;
  let gw;
  let admin;
  let passThrough;
  let opened;

  before(async () => {
    browser = await launchChromium();
    hello = await startHello();
    gw = await startGatewayConfig([
      'listeners:',
      '  - { address: "127.0.0.1:0", mode: plain }',
      'admin: { listen: "127.0.0.1:0" }',
      'routes:',
      `  ${ROUTES[0]}: "${hello.origin}"`,
      `  ${ROUTES[1]}: { path: /mcp, upstream: "${hello.origin}" }`,
      'upstream:',
      '  allowed_ips: [127.0.0.0/8]',
    ].join('\n') + '\n');
    const [, port] = await gw.proc.waitForLine(/^mcpgate admin: listening on 127\.0\.0\.1:(\d+) /);
    admin = `http://127.0.0.1:${port}`;
    passThrough = await startFixtureServer({ passThrough: admin });
  });
  afterEach(() => closeChecked(opened));
  after(async () => {
    await browser?.close();
    passThrough?.server.close();
    await gw?.proc.stop();
    await hello?.proc.stop();
  });

  /** The page at `origin`/status shows the gateway's routes, config and listener, live; traffic shows up. */
  async function assertShowsGateway(origin, screenshot) {
    opened = await openPage(browser, `${origin}/status`);
    const { page } = opened;
    assert.deepEqual(await cellTexts(page, '#routes tbody td.name'), ROUTES);
    assert.equal(await page.isVisible('#stale'), false);
    assert.match(await page.textContent('#state-text'), /^Live · updated /);
    assert.equal(await page.textContent('#mode'), 'gateway');
    assert.equal(await page.textContent('#config-path'), gw.configPath);
    assert.match(await page.textContent('#config-hash'), /^[0-9a-f]{12}$/);
    assert.match(await page.textContent('#listeners'), new RegExp(`127\\.0\\.0\\.1:${gw.port}\\b`));

    // A request through the gateway shows in the route's count at a later refresh, without a reload.
    const before = Number((await page.textContent(`#routes tr[data-route="${ROUTES[0]}"] td.num`)).replace(/,/g, ''));
    await requestThrough(gw.port, ROUTES[0]);
    await page.waitForFunction(([name, was]) => {
      const cell = document.querySelector(`#routes tr[data-route="${name}"] td.num`);
      return cell && Number(cell.textContent.replace(/,/g, '')) > was;
    }, [ROUTES[0], before], { timeout: REFRESH_DEADLINE_MS });
    assert.equal(await page.isVisible('#stale'), false);
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, screenshot), fullPage: true });
  }

  it('the page on the gateway\'s own status.json: its routes, config, listener, live counts', async () => {
    await assertShowsGateway(passThrough.origin, 'status_page_gateway.png');
  });

  it('GET /status on the admin listener serves the embedded page', async () => {
    await assertShowsGateway(admin, 'status_page_gateway_direct.png');
  });
});
