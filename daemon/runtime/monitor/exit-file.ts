// The exit file a monitor writes (atomically, before it tells anyone): `<status> <exited_at_ns>\n`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../../../core/errors.ts';

export interface ExitRecord {
  /** exit code, or 128 + the signal that killed it */
  status: number;
  /** CLOCK_REALTIME, nanoseconds since the epoch */
  exitedAt: bigint;
}

export function parseExit(text: string): ExitRecord {
  const m = /^(\d+) (\d+)\n$/.exec(text);
  if (!m) throw new BerthError('DataLoss', `malformed exit file: ${JSON.stringify(text.slice(0, 64))}`);
  return { status: Number.parseInt(m[1], 10), exitedAt: BigInt(m[2]) };
}

/** The exit of the process whose monitor writes to `dir`; undefined while it has not exited. */
export async function readExit(dir: string): Promise<ExitRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'exit'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseExit(text);
}
