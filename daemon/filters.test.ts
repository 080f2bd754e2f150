import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.ts';
import { adaptFields, parseFilter, parseFilters } from './filters.ts';

const obj = adaptFields(
  { name: 'docker.io/library/busybox:latest', digest: 'sha256:abc', size: '42' },
  { labels: { 'containerd.io/gc.root': '2026', 'a.b': 'c d', empty: '' } },
);

describe('containerd filter syntax', () => {
  it.each([
    ['', true],
    ['name', true],
    ['nosuch', false],
    ['name==docker.io/library/busybox:latest', true],
    ['name!=docker.io/library/busybox:latest', false],
    ['nosuch!=x', true],
    ['name~=busybox', true],
    ['name~=^busybox', false],
    ['name~=/^docker.io\\/library/', true],
    ['name~=|busy.ox|', true],
    ['labels."containerd.io/gc.root"', true],
    ['labels."containerd.io/gc.root"==2026', true],
    ['labels."containerd.io/gc.root"=="2026"', true],
    ['labels.a.b=="c d"', true],
    ['labels.empty', true],
    ['labels.empty==""', true],
    ['name,labels.nosuch', false],
    ['size==42, digest==sha256:abc', true],
    ['labels."a\\x2eb"=="c d"', true],
  ])('%s → %s', (filter, want) => {
    expect(parseFilter(filter)(obj)).toBe(want);
  });

  it("matches ~= in time linear in the value, as RE2 does: (a+)+$ on 40 a's and a !", () => {
    const started = performance.now();
    expect(parseFilter('name~=(a+)+$')(adaptFields({ name: `${'a'.repeat(40)}!` }))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('ORs separate filter strings', () => {
    expect(parseFilters(['name==x', 'size==42'])(obj)).toBe(true);
    expect(parseFilters(['name==x', 'size==41'])(obj)).toBe(false);
    expect(parseFilters([])(obj)).toBe(true);
  });

  it.each([
    'labels.',
    '==x',
    'name===x',
    'name=x',
    'name==',
    'labels."unterminated',
    'name~=(',
    'name==a b',
    'name=="x"y',
    'name~="\\q"',
    'name~=/^docker\\.io/',
    'name=="\\U0011ffff"',
    'name=="\\ud800"',
    'name~=(a)\\1',
  ])('rejects %s as InvalidArgument', (filter) => {
    let err: unknown;
    try {
      parseFilter(filter);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('InvalidArgument');
  });
});
