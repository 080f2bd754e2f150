import { Readable } from 'node:stream';
import { isNotFound } from '../../core/errors.ts';
import type { OciDescriptor } from '../../core/oci/descriptor.ts';
import { maxJsonBlob } from '../../core/oci/descriptor.ts';
import type { PushSource } from '../../core/registry/push.ts';
import type { ContentStore } from '../content/store.ts';

/** A PushSource over the daemon's own content store, for a push served by berthd. */
export function contentStoreSource(store: ContentStore, ns: string): PushSource {
  return {
    async read(d: OciDescriptor) {
      if (d.size > maxJsonBlob) return undefined;
      const parts: Buffer[] = [];
      try {
        for await (const { data } of store.read(ns, d.digest)) parts.push(data);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      return Buffer.concat(parts);
    },
    async labels(d: OciDescriptor) {
      try {
        return (await store.info(ns, d.digest)).labels;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    open(d: OciDescriptor, start: number, end: number) {
      if (end <= start) return Buffer.alloc(0);
      return Readable.from(
        (async function* () {
          for await (const { data } of store.read(ns, d.digest, start, end - start)) yield data;
        })(),
        { objectMode: false },
      );
    },
  };
}
