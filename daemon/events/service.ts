import type * as grpc from '@grpc/grpc-js';
import type { Envelope as EnvelopeMessage } from '../../api/gen/containerd/services/events/v1/Envelope.ts';
import type { EventsHandlers } from '../../api/gen/containerd/services/events/v1/Events.ts';
import { Events } from '../../api/services.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import { BerthError, invalidArgument } from '../../core/errors.ts';
import { empty, failStream, namespaceOf, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Envelope, Exchange } from './exchange.ts';

// A subscriber that stops reading is cut off once this many events wait for it.
const maxQueued = 10_000;

export function eventsService(exchange: Exchange): GrpcService {
  const subscribers = new Set<grpc.ServerWritableStream<{ filters: string[] }, EnvelopeMessage>>();
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
      subscribe(exchange, call);
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
    },
  };
}

function subscribe(exchange: Exchange, call: grpc.ServerWritableStream<{ filters: string[] }, EnvelopeMessage>) {
  const queue: EnvelopeMessage[] = [];
  let waiting = false;
  let subscription: ReturnType<Exchange['subscribe']> | undefined;
  let overflowed = false;
  const flush = () => {
    while (!waiting && queue.length > 0) {
      if (!call.write(queue.shift()!)) {
        waiting = true;
        call.once('drain', () => {
          waiting = false;
          flush();
        });
      }
    }
  };
  try {
    // the exchange delivers missed events during subscribe, before it returns
    subscription = exchange.subscribe(call.request.filters, (e: Envelope) => {
      if (overflowed) return;
      if (queue.length >= maxQueued) {
        overflowed = true;
        subscription?.close();
        failStream(call, new BerthError('ResourceExhausted', 'subscriber too slow: event queue full'));
        return;
      }
      queue.push({ timestamp: timestamp(e.timestamp), namespace: e.namespace, topic: e.topic, event: e.event });
      flush();
    });
  } catch (err) {
    failStream(call, err);
    return;
  }
  if (overflowed) subscription.close();
  const stop = () => subscription.close();
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
}
