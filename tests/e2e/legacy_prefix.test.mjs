// Legacy HTTP+SSE transport (protocol 2024-11-05) mounted under a path prefix: the SDK's
// SSEClientTransport talks to GATEWAY/everything/sse; the route (`strip_path: true`)
// forwards /sse and /message?sessionId=... to server-everything in `sse` mode, and
// rewrites the stream's `endpoint` event so that the client posts through the prefix.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { modes, startEverything, startGateway, accessLog } from './support/peers.mjs';
import { connect, text } from './support/mcp.mjs';

/** The first `endpoint` event's data of an SSE response (or undefined after timeoutMs). */
async function endpointEvent(res, timeoutMs = 5000) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const deadline = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const lines = buf.slice(0, i).split(/\r?\n/);
        buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
        if (lines.includes('event: endpoint')) {
          return lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => {});
  }
}

describe('legacy SSE transport under a stripped prefix [GATEWAY]', { skip: !modes().includes('gateway') }, () => {
  let upstream;
  let gw;
  const clients = [];

  before(async () => {
    upstream = await startEverything('sse');
    gw = await startGateway([{ path: '/everything', upstream: upstream.origin, extra: 'strip_path: true' }]);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.proc.stop();
    await upstream?.proc.stop();
  });

  it('GET /everything/sse: the endpoint event points back through the prefix', async () => {
    const res = await fetch(`${gw.origin}/everything/sse`, { headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = await endpointEvent(res);
    assert.ok(data, 'no endpoint event received');
    const endpoint = new URL(data, `${gw.origin}/everything/sse`);
    assert.equal(endpoint.origin, gw.origin);
    assert.equal(endpoint.pathname, '/everything/message');
    assert.match(endpoint.searchParams.get('sessionId') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('SSEClientTransport through the prefix: initialize, tools/list, echo', async () => {
    const c = await connect('sse', `${gw.origin}/everything/sse`);
    clients.push(c);
    assert.equal(c.client.getServerVersion().name, 'mcp-servers/everything');
    const { tools } = await c.client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'), tools.map((t) => t.name).join(', '));
    assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { message: 'under a prefix' } })),
      'Echo: under a prefix');
    assert.deepEqual(c.errors, []);
  });

  it('progress notifications come through the rewritten stream before the result', async () => {
    const c = await connect('sse', `${gw.origin}/everything/sse`);
    clients.push(c);
    const r = await c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined, { onprogress: () => {}, timeout: 30000 });
    assert.match(text(r), /Long running operation completed/);
    const progress = c.inbox.filter((e) => e.message.method === 'notifications/progress');
    const resultAt = c.inbox.findIndex((e) => e.message.result?.content);
    assert.equal(progress.length, 2);
    assert.ok(c.inbox.findLastIndex((e) => e.message.method === 'notifications/progress') < resultAt);
    assert.ok(progress[1].t - progress[0].t > 250, 'progress notifications arrived together (buffered?)');
  });

  it('the gateway logged the prefixed paths and is still running', async () => {
    assert.equal(gw.proc.exited, false, `gateway exited (code ${gw.proc.exitCode})\n${gw.proc.log}`);
    // A stream's line is written when it ends: the raw GET above was cancelled by the client,
    // which the gateway notices on its own schedule.
    const deadline = Date.now() + 5000;
    let paths = [];
    for (;;) {
      paths = accessLog(gw).map((l) => l.path);
      if (paths.includes('/everything/sse') && paths.includes('/everything/message')) break;
      assert.ok(Date.now() < deadline, `access log paths: ${paths.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
