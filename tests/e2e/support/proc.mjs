// Child-process helpers for the e2e suite: start a process, wait (with a deadline) for its
// "ready" line, keep its output for diagnostics, and make sure it is killed at the end —
// also when a test fails or the runner exits early.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';

// Children get SIGKILL when this process dies, even by SIGKILL (exit handlers cannot run
// then): util-linux `setpriv --pdeathsig` sets PR_SET_PDEATHSIG and execs the command.
// Node forks from its main thread, which lives as long as the process.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

const live = new Set();

function killAllSync() {
  for (const p of live) {
    try { p.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAllSync(); process.exit(128 + os.constants.signals[sig]); });
}

const MAX_LOG = 256 * 1024;

export class Proc {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.log = '';            // stdout+stderr interleaved (tail only), for diagnostics
    this.stdoutLines = [];    // every complete stdout line
    this.stderrLines = [];
    this.exited = false;
    this.exitCode = null;
    this.exitSignal = null;
    this._waiters = [];
    this.exitPromise = once(child, 'exit').then(([code, signal]) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      live.delete(this);
      for (const w of this._waiters.splice(0)) w.onExit();
    });
    for (const [stream, lines] of [[child.stdout, this.stdoutLines], [child.stderr, this.stderrLines]]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        this.log += chunk;
        if (this.log.length > MAX_LOG) this.log = this.log.slice(-MAX_LOG / 2);
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts) {
          lines.push(line);
          for (const w of this._waiters.slice()) w.onLine(line);
        }
      });
      stream.on('end', () => {
        if (partial) { lines.push(partial); partial = ''; }
      });
    }
  }

  get pid() { return this.child.pid; }

  /** Resolves with the regex match of the first line (stdout or stderr) matching `re`. */
  waitForLine(re, timeoutMs = 15000) {
    for (const line of [...this.stdoutLines, ...this.stderrLines]) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const w = {
        onLine: (line) => {
          const m = line.match(re);
          if (m) { done(); resolve(m); }
        },
        onExit: () => {
          done();
          reject(new Error(`${this.name} exited (code ${this.exitCode}, signal ${this.exitSignal}) ` +
            `before printing ${re}\n--- output ---\n${this.log}`));
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms\n--- output ---\n${this.log}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = this._waiters.indexOf(w);
        if (i >= 0) this._waiters.splice(i, 1);
      };
      if (this.exited) { w.onExit(); return; }
      this._waiters.push(w);
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 2000) {
    if (this.exited) return;
    try { this.child.kill('SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    await this.exitPromise;
    clearTimeout(t);
  }
}

/**
 * Spawns `cmd args` with piped output. If `ready` (a RegExp) is given, waits for a matching
 * line within `timeoutMs`; on failure kills the process and throws with its output.
 * Returns { proc, match }.
 */
export async function start({ name, cmd, args = [], env = {}, cwd, ready, timeoutMs = 15000 }) {
  const [file, argv] = SETPRIV && process.platform === 'linux'
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]]
    : [cmd, args];
  const child = spawn(file, argv, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new Proc(name, child);
  live.add(proc);
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new Error(`${name}: cannot start ${cmd}: ${e.message}`)));
  });
  await spawned;
  let match = null;
  if (ready) {
    try {
      match = await proc.waitForLine(ready, timeoutMs);
    } catch (e) {
      await proc.stop(500);
      throw e;
    }
  }
  return { proc, match };
}

/** Runs a command to completion with a deadline; resolves { code, signal, stdout, stderr }. */
export async function run({ name, cmd, args = [], env = {}, cwd, timeoutMs = 120000 }) {
  const { proc } = await start({ name, cmd, args, env, cwd });
  const t = setTimeout(() => { try { proc.child.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  await proc.exitPromise;
  clearTimeout(t);
  return {
    code: proc.exitCode,
    signal: proc.exitSignal,
    timedOut: proc.exitSignal === 'SIGKILL',
    stdout: proc.stdoutLines.join('\n'),
    stderr: proc.stderrLines.join('\n'),
    log: proc.log,
  };
}

export async function stopAll() {
  await Promise.all([...live].map((p) => p.stop()));
}
