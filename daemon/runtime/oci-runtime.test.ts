import { describe, expect, it } from 'vitest';
import { compareVersions, inspectOciRuntime, parseVersion, parseVersionOutput, vulnerabilityWarnings } from './oci-runtime.ts';

const cmp = (a: string, b: string) => Math.sign(compareVersions(parseVersion(a)!, parseVersion(b)!));

describe('version parsing', () => {
  it('parses runc and crun --version output', () => {
    expect(parseVersionOutput('runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n')).toEqual({ name: 'runc', version: '1.1.5+ds1' });
    expect(parseVersionOutput('runc version 1.2.8\ncommit: v1.2.8-0-gabc\n')).toEqual({ name: 'runc', version: '1.2.8' });
    expect(parseVersionOutput('crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\n')).toEqual({ name: 'crun', version: '1.8.1' });
    expect(parseVersionOutput('youki version 0.3.0\n')).toEqual({ name: 'youki', version: '0.3.0' });
    expect(parseVersionOutput('something else\n')).toEqual({ name: 'something', version: '' });
  });

  it('orders versions, pre-releases before their release', () => {
    expect(cmp('1.1.5', '1.1.12')).toBe(-1);
    expect(cmp('1.1.12', '1.1.12+ds1')).toBe(0);
    expect(cmp('1.4.0-rc.2', '1.4.0-rc.3')).toBe(-1);
    expect(cmp('1.4.0', '1.4.0-rc.3')).toBe(1);
    expect(cmp('1.0.0-rc93', '1.0.0')).toBe(-1);
    expect(cmp('1.10.0', '1.9.1')).toBe(1);
    expect(parseVersion('not-a-version')).toBeUndefined();
  });
});

describe('vulnerabilityWarnings', () => {
  const cves = (name: string, version: string) => vulnerabilityWarnings(name, version).flatMap((w) => w.match(/CVE-\d+-\d+/g) ?? []);
  const all2025 = ['CVE-2025-31133', 'CVE-2025-52565', 'CVE-2025-52881'];

  it('flags runc versions before each fix', () => {
    expect(cves('runc', '1.1.5')).toEqual(['CVE-2024-21626', ...all2025]);
    expect(cves('runc', '1.0.0-rc93')).toEqual(['CVE-2024-21626', ...all2025]);
    expect(cves('runc', '1.1.12')).toEqual(all2025);
    expect(cves('runc', '1.1.15')).toEqual(all2025);
    expect(cves('runc', '1.2.7')).toEqual(all2025);
    expect(cves('runc', '1.2.8')).toEqual([]);
    expect(cves('runc', '1.3.2')).toEqual(all2025);
    expect(cves('runc', '1.3.3')).toEqual([]);
    expect(cves('runc', '1.4.0-rc.2')).toEqual(all2025);
    expect(cves('runc', '1.4.0-rc.3')).toEqual([]);
    expect(cves('runc', '1.4.0')).toEqual([]);
    expect(cves('runc', '2.0.0')).toEqual([]);
    expect(vulnerabilityWarnings('runc', '1.1.5')[0]).toBe(
      'runc 1.1.5 is older than 1.1.12: vulnerable to CVE-2024-21626 (container escape through a leaked file descriptor)',
    );
  });

  it('flags crun before 1.4.4', () => {
    expect(cves('crun', '1.4.3')).toEqual(['CVE-2022-27650']);
    expect(cves('crun', '1.4.4')).toEqual([]);
    expect(cves('crun', '1.8.1')).toEqual([]);
  });

  it('says nothing about unknown runtimes or unparsable versions', () => {
    expect(vulnerabilityWarnings('youki', '0.1.0')).toEqual([]);
    expect(vulnerabilityWarnings('runc', '')).toEqual([]);
  });

  it('notes that a distribution build may carry backports', () => {
    expect(vulnerabilityWarnings('runc', '1.1.5+ds1')[0]).toMatch(/^runc 1\.1\.5\+ds1 is older than 1\.1\.12: .*backported fix\)$/);
  });
});

describe('inspectOciRuntime', () => {
  it('reports the installed runc', async () => {
    const r = await inspectOciRuntime('runc');
    expect(r.name).toBe('runc');
    expect(r.path).toMatch(/^\/.*\/runc$/);
    expect(r.version).toMatch(/^1\.1\.5/);
    expect(r.warnings.join('\n')).toContain('CVE-2024-21626');
    expect(r.warnings.join('\n')).toContain('CVE-2025-52881');
  });

  it('reports the installed crun', async () => {
    const r = await inspectOciRuntime('crun');
    expect(r).toMatchObject({ name: 'crun', version: '1.8.1', warnings: [] });
  });

  it('accepts a path, and fails for a missing binary', async () => {
    expect((await inspectOciRuntime('/usr/sbin/runc')).path).toBe('/usr/sbin/runc');
    await expect(inspectOciRuntime('no-such-runtime-xyz')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(inspectOciRuntime('/no/such/runc')).rejects.toMatchObject({ code: 'NotFound' });
  });
});
