// node:fs plus a minimal globSync(pattern | patterns, { cwd, exclude }) for Node 20.
// Supports "**", "*", "?" and literal path segments — what the conformance CLI uses
// ("**/checks.json"). Returns paths relative to cwd, like Node 22's fs.globSync.
import fs from 'node:fs';
import path from 'node:path';

export * from 'node:fs';
export default fs;

function segmentRegex(seg) {
  const re = seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`);
}

function patternRegex(pattern) {
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  let re = '^';
  parts.forEach((p, i) => {
    const last = i === parts.length - 1;
    if (p === '**') re += last ? '.*' : '(?:.*/)?';
    else re += segmentRegex(p).source.slice(1, -1) + (last ? '' : '/');
  });
  return new RegExp(re + '$');
}

export function globSync(patterns, options = {}) {
  const cwd = options.cwd ? String(options.cwd) : process.cwd();
  const regs = (Array.isArray(patterns) ? patterns : [patterns]).map(patternRegex);
  const exclude = typeof options.exclude === 'function' ? options.exclude : () => false;
  const out = [];
  const walk = (rel) => {
    let entries;
    try { entries = fs.readdirSync(path.join(cwd, rel), { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (exclude(r)) continue;
      if (regs.some((re) => re.test(r))) out.push(r);
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
