import { type AnyMessage, packAny, unpackAny } from '../../core/any.ts';
import { type BerthError, invalidArgument } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { type FieldLookup, parseFilters } from '../filters.ts';

export interface Envelope {
  /** milliseconds since the epoch */
  timestamp: number;
  namespace: string;
  topic: string;
  event: AnyMessage;
}

export interface Subscription {
  /** Stops delivery; the subscriber's queue is dropped. */
  close(): void;
}

/** Topics are '/'-separated identifiers, e.g. /tasks/exit. */
export function validateTopic(topic: string): void {
  if (topic === '') throw invalidArgument('must not be empty for event');
  if (!topic.startsWith('/')) throw invalidArgument(`topic ${JSON.stringify(topic)} must start with '/'`);
  if (topic.length === 1) throw invalidArgument(`topic ${JSON.stringify(topic)} must have at least one component`);
  for (const part of topic.slice(1).split('/')) {
    try {
      validateIdentifier(part);
    } catch (err) {
      throw invalidArgument(`failed validation on component ${JSON.stringify(part)}: ${(err as BerthError).message}`);
    }
  }
}

/** How long after berthd starts serving a new subscriber is still given the events it missed. */
export const missedEventsWindowMs = 60_000;
const maxMissedEvents = 10_000;

/**
 * The daemon's event bus. Stores publish their own events here after a change is committed;
 * clients publish and forward through the events service; subscribers receive what their
 * filters match.
 *
 * No client can be subscribed before berthd serves, so what happens before that (what restore
 * finds: a task whose shim died), and what shims report that happened before this berthd started
 * (a container that exited while berthd was down), would reach nobody. Those events are kept:
 * every subscriber that arrives in the first minute of serving gets them first, each once.
 */
export class Exchange {
  private readonly subscribers = new Set<(e: Envelope) => void>();
  private readonly startedAt = Date.now();
  private serving = false;
  /** events nobody could see; undefined once the window for catching up has passed */
  private missed: Envelope[] | undefined = [];

  /** Publishes a payload given as a plain object of the named proto message type. */
  publish(namespace: string, topic: string, typeName: string, payload: object): void {
    this.forward({ timestamp: Date.now(), namespace, topic, event: packAny(typeName, payload) });
  }

  publishAny(namespace: string, topic: string, event: AnyMessage): void {
    validateIdentifier(namespace);
    validateTopic(topic);
    this.forward({ timestamp: Date.now(), namespace, topic, event });
  }

  forward(envelope: Envelope): void {
    validateIdentifier(envelope.namespace);
    validateTopic(envelope.topic);
    if (this.missed && (!this.serving || envelope.timestamp < this.startedAt)) {
      if (this.missed.length >= maxMissedEvents) this.missed.shift();
      this.missed.push(envelope);
    }
    for (const deliver of this.subscribers) deliver(envelope);
  }

  /** berthd serves: subscribers can come, and have `windowMs` to catch up on what they missed. */
  startServing(windowMs = missedEventsWindowMs): void {
    this.serving = true;
    setTimeout(() => (this.missed = undefined), windowMs).unref();
  }

  /** Delivers what the filters match: first the missed events (see above), then each new one. */
  subscribe(filters: readonly string[], deliver: (e: Envelope) => void): Subscription {
    const match = parseFilters(filters);
    const subscriber = (e: Envelope) => {
      if (match(envelopeFields(e))) deliver(e);
    };
    for (const e of this.missed ?? []) subscriber(e);
    this.subscribers.add(subscriber);
    return { close: () => this.subscribers.delete(subscriber) };
  }
}

function envelopeFields(e: Envelope): FieldLookup {
  let decoded: Record<string, unknown> | null | undefined;
  return (path) => {
    if (path.length === 1 && path[0] === 'topic') return e.topic;
    if (path.length === 1 && path[0] === 'namespace') return e.namespace;
    if (path[0] !== 'event' || path.length < 2) return undefined;
    if (decoded === undefined) {
      try {
        decoded = unpackAny(e.event).message;
      } catch {
        decoded = null;
      }
    }
    let value: unknown = decoded;
    for (const part of path.slice(1)) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    return value === undefined || value === null || typeof value === 'object' ? undefined : String(value);
  };
}
