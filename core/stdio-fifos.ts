import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const isFifo = (path: string) => {
  try {
    return lstatSync(path).isFIFO();
  } catch {
    return false;
  }
};

/**
 * Removes the FIFO directory of a deleted task or exec, given the paths Tasks.Get reported,
 * when it is one createFifos made: `<dir>/<32 hex>/<id>-stdin|stdout|stderr` and nothing else.
 */
export function removeFifosOf(id: string, paths: readonly string[]) {
  for (const path of paths) {
    if (!path || path.includes('://')) continue;
    const dir = dirname(path);
    if (!/^[0-9a-f]{32}$/.test(basename(dir))) continue;
    const names = new Set([`${id}-stdin`, `${id}-stdout`, `${id}-stderr`]);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    // only FIFOs: the paths come from a client, and nothing else there is ours to remove
    if (!entries.every((e) => names.has(e) && isFifo(join(dir, e)))) continue;
    for (const e of entries) unlinkSync(join(dir, e));
    rmdirSync(dir);
  }
}
