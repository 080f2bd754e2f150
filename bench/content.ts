import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { sleep } from './setup.ts';

export const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * Ingests a blob that the daemon does not have through Content.Write, with berth's own client
 * code (proto/content-client.ts: one request then its response, STAT, 1 MiB WRITEs, COMMIT
 * with size, digest and offset, as containerd's Go client does it). Resolves with the
 * milliseconds from the first request to the commit's response.
 */
export async function timedWrite(client: BerthClient, data: Buffer, ref: string, digest: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await writeBlob(client, data, { ref, expected: digest });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.existed) throw new Error(`${digest} already existed: the ingest measured nothing`);
  if (res.digest !== digest || res.size !== data.length)
    throw new Error(`COMMIT answered ${res.digest} (${res.size} bytes), expected ${digest} (${data.length})`);
  return ms;
}

/** Waits (up to timeoutMs) until a blob file is gone from disk; false if it is still there. */
export async function waitGone(path: string, timeoutMs = 15_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(20)) {
    if (!existsSync(path)) return true;
  }
  return false;
}
