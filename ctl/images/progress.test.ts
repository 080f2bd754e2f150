import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressView, shortRef } from './progress.ts';

const hex = (c: string) => c.repeat(64);
const event = (ref: string, status: string, offset: number, total: number) =>
  ({ ref, status, offset: String(offset), total: String(total), digest: '', media_type: '', image: '', target: null, chain_id: '' }) as never;

describe('pull progress', () => {
  afterEach(() => vi.restoreAllMocks());

  it('shortens blob refs to 12 hex digits and leaves image names alone', () => {
    expect(shortRef(`layer-sha256:${hex('a')}`)).toBe('layer-sha256:aaaaaaaaaaaa');
    expect(shortRef('registry.example/app:v1')).toBe('registry.example/app:v1');
  });

  it.each([60, 80, 100, 200])('fits every line of the block in a %i-column terminal', (columns) => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const view = new ProgressView(false, () => columns);
    view.update(event('registry.example:5000/some/very/long/repository/name/for/the/image:with-a-long-tag', 'resolved', 0, 1234));
    view.update(event(`manifest-sha256:${hex('b')}`, 'done', 1234, 1234));
    view.update(event(`layer-sha256:${hex('c')}`, 'downloading', 300 * 1024 * 1024, 900 * 1024 * 1024));
    view.update(event(`layer-sha256:${hex('d')}`, 'waiting', 0, 5_000_000));
    const rows = view.rows();
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r.length).toBeLessThan(columns);
    if (columns >= 100) expect(rows[2]).toMatch(/^layer-sha256:cccccccccccc: +downloading \|\++ +\| 300 MiB\/900 MiB$/);
  });

  it('reports the rate of what was downloaded, not the size of what was already there', () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let now = 1000;
    const view = new ProgressView(
      false,
      () => 80,
      () => now,
    );
    view.update(event(`layer-sha256:${hex('e')}`, 'exists', 0, 50 * 1024 * 1024));
    // an earlier pull left 1 MiB of this one: only the other 2 MiB come now
    view.update(event(`layer-sha256:${hex('f')}`, 'downloading', 1024 * 1024, 3 * 1024 * 1024));
    view.update(event(`layer-sha256:${hex('f')}`, 'downloading', 2 * 1024 * 1024, 3 * 1024 * 1024));
    view.update(event(`layer-sha256:${hex('f')}`, 'done', 0, 3 * 1024 * 1024));
    now += 2000;
    expect(view.transferred()).toBe(2 * 1024 * 1024);
    expect(view.summary()).toBe('elapsed: 2.0 s total: 2 MiB (1 MiB/s)');
  });
});
