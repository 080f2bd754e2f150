/**
 * The usage child: `node usage-child.js <dir>`, started by the daemon for each measure of a
 * snapshot (usage.ts treeUsage). It writes {size, inodes} as JSON on stdout and exits 0; on
 * failure it writes one JSON line {error, code} on fd 3 and exits 1. It confines the tree as
 * the diff child does (compare-child.ts) and reads it as its root.
 */
import * as fs from 'node:fs';
import * as native from '../../native/index.ts';
import { BerthError } from '../../proto/errors.ts';
import { confineTree, privateMountNamespace, type CompareFailure } from './compare.ts';
import { walkUsage } from './usage.ts';

const reportFd = 3;

try {
  native.native();
  privateMountNamespace();
  const usage = walkUsage(confineTree(process.argv[2] ?? ''));
  fs.writeSync(1, JSON.stringify(usage));
  process.exit(0);
} catch (err) {
  const failure: CompareFailure = err instanceof BerthError ? { error: err.message, code: err.code } : { error: `usage: ${(err as Error).message}`, code: 'Unknown' };
  fs.writeSync(reportFd, `${JSON.stringify(failure)}\n`);
  process.exit(1);
}
