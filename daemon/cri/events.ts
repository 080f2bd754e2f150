// GetContainerEvents (docs/cri.md): the life of the CRI's pods and containers as the kubelet's
// evented PLEG reads it, made from berthd's event exchange for the CRI's namespace.
import type * as grpc from '@grpc/grpc-js';
import type { ContainerEventResponse } from '../../api/gen/runtime/v1/ContainerEventResponse.ts';
import type { ContainerEventType } from '../../api/gen/runtime/v1/ContainerEventType.ts';
import type { ContainerStatus } from '../../api/gen/runtime/v1/ContainerStatus.ts';
import type { PodSandboxStatus } from '../../api/gen/runtime/v1/PodSandboxStatus.ts';
import type { RuntimeServiceHandlers } from '../../api/gen/runtime/v1/RuntimeService.ts';
import { unpackAny } from '../../core/any.ts';
import { BerthError } from '../../core/errors.ts';
import type { Container, ContainerStore } from '../containers/store.ts';
import type { Envelope, Exchange, Subscription } from '../events/exchange.ts';
import { failStream } from '../grpc.ts';
import type { Logger } from '../log.ts';
import { readMetadata } from './containers.ts';
import { kindLabel } from './sandboxes.ts';

/** A client that leaves this many events unread is cut off (RESOURCE_EXHAUSTED): it must list again and resubscribe. */
export const maxQueuedEvents = 1000;
/** when this many exchange events wait to be turned into responses, every client is cut off (RESOURCE_EXHAUSTED) */
export const maxPendingEvents = 10_000;

export interface EventsDeps {
  ns: string;
  exchange: Exchange;
  containers: ContainerStore;
  /** the sandbox's status, null when it is gone */
  podStatus: (sandboxId: string) => Promise<PodSandboxStatus | null>;
  /** the statuses of the sandbox's containers */
  containerStatuses: (sandboxId: string) => Promise<ContainerStatus[]>;
  log: Logger;
}

type Deliver = (e: ContainerEventResponse) => void;
interface Client {
  /** the exchange seq when it came: it gets the events from there on */
  from: number;
  cutOff: (err: BerthError) => void;
}

/**
 * The CRI's container events: one subscription to the exchange (made when the first client
 * comes, kept after), whose events about the CRI's sandboxes and containers are turned into
 * ContainerEventResponses one after another, in the exchange's order, and given to every client.
 * The sandbox of each id is remembered from its record (the delete event has no record to read).
 */
export class CriEvents {
  private readonly clients = new Map<Deliver, Client>();
  /** exchange events not yet turned into responses */
  private pending = 0;
  private subscription: Subscription | undefined;
  /** the sandbox of each CRI container and sandbox id (a sandbox's is itself) */
  private readonly sandboxOf = new Map<string, string>();
  /** conversions run one after another, so that clients get events in order */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly d: EventsDeps) {}

  /**
   * Gives every later event to `deliver` until the returned function is called, or until events
   * come faster than they can be made (then `cutOff` is told, and the client is dropped).
   */
  subscribe(deliver: Deliver, cutOff: (err: BerthError) => void): () => void {
    this.start();
    this.clients.set(deliver, { from: this.d.exchange.seq, cutOff });
    return () => this.clients.delete(deliver);
  }

  private start(): void {
    if (this.subscription) return;
    const { d } = this;
    this.subscription = d.exchange.subscribeSince([`namespace==${d.ns}`], { seq: d.exchange.seq }, (e) => {
      if (++this.pending > maxPendingEvents && this.clients.size > 0) {
        // without clients, what is left to do per event is cheap: the backlog drains
        const err = new BerthError('ResourceExhausted', `container events come faster than berthd makes them (${maxPendingEvents} waiting)`);
        for (const [deliver, client] of this.clients) {
          this.clients.delete(deliver);
          client.cutOff(err);
        }
      }
      this.enqueue(() => this.handle(e).finally(() => this.pending--));
    });
    this.enqueue(async () => {
      for (const c of await d.containers.list(d.ns)) this.remember(c);
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.tail = this.tail.then(step).catch((err: Error) => this.d.log.warn('a CRI container event was lost', { error: err.message }));
  }

  private remember(c: Container): void {
    const kind = c.labels[kindLabel];
    if (kind === 'sandbox') this.sandboxOf.set(c.id, c.id);
    else if (kind === 'container') {
      const sandbox = readMetadata(c)?.Metadata.SandboxID || c.sandbox;
      if (sandbox) this.sandboxOf.set(c.id, sandbox);
    }
  }

  private async handle(e: Envelope): Promise<void> {
    const { d } = this;
    let event: { id?: string; container_id?: string; exit_status?: number };
    try {
      event = unpackAny<{ id?: string; container_id?: string; exit_status?: number }>(e.event).message;
    } catch {
      return;
    }
    let id: string | undefined;
    let type: ContainerEventType | undefined;
    switch (e.topic) {
      case '/containers/create': {
        id = event.id;
        const record = id ? await d.containers.get(d.ns, id).catch(() => undefined) : undefined;
        if (record) this.remember(record);
        type = 'CONTAINER_CREATED_EVENT';
        break;
      }
      case '/tasks/start':
        id = event.container_id;
        type = 'CONTAINER_STARTED_EVENT';
        break;
      case '/tasks/exit':
        // the init process's exit (an exec's has its own id)
        if (event.id !== event.container_id) return;
        id = event.container_id;
        type = 'CONTAINER_STOPPED_EVENT';
        break;
      case '/containers/delete':
        id = event.id;
        type = 'CONTAINER_DELETED_EVENT';
        break;
      default:
        return;
    }
    if (!id || !type) return;
    await this.deliver(id, type, e.timestamp, e.seq, event.exit_status);
  }

  /**
   * A pod without a pause has no task whose start and exit tell: its sandboxes say when it is
   * running and when it stopped, in order with the exchange's events.
   */
  sandboxEvent(id: string, type: 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT'): void {
    if (!this.subscription) return;
    const at = Date.now();
    this.enqueue(() => this.deliver(id, type, at, undefined));
  }

  private async deliver(id: string, type: ContainerEventType, timestampMs: number, seq: number | undefined, exitStatus?: number): Promise<void> {
    const { d } = this;
    const sandbox = this.sandboxOf.get(id);
    if (!sandbox) return;
    if (type === 'CONTAINER_DELETED_EVENT') this.sandboxOf.delete(id);
    if (this.clients.size === 0) return;
    const [status, all] = await Promise.all([d.podStatus(sandbox).catch(() => null), d.containerStatuses(sandbox).catch(() => [])]);
    const createdAt = (BigInt(timestampMs) * 1_000_000n).toString();
    // the container's own status as of its event, which the CRI's bookkeeping may not have recorded
    // yet; a deleted container is no longer among its pod's
    const statuses = all
      .filter((c) => type !== 'CONTAINER_DELETED_EVENT' || c.id !== id)
      .map((c): ContainerStatus => {
        if (c.id !== id) return c;
        if (type === 'CONTAINER_STARTED_EVENT' && c.state === 'CONTAINER_CREATED') return { ...c, state: 'CONTAINER_RUNNING', started_at: createdAt };
        if (type === 'CONTAINER_STOPPED_EVENT' && c.state !== 'CONTAINER_EXITED')
          return { ...c, state: 'CONTAINER_EXITED', finished_at: createdAt, exit_code: exitStatus ?? 0 };
        return c;
      });
    const response: ContainerEventResponse = {
      container_id: id,
      container_event_type: type,
      created_at: createdAt,
      pod_sandbox_status: status,
      containers_statuses: statuses,
    };
    for (const [deliver, { from }] of this.clients) if ((seq ?? from) >= from) deliver(response);
  }
}

/**
 * GetContainerEvents: every event after the call, in order. Back-pressure: a client's events wait
 * in a queue while its stream is full; once maxQueuedEvents wait, the client is cut off with
 * RESOURCE_EXHAUSTED rather than berthd's memory growing (the kubelet relists and resubscribes).
 * So are all clients when maxPendingEvents exchange events wait to be made into responses.
 */
export function eventsHandlers(events: CriEvents): Pick<RuntimeServiceHandlers, 'GetContainerEvents'> {
  return {
    GetContainerEvents: (call: grpc.ServerWritableStream<unknown, ContainerEventResponse>) => {
      const queue: ContainerEventResponse[] = [];
      let full = false;
      let over = false;
      const flush = () => {
        while (!full && !over && queue.length > 0) {
          if (!call.write(queue.shift()!)) {
            full = true;
            call.once('drain', () => {
              full = false;
              flush();
            });
          }
        }
      };
      const cutOff = (err: BerthError) => {
        stop();
        failStream(call, err);
      };
      const unsubscribe = events.subscribe(
        (e) => {
          if (over) return;
          if (queue.length >= maxQueuedEvents) {
            cutOff(new BerthError('ResourceExhausted', `client too slow: ${maxQueuedEvents} container events unread`));
            return;
          }
          queue.push(e);
          flush();
        },
        (err) => {
          if (!over) cutOff(err);
        },
      );
      const stop = () => {
        over = true;
        queue.length = 0;
        unsubscribe();
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },
  };
}
