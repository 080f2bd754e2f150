import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Berthd, berthBin, berthdBin, startBerthd } from './support/harness.ts';

describe('the berth and berthd launchers', () => {
  const dir = mkdtempSync('/tmp/berth-launch-');
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('run on the pinned Node.js when linked onto PATH, whatever `node` comes first there', () => {
    // what a global install does: symlinks in a bin directory on PATH
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(berthBin, join(bin, 'berth'));
    symlinkSync(berthdBin, join(bin, 'berthd'));
    // a `node` that must never be used
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "wrong node" >&2\nexit 99\n');
    chmodSync(join(bin, 'node'), 0o755);
    const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin` };

    const version = spawnSync('berth', ['--address', d.address, 'version'], { env, encoding: 'utf8' });
    expect(version.stderr).not.toContain('wrong node');
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/Node\.js:\s+v24\./);

    const daemon = spawnSync('berthd', ['--version'], { env, encoding: 'utf8' });
    expect(daemon.status).toBe(0);
    expect(daemon.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
