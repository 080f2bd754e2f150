// Bundles the berth CLI into dist/berth/ (run by `npm run build`; bin/berth runs dist/berth/main.cjs):
//   node ctl/bundle.ts
//
// Every berth command starts a Node.js process, and loading ~90 small ES modules (ours,
// commander's, protobufjs's) took more time than the call to the daemon. The bundle is CommonJS
// (V8's compile cache, switched on by main.ts, covers every chunk but the tiny entry) split at the
// dynamic imports: a command still loads only its own modules. One eager graph measured slower.
//
// The chunks sit directly under dist/berth/, two levels below the package root like dist/api/ and
// dist/core/: modules that find files relative to themselves (api/codec.ts the descriptors,
// core/version.ts package.json, native/index.ts the addon) resolve the same paths from there.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'rolldown';

// The repository root: the nearest directory upward holding package.json (this script also gets
// compiled to dist/ctl/bundle.js, which must find the same root).
let root = import.meta.dirname;
while (!existsSync(join(root, 'package.json'))) {
  if (dirname(root) === root) throw new Error('ctl/bundle.ts: no package.json found upward');
  root = dirname(root);
}
const outDir = join(root, 'dist', 'berth');

const started = Date.now();
// chunk names carry a content hash: stale ones from an earlier build must not pile up
rmSync(outDir, { recursive: true, force: true });
const { output } = await build({
  cwd: root,
  input: { main: join(root, 'ctl', 'main.ts') },
  platform: 'node',
  logLevel: 'warn',
  // images/import.ts imports pull.ts lazily, images/index.ts eagerly: one chunk either way
  checks: { ineffectiveDynamicImport: false },
  output: {
    dir: outDir,
    format: 'cjs',
    entryFileNames: '[name].cjs',
    chunkFileNames: '[name]-[hash].cjs',
    sourcemap: true,
  },
});
console.log(`ctl/bundle.ts: ${output.length} chunks in dist/berth in ${Date.now() - started} ms`);
