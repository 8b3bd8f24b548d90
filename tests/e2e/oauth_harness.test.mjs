// Self-check of the OAuth test harness, no gateway: oidc-provider (support/oidc.mjs) and
// the SDK client's OAuth flow (support/oauth_client.mjs) against a minimal MCP resource
// server in this process (RFC 9728 metadata, 401 with resource_metadata, JWT checked with
// jose against the provider's JWKS, the SDK's StreamableHTTPServerTransport behind it).
// oauth.test.mjs runs the same flow and token corpus through mcpgate; this file shows the
// harness itself is right: the flow completes against a reference resource server, every
// "bad" token of the corpus is refused by it and the "good" one accepted.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import * as jose from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { tmpDir } from './support/peers.mjs';
import { makeLoopbackCertificates, startOidcProvider, tokenCorpus } from './support/oidc.mjs';
import { connectWithOAuth, trustingFetch } from './support/oauth_client.mjs';
import { text } from './support/mcp.mjs';

const SCOPE = 'mcp:tools';

/**
 * A minimal MCP resource server over HTTPS on 127.0.0.1:0, public URL https://localhost:PORT/mcp.
 * Every verified request gets a fresh stateless McpServer with one tool, `whoami`.
 */
async function startResourceServer({ certPem, keyPem, issuer, caFetch }) {
  let resource;
  let metadataUrl;
  let jwks;
  const seen = [];  // { authorization, status } per /mcp request
  const challenge = (res, status, params = '') => {
    res.writeHead(status, {
      'www-authenticate': `Bearer resource_metadata="${metadataUrl}"${params}`,
      'content-type': 'application/json',
    });
    res.end(JSON.stringify({ error: status === 403 ? 'insufficient_scope' : 'invalid_token' }));
  };
  const server = https.createServer({ cert: certPem, key: keyPem }, async (req, res) => {
    const url = new URL(req.url, resource);
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: [SCOPE], bearer_methods_supported: ['header'] }));
      return;
    }
    if (url.pathname !== '/mcp') { res.writeHead(404); res.end(); return; }
    const rec = { method: req.method, authorization: req.headers.authorization };
    seen.push(rec);
    if (url.searchParams.has('access_token')) {
      rec.status = 400;
      res.writeHead(400, { 'www-authenticate': 'Bearer error="invalid_request"' });
      res.end();
      return;
    }
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    if (!m) { rec.status = 401; challenge(res, 401, `, scope="${SCOPE}"`); return; }
    let claims;
    try {
      jwks ??= jose.createRemoteJWKSet(new URL((await discover()).jwks_uri), { [jose.customFetch]: caFetch });
      ({ payload: claims } = await jose.jwtVerify(m[1], jwks, {
        issuer, audience: resource, algorithms: ['ES256', 'RS256'], typ: 'at+jwt', requiredClaims: ['exp', 'sub'],
      }));
    } catch (e) {
      rec.status = 401;
      rec.detail = e.claim ? `${e.code}:${e.claim}` : (e.code || e.message);
      challenge(res, 401, ', error="invalid_token"');
      return;
    }
    if (!String(claims.scope || '').split(' ').includes(SCOPE)) {
      rec.status = 403;
      challenge(res, 403, `, error="insufficient_scope", scope="${SCOPE}"`);
      return;
    }
    rec.status = 200;
    const mcp = new McpServer({ name: 'oauth-harness-resource', version: '1.0.0' });
    mcp.registerTool('whoami', { description: 'the caller the resource server verified' }, async (extra) => ({
      content: [{ type: 'text', text: JSON.stringify({ sub: extra.authInfo?.extra?.sub, scopes: extra.authInfo?.scopes }) }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: false });
    res.on('close', () => { transport.close(); mcp.close(); });
    req.auth = { token: m[1], clientId: claims.client_id, scopes: String(claims.scope).split(' '), expiresAt: claims.exp, extra: { sub: claims.sub } };
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
  const discover = async () => (await caFetch(`${issuer}/.well-known/openid-configuration`)).json();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  resource = `https://localhost:${port}/mcp`;
  metadataUrl = `https://localhost:${port}/.well-known/oauth-protected-resource/mcp`;
  return {
    resource,
    metadataUrl,
    seen,
    close: () => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }),
  };
}

describe('OAuth harness: oidc-provider + SDK client OAuth flow + a reference resource server (no gateway)', () => {
  let dir;
  let op;
  let rs;
  let client;  // { fetch, agent, log }
  let session;

  before(async () => {
    dir = tmpDir('mcpgate-e2e-oauth-harness-');
    const certs = await makeLoopbackCertificates(dir);
    op = await startOidcProvider({ certPem: certs.certPem, keyPem: certs.keyPem, scopes: [SCOPE] });
    client = trustingFetch(certs.caPem);
    rs = await startResourceServer({ certPem: certs.certPem, keyPem: certs.keyPem, issuer: op.issuer, caFetch: client.fetch });
    session = await connectWithOAuth({ serverUrl: rs.resource, fetch: client.fetch });
  });

  after(async () => {
    await session?.close();
    await rs?.close();
    await op?.close();
    await client?.agent.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the SDK registered a public client dynamically, once', () => {
    assert.equal(op.registrations.length, 1, JSON.stringify(op.registrations));
    const [reg] = op.registrations;
    assert.equal(reg.client_id, session.provider.clientInformation().client_id);
    assert.equal(reg.metadata.token_endpoint_auth_method, 'none');
    assert.deepEqual(reg.metadata.redirect_uris, ['http://127.0.0.1/callback']);
    assert.deepEqual(op.serverErrors, []);
  });

  it('discovery: 401 header first, then the metadata it names, then the provider\'s RFC 8414 metadata', () => {
    const urls = client.log.map((r) => `${r.method} ${r.url} ${r.status}`);
    const at = (re) => urls.findIndex((u) => re.test(u));
    const first401 = at(new RegExp(`^POST ${rs.resource} 401$`));
    const prm = at(new RegExp(`^GET ${rs.metadataUrl} 200$`));
    // oidc-provider 9 serves RFC 8414 metadata too, so the SDK never falls back to OpenID discovery.
    const asMeta = at(new RegExp(`^GET ${op.issuer}/\\.well-known/oauth-authorization-server 200$`));
    const reg = at(new RegExp(`^POST ${op.issuer}/reg 201$`));
    const authz = at(new RegExp(`^GET ${op.issuer}/auth\\?`));
    assert.ok(first401 === 0 && first401 < prm && prm < asMeta && asMeta < reg && reg < authz, urls.join('\n'));
  });

  it('authorization and token requests carry PKCE S256 and resource = the resource URL', () => {
    const authz = op.requests.find((r) => r.path === '/auth' && r.query.code_challenge);
    assert.ok(authz, JSON.stringify(op.requests.map((r) => r.path)));
    assert.equal(authz.query.code_challenge_method, 'S256');
    assert.equal(authz.query.resource, rs.resource);
    assert.equal(authz.query.scope, SCOPE);  // from the 401's scope=, not from the client metadata
    assert.equal(authz.query.redirect_uri, 'http://127.0.0.1/callback');
    const token = op.requests.find((r) => r.path === '/token' && r.status === 200);
    assert.equal(token.body.grant_type, 'authorization_code');
    assert.equal(token.body.resource, rs.resource);
    const challenge = crypto.createHash('sha256').update(token.body.code_verifier).digest('base64url');
    assert.equal(challenge, authz.query.code_challenge);
    // login and consent: two interactions, each resumed at /auth/<uid>, no page rendered
    const hops = session.provider.callback.hops.join(' ');
    assert.match(hops, /^\/auth \/interaction\/(\S+) \/auth\/\1 \/interaction\/(\S+) \/auth\/\2$/);
  });

  it('the token the client holds is a JWT for the resource, signed by a key of the provider JWKS', async () => {
    const { access_token: at, token_type: type } = session.provider.tokens();
    assert.match(type, /^bearer$/i);
    const header = jose.decodeProtectedHeader(at);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, op.keys.ES256.kid);
    const claims = jose.decodeJwt(at);
    assert.equal(claims.aud, rs.resource);
    assert.equal(claims.iss, op.issuer);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.client_id, session.provider.clientInformation().client_id);
    assert.deepEqual(String(claims.scope).split(' '), [SCOPE]);
    await jose.jwtVerify(at, await jose.importJWK(op.keys.ES256.publicJwk, 'ES256'), { issuer: op.issuer, audience: rs.resource });
  });

  it('a tool call succeeds with the identity the resource server verified', async () => {
    const names = (await session.client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(names, ['whoami']);
    const r = JSON.parse(text(await session.client.callTool({ name: 'whoami', arguments: {} })));
    assert.deepEqual(r, { sub: 'alice', scopes: [SCOPE] });
    assert.ok(rs.seen.filter((s) => s.status === 200).every((s) => s.authorization === `Bearer ${session.provider.tokens().access_token}`));
  });

  it('without a token: 401 and WWW-Authenticate naming the metadata', async () => {
    const res = await client.fetch(rs.resource, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    await res.body?.cancel();
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Bearer resource_metadata="${rs.metadataUrl}", scope="${SCOPE}"`);
    const prm = await (await client.fetch(rs.metadataUrl)).json();
    assert.equal(prm.resource, rs.resource);
    assert.deepEqual(prm.authorization_servers, [op.issuer]);
  });

  it('the token corpus: the good minted token passes, every bad one is refused as expected', async () => {
    const { good, bad } = await tokenCorpus(op, { audience: rs.resource, scope: SCOPE });
    const post = async ({ token, query }) => {
      const res = await client.fetch(query ? `${rs.resource}?${query}` : rs.resource, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      await res.body?.cancel();
      return res;
    };
    assert.equal((await post({ token: good })).status, 200);
    for (const c of bad) {
      const res = await post(c);
      assert.ok(c.expect.status.includes(res.status), `${c.name}: HTTP ${res.status}, expected ${c.expect.status}`);
      if (c.expect.error) assert.match(res.headers.get('www-authenticate') || '', new RegExp(`error="${c.expect.error}"`), c.name);
      // each token fails for the reason it was made for (an oversized one never reaches the verifier: 431)
      if (c.jose) assert.equal(rs.seen.at(-1).detail, c.jose, c.name);
    }
  });
});
