// berth.shim.v1.Events: every event the shim publishes stays queued, in order, until the daemon
// acknowledges it, however long the daemon is away. A subscriber gets the backlog oldest first,
// then live events.
import type * as grpc from '@grpc/grpc-js';
import type { AckRequest__Output } from '../api/gen/berth/shim/v1/AckRequest.ts';
import type { ShimEvent } from '../api/gen/berth/shim/v1/ShimEvent.ts';
import type { SubscribeRequest__Output } from '../api/gen/berth/shim/v1/SubscribeRequest.ts';
import { toTimestamp } from '../api/timestamp.ts';
import { packAny } from '../core/any.ts';
import { empty, unary } from '../transport/grpc/handlers.ts';

interface Queued {
  seq: number;
  message: ShimEvent;
}

type Subscriber = grpc.ServerWritableStream<SubscribeRequest__Output, ShimEvent>;

export class EventQueue {
  private seq = 0;
  private readonly queue: Queued[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly namespace: string) {}

  /** Queues an event, e.g. publish('/tasks/exit', 'containerd.events.TaskExit', {...}). */
  publish(topic: string, typeName: string, payload: object): void {
    const seq = ++this.seq;
    const message: ShimEvent = { seq, timestamp: toTimestamp(Date.now()), namespace: this.namespace, topic, event: packAny(typeName, payload) };
    this.queue.push({ seq, message });
    for (const sub of this.subscribers) sub.write(message);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves when every event has been acknowledged. */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private subscribe(call: Subscriber): void {
    for (const { message } of this.queue) call.write(message);
    this.subscribers.add(call);
    const drop = () => this.subscribers.delete(call);
    call.once('cancelled', drop);
    call.once('close', drop);
    call.once('error', drop);
  }

  private ack(seq: number): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= seq) n++;
    this.queue.splice(0, n);
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Ends every open Subscribe stream (the shim is exiting). */
  closeStreams(): void {
    for (const sub of this.subscribers) sub.end();
    this.subscribers.clear();
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      Subscribe: (call: Subscriber) => this.subscribe(call),
      Ack: unary<AckRequest__Output, object>(async (req) => {
        this.ack(Number(req.seq));
        return empty;
      }),
    };
  }
}
