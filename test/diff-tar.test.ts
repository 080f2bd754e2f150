import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type TarEntry, TarReader } from '../core/archive/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../core/archive/tar-writer.ts';
import { applyTo, hostPwned, sandbox } from './support/layers/sandbox.ts';
import { type RawEntry, tar } from './support/layers/tarbuild.ts';

const entry = (e: Partial<TarEntry> & { name: string }): TarEntry => ({
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 1_700_000_000,
  linkname: '',
  devmajor: 0,
  devminor: 0,
  xattrs: new Map(),
  ...e,
});

function parse(bytes: Buffer, chunk = 7): Array<{ e: TarEntry; body: Buffer }> {
  const out: Array<{ e: TarEntry; body: Buffer }> = [];
  let parts: Buffer[] = [];
  const r = new TarReader({
    entry: (e) => {
      parts = [];
      out.push({ e, body: Buffer.alloc(0) });
    },
    data: (c) => parts.push(Buffer.from(c)),
    end: () => (out[out.length - 1]!.body = Buffer.concat(parts)),
  });
  for (let at = 0; at < bytes.length; at += chunk) r.feed(bytes.subarray(at, at + chunk));
  r.close();
  return out;
}

describe('tar writer and reader', () => {
  it('round-trips long names, long link targets, big ids, fractional times and binary xattrs, in any chunking', () => {
    const body = Buffer.from('hello world');
    const entries = [
      entry({
        name: `${'d/'.repeat(80)}file`,
        size: body.length,
        uid: 1 << 30,
        gid: 3_000_000,
        mtime: 1_700_000_000.25,
        xattrs: new Map([
          ['security.capability', Buffer.from([1, 0, 0, 2, 0, 10, 0])],
          ['user.nl', Buffer.from('a\nb=c')],
        ]),
      }),
      entry({ name: 'l', type: 'symlink', linkname: `/${'t'.repeat(300)}` }),
      entry({ name: 'dev', type: 'block', devmajor: 259, devminor: 12345, mode: 0o660 }),
      entry({ name: 'dir/', type: 'dir', mode: 0o1777 }),
      entry({ name: 'ü-ñame', type: 'link', linkname: 'l' }),
    ];
    const bytes = Buffer.concat(
      entries.flatMap((e) => (e.type === 'file' ? [encodeHeader(e), body, Buffer.alloc(padding(body.length))] : [encodeHeader(e)])).concat(endOfArchive()),
    );
    for (const chunk of [1, 7, 512, 4096, bytes.length]) {
      const got = parse(bytes, chunk);
      expect(got.map((g) => g.e)).toEqual(entries);
      expect(got[0]!.body.toString()).toBe('hello world');
    }
  });

  it('ignores what follows the end-of-archive marker; like Go, EOF at a header boundary ends the archive too', () => {
    const ok = Buffer.concat([tar([{ name: 'a', data: 'x' }]), Buffer.from('trailing garbage'.repeat(100))]);
    expect(parse(ok).map((g) => g.e.name)).toEqual(['a']);
    expect(parse(tar([{ name: 'a', data: 'x' }], false)).map((g) => g.e.name)).toEqual(['a']);
    expect(() => parse(tar([{ name: 'a', data: 'x' }], false).subarray(0, 500))).toThrow(/truncated/);
    // one zero block then EOF ends it too; one zero block then a header does not (Go agrees)
    expect(parse(Buffer.concat([tar([{ name: 'a', data: 'x' }], false), Buffer.alloc(512)])).map((g) => g.e.name)).toEqual(['a']);
    expect(() => parse(Buffer.concat([tar([{ name: 'a', data: 'x' }], false), Buffer.alloc(512), tar([{ name: 'hidden' }])]))).toThrow(/after a zero block/);
  });
});

/** A seeded generator of hostile-looking layers: the applier must never escape or crash. */
function randomLayer(seed: number, outside: string): RawEntry[] {
  let s = seed;
  const rand = (n: number) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return (((s >>> 0) % n) + n) % n;
  };
  const parts = ['a', 'b', '..', '.', '', '.wh.a', '.wh..wh..opq', '.wh...', 'etc', outside.slice(1), 'x'.repeat(200)];
  const name = () => Array.from({ length: 1 + rand(4) }, () => parts[rand(parts.length)]).join('/');
  const target = () => [outside, '/', '..', '../..', 'a', '/etc', name()][rand(7)]!;
  return Array.from({ length: 3 + rand(12) }, (): RawEntry => {
    const n = name() || 'a';
    const pax = n.length > 99 ? { path: n } : undefined;
    switch (rand(6)) {
      case 0:
        return { name: n, type: '5', pax };
      case 1:
        return { name: n, type: '2', linkname: target(), pax };
      case 2:
        return { name: n, type: '1', linkname: target(), pax };
      case 3:
        return { name: n, type: '6', pax };
      default:
        return { name: n, type: '0', data: 'PWN', mode: 0o7777, pax };
    }
  });
}

describe('random hostile layers (property: no escape, no crash, a clear answer)', () => {
  it('keeps everything inside the target over 60 random layers, applied in sequence', async () => {
    const sb = sandbox();
    const pwned = hostPwned();
    try {
      let failures = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const layer = randomLayer(seed, sb.outside);
        for (const mode of ['plain', 'overlay'] as const) {
          await applyTo(sb, layer, { mode }).catch((err: Error) => {
            failures++;
            // a refusal names an entry and a reason, it is never an unexplained crash
            expect(err.message).toMatch(/^apply layer: (invalid archive|failed to apply)/);
          });
        }
        sb.check();
      }
      expect(hostPwned()).toEqual(pwned);
      expect(fs.readFileSync(join(sb.outside, 'canary'), 'utf8')).toBe('canary');
      expect(failures).toBeGreaterThan(0);
      expect(failures).toBeLessThan(120);
    } finally {
      sb.cleanup();
    }
  }, 120_000);
});
