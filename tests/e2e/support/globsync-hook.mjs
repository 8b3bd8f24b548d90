// `node --import ./support/globsync-hook.mjs` — lets @modelcontextprotocol/conformance
// (built for Node >= 22) run on Node 20: its dist imports `globSync` from "fs", which
// Node 20 lacks. The resolve hook below maps the "fs" / "node:fs" import of that package
// (and only that package) to ./fs-globsync-shim.mjs, which re-exports node:fs and adds a
// small globSync. On Node >= 22 nothing is registered.
import { register } from 'node:module';
import * as fs from 'node:fs';

if (typeof fs.globSync !== 'function') {
  register('./globsync-loader.mjs', import.meta.url);
}
