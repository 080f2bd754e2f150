import type * as grpc from '@grpc/grpc-js';
import type { Envelope as BerthEnvelopeMessage } from '../../api/gen/berth/services/events/v1/Envelope.ts';
import type { EventsHandlers as BerthEventsHandlers } from '../../api/gen/berth/services/events/v1/Events.ts';
import type { SubscribeRequest__Output as BerthSubscribeRequest } from '../../api/gen/berth/services/events/v1/SubscribeRequest.ts';
import type { Envelope as EnvelopeMessage } from '../../api/gen/containerd/services/events/v1/Envelope.ts';
import type { EventsHandlers } from '../../api/gen/containerd/services/events/v1/Events.ts';
import { BerthEvents, Events } from '../../api/services.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import { BerthError, invalidArgument } from '../../core/errors.ts';
import { drained, empty, failStream, namespaceOf, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Envelope, Exchange, Since, Subscription } from './exchange.ts';

// A subscriber that stops reading is cut off once this many events wait for it.
const maxQueued = 10_000;

type SubscriberCall = grpc.ServerWritableStream<unknown, EnvelopeMessage | BerthEnvelopeMessage>;

export function eventsService(exchange: Exchange): GrpcService {
  const subscribers = new Set<SubscriberCall>();
  const handlers: EventsHandlers = {
    Publish: unary(async (req, call) => {
      if (!req.event) throw invalidArgument('event is required');
      exchange.publishAny(namespaceOf(call), req.topic, req.event);
      return empty;
    }),
    Forward: unary(async (req) => {
      const e = req.envelope;
      if (!e?.event) throw invalidArgument('envelope with an event is required');
      const ts = fromTimestamp(e.timestamp);
      if (ts === undefined) throw invalidArgument('envelope timestamp must be set');
      exchange.forward({ timestamp: ts, namespace: e.namespace, topic: e.topic, event: e.event });
      return empty;
    }),
    Subscribe: (call) => {
      subscribers.add(call);
      call.on('close', () => subscribers.delete(call));
      stream(call, (deliver) => exchange.subscribe(call.request.filters, deliver), containerdEnvelope);
    },
  };
  // berth's own: a subscription that first replays the journal from a seq or a time
  const berthHandlers: BerthEventsHandlers = {
    Subscribe: (call) => {
      const message = (e: Envelope) => ({ ...containerdEnvelope(e), seq: e.seq ?? 0, replayed: e.replayed ?? false });
      if (call.request.replay_only) {
        // a question about the past: the journal's answer, then the end of the stream
        (async () => {
          await exchange.replay(call.request.filters, sinceOf(call.request) ?? { seq: 1 }, async (e) => {
            if (!call.cancelled && !call.write(message(e))) await drained(call);
          });
          call.end();
        })().catch((err: unknown) => failStream(call, err));
        return;
      }
      subscribers.add(call);
      call.on('close', () => subscribers.delete(call));
      stream(
        call,
        (deliver, failed) => {
          const since = sinceOf(call.request);
          return since ? exchange.subscribeSince(call.request.filters, since, deliver, failed) : exchange.subscribe(call.request.filters, deliver);
        },
        message,
      );
    },
  };
  return {
    serving() {
      exchange.startServing();
    },
    drain() {
      for (const call of subscribers) call.end();
    },
    register(server) {
      server.addService(Events, handlers);
      server.addService(BerthEvents, berthHandlers);
    },
  };
}

const containerdEnvelope = (e: Envelope): EnvelopeMessage => ({ timestamp: timestamp(e.timestamp), namespace: e.namespace, topic: e.topic, event: e.event });

/** Where a berth subscription starts replaying, if it does: since_seq or since, not both. */
function sinceOf(req: BerthSubscribeRequest): Since | undefined {
  const seq = Number(req.since_seq ?? 0);
  const hasTime = req.since !== null && req.since !== undefined;
  if (seq > 0 && hasTime) throw invalidArgument('give since_seq or since, not both');
  if (seq > 0) return { seq };
  if (!hasTime) return undefined;
  const nanos = req.since!.nanos ?? 0;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) throw invalidArgument('since: nanos must be from 0 to 999999999');
  const time = fromTimestamp(req.since);
  return { time: time ?? 0 };
}

/**
 * Writes what a subscription delivers to the call, cutting off a subscriber that stops reading.
 * While the call's buffer is full, deliver returns a promise of its draining (or of the call's
 * end), which a replay waits for.
 */
function stream<M>(
  call: grpc.ServerWritableStream<unknown, M>,
  start: (deliver: (e: Envelope) => void | Promise<void>, failed: (err: Error) => void) => Subscription,
  message: (e: Envelope) => M,
) {
  const queue: M[] = [];
  let subscription: Subscription | undefined;
  let overflowed = false;
  /** while the call's buffer is full: resolved when it drains or the call ends */
  let full: { drained: Promise<void>; resume: () => void } | undefined;
  const flush = () => {
    while (!full && queue.length > 0) {
      if (!call.write(queue.shift()!)) {
        const { promise: drained, resolve: resume } = Promise.withResolvers<void>();
        full = { drained, resume };
        call.once('drain', () => {
          full = undefined;
          resume();
          flush();
        });
      }
    }
  };
  const fail = (err: unknown) => {
    if (overflowed) return;
    overflowed = true;
    subscription?.close();
    failStream(call, err);
  };
  try {
    // the exchange delivers missed events during subscribe, before it returns
    subscription = start((e: Envelope) => {
      if (overflowed) return;
      if (queue.length >= maxQueued) {
        fail(new BerthError('ResourceExhausted', 'subscriber too slow: event queue full'));
        return;
      }
      queue.push(message(e));
      flush();
      return full?.drained;
    }, fail);
  } catch (err) {
    failStream(call, err);
    return;
  }
  if (overflowed) subscription.close();
  const stop = () => {
    subscription.close();
    full?.resume();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
}
