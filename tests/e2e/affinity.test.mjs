// Several upstreams behind one route, seen by the official TypeScript SDK client: sessions
// spread over two server-everything instances and every request of a session (POSTs, the
// GET stream, progress, DELETE) reaches the instance that created it. server-everything
// keeps sessions in memory and answers 400 for a session it does not know, so a request
// sent to the wrong instance fails the SDK call.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEverything, startGateway, accessLog } from './support/peers.mjs';
import { connect, text } from './support/mcp.mjs';

describe('session affinity across two server-everything instances, SDK client', () => {
  let one;
  let two;
  let gw;
  const clients = [];

  before(async () => {
    [one, two] = await Promise.all([startEverything('streamableHttp'), startEverything('streamableHttp')]);
    gw = await startGateway([{ path: '/mcp', upstreams: [one.origin, two.origin] }]);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.proc.stop();
    await one?.proc.stop();
    await two?.proc.stop();
  });

  it('each session stays on its instance for every call, progress stream and the session end', async () => {
    for (let i = 0; i < 4; i++) clients.push(await connect('streamable', `${gw.origin}/mcp`));
    const sessions = clients.map((c) => c.transport.sessionId);
    assert.ok(sessions.every((s) => /^mg1\./.test(s)), `session ids name their instance: ${sessions}`);
    for (const [i, c] of clients.entries()) {
      for (let k = 0; k < 3; k++) {
        assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { message: `c${i} k${k}` } })), `Echo: c${i} k${k}`);
      }
      const progress = [];
      const r = await c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 2 } },
        undefined, { onprogress: (p) => progress.push(p), timeout: 30000 });
      assert.match(text(r), /Long running operation completed/);
    }
    for (const c of clients) await c.transport.terminateSession();  // DELETE, routed like the rest

    // Access lines are flushed once a second: wait for the DELETEs to be logged.
    const deadline = Date.now() + 5000;
    const deletes = () => accessLog(gw).filter((l) => l.method === 'DELETE').length;
    while (deletes() < clients.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = accessLog(gw).filter((l) => l.mcp_session);
    const upstreamOf = new Map();
    for (const l of lines) {
      assert.equal(l.status < 300, true, `${l.method} ${l.mcp_method} answered ${l.status} (${l.reason})`);
      const seen = upstreamOf.get(l.mcp_session);
      if (seen) assert.equal(l.upstream, seen, `session ${l.mcp_session.slice(0, 20)}... moved instance`);
      else upstreamOf.set(l.mcp_session, l.upstream);
    }
    for (const s of sessions) assert.ok(upstreamOf.has(s), 'every session was logged');
    assert.deepEqual(new Set(upstreamOf.values()), new Set([one.origin, two.origin]), 'both instances took sessions');
    assert.ok(lines.some((l) => l.method === 'GET'), 'the SDK opened its GET stream through the gateway');
  });
});
