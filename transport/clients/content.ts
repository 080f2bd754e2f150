import type { WriteContentRequest } from '../../api/gen/containerd/services/content/v1/WriteContentRequest.ts';
import type { WriteContentResponse__Output } from '../../api/gen/containerd/services/content/v1/WriteContentResponse.ts';
import { BerthError } from '../../core/errors.ts';
import type { BerthClient, CallScope } from '../client.ts';
import type { ClientCall } from '../grpc/channel.ts';

const chunkSize = 1 << 20;
const maxWritesInFlight = 4;

/**
 * One Content.Write stream, spoken the way containerd's clients do: exactly one response per
 * request, in order. send() resolves with the response to the request it sent.
 */
export class WriteSession {
  private readonly call: ClientCall<WriteContentRequest, WriteContentResponse__Output>;
  private readonly waiting: Array<{ resolve: (r: WriteContentResponse__Output) => void; reject: (e: BerthError) => void }> = [];
  private failure: BerthError | undefined;

  constructor(client: BerthClient, scope?: CallScope) {
    this.call = client.content.Write({ ...scope, deadline: false });
    this.call.onMessage = (res) => this.waiting.shift()?.resolve(res);
    this.call.onDone = (err) => {
      this.failure = err ?? new BerthError('Unavailable', 'write stream ended early');
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
    };
  }

  send(req: WriteContentRequest): Promise<WriteContentResponse__Output> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.call.write(req);
    });
  }

  end() {
    this.call.end();
  }

  cancel() {
    this.call.cancel();
  }
}

export interface WriteBlobOptions {
  ref: string;
  /** expected size in bytes (0: unknown) */
  total?: number;
  /** expected digest ('' : unknown) */
  expected?: string;
  labels?: Record<string, string>;
  /** called after each chunk with the bytes committed so far */
  progress?: (offset: number) => void;
}

export interface WriteBlobResult {
  digest: string;
  size: number;
  /** the namespace already had the blob; nothing was written */
  existed: boolean;
}

/**
 * Writes a blob into the content store: STAT (to learn where an interrupted ingest stopped),
 * WRITE in chunks of at most 1 MiB, COMMIT with the expected size and digest. A Buffer source
 * resumes from the ingest's offset; a stream source starts over from 0.
 */
export async function writeBlob(client: BerthClient, source: Buffer | AsyncIterable<Uint8Array>, opts: WriteBlobOptions): Promise<WriteBlobResult> {
  const session = new WriteSession(client);
  const total = opts.total ?? (Buffer.isBuffer(source) ? source.length : 0);
  const expected = opts.expected ?? '';
  try {
    let status: WriteContentResponse__Output;
    try {
      status = await session.send({ action: 'STAT', ref: opts.ref, total, expected });
    } catch (err) {
      if (err instanceof BerthError && err.code === 'AlreadyExists' && expected) return { digest: expected, size: total, existed: true };
      throw err;
    }
    // A Buffer can resume where an interrupted ingest of the same ref stopped; a stream cannot.
    let offset = Buffer.isBuffer(source) && status.offset <= source.length ? status.offset : 0;
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      if (Buffer.isBuffer(source)) {
        for (let at = offset; at < source.length; at += chunkSize) yield source.subarray(at, at + chunkSize);
        return;
      }
      for await (const piece of source) {
        for (let at = 0; at < piece.length; at += chunkSize) yield piece.subarray(at, at + chunkSize);
      }
    };
    // Writes are pipelined: the server answers them in order, so a few can be on the wire at
    // once (each at the offset the previous one will end at) instead of one round trip each.
    const inFlight: Array<Promise<unknown>> = [];
    for await (const data of chunks()) {
      // A write at offset 0 starts the ingest over; every later one follows on.
      const at = offset;
      offset += data.length;
      const written = session.send({ action: 'WRITE', ref: opts.ref, offset: at, data }).then((res) => {
        if (res.offset !== at + data.length) throw new BerthError('DataLoss', `write at ${at} ended at ${res.offset}, not ${at + data.length}`);
        opts.progress?.(res.offset);
      });
      written.catch(() => undefined); // a failure is rethrown where it is awaited, not left unhandled
      inFlight.push(written);
      if (inFlight.length >= maxWritesInFlight) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const done = await session.send({ action: 'COMMIT', ref: opts.ref, total, expected, offset, labels: opts.labels ?? {} });
    return { digest: done.digest, size: done.offset, existed: false };
  } catch (err) {
    if (err instanceof BerthError && err.code === 'AlreadyExists' && expected) return { digest: expected, size: total, existed: true };
    throw err;
  } finally {
    session.end();
  }
}
