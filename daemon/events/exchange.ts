import { type AnyMessage, packAny, unpackAny } from '../../core/any.ts';
import { BerthError, invalidArgument } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { type FieldLookup, parseFilters } from '../filters.ts';
import { Journal, type JournalOptions } from './journal.ts';

export interface Envelope {
  /** milliseconds since the epoch */
  timestamp: number;
  namespace: string;
  topic: string;
  event: AnyMessage;
  /** its place in the journal's sequence, set by the exchange */
  seq?: number;
  /** read back from the journal rather than delivered as it happened */
  replayed?: boolean;
}

/** Where a catching-up subscription starts: a seq, or a time (ms since the epoch). */
export type Since = { seq: number } | { time: number };

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
/** how many published exits the exchange remembers to drop a second publication of */
const maxRememberedExits = 100_000;
/** how many new events a catching-up subscriber may have waiting before it is cut off */
const maxHeld = 10_000;

/**
 * The daemon's event bus. Stores publish their own events here after a change is committed;
 * clients publish and forward through the events service; subscribers receive what their
 * filters match.
 *
 * No client can be subscribed before berthd serves, so what happens before that (what restore
 * finds: a task whose shim died), and what shims report that happened before this berthd started
 * (a container that exited while berthd was down), would reach nobody. Those events are kept:
 * every subscriber that arrives in the first minute of serving gets them first, each once.
 *
 * With a journal (berthd's), every event also gets a seq and is appended to it, so that
 * subscribeSince can replay what a client missed, however long ago within the journal's bound.
 * A /tasks/exit published again with the same payload (the same process, pid and exit time: a
 * berthd killed after publishing it but before marking it reported) is dropped, so each exit
 * reaches subscribers once.
 */
export class Exchange {
  private readonly subscribers = new Set<(e: Envelope) => void>();
  private readonly startedAt = Date.now();
  private serving = false;
  /** events nobody could see; undefined once the window for catching up has passed */
  private missed: Envelope[] | undefined = [];
  private nextSeq: number;
  /** keys (see exitKey) of the exits published, oldest first */
  private readonly exits = new Set<string>();

  constructor(private readonly journal?: Journal) {
    this.nextSeq = journal?.nextSeq ?? 1;
  }

  /** An exchange over the journal in `dir` (created by the caller), remembering the exits it holds. */
  static withJournal(dir: string, options: JournalOptions): Exchange {
    const exits: string[] = [];
    const journal = Journal.open(dir, options, (r) => {
      const key = exitKey(r);
      if (key) exits.push(key);
    });
    const exchange = new Exchange(journal);
    for (const key of exits) exchange.rememberExit(key);
    return exchange;
  }

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
    const key = exitKey(envelope);
    if (key !== undefined) {
      if (this.exits.has(key)) return;
      this.rememberExit(key);
    }
    envelope = { ...envelope, seq: this.nextSeq++, replayed: false };
    this.journal?.append({ seq: envelope.seq!, timestamp: envelope.timestamp, namespace: envelope.namespace, topic: envelope.topic, event: envelope.event });
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

  /**
   * Delivers what the filters match from the journal, from `since` on, then each new event: new
   * events are held back until the journal has been delivered, so none is missed or delivered
   * twice. While it catches up, a promise `deliver` returns makes it wait (the subscriber's
   * stream is full); if more than maxHeld new events pile up meanwhile, `failed` is told and the
   * subscription ends. Without a journal only new events come. A seq beyond the next one is refused.
   */
  subscribeSince(
    filters: readonly string[],
    since: Since,
    deliver: (e: Envelope) => void | Promise<void>,
    failed: (err: Error) => void = () => undefined,
  ): Subscription {
    const match = parseFilters(filters);
    if ('seq' in since && since.seq > this.nextSeq) throw invalidArgument(`since_seq ${since.seq} is beyond the last event (seq ${this.nextSeq - 1})`);
    const until = this.nextSeq;
    let held: Envelope[] | undefined = [];
    let closed = false;
    const close = () => {
      closed = true;
      this.subscribers.delete(subscriber);
    };
    const subscriber = (e: Envelope) => {
      if (!match(envelopeFields(e))) return;
      if (!held) {
        void deliver(e);
        return;
      }
      if (held.length >= maxHeld) {
        close();
        failed(new BerthError('ResourceExhausted', 'subscriber too slow: too many events while it caught up'));
        return;
      }
      held.push(e);
    };
    this.subscribers.add(subscriber);
    const catchUp = async () => {
      if (this.journal) {
        const from = 'seq' in since ? since.seq : this.journal.oldestSeq;
        await this.journal.read(from, until, async (r) => {
          if (closed || ('time' in since && r.timestamp < since.time)) return;
          const e: Envelope = { ...r, replayed: true };
          if (match(envelopeFields(e))) await deliver(e);
        });
      }
      while (held && held.length > 0 && !closed) await deliver(held.shift()!);
      held = undefined;
    };
    catchUp().catch((err: Error) => {
      close();
      failed(err);
    });
    return { close };
  }

  /** What the journal holds from `since` on that the filters match, up to now: no live events. */
  async replay(filters: readonly string[], since: Since, deliver: (e: Envelope) => void | Promise<void>): Promise<void> {
    const match = parseFilters(filters);
    if ('seq' in since && since.seq > this.nextSeq) throw invalidArgument(`since_seq ${since.seq} is beyond the last event (seq ${this.nextSeq - 1})`);
    if (!this.journal) return;
    const from = 'seq' in since ? Math.max(since.seq, this.journal.oldestSeq) : this.journal.oldestSeq;
    await this.journal.read(from, this.nextSeq, async (r) => {
      if ('time' in since && r.timestamp < since.time) return;
      const e: Envelope = { ...r, replayed: true };
      if (match(envelopeFields(e))) await deliver(e);
    });
  }

  /** The seq the next event gets. */
  get seq(): number {
    return this.nextSeq;
  }

  private rememberExit(key: string): void {
    this.exits.add(key);
    if (this.exits.size > maxRememberedExits) this.exits.delete(this.exits.values().next().value!);
  }
}

/** An exit's identity, for the duplicate check: its namespace and payload, for exits that carry their exit time. */
function exitKey(e: { namespace: string; topic: string; event: AnyMessage }): string | undefined {
  if (e.topic !== '/tasks/exit') return undefined;
  try {
    if (!unpackAny<{ exited_at?: unknown }>(e.event).message.exited_at) return undefined;
  } catch {
    return undefined;
  }
  return `${e.namespace} ${e.event.type_url} ${Buffer.from(e.event.value ?? []).toString('base64')}`;
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
