// stdio MCP servers reached over HTTP: the official TypeScript SDK client talks Streamable
// HTTP to the gateway, which starts the server as a process (`upstream: stdio:...`) and
// bridges to its stdin/stdout. Real stdio servers from npm: server-everything (`stdio`
// mode) and server-filesystem on a temporary directory.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EVERYTHING_ENTRY, NODE_MODULES, startGateway, tmpDir } from './support/peers.mjs';
import { connect, text } from './support/mcp.mjs';

const FILESYSTEM_ENTRY = path.join(NODE_MODULES, '@modelcontextprotocol/server-filesystem/dist/index.js');

describe('stdio servers through the gateway, SDK client', () => {
  const gateways = [];
  const clients = [];
  let share;

  async function gateway(upstream, extra) {
    const gw = await startGateway([{ path: '/mcp', upstream, extra }]);
    gateways.push(gw);
    return gw;
  }
  async function open(gw, options) {
    const c = await connect('streamable', `${gw.origin}/mcp`, options);
    clients.push(c);
    return c;
  }

  before(() => {
    share = tmpDir('mcpgate-e2e-share-');
    fs.writeFileSync(path.join(share, 'notes.txt'), 'stdio bridge says hello\n');
    fs.mkdirSync(path.join(share, 'sub'));
  });

  after(async () => {
    for (const c of clients) await c.close();
    for (const gw of gateways) await gw.proc.stop();
    fs.rmSync(share, { recursive: true, force: true });
  });

  it('server-everything over stdio: tools, progress before the result, sampling back to the client', async () => {
    const gw = await gateway(`stdio:node ${EVERYTHING_ENTRY} stdio`);
    const sampled = [];
    const c = await open(gw, {
      handlers: {
        sampling: async (req) => {
          sampled.push(req);
          return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled over stdio' }, stopReason: 'endTurn' };
        },
      },
    });
    const { tools } = await c.client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'), 'echo listed');
    assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { message: 'over stdio' } })), 'Echo: over stdio');

    const steps = 3;
    const result = await c.client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1.5, steps } },
      undefined,
      { onprogress: () => {}, timeout: 30000 },
    );
    assert.match(text(result), /Long running operation completed/);
    const idxResult = c.inbox.findIndex((e) => /Long running operation completed/.test(e.message.result?.content?.[0]?.text ?? ''));
    const progress = c.inbox.map((e, i) => ({ e, i })).filter(({ e }) => e.message.method === 'notifications/progress');
    assert.equal(progress.length, steps, 'every progress notification, with the client\'s token put back');
    assert.ok(progress.every(({ e }) => e.message.params.progressToken === c.inbox[idxResult].message.id));
    assert.ok(progress.every(({ i }) => i < idxResult), 'progress before the result');
    const spread = progress[steps - 1].e.t - progress[0].e.t;
    assert.ok(spread > 400, `progress arrived as it happened, not bunched (${Math.round(spread)} ms apart)`);

    const r = await c.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'ping over stdio', maxTokens: 20 } },
      undefined, { timeout: 30000 });
    assert.equal(sampled.length, 1, 'the server\'s sampling request reached this client');
    assert.match(sampled[0].params.messages[0].content.text, /ping over stdio/);
    assert.match(text(r), /sampled over stdio/);
  });

  it('two clients get two processes and never see each other\'s answers', async () => {
    const gw = await gateway(`stdio:node ${EVERYTHING_ENTRY} stdio`);
    const [a, b] = await Promise.all([open(gw), open(gw)]);
    assert.notEqual(a.transport.sessionId, b.transport.sessionId);
    const t0 = performance.now();
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'echo', arguments: { message: 'from a' } }),
      b.client.callTool({ name: 'echo', arguments: { message: 'from b' } }),
    ]);
    assert.equal(text(ra), 'Echo: from a');
    assert.equal(text(rb), 'Echo: from b');
    assert.ok(performance.now() - t0 < 5000);
    // Log lines below warn are flushed once a second: wait for both with a deadline.
    const startedPids = () => new Set([...gw.proc.stdoutLines, ...gw.proc.stderrLines]
      .map((l) => l.match(/stdio server started route=\S+ pid=(\d+)/)?.[1]).filter(Boolean));
    const deadline = performance.now() + 5000;
    while (startedPids().size < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(startedPids().size, 2, `one process per session: ${[...startedPids()]}`);
  });

  it('server-filesystem on a temp dir, with write tools hidden and refused by the route', async () => {
    const gw = await gateway(`stdio:node ${FILESYSTEM_ENTRY} ${share}`,
      'tools: { deny: [write_file, edit_file, move_file, create_directory] }');
    const c = await open(gw);
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('list_directory'), `list_directory listed: ${names}`);
    assert.ok(!names.includes('write_file') && !names.includes('edit_file'), `write tools hidden: ${names}`);

    const listing = text(await c.client.callTool({ name: 'list_directory', arguments: { path: share } }));
    assert.match(listing, /\[FILE\] notes\.txt/);
    assert.match(listing, /\[DIR\] sub/);
    const readTool = names.includes('read_text_file') ? 'read_text_file' : 'read_file';
    const content = text(await c.client.callTool({ name: readTool, arguments: { path: path.join(share, 'notes.txt') } }));
    assert.match(content, /stdio bridge says hello/);

    await assert.rejects(
      c.client.callTool({ name: 'write_file', arguments: { path: path.join(share, 'evil.txt'), content: 'x' } }),
      (e) => {
        assert.equal(e.code, -32602);  // answered by the gateway, as a server without the tool would
        return true;
      },
    );
    assert.ok(!fs.existsSync(path.join(share, 'evil.txt')), 'the refused call never reached the server');
  });
});
