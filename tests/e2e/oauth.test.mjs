// mcpgate as the OAuth 2.1 resource server of a route (MCP authorization spec), end to end:
// a real OpenID provider (oidc-provider, support/oidc.mjs) on loopback, the official SDK
// client's OAuth flow (RFC 9728 discovery from the gateway's 401, dynamic registration,
// PKCE S256, RFC 8707 resource = the gateway's URL; support/oauth_client.mjs) run headlessly,
// and server-everything behind the gateway, which has no auth of its own and must never see
// the client's token. Then a corpus of forged / wrong tokens, each refused the way the spec
// and docs/config.md say. oauth_harness.test.mjs runs the same flow and corpus against a
// reference resource server, without the gateway.
//
// GATEWAY only (the point is the gateway's behaviour; the harness test covers the peers).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import fs from 'node:fs';
import * as jose from 'jose';
import { accessLog, freePort, startEverything, startGatewayConfig, tmpDir, upstreamRequests } from './support/peers.mjs';
import { stopAll } from './support/proc.mjs';
import { longRunningWithProgress, text } from './support/mcp.mjs';
import { makeLoopbackCertificates, startOidcProvider, tokenCorpus } from './support/oidc.mjs';
import { connectWithOAuth, trustingFetch } from './support/oauth_client.mjs';

const SCOPE = 'mcp:tools';

/**
 * The gateway with one TLS listener on 127.0.0.1:<port> and route /mcp -> server-everything
 * behind `auth.oauth`. The audience names the port, so the port is chosen first; if another
 * process takes it before the gateway binds it, try another.
 */
async function startAuthGateway({ certs, issuer, upstream }) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const audience = `https://localhost:${port}/mcp`;
    const yaml = [
      'listeners:',
      `  - address: "127.0.0.1:${port}"`,
      '    mode: tls',
      `    tls: { cert_file: "${certs.cert}", key_file: "${certs.key}" }`,
      'routes:',
      '  "*":',
      '    path: /mcp',
      `    upstream: "${upstream}"`,
      '    auth:',
      '      oauth:',
      `        issuer: "${issuer}"`,
      `        audience: "${audience}"`,
      `        scopes: [${SCOPE}]`,
      `        ca_file: "${certs.ca}"`,
      '        allowed_ips: [127.0.0.1/32]',
      'upstream:',
      '  allowed_ips: [127.0.0.0/8]',
    ].join('\n') + '\n';
    try {
      const gw = await startGatewayConfig(yaml, { mode: 'tls' });
      return {
        ...gw,
        audience,
        origin: `https://localhost:${port}`,
        metadataUrl: `https://localhost:${port}/.well-known/oauth-protected-resource/mcp`,
      };
    } catch (e) {
      if (attempt >= 3 || !/in use|EADDRINUSE|bind/i.test(e.message)) throw e;
    }
  }
}

describe('OAuth resource server: SDK client through the gateway, oidc-provider, server-everything', () => {
    let dir;
    let certs;
    let op;
    let everything;
    let gw;
    let client;   // trusting fetch: { fetch, agent, log }
    let session;  // the SDK client connected through the OAuth flow

    const INITIALIZE = JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'mcpgate-e2e-raw', version: '1.0.0' } },
    });

    /** A raw initialize POST to the gateway. Returns { status, headers, body }. */
    async function post({ token, query, url = gw.audience } = {}) {
      const res = await client.fetch(query ? `${url}?${query}` : url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: INITIALIZE,
      });
      return { status: res.status, headers: res.headers, body: await res.text() };
    }

    before(async () => {
      dir = tmpDir('mcpgate-e2e-oauth-');
      certs = await makeLoopbackCertificates(dir);
      op = await startOidcProvider({ certPem: certs.certPem, keyPem: certs.keyPem, scopes: [SCOPE] });
      everything = await startEverything('streamableHttp', { env: { MCPGATE_E2E_LOG_REQUESTS: '1' } });
      gw = await startAuthGateway({ certs, issuer: op.issuer, upstream: everything.origin });
      client = trustingFetch(certs.caPem);
      session = await connectWithOAuth({ serverUrl: gw.audience, fetch: client.fetch });
    });

    after(async () => {
      await session?.close();
      await client?.agent.close();
      await op?.close();
      await stopAll();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('the SDK flow: 401 from the gateway, its metadata, registration, PKCE S256, resource = the gateway URL', () => {
      const urls = client.log.map((r) => `${r.method} ${r.url} ${r.status}`);
      assert.match(urls[0], new RegExp(`^POST ${gw.audience} 401$`), urls.join('\n'));
      assert.ok(urls.includes(`GET ${gw.metadataUrl} 200`), urls.join('\n'));
      assert.equal(op.registrations.length, 1);
      const authz = op.requests.find((r) => r.path === '/auth' && r.query.code_challenge);
      assert.equal(authz.query.code_challenge_method, 'S256');
      assert.equal(authz.query.resource, gw.audience);
      assert.equal(authz.query.scope, SCOPE);
      const token = op.requests.find((r) => r.path === '/token' && r.status === 200);
      assert.equal(token.body.resource, gw.audience);
      const claims = jose.decodeJwt(session.provider.tokens().access_token);
      assert.equal(claims.aud, gw.audience);
      assert.equal(claims.iss, op.issuer);
      assert.deepEqual(op.serverErrors, []);
    });

    it('tools/list, echo, and progress notifications before the result, with the token', async () => {
      const names = (await session.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('echo'), names.join(','));
      assert.equal(text(await session.client.callTool({ name: 'echo', arguments: { message: 'behind oauth' } })), 'Echo: behind oauth');
      await longRunningWithProgress(session, { duration: 2, steps: 4 });
      await gw.proc.waitForLine(/"path":"\/mcp".*"status":200.*"caller":"[^"]*alice/, 5000);
    });

    it('a token minted with the provider\'s RS256 key (the JWKS has EC and RSA keys) is accepted too', async () => {
      const rsa = await op.mintToken({ aud: gw.audience, scope: SCOPE }, { alg: 'RS256' });
      const r = await post({ token: rsa });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, /"serverInfo"/);
    });

    it('without a token: 401, WWW-Authenticate names the metadata and the scope', async () => {
      const r = await post();
      assert.equal(r.status, 401);
      const h = r.headers.get('www-authenticate');
      assert.match(h, /^Bearer /);
      assert.match(h, new RegExp(`resource_metadata="${gw.metadataUrl.replace(/[.]/g, '\\.')}"`));
      assert.match(h, new RegExp(`scope="${SCOPE}"`));
      assert.doesNotMatch(h, /error=/);  // no credential: no error code (RFC 6750 3.1)
    });

    it('the RFC 9728 metadata: resource = the audience, the issuer as authorization server', async () => {
      const res = await client.fetch(gw.metadataUrl);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^application\/json/);
      const prm = await res.json();
      assert.equal(prm.resource, gw.audience);
      assert.deepEqual(prm.authorization_servers, [op.issuer]);
      assert.deepEqual(prm.scopes_supported, [SCOPE]);
      assert.deepEqual(prm.bearer_methods_supported, ['header']);
    });

    it('the token corpus: every forged, expired, misdirected or misplaced token is refused', async () => {
      const { good, bad } = await tokenCorpus(op, { audience: gw.audience, scope: SCOPE });
      const ok = await post({ token: good });
      assert.equal(ok.status, 200, ok.body);
      const failures = [];
      for (const c of bad) {
        const r = await post(c);
        const h = r.headers.get('www-authenticate') || '';
        const why = [];
        if (!c.expect.status.includes(r.status)) why.push(`HTTP ${r.status}, expected ${c.expect.status.join(' or ')}`);
        if (r.status !== 431) {
          if (c.expect.error && !h.includes(`error="${c.expect.error}"`)) why.push(`no error="${c.expect.error}"`);
          if (c.expect.description && !h.includes(`error_description="${c.expect.description}"`)) {
            why.push(`no error_description="${c.expect.description}"`);
          }
          if (c.expect.error === 'insufficient_scope' && !h.includes(`scope="${SCOPE}"`)) why.push(`no scope="${SCOPE}"`);
          if (r.status === 401 && !h.includes(`resource_metadata="${gw.metadataUrl}"`)) why.push('no resource_metadata');
        }
        if (why.length) failures.push(`${c.name}: ${why.join('; ')} (WWW-Authenticate: ${h})`);
      }
      assert.deepEqual(failures, []);
      // Refusals are logged with a reason, never with the token.
      await gw.proc.waitForLine(/"reason":"auth_token_in_query"/, 5000);
      const reasons = new Set(accessLog(gw).map((l) => l.reason));
      for (const r of ['auth_missing', 'auth_invalid_token', 'auth_insufficient_scope', 'auth_token_in_query']) {
        assert.ok(reasons.has(r), `access log has no ${r}: ${[...reasons]}`);
      }
      for (const c of bad.filter((b) => b.token)) {
        assert.ok(!gw.proc.log.includes(c.token.split('.').pop() || c.token), `${c.name}: token text in the gateway output`);
      }
    });

    it('two Authorization fields: 400 invalid_request', async () => {
      const good = await op.mintToken({ aud: gw.audience, scope: SCOPE });
      const { status, headers } = await new Promise((resolve, reject) => {
        const u = new URL(gw.audience);
        const req = https.request({
          host: '127.0.0.1', port: u.port, servername: 'localhost', path: u.pathname, method: 'POST', ca: certs.caPem,
          headers: { authorization: [`Bearer ${good}`, `Bearer ${good}`], 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        }, (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode, headers: res.headers })); });
        req.on('error', reject);
        req.end(INITIALIZE);
      });
      assert.equal(status, 400);
      assert.match(headers['www-authenticate'] || '', /error="invalid_request"/);
    });

    it('server-everything never saw a client token, nor a refused request', async () => {
      await session.close();  // its GET stream is logged by the gateway when it ends
      const seen = upstreamRequests(everything);
      assert.ok(seen.length >= 5, `the upstream saw ${seen.length} requests`);
      const tokens = [session.provider.tokens().access_token];
      for (const r of seen) {
        assert.equal(r.headers.authorization, undefined, `${r.method} ${r.url} carried Authorization`);
        assert.ok(!r.url.includes('access_token'), `${r.method} ${r.url}`);
        const all = JSON.stringify(r.headers);
        for (const t of tokens) assert.ok(!all.includes(t.split('.')[2]), `${r.method} ${r.url}: the token in another header`);
      }
      // It saw exactly the requests the gateway forwarded (access lines name the upstream;
      // they are flushed every second, and the GET stream's when it ends: wait for them).
      const forwarded = () => accessLog(gw).filter((l) => l.upstream).length;
      for (let i = 0; i < 50 && forwarded() < seen.length; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, forwarded());
    });
  });
