import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fromGrpc } from '../proto/errors.ts';
import type { BerthClient } from '../proto/client.ts';
import type { WriteContentRequest } from '../proto/gen/containerd/services/content/v1/WriteContentRequest.ts';
import type { WriteContentResponse__Output } from '../proto/gen/containerd/services/content/v1/WriteContentResponse.ts';
import { sleep } from './setup.ts';

export const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * Ingests data through Content.Write the way containerd's Go client does: one request, then
 * its response, STAT first, WRITE chunks at increasing offsets, COMMIT with the size and
 * expected digest. Resolves with the milliseconds from the first request to the commit's
 * response (the stream's setup and close are outside that window).
 */
export async function writeBlob(
  client: BerthClient,
  data: Buffer,
  opts: { ref: string; digest: string; chunk?: number; labels?: Record<string, string> },
): Promise<number> {
  const chunk = opts.chunk ?? 1 << 20;
  const call = client.content.Write(client.metadata());
  const responses = call[Symbol.asyncIterator]() as AsyncIterator<WriteContentResponse__Output>;
  const roundTrip = async (req: WriteContentRequest) => {
    call.write(req);
    const next = await responses.next();
    if (next.done) throw new Error(`Write stream ended before answering ${req.action}`);
    return next.value;
  };
  try {
    const start = process.hrtime.bigint();
    const stat = await roundTrip({ action: 'STAT', ref: opts.ref, total: data.length, expected: opts.digest });
    if (Number(stat.offset) !== 0) throw new Error(`ingest ${opts.ref} resumed at ${stat.offset}; refs must be fresh`);
    for (let offset = 0; offset < data.length; offset += chunk) {
      const res = await roundTrip({ action: 'WRITE', ref: opts.ref, offset, data: data.subarray(offset, offset + chunk) });
      if (Number(res.offset) !== Math.min(offset + chunk, data.length)) throw new Error(`WRITE at ${offset} answered offset ${res.offset}`);
    }
    // COMMIT carries the current offset, as containerd's client sends it: offset 0 on a
    // non-empty ingest means "start over" and would truncate it.
    const commit = await roundTrip({ action: 'COMMIT', ref: opts.ref, offset: data.length, total: data.length, expected: opts.digest, labels: opts.labels });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (commit.digest !== opts.digest) throw new Error(`COMMIT answered digest ${commit.digest}, expected ${opts.digest}`);
    call.end();
    // Drain to the end so the stream closes cleanly (containerd ends it after COMMIT).
    while (!(await responses.next()).done);
    return ms;
  } catch (err) {
    call.cancel();
    throw err instanceof Error && 'code' in err && typeof err.code === 'number' ? fromGrpc(err) : err;
  }
}

/** Waits (up to timeoutMs) until a blob file is gone from disk; false if it is still there. */
export async function waitGone(path: string, timeoutMs = 15_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(20)) {
    if (!existsSync(path)) return true;
  }
  return false;
}
