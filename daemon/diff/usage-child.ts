/**
 * The usage child: `node usage-child.js`, kept by the daemon to measure snapshots (usage.ts).
 * Each line on stdin is a directory (JSON string); for each it writes one JSON line on stdout,
 * {size, inodes} or {error, code}. stdin's end makes it exit.
 *
 * It reads each directory as its root (compare.ts Tree: chroot before every access), so a
 * running container that swaps a directory for a symlink leads the walk nowhere outside it. The
 * walk only lstat()s and lists directories (opened O_DIRECTORY), so no device node or FIFO is
 * ever opened and no mount is needed. Between measures it goes back to the real root through a
 * descriptor opened at start, which nothing inside a measured tree can name.
 */
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { BerthError } from '../../core/errors.ts';
import * as native from '../../native/index.ts';
import { type CompareFailure, Tree } from './compare.ts';
import { walkUsage } from './usage.ts';

native.native();
const host = new Tree(fs.openSync('/', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  let answer: object;
  try {
    const tree = host.openTree(JSON.parse(line) as string);
    try {
      answer = walkUsage(tree);
    } finally {
      tree.close();
    }
  } catch (err) {
    answer = (
      err instanceof BerthError ? { error: err.message, code: err.code } : { error: `usage: ${(err as Error).message}`, code: 'Unknown' }
    ) satisfies CompareFailure;
  }
  fs.writeSync(1, `${JSON.stringify(answer)}\n`);
}
