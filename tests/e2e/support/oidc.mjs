// A real OpenID provider (panva's `oidc-provider`, certified) on loopback for the OAuth
// tests, plus what a resource-server test needs around it: a test CA with a certificate for
// localhost / 127.0.0.1, the provider's private signing keys (to mint tokens with any claims),
// and a corpus of tokens a resource server must refuse.
//
// The provider issues RFC 9068 JWT access tokens for an RFC 8707 resource indicator
// (`aud` = the resource, `scope` = the granted scopes), registers clients dynamically
// (RFC 7591, open: no initial access token), requires PKCE S256, and finishes login
// (account `alice`) and consent itself: no browser, no human.
//
// Issuer: https://127.0.0.1:<port>, not https://localhost:<port>. The certificate covers
// both names, but a gateway fetching the issuer's metadata and keys checks every address the
// host resolves to against its `allowed_ips`: `localhost` may resolve to ::1 too (and an IP
// literal needs no DNS at all), so the IP literal is the one issuer that works the same on
// every machine. Node's TLS client verifies an IP literal against the IP SAN (and sends no SNI,
// which the provider does not need).
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import * as jose from 'jose';
import { run } from './proc.mjs';

/**
 * A test CA (EC P-256) and a server certificate for DNS:localhost + IP:127.0.0.1 signed by
 * it, written to `dir`. Returns { ca, cert, key } (file paths) and the PEM texts
 * { caPem, certPem, keyPem }.
 */
export async function makeLoopbackCertificates(dir) {
  const file = (name) => path.join(dir, name);
  const openssl = async (args) => {
    const r = await run({ name: 'openssl', cmd: 'openssl', args, cwd: dir, timeoutMs: 60000 });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '30',
    '-subj', '/CN=mcpgate e2e oauth test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  fs.writeFileSync(file('server.ext'), [
    'subjectAltName = DNS:localhost, IP:127.0.0.1',
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
  ].join('\n') + '\n');
  await openssl(['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost']);
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('server.crt'), '-days', '30', '-extfile', file('server.ext')]);
  const read = (name) => fs.readFileSync(file(name), 'utf8');
  return {
    ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key'),
    caPem: read('ca.crt'), certPem: read('server.crt'), keyPem: read('server.key'),
  };
}

/** Private signing keys (ES256 used for access tokens, RS256 besides) with their public JWKs. */
async function makeSigningKeys() {
  const keys = {};
  for (const alg of ['ES256', 'RS256']) {
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
    const kid = `e2e-${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`;
    const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg, use: 'sig' };
    const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
    keys[alg] = { alg, kid, privateKey, publicKey, privateJwk, publicJwk, publicPem: await jose.exportSPKI(publicKey) };
  }
  return keys;
}

/**
 * Starts oidc-provider over HTTPS on 127.0.0.1, port 0.
 *   certPem, keyPem: the server certificate (must cover IP 127.0.0.1)
 *   resources(resourceIndicator) -> true to accept it (default: any https URL)
 *   scopes: the scopes a resource server grants (default ['mcp:tools'])
 *   accessTokenTtl: seconds (default 300)
 * Returns { issuer, url, port, provider, keys, requests, registrations, mintToken(), close() }:
 *   requests: every request the provider answered ({ method, path, query, body, status }),
 *   registrations: every client registered dynamically ({ client_id, metadata }).
 */
export async function startOidcProvider({ certPem, keyPem, resources = (r) => r.startsWith('https://'), scopes = ['mcp:tools'], accessTokenTtl = 300 }) {
  const { Provider, errors } = await import('oidc-provider');
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const keys = await makeSigningKeys();

  const provider = new Provider(issuer, {
    jwks: { keys: [keys.ES256.privateJwk, keys.RS256.privateJwk] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    scopes: ['openid', 'offline_access', ...scopes],
    clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
    pkce: { required: () => true },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    ttl: { AccessToken: accessTokenTtl, Interaction: 600, Session: 3600, Grant: 3600 },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without `resource`, no JWT: the client must send the resource indicator.
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (!resources(resourceIndicator)) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          return {
            scope: scopes.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  });

  const requests = [];
  const registrations = [];
  const serverErrors = [];
  provider.on('registration_create.success', (_ctx, client) => registrations.push({ client_id: client.clientId, metadata: client.metadata() }));
  provider.on('server_error', (_ctx, err) => serverErrors.push(err));

  provider.use(async (ctx, next) => {
    const rec = { method: ctx.method, path: ctx.path, query: { ...ctx.query } };
    requests.push(rec);
    await next();
    rec.status = ctx.status;
    if (ctx.oidc?.body) rec.body = { ...ctx.oidc.body };
  });

  // The headless user: any interaction logs `alice` in, then grants what the client asked
  // for (OIDC scopes, resource scopes of each resource indicator).
  provider.use(async (ctx, next) => {
    const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
    if (!m || ctx.method !== 'GET') return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: 'alice' } };
    } else if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, granted] of Object.entries(d.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, granted.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    } else {
      result = { error: 'access_denied', error_description: `unexpected prompt ${prompt.name}` };
    }
    ctx.respond = false;  // interactionFinished writes the 303 itself
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  });

  handler = provider.callback();
  const openSockets = new Set();
  server.on('connection', (s) => { openSockets.add(s); s.on('close', () => openSockets.delete(s)); });

  return {
    issuer,
    url: issuer,
    port,
    provider,
    keys,
    requests,
    registrations,
    serverErrors,
    /** A JWT access token signed by one of the provider's keys; see mintToken() below. */
    mintToken: (claims, opts) => mintToken({ issuer, keys }, claims, opts),
    close: async () => {
      await new Promise((resolve) => {
        server.close(resolve);
        for (const s of openSockets) s.destroy();
      });
    },
  };
}

/**
 * Signs an RFC 9068 access token with the provider's key for `alg` (ES256 | RS256).
 * claims: merged over { iss, sub: 'alice', client_id, iat, exp: now+300, jti }; a claim set
 * to undefined is dropped. opts.header: merged into the protected header ({ alg, kid, typ }).
 */
export async function mintToken({ issuer, keys }, claims = {}, { alg = 'ES256', header = {} } = {}) {
  const key = keys[alg];
  if (!key) throw new Error(`no ${alg} key`);
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, sub: 'alice', client_id: 'e2e-minted', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * Tokens a resource server for `audience` requiring `scope` must refuse, each
 * { name, token?, query?, expect: { status: [codes], error?, description? }, jose? }, signed
 * with `op`'s keys unless said otherwise. `good` is one that must be accepted (a sanity check of the corpus).
 */
export async function tokenCorpus(op, { audience, scope }) {
  const now = Math.floor(Date.now() / 1000);
  const good = await op.mintToken({ aud: audience, scope });
  const [h, p, s] = good.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  // expect.description: the first word of mcpgate's error_description; jose: the error code of
  // jose's jwtVerify (the reference verifier of oauth_harness.test.mjs), `code:claim` for claims.
  const invalid = (description, joseCode) => ({ expect: { status: [401], error: 'invalid_token', description }, jose: joseCode });
  const hmacWithPublicKey = await new jose.SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', kid: op.keys.RS256.kid, typ: 'at+jwt' })
    .sign(Buffer.from(op.keys.RS256.publicPem));
  const foreign = await jose.generateKeyPair('ES256');
  const unknownKid = await new jose.SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'not-in-the-jwks', typ: 'at+jwt' })
    .sign(foreign.privateKey);
  const tamperedClaims = b64url({ ...claims, sub: 'mallory' });
  const claimFailed = 'ERR_JWT_CLAIM_VALIDATION_FAILED';
  const bad = [
    { name: 'expired', token: await op.mintToken({ aud: audience, scope, iat: now - 3600, exp: now - 600 }), ...invalid('expired', 'ERR_JWT_EXPIRED:exp') },
    { name: 'nbf in the future', token: await op.mintToken({ aud: audience, scope, nbf: now + 3600 }), ...invalid('not_yet_valid', `${claimFailed}:nbf`) },
    { name: 'wrong aud', token: await op.mintToken({ aud: 'https://elsewhere.example/mcp', scope }), ...invalid('wrong_audience', `${claimFailed}:aud`) },
    { name: 'wrong iss', token: await op.mintToken({ aud: audience, scope, iss: 'https://evil.example' }), ...invalid('wrong_issuer', `${claimFailed}:iss`) },
    { name: 'alg none', token: `${b64url({ alg: 'none', typ: 'at+jwt' })}.${p}.`, ...invalid('alg_not_allowed', 'ERR_JOSE_ALG_NOT_ALLOWED') },
    { name: 'HS256 keyed with the RSA public key', token: hmacWithPublicKey, ...invalid('alg_not_allowed', 'ERR_JOSE_ALG_NOT_ALLOWED') },
    { name: 'unknown kid (a key not in the JWKS)', token: unknownKid, ...invalid('unknown_kid', 'ERR_JWKS_NO_MATCHING_KEY') },
    { name: 'tampered payload', token: `${h}.${tamperedClaims}.${s}`, ...invalid('bad_signature', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') },
    { name: 'signature of another key under a known kid', token: `${h}.${p}.${unknownKid.split('.')[2]}`, ...invalid('bad_signature', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') },
    { name: 'not a JWT', token: 'opaque-token-value', ...invalid('malformed', 'ERR_JWS_INVALID') },
    // Over both mcpgate's 16 KiB token limit and Node's 16 KiB header limit: 401 or 431.
    { name: 'oversized (20 KB)', token: await op.mintToken({ aud: audience, scope, pad: 'x'.repeat(20 * 1024) }), expect: { status: [401, 431] } },
    { name: 'missing scope', token: await op.mintToken({ aud: audience, scope: 'other:scope' }), expect: { status: [403], error: 'insufficient_scope' } },
    { name: 'token in the query string', query: `access_token=${encodeURIComponent(good)}`, expect: { status: [400], error: 'invalid_request' } },
  ];
  return { good, bad };
}
