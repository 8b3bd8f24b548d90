// MCP client helpers around the official TypeScript SDK.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

export const CLIENT_INFO = { name: 'mcpgate-e2e', version: '1.0.0' };

/**
 * Wraps transport.onmessage (after Client.connect installed it) so that every message the
 * client receives is recorded, in arrival order, with a monotonic timestamp (ms).
 */
export function recordInbox(transport) {
  const inbox = [];
  const orig = transport.onmessage;
  transport.onmessage = (message, extra) => {
    inbox.push({ t: performance.now(), message });
    orig?.(message, extra);
  };
  return inbox;
}

/**
 * Connects an SDK Client. kind = 'streamable' | 'sse'. Handlers (optional):
 *   { sampling(request), elicitation(request), roots(request) } register the client
 *   capabilities and request handlers before connecting. transportOptions go to the SDK
 *   transport (e.g. { fetch } to observe the HTTP requests).
 * Returns { client, transport, inbox, close }.
 */
export async function connect(kind, url, { handlers = {}, capabilities = {}, transportOptions = {} } = {}) {
  const caps = { ...capabilities };
  if (handlers.sampling) caps.sampling = {};
  if (handlers.elicitation) caps.elicitation = {};
  if (handlers.roots) caps.roots = { listChanged: true };
  const client = new Client(CLIENT_INFO, { capabilities: caps });
  const types = await import('@modelcontextprotocol/sdk/types.js');
  if (handlers.sampling) client.setRequestHandler(types.CreateMessageRequestSchema, handlers.sampling);
  if (handlers.elicitation) client.setRequestHandler(types.ElicitRequestSchema, handlers.elicitation);
  if (handlers.roots) client.setRequestHandler(types.ListRootsRequestSchema, handlers.roots);
  const transport = kind === 'sse'
    ? new SSEClientTransport(new URL(url), transportOptions)
    : new StreamableHTTPClientTransport(new URL(url), transportOptions);
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  const inbox = recordInbox(transport);
  return {
    client,
    transport,
    inbox,
    errors,
    close: async () => { try { await client.close(); } catch { /* already closed */ } },
  };
}

/** The text of the first text content item of a tool result. */
export function text(result) {
  const item = (result.content || []).find((c) => c.type === 'text');
  return item ? item.text : undefined;
}

/**
 * Calls server-everything's `trigger-long-running-operation` on a session of connect() and
 * checks on its transport-level inbox that all `steps` progress notifications arrived
 * before the result. Returns { result, progressIdx, idxResult } (indexes into the inbox).
 */
export async function longRunningWithProgress(session, { duration = 2, steps = 4 } = {}) {
  const result = await session.client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration, steps } },
    undefined,
    { onprogress: () => {}, timeout: 30000 },
  );
  assert.match(text(result), /Long running operation completed/);
  const idxResult = session.inbox.findIndex((e) => e.message.id !== undefined && e.message.result?.content &&
    text(e.message.result).includes('Long running'));
  const progressIdx = session.inbox.map((e, i) => (e.message.method === 'notifications/progress' ? i : -1)).filter((i) => i >= 0);
  assert.equal(progressIdx.length, steps);
  assert.ok(progressIdx.every((i) => i < idxResult), `progress after the result: ${progressIdx} vs ${idxResult}`);
  return { result, progressIdx, idxResult };
}

/** A deterministic printable payload of exactly `bytes` UTF-8 bytes, with some multi-byte chars. */
export function payload(bytes) {
  const unit = 'mcpgate e2e payload \u00e9\u2713\ud83d\ude80 '; // 1+2+3+4 byte chars
  const parts = [];
  let n = 0;
  for (let i = 0; n < bytes - 64; i++) {
    const piece = `${i.toString(36)}:${unit}`;
    parts.push(piece);
    n += Buffer.byteLength(piece);
  }
  parts.push('x'.repeat(bytes - n));
  return parts.join('');
}

/** Raw JSON-RPC POST (no SDK) — for status-code checks. Returns { status, headers, body, json }. */
export async function rawPost(url, message, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(message),
  });
  const body = await res.text();
  let json;
  try { json = JSON.parse(body); } catch { /* not JSON (e.g. SSE) */ }
  return { status: res.status, headers: res.headers, body, json };
}
