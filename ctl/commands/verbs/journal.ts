import type { Envelope__Output } from '../../../api/gen/berth/services/events/v1/Envelope.ts';
import { BerthEvents } from '../../../api/services.ts';
import { toTimestamp } from '../../../api/timestamp.ts';
import type { BerthClient } from '../../../transport/client.ts';

/**
 * What berthd's event journal holds that the filters match (from `sinceMs` on), oldest first: a
 * question about the past (berth's Events/Subscribe with replay_only). Undefined where no journal
 * answers (containerd).
 */
export async function journalEvents(c: BerthClient, filters: string[], sinceMs?: number): Promise<Envelope__Output[] | undefined> {
  const events: Envelope__Output[] = [];
  try {
    const request = { filters, replay_only: true, ...(sinceMs === undefined ? {} : { since: toTimestamp(sinceMs) }) };
    for await (const e of c.service(BerthEvents).Subscribe(request)) events.push(e);
  } catch (err) {
    if ((err as { code?: string }).code === 'Unimplemented') return undefined;
    throw err;
  }
  return events;
}
