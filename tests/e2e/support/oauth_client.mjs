// The official TypeScript SDK's OAuth client flow (authorization code + PKCE S256, dynamic
// client registration, RFC 8707 resource, RFC 9728 discovery), run headlessly: the
// "browser" is fetch following the authorization URL's redirects with a cookie jar until the
// authorization server redirects to the client's callback with a `code`. The provider in
// support/oidc.mjs logs in and consents by itself, so no page is ever rendered.
import crypto from 'node:crypto';
import { Agent, fetch as undiciFetch } from 'undici';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CLIENT_INFO, connect } from './mcp.mjs';

export const REDIRECT_URL = 'http://127.0.0.1/callback';

/**
 * A fetch that trusts `caPem` (the test CA) besides nothing else, and records every request
 * ({ method, url, status }) in `log`. Returns { fetch, agent, log }.
 */
export function trustingFetch(caPem) {
  const agent = new Agent({ connect: { ca: caPem } });
  const log = [];
  const f = async (url, init = {}) => {
    const res = await undiciFetch(url, { ...init, dispatcher: agent });
    log.push({ method: init.method || 'GET', url: String(url), status: res.status });
    return res;
  };
  return { fetch: f, agent, log };
}

/** Cookies per (name, path) for one origin; enough for an authorization server's interaction cookies. */
class CookieJar {
  constructor() { this.cookies = new Map(); }

  store(url, setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cookiePath = '/';
      let gone = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.toLowerCase();
        if (key === 'path') cookiePath = v || '/';
        if (key === 'max-age' && Number(v) <= 0) gone = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) gone = true;
      }
      const id = `${new URL(url).origin} ${cookiePath} ${name}`;
      if (gone) this.cookies.delete(id);
      else this.cookies.set(id, { origin: new URL(url).origin, path: cookiePath, name, value });
    }
  }

  header(url) {
    const u = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => c.origin === u.origin && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

/**
 * Plays the user agent: GETs `authorizationUrl` and follows redirects by hand (cookies kept)
 * until one points at `redirectUrl`. Returns the callback's { code, state }, throws on an
 * `error` there or on any page that is not a redirect.
 */
export async function followAuthorization(authorizationUrl, { fetch: fetchFn, redirectUrl = REDIRECT_URL, maxHops = 20 }) {
  const jar = new CookieJar();
  const callback = new URL(redirectUrl);
  let url = new URL(authorizationUrl);
  const hops = [];
  for (let i = 0; i < maxHops; i++) {
    if (url.origin === callback.origin && url.pathname === callback.pathname) {
      const p = url.searchParams;
      if (p.get('error')) throw new Error(`authorization failed: ${p.get('error')}: ${p.get('error_description')} (hops: ${hops.join(' -> ')})`);
      return { code: p.get('code'), state: p.get('state'), iss: p.get('iss'), hops };
    }
    hops.push(`${url.pathname}`);
    const cookie = jar.header(url);
    const res = await fetchFn(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    jar.store(url, res.headers.getSetCookie());
    const location = res.headers.get('location');
    const body = await res.text();
    if (res.status < 300 || res.status > 399 || !location) {
      throw new Error(`authorization stopped at ${url} with HTTP ${res.status} (hops: ${hops.join(' -> ')}):\n${body.slice(0, 2000)}`);
    }
    url = new URL(location, url);
  }
  throw new Error(`authorization: more than ${maxHops} redirects (${hops.join(' -> ')})`);
}

/**
 * An in-memory OAuthClientProvider for the SDK: a public client (token_endpoint_auth_method
 * `none`) registered dynamically, whose redirectToAuthorization() runs the whole
 * authorization headlessly and keeps the code (`authorizationCode`) for finishAuth().
 */
export class HeadlessOAuthClientProvider {
  constructor({ fetch: fetchFn, scope, clientName = 'mcpgate-e2e-oauth' }) {
    this._fetch = fetchFn;
    this._clientMetadata = {
      client_name: clientName,
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(scope ? { scope } : {}),
    };
    this._state = undefined;
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this.authorizationUrl = undefined;  // what the SDK asked us to open
    this.authorizationCode = undefined;
    this.callback = undefined;          // { code, state, iss, hops }
    this.savedTokens = [];              // every saveTokens() call, in order
  }

  get redirectUrl() { return REDIRECT_URL; }
  get clientMetadata() { return this._clientMetadata; }
  state() { this._state = crypto.randomBytes(16).toString('base64url'); return this._state; }
  clientInformation() { return this._clientInformation; }
  saveClientInformation(info) { this._clientInformation = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; this.savedTokens.push(tokens); }
  saveCodeVerifier(v) { this._codeVerifier = v; }
  codeVerifier() {
    if (!this._codeVerifier) throw new Error('no code verifier saved');
    return this._codeVerifier;
  }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
  }

  async redirectToAuthorization(url) {
    this.authorizationUrl = new URL(url);
    this.callback = await followAuthorization(url, { fetch: this._fetch, redirectUrl: REDIRECT_URL });
    if (this.callback.state !== this._state) throw new Error(`state mismatch: sent ${this._state}, got ${this.callback.state}`);
    this.authorizationCode = this.callback.code;
  }
}

/**
 * Connects the SDK client to `serverUrl` the way an application does: the first connect
 * gets 401, the SDK discovers the resource's metadata and the authorization server,
 * registers, and "redirects" (headless here), the connect fails with UnauthorizedError,
 * the application hands the code to transport.finishAuth() (= auth(provider, { serverUrl,
 * authorizationCode, ... })), and connects again, now with a token.
 * Returns the session of support/mcp.mjs connect() plus { provider }.
 */
export async function connectWithOAuth({ serverUrl, fetch: fetchFn, scope, connectOptions = {} }) {
  const provider = new HeadlessOAuthClientProvider({ fetch: fetchFn, scope });
  const transportOptions = { authProvider: provider, fetch: fetchFn };
  // First attempt: its transport keeps the resource_metadata URL of the 401 for finishAuth().
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), transportOptions);
  const client = new Client(CLIENT_INFO);
  const refused = await client.connect(transport).then(() => undefined, (e) => e);
  await client.close().catch(() => {});
  if (!refused) throw new Error(`${serverUrl} accepted a client without a token`);
  if (!(refused instanceof UnauthorizedError)) throw refused;
  if (!provider.authorizationCode) throw new Error('the SDK never asked for an authorization');
  await transport.finishAuth(provider.authorizationCode);
  const session = await connect('streamable', serverUrl, {
    ...connectOptions,
    transportOptions: { ...transportOptions, ...connectOptions.transportOptions },
  });
  return { ...session, provider };
}
