// taskMetrics against a real runc container (this host's cgroup v1 controllers), and the v2
// reading against a fake unified hierarchy.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { codec } from '../../api/codec.ts';
import type { Metrics__Output as MetricsV1 } from '../../api/gen/io/containerd/cgroups/v1/Metrics.ts';
import type { Metrics__Output as MetricsV2 } from '../../api/gen/io/containerd/cgroups/v2/Metrics.ts';
import { RuncFixture } from '../../test/support/runc-fixture.ts';
import { BerthError } from '../errors.ts';
import { cgroupDir, isUnifiedHost, taskMetrics } from './metrics.ts';

const fixtures: RuncFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});
const scratch = mkdtempSync(join(tmpdir(), 'berth-metrics-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The metrics message, with 64-bit counters as decimal strings (so the limits compare exactly). */
function decode<T>(any: { type_url: string; value: Buffer }): Stringly<T> {
  const type = codec(any.type_url);
  return type.toObject(type.decode(any.value), { longs: String, defaults: true, arrays: true }) as Stringly<T>;
}

/** A generated __Output type with its numbers decoded as strings (`longs: String`). */
type Stringly<T> = T extends number
  ? string | number
  : T extends (infer E)[]
    ? Stringly<E>[]
    : T extends object
      ? { [K in keyof T]-?: Stringly<NonNullable<T[K]>> }
      : T;

describe('taskMetrics', () => {
  it.skipIf(isUnifiedHost())('reads a running runc container’s cgroup v1 statistics', async () => {
    const limit = 64 * 1024 * 1024;
    const f = await RuncFixture.create({ args: ['sh', '-c', 'x=$(head -c 2000000 /dev/zero | tr "\\0" a); sleep 60'], memoryLimit: limit, pidsLimit: 50 });
    fixtures.push(f);
    await f.createAndStart();
    // let the shell allocate its string and tr burn some CPU
    await new Promise((r) => setTimeout(r, 300));
    const any = taskMetrics(f.cgroupsPath);
    expect(any.type_url).toBe('io.containerd.cgroups.v1.Metrics');
    const m = decode<MetricsV1>(any);
    expect(Number(m.pids.current)).toBeGreaterThanOrEqual(1);
    expect(m.pids.limit).toBe('50');
    expect(Number(m.memory.usage.usage)).toBeGreaterThan(0);
    expect(m.memory.usage.limit).toBe(String(limit));
    expect(Number(m.memory.usage.max)).toBeGreaterThanOrEqual(Number(m.memory.usage.usage));
    expect(m.memory.swap.limit).toBe(String(limit));
    expect(Number(m.memory.rss) + Number(m.memory.cache)).toBeGreaterThan(0);
    expect(m.memory.hierarchical_memory_limit).toBe(String(limit));
    expect(Number(m.cpu.usage.total)).toBeGreaterThan(0);
    expect(m.cpu.usage.per_cpu.length).toBeGreaterThan(0);
    expect(m.memory_oom_control.oom_kill).toBe('0');
    expect(m.blkio).toBeTruthy();
  });

  it('throws NotFound for a cgroup that does not exist', () => {
    let err: unknown;
    try {
      taskMetrics('/berthtest/no-such-container');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('NotFound');
  });

  it('reads a cgroup v2 hierarchy', () => {
    const mount = join(scratch, 'v2');
    const dir = join(mount, 'default', 'c1');
    mkdirSync(dir, { recursive: true });
    const files: Record<string, string> = {
      'cgroup.controllers': 'cpu memory pids io\n',
      'cgroup.procs': '42\n',
      'pids.current': '3\n',
      'pids.max': 'max\n',
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 70\n',
      'memory.current': '1048576\n',
      'memory.max': '16777216\n',
      'memory.swap.current': '0\n',
      'memory.swap.max': 'max\n',
      'memory.stat': 'anon 4096\nfile 8192\npgfault 10\nworkingset_refault_anon 2\nworkingset_refault_file 3\n',
      'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
      'io.stat': '8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n',
      'hugetlb.2MB.current': '0\n',
      'hugetlb.2MB.max': 'max\n',
    };
    writeFileSync(join(mount, 'cgroup.controllers'), files['cgroup.controllers']);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const any = taskMetrics('/default/c1', mount);
    expect(any.type_url).toBe('io.containerd.cgroups.v2.Metrics');
    const m = decode<MetricsV2>(any);
    expect(m.pids).toEqual({ current: '3', limit: '0' });
    expect(m.cpu).toEqual({ usage_usec: '1500', user_usec: '1000', system_usec: '500', nr_periods: '4', nr_throttled: '1', throttled_usec: '70' });
    expect(m.memory).toMatchObject({
      anon: '4096',
      file: '8192',
      pgfault: '10',
      workingset_refault: '5',
      usage: '1048576',
      usage_limit: '16777216',
      swap_usage: '0',
      swap_limit: '18446744073709551615',
    });
    expect(m.memory_events).toEqual({ low: '0', high: '0', max: '5', oom: '1', oom_kill: '1' });
    expect(m.io.usage).toEqual([{ major: '8', minor: '0', rbytes: '512', wbytes: '1024', rios: '1', wios: '2' }]);
    expect(m.hugetlb).toEqual([{ pagesize: '2MB', current: '0', max: '18446744073709551615' }]);
    expect(() => taskMetrics('/default/c2', mount)).toThrow(expect.objectContaining({ code: 'NotFound' }));
  });
});

describe('cgroupDir', () => {
  it('maps plain and systemd-style cgroupsPath values', () => {
    expect(cgroupDir('/default/abc')).toBe('/default/abc');
    expect(cgroupDir('default/abc')).toBe('/default/abc');
    expect(cgroupDir('system.slice:containerd:abc')).toBe('/system.slice/containerd-abc.scope');
    expect(cgroupDir('machine-berth.slice:cri:x')).toBe('/machine.slice/machine-berth.slice/cri-x.scope');
    expect(cgroupDir(':berth:x')).toBe('/system.slice/berth-x.scope');
  });
});
