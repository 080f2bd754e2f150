import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unitText } from './service-unit.ts';

const script = resolve(import.meta.dirname, 'service-unit.ts');
const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args, '--unit-dir', dir, '--no-start'], { encoding: 'utf8' });

describe('berthd.service', () => {
  it('runs this checkout’s berthd and leaves containers running when berthd stops (KillMode=process)', () => {
    const text = unitText('/opt/berth/bin/berthd');
    const service = Object.fromEntries(
      text
        .split('[Service]')[1]!
        .split('[Install]')[0]!
        .split('\n')
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(service).toMatchObject({ ExecStart: '/opt/berth/bin/berthd', KillMode: 'process', Delegate: 'yes', Restart: 'always', TasksMax: 'infinity' });
    expect(text).toMatch(/^\[Install\]\nWantedBy=multi-user.target$/m);
  });

  it('npm run install-service writes it (again: unchanged), uninstall-service removes it', () => {
    const unit = join(dir, 'berthd.service');
    for (let i = 0; i < 2; i++) expect(run('install')).toMatchObject({ status: 0, stdout: `wrote ${unit}\n`, stderr: '' });
    const execStart = /^ExecStart=(.*)$/m.exec(readFileSync(unit, 'utf8'))![1]!;
    expect(execStart).toBe(resolve(import.meta.dirname, '..', 'bin', 'berthd'));
    accessSync(execStart, constants.X_OK);
    expect(run('uninstall')).toMatchObject({ status: 0, stdout: `removed ${unit}\n` });
    expect(existsSync(unit)).toBe(false);
    expect(run('bogus')).toMatchObject({ status: 1, stderr: expect.stringContaining('usage: node daemon/service-unit.ts install|uninstall|print') });
  });
});
