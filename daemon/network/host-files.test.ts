import { describe, expect, it } from 'vitest';
import { defaultHostname } from './host-files.ts';

describe('a container’s default hostname', () => {
  it('is the short id of a 64-hex id (as Docker’s), else the name cut to a DNS label’s 63 bytes', () => {
    expect(defaultHostname('0123456789ab'.padEnd(64, 'f'))).toBe('0123456789ab');
    expect(defaultHostname('web')).toBe('web');
    expect(defaultHostname('x'.repeat(70))).toBe('x'.repeat(63));
  });
});
