// Access policy seen by the official TypeScript SDK client talking to server-everything
// through the gateway: what an MCP client shows when the gateway refuses a request (rate
// limit, client address rule, route body limit). The gateway answers these on MCP routes
// with a JSON-RPC error body, which the SDK puts into the error it throws.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEverything, startGateway, accessLog } from './support/peers.mjs';
import { connect } from './support/mcp.mjs';

describe('access policy through the gateway, SDK client and server-everything', () => {
  let upstream;
  const gateways = [];
  // One gateway per scenario: server-everything serves /mcp only, so each policy gets its
  // own /mcp route.
  async function gatewayWith(extra) {
    const gw = await startGateway([{ path: '/mcp', upstream: upstream.origin, extra }]);
    gateways.push(gw);
    return gw;
  }

  before(async () => {
    upstream = await startEverything('streamableHttp');
  });

  after(async () => {
    for (const gw of gateways) await gw.proc.stop();
    await upstream?.proc.stop();
  });

  it('a client over its rate limit gets 429 and the JSON-RPC reason, not a hang or a parse error', async () => {
    const gw = await gatewayWith('rate_limit: { requests: 1, per: 1h, burst: 8 }');
    const c = await connect('streamable', `${gw.origin}/mcp`);
    let failure;
    let calls = 0;
    try {
      for (; calls < 20 && !failure; calls++) {
        await c.client.callTool({ name: 'echo', arguments: { message: `call ${calls}` } }).catch((e) => { failure = e; });
      }
    } finally {
      await c.close();
    }
    assert.ok(failure, 'the burst of 8 requests never ran out in 20 calls');
    assert.equal(failure.code, 429);  // the SDK's StreamableHTTPError carries the HTTP status
    assert.match(String(failure.message), /Rate limit exceeded/);
    assert.match(String(failure.message), /"reason":"rate_limited"/);
    assert.ok(calls > 2, `refused too early (call ${calls}): initialize and a few calls fit in the burst`);
    await gw.proc.waitForLine(/"reason":"rate_limited"/, 5000);  // access lines are flushed every second
    const refused = accessLog(gw).filter((l) => l.reason === 'rate_limited');
    assert.equal(refused[0].rule, 'routes.*[0].rate_limit');
    assert.equal(refused[0].status, 429);
  });

  it('a client outside the route allow list cannot even initialize; the reason reaches the SDK', async () => {
    const gw = await gatewayWith('allow: [192.0.2.0/24]');
    await assert.rejects(connect('streamable', `${gw.origin}/mcp`), (e) => {
      assert.equal(e.code, 403);
      assert.match(String(e.message), /"reason":"ip_denied"/);
      return true;
    });
    await gw.proc.waitForLine(/"reason":"ip_denied"/, 5000);
    const denied = accessLog(gw).filter((l) => l.reason === 'ip_denied');
    assert.equal(denied[0].rule, 'routes.*[0].allow');
  });

  it('a tool call over the route body limit gets 413 while small calls pass', async () => {
    const gw = await gatewayWith('limits: { max_request_body_bytes: 1KiB }');
    const c = await connect('streamable', `${gw.origin}/mcp`);
    try {
      const ok = await c.client.callTool({ name: 'echo', arguments: { message: 'short' } });
      assert.match(JSON.stringify(ok.content), /short/);
      await assert.rejects(c.client.callTool({ name: 'echo', arguments: { message: 'x'.repeat(2048) } }), (e) => {
        assert.equal(e.code, 413);
        assert.match(String(e.message), /Request body too large/);
        return true;
      });
    } finally {
      await c.close();
    }
  });

  it('tool rules: tools/list shows only allowed tools (SSE answers filtered), a hidden tool cannot be called', async () => {
    const direct = await connect('streamable', `${upstream.origin}/mcp`);
    const all = (await direct.client.listTools()).tools.map((t) => t.name);
    await direct.close();
    assert.ok(all.includes('echo') && all.includes('get-sum') && all.length > 3, `server-everything tools: ${all}`);

    const gw = await gatewayWith('tools: { allow: [echo, "get-*"], deny: [get-tiny-image] }');
    const c = await connect('streamable', `${gw.origin}/mcp`);
    try {
      const shown = (await c.client.listTools()).tools.map((t) => t.name);
      const expected = all.filter((n) => n === 'echo' || (n.startsWith('get-') && n !== 'get-tiny-image'));
      assert.deepEqual(shown.sort(), expected.sort());
      assert.equal((await c.client.callTool({ name: 'get-sum', arguments: { a: 40, b: 2 } })).content[0].text.includes('42'), true);
      await assert.rejects(c.client.callTool({ name: 'get-tiny-image', arguments: {} }), (e) => {
        assert.equal(e.code, -32602);  // what the SDK shows for a tool the server does not have
        assert.match(String(e.message), /Unknown tool: get-tiny-image/);
        return true;
      });
    } finally {
      await c.close();
    }
    await gw.proc.waitForLine(/"mcp_method":"tools\/call".*"reason":"tool_denied"|"reason":"tool_denied".*"mcp_name":"get-tiny-image"/, 5000);
  });

  it('the audit log has one line per request with the outcome the SDK saw', async () => {
    // The audit log goes to stdout here (`audit:` without a file), beside the access log.
    const audited = await startGateway([{ path: '/mcp', upstream: upstream.origin, extra: 'tools: { deny: [get-tiny-image] }' }],
      { extraYaml: 'audit: { log_arguments: true }' });
    gateways.push(audited);
    const c = await connect('streamable', `${audited.origin}/mcp`);
    try {
      await c.client.callTool({ name: 'echo', arguments: { message: 'audited', token: 'sekrit' } });
      await assert.rejects(c.client.callTool({ name: 'get-tiny-image', arguments: {} }));
    } finally {
      await c.close();
    }
    const audit = () => accessLog(audited).filter((l) => l.type === 'audit');
    await audited.proc.waitForLine(/"type":"audit".*"name":"get-tiny-image"/, 5000);
    const lines = audit();
    const init = lines.find((l) => l.method === 'initialize');
    assert.equal(init?.outcome, 'result', JSON.stringify(lines));
    const echo = lines.find((l) => l.name === 'echo');
    assert.equal(echo.outcome, 'result');  // read from the SSE answer as it passed
    assert.equal(echo.arguments.message, 'audited');
    assert.equal(echo.arguments.token, '[redacted]');
    const denied = lines.find((l) => l.name === 'get-tiny-image');
    assert.equal(denied.outcome, 'refused');
    assert.equal(denied.reason, 'tool_denied');
    assert.equal(denied.error_code, -32602);
    assert.ok(lines.some((l) => l.method === 'notifications/initialized' && l.outcome === 'accepted'));
  });

  it('a rate limit in dry-run mode refuses nothing', async () => {
    const gw = await gatewayWith('rate_limit: { requests: 1, per: 1h, burst: 2, dry_run: true }');
    const c = await connect('streamable', `${gw.origin}/mcp`);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await c.client.callTool({ name: 'echo', arguments: { message: `free ${i}` } });
        assert.match(JSON.stringify(r.content), new RegExp(`free ${i}`));
      }
    } finally {
      await c.close();
    }
    await gw.proc.waitForLine(/rate limit would refuse \(dry run\) client=127\.0\.0\.1 rule=routes\.\*\[0\]\.rate_limit/, 5000);
    await gw.proc.waitForLine(/"path":"\/mcp".*"status":200/, 5000);
    assert.equal(accessLog(gw).filter((l) => l.status === 429).length, 0);
  });
});
