// Regenerates the TypeScript types in api/gen from every .proto under api/proto/.
// Run with `node api/generate.ts` (or `npm run gen`); any cwd works.
// `node api/generate.ts --descriptors DIR` instead writes one protobufjs JSON descriptor per
// folder of .proto files into DIR, with the functions protobufjs would generate for its messages
// (the build does it for dist/api/descriptors; see codec.ts), and an index of which to load for
// each message type.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { genTypesArgs } from './load-options.ts';

const protoRoot = join(import.meta.dirname, 'proto');
const repoRoot = join(import.meta.dirname, '..');
const genDir = join(import.meta.dirname, 'gen');
const generator = join(repoRoot, 'node_modules', '.bin', 'proto-loader-gen-types');

// Paths relative to api/proto/, with '/' separators: the same spelling the .proto files use in
// their imports, so every file is loaded exactly once.
function collect(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full === genDir || entry.name === 'node_modules') continue;
      found.push(...collect(full));
    } else if (entry.isFile() && entry.name.endsWith('.proto')) {
      found.push(relative(protoRoot, full).split(sep).join('/'));
    }
  }
  return found;
}

const files = collect(protoRoot).sort();
if (files.length === 0) {
  console.error(`generate: no .proto files under ${protoRoot}`);
  process.exit(1);
}

const at = process.argv.indexOf('--descriptors');
if (at >= 0) {
  const out = resolve(process.argv[at + 1] ?? join(repoRoot, 'dist', 'api', 'descriptors'));
  const { codegenFile, descriptorFile, typeIndexFile } = await import('./codec.ts');
  const { codegenModule, loadDirRoot, typeIndex } = await import('./compile.ts');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const dirs = [...new Set(files.map((f) => dirname(f)))];
  const descriptors = new Map<string, string>();
  for (const dir of dirs) {
    const json = JSON.stringify(loadDirRoot(dir).toJSON());
    writeFileSync(join(out, descriptorFile(dir)), json);
    writeFileSync(join(out, codegenFile(dir)), codegenModule(json));
    descriptors.set(dir, json);
  }
  writeFileSync(join(out, typeIndexFile), JSON.stringify(typeIndex(descriptors)));
  console.log(`generate: ${dirs.length} descriptors -> ${relative(repoRoot, out)}`);
  process.exit(0);
}

rmSync(genDir, { recursive: true, force: true });

// Relative -I/-O (with cwd at the repo root) keep machine paths out of the generated
// "Original file:" comments.
const args = [...genTypesArgs, '-I', relative(repoRoot, protoRoot), '-O', relative(repoRoot, genDir), ...files];
const result = spawnSync(generator, args, {
  cwd: repoRoot,
  stdio: 'inherit',
});

if (result.error) {
  console.error(`generate: could not run ${generator}: ${result.error.message}`);
  process.exit(1);
}
if (result.status !== 0) {
  console.error(`generate: proto-loader-gen-types failed (${result.signal ?? `exit ${result.status}`})`);
  process.exit(result.status || 1);
}
console.log(`generate: ${files.length} .proto files -> ${relative(repoRoot, genDir)}`);
