import { createHash } from 'node:crypto';
import type { OciDescriptor } from '../../core/oci/image.ts';
import type { BerthClient } from '../../transport/client.ts';
import { collect } from '../../transport/typed.ts';

export const isNotFound = (err: unknown) => (err as { code?: string }).code === 'NotFound';

/**
 * Reads blobs through the content service: the descriptor's size of bytes (as containerd's
 * ReadBlob does), or undefined when the namespace lacks them. Each blob is read once.
 */
export function blobs(c: BerthClient) {
  const cache = new Map<string, Promise<Buffer | undefined>>();
  const fetch = async (d: OciDescriptor): Promise<Buffer | undefined> => {
    try {
      const parts = await collect(c.content.Read({ digest: d.digest, offset: 0, size: Math.max(d.size, 1) }));
      return Buffer.concat(parts.map((p) => p.data));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  const read = (d: OciDescriptor) => {
    const key = `${d.digest} ${d.size}`;
    let p = cache.get(key);
    if (!p) cache.set(key, (p = fetch(d)));
    return p;
  };
  const has = async (d: OciDescriptor): Promise<boolean> =>
    c.content.Info({ digest: d.digest }).then(
      () => true,
      (err) => {
        if (isNotFound(err)) return false;
        throw err;
      },
    );
  return { read, has };
}

/**
 * A blob's bytes streamed from the content store, checked against the descriptor's digest and
 * size as they pass (a store that hands back other bytes fails the read).
 */
export async function* blobStream(c: BerthClient, d: OciDescriptor): AsyncGenerator<Buffer> {
  const [alg, hex] = d.digest.split(':');
  const hash = createHash(alg ?? 'sha256');
  let size = 0;
  for await (const msg of c.content.Read({ digest: d.digest, offset: 0, size: 0 }, { deadline: false })) {
    hash.update(msg.data);
    size += msg.data.length;
    yield msg.data;
  }
  if (size !== d.size || hash.digest('hex') !== hex)
    throw new Error(`blob ${d.digest} read back as ${size} bytes with another digest: the content store does not match its descriptor`);
}
