'use strict';
// `node --require` preload for third-party servers under test (server-everything).
//
// server-everything calls `app.listen(process.env.PORT || 3001)` without a host, i.e. on
// all interfaces, and prints the *requested* port (0 when PORT=0). This preload
//  * forces every TCP listen onto 127.0.0.1 (tests stay on loopback),
//  * honours PORT=0 (the kernel picks a free port),
//  * prints the real address once listening, on stderr:
//      mcpgate-e2e: listening on 127.0.0.1:PORT
//    and, if MCPGATE_E2E_PORT_FILE is set, writes PORT to that file,
//  * exits when the parent process disappears (no orphans if the test runner is killed),
//  * with MCPGATE_E2E_LOG_REQUESTS=1, prints every HTTP request the server receives, on stderr:
//      mcpgate-e2e: request {"method":"POST","url":"/mcp","headers":{...}}
//    (what reached the upstream: e.g. that a gateway never passed a client's token on).
const net = require('node:net');
const fs = require('node:fs');

const HOST = '127.0.0.1';
const origListen = net.Server.prototype.listen;

function isPort(v) {
  return typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v));
}

net.Server.prototype.listen = function patchedListen(...args) {
  let cb;
  if (typeof args[args.length - 1] === 'function') cb = args.pop();
  let opts;
  if (isPort(args[0])) {
    // listen(port[, host][, backlog])
    opts = { port: Number(args[0]) };
    if (typeof args[1] === 'number') opts.backlog = args[1];
    else if (typeof args[2] === 'number') opts.backlog = args[2];
  } else if (args[0] && typeof args[0] === 'object' && !('fd' in args[0]) && !('path' in args[0]) &&
             !('_handle' in args[0]) && !('handle' in args[0])) {
    // listen({port, host, ...})
    opts = { ...args[0], port: Number(args[0].port ?? 0) };
  } else if (args.length === 0) {
    opts = { port: 0 };
  }
  if (!opts) return origListen.apply(this, cb ? [...args, cb] : args); // pipe / handle: untouched
  opts.host = HOST;
  this.once('listening', () => {
    const addr = this.address();
    if (addr && typeof addr === 'object') {
      process.stderr.write(`mcpgate-e2e: listening on ${addr.address}:${addr.port}\n`);
      if (process.env.MCPGATE_E2E_PORT_FILE) {
        fs.writeFileSync(process.env.MCPGATE_E2E_PORT_FILE, String(addr.port));
      }
    }
  });
  return cb ? origListen.call(this, opts, cb) : origListen.call(this, opts);
};

if (process.env.MCPGATE_E2E_LOG_REQUESTS === '1') {
  const http = require('node:http');
  const origEmit = http.Server.prototype.emit;
  http.Server.prototype.emit = function loggedEmit(event, req, ...rest) {
    if (event === 'request') {
      process.stderr.write(`mcpgate-e2e: request ${JSON.stringify({ method: req.method, url: req.url, headers: req.headers })}\n`);
    }
    return origEmit.call(this, event, req, ...rest);
  };
}

// Parent-death watchdog: Linux has no portable PDEATHSIG from Node; poll ppid instead.
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
  try { process.kill(parent, 0); } catch { process.exit(1); }
}, 500);
timer.unref();
