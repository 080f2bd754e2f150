import { createHash, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';
import { parseDigest } from '../digest.ts';
import { BerthError } from '../errors.ts';

/**
 * A pass-through that hashes what flows and fails at the end, before the consumer sees a clean
 * end, when the bytes are not the expected digest and size. For callers that do not write into
 * the content store (which verifies on commit by itself). `hash` may carry bytes hashed earlier
 * (a resumed download), with `already` their count.
 */
export function verifyDigest(expected: { digest: string; size: number }, opts: { hash?: Hash; already?: number } = {}): Transform {
  const { algorithm } = parseDigest(expected.digest);
  const hash = opts.hash ?? createHash(algorithm);
  let n = opts.already ?? 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      if (expected.size >= 0 && n > expected.size)
        return done(new BerthError('DataLoss', `size mismatch for ${expected.digest}: more than ${expected.size} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (expected.size >= 0 && n !== expected.size)
        return done(new BerthError('DataLoss', `size mismatch for ${expected.digest}: got ${n} of ${expected.size} bytes`));
      const got = `${algorithm}:${hash.digest('hex')}`;
      if (got !== expected.digest) return done(new BerthError('DataLoss', `digest mismatch for ${expected.digest}: got ${got}`));
      done();
    },
  });
}
