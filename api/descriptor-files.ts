import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: the folder above api/ in the source tree (this module is .ts), above dist/api/ when compiled. */
const packageRoot = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url));

/**
 * The JSON descriptors `npm run build` writes (see api/generate.ts --descriptors): one protobufjs
 * root per folder of .proto files, with its precompiled codec functions, and an index of which
 * folder to load for each message type. Sources (as vitest runs them) use the build's too: .proto
 * text is never parsed at run time. Read by api/codec.ts (protobufjs) and api/wire.ts.
 */
export const descriptorDir = join(packageRoot, 'dist', 'api', 'descriptors');

// containerd's Go client uses 16 MiB for both directions.
export const maxMessageSize = 16 << 20;

/** The file name of a folder's JSON descriptor, e.g. containerd_services_tasks_v1.json. */
export const descriptorFile = (relDir: string) => `${relDir.split('/').join('_')}.json`;

/** The file name of a folder's precompiled protobufjs functions (see api/compile.ts codegenModule). */
export const codegenFile = (relDir: string) => `${relDir.split('/').join('_')}.codegen.cjs`;

/** The file name of the index of which folder's descriptor to load for a message type (see api/compile.ts typeIndex). */
export const typeIndexFile = 'type-index.json';

export function readDescriptor(file: string): string {
  try {
    return readFileSync(join(descriptorDir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(`no protobuf descriptors (${join(descriptorDir, file)} is missing): run npm run build`);
    throw err;
  }
}
