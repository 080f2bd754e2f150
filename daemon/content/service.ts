import type * as grpc from '@grpc/grpc-js';
import type { ContentHandlers } from '../../api/gen/containerd/services/content/v1/Content.ts';
import type { Info } from '../../api/gen/containerd/services/content/v1/Info.ts';
import type { Status } from '../../api/gen/containerd/services/content/v1/Status.ts';
import type { WriteContentRequest__Output } from '../../api/gen/containerd/services/content/v1/WriteContentRequest.ts';
import type { WriteContentResponse } from '../../api/gen/containerd/services/content/v1/WriteContentResponse.ts';
import { Content } from '../../api/services.ts';
import { BerthError, invalidArgument, outOfRange } from '../../core/errors.ts';
import { batches, drained, empty, failStream, leaseOf, namespaceOf, serverStream, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { ContentInfo, ContentStore, IngestStatus, Writer } from './store.ts';

const toInfo = (i: ContentInfo): Info => ({
  digest: i.digest,
  size: i.size,
  created_at: timestamp(i.createdAt),
  updated_at: timestamp(i.updatedAt),
  labels: i.labels,
});

const toStatus = (s: IngestStatus): Status => ({
  ref: s.ref,
  offset: s.offset,
  total: s.total,
  expected: s.expected,
  started_at: timestamp(s.startedAt),
  updated_at: timestamp(s.updatedAt),
});

/** containerd.services.content.v1.Content over the content store. */
export function contentService(store: ContentStore): GrpcService {
  const handlers: ContentHandlers = {
    Info: unary(async (req, call) => ({ info: toInfo(await store.info(namespaceOf(call), req.digest)) })),
    Update: unary(async (req, call) => {
      if (!req.info) throw invalidArgument('info is required');
      const info = await store.update(namespaceOf(call), req.info.digest, req.info.labels, req.update_mask?.paths ?? []);
      return { info: toInfo(info) };
    }),
    List: serverStream(async function* (req, call) {
      const infos = await store.list(namespaceOf(call), req.filters);
      for (const batch of batches(infos)) yield { info: batch.map(toInfo) };
    }),
    Delete: unary(async (req, call) => {
      await store.delete(namespaceOf(call), req.digest);
      return empty;
    }),
    Read: serverStream(async function* (req, call) {
      if (req.offset < 0) throw outOfRange(`negative read offset ${req.offset}`);
      yield* store.read(namespaceOf(call), req.digest, req.offset, req.size);
    }),
    Status: unary(async (req, call) => ({ status: toStatus(await store.status(namespaceOf(call), req.ref)) })),
    ListStatuses: unary(async (req, call) => ({ statuses: (await store.listStatuses(namespaceOf(call), req.filters)).map(toStatus) })),
    Abort: unary(async (req, call) => {
      await store.abort(namespaceOf(call), req.ref);
      return empty;
    }),
    Write: (call) => {
      handleWrite(store, call).catch((err) => failStream(call, err));
    },
  };
  return {
    register(server) {
      server.addService(Content, handlers);
    },
  };
}

/**
 * The Write stream, exactly one response per request: STAT reports, WRITE appends at the
 * current offset (offset 0 on a non-empty ingest starts over), COMMIT verifies and stores.
 * The first request names the ref; a blob already in the namespace ends the stream with
 * AlreadyExists before any response.
 */
async function handleWrite(store: ContentStore, call: grpc.ServerDuplexStream<WriteContentRequest__Output, WriteContentResponse>) {
  const ns = namespaceOf(call);
  const requests = call[Symbol.asyncIterator]() as AsyncIterator<WriteContentRequest__Output>;
  let next = await requests.next();
  if (next.done) return;
  let req = next.value;
  if (!req.ref) throw invalidArgument('first message must have a reference');
  let total = req.total;
  let expected = req.expected;
  const writer: Writer = await store.writer(ns, { ref: req.ref, total, expected, lease: leaseOf(call) });
  try {
    for (;;) {
      const status = writer.status();
      const res: WriteContentResponse = { action: req.action, offset: status.offset };
      if (req.expected) {
        expected = req.expected;
        const present = await store.info(ns, expected).catch(() => undefined);
        if (present) {
          await writer.close();
          await store.abort(ns, req.ref).catch(() => undefined);
          throw new BerthError('AlreadyExists', `blob with expected digest ${expected} exists`);
        }
      }
      if (req.total > 0) total = req.total;
      switch (req.action) {
        case 'STAT':
          res.digest = writer.digest();
          res.started_at = timestamp(status.startedAt);
          res.updated_at = timestamp(status.updatedAt);
          res.total = total;
          break;
        case 'WRITE':
        case 'COMMIT': {
          if (req.offset > 0 && req.offset !== status.offset) {
            throw outOfRange(`write @${req.offset} must occur at current offset ${status.offset}`);
          }
          if (req.offset === 0 && status.offset > 0) {
            await writer.truncate();
            res.offset = 0;
          }
          if (req.data.length > 0) {
            await writer.write(req.data);
            res.offset = writer.offset;
          }
          if (req.action === 'COMMIT') await writer.commit(total, expected, req.labels);
          res.digest = writer.digest();
          break;
        }
        default:
          throw invalidArgument(`unknown write action ${String(req.action)}`);
      }
      if (!call.write(res)) await drained(call);
      if (call.cancelled || call.destroyed) return;
      if (req.action === 'COMMIT') break;
      next = await requests.next();
      if (next.done) break;
      req = next.value;
    }
    call.end();
  } finally {
    await writer.close();
  }
}
