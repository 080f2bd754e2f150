import { Readable } from 'node:stream';
import type { OciDescriptor } from '../../core/oci/image.ts';
import type { PushSource } from '../../core/registry/push.ts';
import type { BerthClient } from '../../transport/client.ts';

const isNotFound = (err: unknown) => (err as { code?: string }).code === 'NotFound';

/**
 * A PushSource over a daemon's content service (Content.Info and Content.Read streams), the way
 * ctr pushes: the registry traffic stays in the client, the daemon only serves content.
 */
export function contentServiceSource(c: BerthClient): PushSource {
  const stream = (d: OciDescriptor, offset: number, size: number) => c.content.Read({ digest: d.digest, offset, size }, { deadline: false });
  return {
    async read(d) {
      const parts: Buffer[] = [];
      try {
        for await (const msg of stream(d, 0, Math.max(d.size, 1))) parts.push(msg.data);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      return Buffer.concat(parts);
    },
    async labels(d) {
      try {
        const res = await c.content.Info({ digest: d.digest });
        return res.info?.labels ?? {};
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    open(d, start, end) {
      if (end <= start) return Buffer.alloc(0);
      return Readable.from(
        (async function* () {
          for await (const msg of stream(d, start, end - start)) yield msg.data;
        })(),
        { objectMode: false },
      );
    },
  };
}
