import { describe, expect, it } from 'vitest';
import { sinceRequest } from './events.ts';

describe('berth events --since', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  it('takes a seq, an RFC 3339 time or a duration back from now', () => {
    expect(sinceRequest('42', now)).toEqual({ since_seq: 42 });
    expect(sinceRequest('10m', now)).toEqual({ since: { seconds: now / 1000 - 600, nanos: 0 } });
    expect(sinceRequest('1h30m', now)).toEqual({ since: { seconds: now / 1000 - 5400, nanos: 0 } });
    expect(sinceRequest('2026-12-07T11:00:00.5Z', now)).toEqual({ since: { seconds: now / 1000 - 3600, nanos: 500_000_000 } });
    expect(sinceRequest('2026-12-07T13:00:00+02:00', now)).toEqual({ since: { seconds: now / 1000 - 3600, nanos: 0 } });
  });
  it('refuses anything else', () => {
    for (const bad of ['0', 'yesterday', '2026-12-07', '2026-12-07T11:00:00', '-5m', '']) {
      expect(() => sinceRequest(bad, now), bad).toThrow(/--since/);
    }
  });
});
