// Regenerates the TypeScript types in api/gen from every .proto under api/proto/, and
// api/services.ts: one typed constant per service (see api/service.ts).
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

// Constants named after their service, but for these, whose short names another service has.
const constantNames: Record<string, string> = {
  'containerd.task.v2.Task': 'TaskV2',
  'containerd.services.events.ttrpc.v1.Events': 'TtrpcEvents',
  'berth.services.events.v1.Events': 'BerthEvents',
};

const methodKind = (m: { requestStream?: boolean; responseStream?: boolean }) =>
  m.requestStream ? (m.responseStream ? 'bidi' : 'client') : m.responseStream ? 'server' : 'unary';

/** api/services.ts: for every service, its folder, full name and the kind of each method, typed with the generated types. */
async function servicesModule(): Promise<string> {
  const protobuf = (await import('protobufjs')).default;
  const { loadDirRoot } = await import('./compile.ts');
  const imports: string[] = [];
  const constants: string[] = [];
  const taken = new Set<string>();
  for (const dir of [...new Set(files.map((f) => dirname(f)))].sort()) {
    const services: protobuf.Service[] = [];
    const walk = (ns: protobuf.NamespaceBase) => {
      for (const child of ns.nestedArray) {
        if (child instanceof protobuf.Service && child.filename && dirname(relative(protoRoot, child.filename).split(sep).join('/')) === dir)
          services.push(child);
        else if (child instanceof protobuf.Namespace) walk(child);
      }
    };
    walk(loadDirRoot(dir));
    for (const service of services.sort((a, b) => (a.fullName < b.fullName ? -1 : 1))) {
      const fullName = service.fullName.slice(1);
      const constant = constantNames[fullName] ?? service.name;
      if (taken.has(constant)) throw new Error(`generate: two services would be ${constant}; name one in constantNames`);
      taken.add(constant);
      const typeFile = `./gen/${fullName.split('.').join('/')}.ts`;
      const alias = (type: string) => (constant === service.name ? `${service.name}${type}` : `${service.name}${type} as ${constant}${type}`);
      imports.push(`import type { ${alias('Definition')}, ${alias('Handlers')} } from '${typeFile}';`);
      const kinds = service.methodsArray.map((m) => `${m.name}: '${methodKind(m)}'`);
      constants.push(
        `export const ${constant} = defineService<${constant}Definition, ${constant}Handlers>()('${dir}', '${fullName}', {\n  ${kinds.join(',\n  ')},\n});`,
      );
    }
  }
  return [
    '// Generated by api/generate.ts from the services in api/proto; do not edit.',
    ...imports.sort((a, b) => (a.split("'")[1]! < b.split("'")[1]! ? -1 : 1)),
    "import { defineService } from './service.ts';",
    '',
    constants.join('\n\n'),
    '',
  ].join('\n');
}

const servicesFile = join(import.meta.dirname, 'services.ts');
writeFileSync(servicesFile, await servicesModule());
// in the layout the rest of the tree has (biome.json)
const formatted = spawnSync(join(repoRoot, 'node_modules', '.bin', 'biome'), ['format', '--write', relative(repoRoot, servicesFile)], {
  cwd: repoRoot,
  stdio: 'inherit',
});
if (formatted.status !== 0) {
  console.error('generate: biome could not format api/services.ts');
  process.exit(1);
}
console.log(`generate: services -> ${relative(repoRoot, servicesFile)}`);
