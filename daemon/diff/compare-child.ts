/**
 * The diff child: `node compare-child.js '<CompareOptions as JSON>'`, started by the daemon for
 * each Diff (compare.ts diffStream). It writes the uncompressed tar of the change on stdout and
 * exits 0; on failure it writes one JSON line {error, code} on fd 3 and exits 1.
 *
 * The trees may belong to a running container that renames its files while they are read, so
 * the child reads them where nothing in them leads elsewhere. In a mount namespace of its own
 * (its mounts go away with it), it binds each tree onto itself read-only, nodev, nosuid and
 * noexec: a device node swapped in for a file is never opened. Then it reads each tree as its
 * root (compare.ts Tree): a symlink swapped in for a directory, absolute or `..`, resolves inside
 * the tree. Everything it loads is loaded before the first chroot.
 */

import { once } from 'node:events';
import * as fs from 'node:fs';
import { BerthError } from '../../core/errors.ts';
import * as native from '../../native/index.ts';
import { type CompareFailure, type CompareOptions, confineTree, privateMountNamespace, walkDiff } from './compare.ts';

const reportFd = 3;

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '') as CompareOptions;
  native.native();
  privateMountNamespace();
  const upper = confineTree(opts.upper);
  const lower = opts.mode === 'trees' && opts.lower !== undefined ? confineTree(opts.lower) : undefined;
  for await (const chunk of walkDiff(opts.mode, upper, lower)) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
  await new Promise<void>((resolve, reject) => process.stdout.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

main().then(
  () => process.exit(0),
  (err) => {
    const failure: CompareFailure =
      err instanceof BerthError ? { error: err.message, code: err.code } : { error: `diff: ${(err as Error).message}`, code: 'Unknown' };
    fs.writeSync(reportFd, `${JSON.stringify(failure)}\n`);
    process.exit(1);
  },
);
