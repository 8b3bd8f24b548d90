// mcpgate's own sample server (`mcpgate hello`, Streamable HTTP at /mcp, tools echo/add/slow)
// seen by the official TypeScript SDK client, DIRECT and through the GATEWAY. The tools'
// argument names are taken from their inputSchema, so this checks the server against the
// SDK (schema validity, results, progress) without hard-coding its parameter names.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { modes, startHello, startGateway } from './support/peers.mjs';
import { connect, text } from './support/mcp.mjs';

function props(tool) {
  return Object.entries(tool.inputSchema?.properties ?? {});
}

for (const mode of modes()) {
  describe(`mcpgate hello [${mode.toUpperCase()}]`, () => {
    let hello;
    let gw;
    let url;
    let c;

    before(async () => {
      hello = await startHello();
      if (mode === 'gateway') {
        gw = await startGateway([{ path: '/mcp', upstream: hello.origin }]);
        url = `${gw.origin}/mcp`;
      } else {
        url = hello.url;
      }
      c = await connect('streamable', url);
    });

    after(async () => {
      await c?.close();
      await gw?.proc.stop();
      await hello?.proc.stop();
    });

    it('initialize and tools/list (echo, add, slow) with valid input schemas', async () => {
      assert.ok(SUPPORTED_PROTOCOL_VERSIONS.includes(c.transport.protocolVersion ?? LATEST_PROTOCOL_VERSION));
      assert.ok(c.client.getServerVersion()?.name, 'serverInfo.name');
      const { tools } = await c.client.listTools();
      const names = tools.map((t) => t.name);
      for (const n of ['echo', 'add', 'slow']) assert.ok(names.includes(n), `tools/list lacks ${n}: ${names}`);
      for (const t of tools) assert.equal(t.inputSchema.type, 'object', `${t.name} inputSchema`);
    });

    it('echo and add return the expected text', async () => {
      const { tools } = await c.client.listTools();
      const echo = tools.find((t) => t.name === 'echo');
      const [[strArg]] = props(echo).filter(([, s]) => s.type === 'string');
      const r1 = await c.client.callTool({ name: 'echo', arguments: { [strArg]: 'hello \u00e9\u2713 from e2e' } });
      assert.match(text(r1) ?? '', /hello \u00e9\u2713 from e2e/);
      const add = tools.find((t) => t.name === 'add');
      const nums = props(add).filter(([, s]) => s.type === 'number' || s.type === 'integer').map(([k]) => k);
      assert.ok(nums.length >= 2, `add has two numeric arguments: ${JSON.stringify(add.inputSchema)}`);
      const r2 = await c.client.callTool({ name: 'add', arguments: { [nums[0]]: 2, [nums[1]]: 3 } });
      assert.match(JSON.stringify(r2.content), /\b5\b/);
    });

    it('slow: progress notifications before the result', async () => {
      const { tools } = await c.client.listTools();
      const slow = tools.find((t) => t.name === 'slow');
      const args = {};
      for (const [k, s] of props(slow)) {
        if (/step/i.test(k) && (s.type === 'integer' || s.type === 'number')) args[k] = 3;
      }
      const r = await c.client.callTool({ name: 'slow', arguments: args }, undefined, { onprogress: () => {}, timeout: 60000 });
      assert.notEqual(r.isError, true, JSON.stringify(r));
      const idxResult = c.inbox.findLastIndex((e) => e.message.result?.content);
      const progress = c.inbox.map((e, i) => ({ e, i })).filter(({ e }) => e.message.method === 'notifications/progress');
      assert.ok(progress.length >= 1, 'no progress notifications');
      assert.ok(progress.every(({ i }) => i < idxResult), 'progress after result');
    });
  });
}
