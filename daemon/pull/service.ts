import type * as grpc from '@grpc/grpc-js';
import type { PullHandlers } from '../../api/gen/berth/services/pull/v1/Pull.ts';
import type { PullProgress } from '../../api/gen/berth/services/pull/v1/PullProgress.ts';
import { Pull } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { normalizePlatform, type Platform } from '../../core/oci/image.ts';
import { namespaceOf, serverStream } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { PullEvent, Puller } from './pull.ts';

/** `os/arch[/variant]`, empty for the daemon's own. */
export function parsePlatform(s: string): Platform | undefined {
  if (s === '') return undefined;
  const [os, architecture, variant, ...rest] = s.split('/');
  if (!os || !architecture || rest.length > 0) throw invalidArgument(`invalid platform "${s}": expected os/arch[/variant]`);
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

const toMessage = (e: PullEvent): PullProgress => ({
  ref: e.ref,
  digest: e.digest,
  media_type: e.mediaType,
  status: e.status,
  offset: e.offset,
  total: e.total,
});

/**
 * Runs work that reports events through a callback as an async stream of messages, ending with
 * the message `last` makes of its result. The call's cancellation aborts the work.
 */
async function* streamed<T>(
  call: grpc.ServerWritableStream<unknown, PullProgress>,
  work: (emit: (e: PullEvent) => void, signal: AbortSignal) => Promise<T>,
  last: (r: T) => PullProgress,
) {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  const queue: PullProgress[] = [];
  let wake: (() => void) | undefined;
  let result: { ok: T } | { err: unknown } | undefined;
  work((e) => {
    queue.push(toMessage(e));
    wake?.();
  }, ac.signal)
    .then(
      (ok) => (result = { ok }),
      (err) => (result = { err }),
    )
    .finally(() => wake?.());
  for (;;) {
    while (queue.length > 0) yield queue.shift()!;
    if (result) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  if ('err' in result) throw result.err;
  yield last(result.ok);
}

/** berth.services.pull.v1.Pull: the daemon pulls (or unpacks) and streams progress events. */
export function pullService(puller: Puller): GrpcService {
  const handlers: PullHandlers = {
    Pull: serverStream((req, call) => {
      if (!req.ref) throw invalidArgument('ref is required');
      const ns = namespaceOf(call);
      return streamed(
        call,
        (progress, signal) =>
          puller.pull(ns, req.ref, {
            platform: parsePlatform(req.platform),
            allPlatforms: req.all_platforms,
            unpack: !req.skip_unpack,
            snapshotter: req.snapshotter,
            maxConcurrent: req.max_concurrent_downloads || 3,
            plainHttp: req.plain_http || undefined,
            skipVerify: req.skip_verify,
            ca: req.ca_pem,
            credentials: req.username ? () => ({ username: req.username, password: req.password }) : undefined,
            signal,
            progress,
          }),
        (r) => ({
          ref: r.name,
          status: 'done',
          image: r.name,
          target: { media_type: r.target.mediaType, digest: r.target.digest, size: r.target.size },
          chain_id: r.unpacked.at(-1) ?? '',
        }),
      );
    }),
    Unpack: serverStream((req, call) => {
      if (!req.name) throw invalidArgument('name is required');
      const ns = namespaceOf(call);
      return streamed(
        call,
        (progress, signal) => puller.unpack(ns, req.name, { snapshotter: req.snapshotter, platform: parsePlatform(req.platform), progress, signal }),
        (chain) => ({ ref: req.name, status: 'unpacked', image: req.name, chain_id: chain }),
      );
    }),
  };
  return {
    register(server) {
      server.addService(Pull, handlers);
    },
  };
}
